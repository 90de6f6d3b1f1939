"""The report's sections: which registered analysis each runs, with which fast settings, in paper order.

The settings are each at or past their measured convergence point (see the analyses' option docs).
On 2 cores with AVX2 kernels (an AVX-512 EPYC, ``ATEN_CPU_CAPABILITY=avx2``) the whole report takes
125-155 s on the bundled 64x64 model (as the host's load varied) (Fig. 6 35 s, directions 22 s, Fig. 7 14 s, memorisation 14 s,
quality 12 s) and 58-61 s on the 32x32 one: G and the parser cost 4x per image what they cost at 32x32,
and both run near the CPU's peak (G 1.4 ms, the parser 2 ms per 64x64 image), so the time is the
images each section measures, not overhead: ``benchmarks/report_time.py --floor`` counts 4.7 T
multiply-adds in the report's convolutions at 64x64 (Fig. 6 1.75 T, directions 1.30 T, Fig. 7 1.02 T,
quality 0.32 T), 61 s at the parser's best rate on those 2 cores before anything else is done. ``TAKES`` lists the shared
inputs each analysis's command takes, so a section's context and its printed command carry those
and no others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True)
class Section:
    """One analysis of the report.

    Args:
        key: the section's folder name and id for --only.
        name: the registered analysis it runs.
        title: the heading in the report (the paper's figure it reproduces).
        options: the runner's fast settings (keyword options, the command's dest names).
        caption: summary -> caption (None: the analysis's registered caption).
        rooms: options added where the real data is rooms (e.g. a label a small CNN learns quickly).
        no_data: options added where there is no real dataset (e.g. generated images only).
        model: whether the analysis reads the model (else seed, device and model are not its inputs).
    """

    key: str
    name: str
    title: str
    options: Mapping = field(default_factory=dict)
    caption: Callable[[dict], str] | None = None
    rooms: Mapping = field(default_factory=dict)
    no_data: Mapping = field(default_factory=dict)
    model: bool = True


def _sections() -> tuple[Section, ...]:
    from . import captions as c

    # Paper order: Figs. 4, 5, 6, 7, classification, memorisation, modes; sample quality; then mechanics and the audit.
    return (
        Section("fig4_latent_walk", "latent-walk", "Fig. 4: walking in the latent space",
                {"points": 9, "steps": 8, "no_video": True}),  # the analysis's caption (names its instrument)
        Section("fig5_guided_backprop", "guided-backprop", "Fig. 5: guided backpropagation of D's features",
                {"images": 256, "top": 4}, c.fig5),
        Section("fig6_forget", "forget", "Fig. 6: forgetting to draw windows",
                {"concept": "window", "fits": 3, "random_draws": 2, "samples": 80, "causal_samples": 200,
                 "opt_steps": 75, "eval_samples": 160, "curve_points": 3},
                rooms={"opt_size": 32}),  # parser reads 32-128: optimising a 64 model at 32 took 103 s not 167
        Section("fig7_arithmetic", "arithmetic", "Fig. 7: vector arithmetic on z",
                {"expr": "A - B + C", "concepts": "A=door+picture,B=no-door+picture,C=no-door+no-picture",
                 "samples_n": 1000, "draws": 50, "direction": "A - B", "eval_samples": 100, "alphas": "-1,0,1,2",
                 "controls": 6}),
        Section("directions", "directions", "Latent directions: four ways, one held-out judge",
                {"n_find": 1000, "eval_samples": 100, "components": 4, "random": 10, "grid_rows": 3, "steps": 3}),
        # 10 random directions, not 6: the band is Student t at 5% / (directions x classes); with 14 x 10
        # on rooms it is 5.3 sd of their slopes at 10 and 7.2 at 6 (0.8 s more at 32x32, 3 s at 64x64)
        Section("classification", "classify", "Table 1: D as a feature extractor",
                {"n_train": 800, "n_test": 400, "labels": 100, "draws": 3, "C_grid": "0.0001,0.001,0.01"}),
        Section("memorisation", "neighbors", "Figs. 2-3: memorisation (nearest training images)",
                {"n": 128, "n_train": 0, "n_heldout": 300, "cells": 5},
                rooms={"spaces": "pixel"}),  # D features of 50,000 rooms would take ~20 s more on 2 cores
        Section("modes", "modes", "Mode coverage", {"n": 300, "n_train": 800, "n_test": 300, "epochs": 4},
                # a 64x64 model's classifier at 32: 93.7% held out, as at 64, in 12 s rather than 28
                rooms={"attribute": "time_of_day", "classifier_size": 32}),
        Section("quality", "evaluate", "Sample quality: standard metrics beside real vs real",
                {"n": 500, "bootstraps": 50, "kid_subsets": 50, "kid_subset_size": 250}),
        Section("upsampling", "upsampling", "Mechanics: upsampling by transposed convolution", model=False),
        Section("checkerboard", "checkerboard", "Mechanics: checkerboard artefacts", {"n": 128},
                no_data={"no_real": True}),
        Section("filter_audit", "filter-audit", "Filter audit of D (Network Dissection)",
                {"nets": "D", "images": 160}),
    )


SECTIONS = _sections()
KEYS = tuple(s.key for s in SECTIONS)
# the shared inputs each analysis's command takes ("data": --dataset / --data-root, "segmenter":
# --segmenter): a section's context and its printed command carry those and no others
TAKES = {"latent-walk": ("segmenter",), "guided-backprop": ("data",), "forget": ("segmenter",),
         "arithmetic": ("segmenter",), "directions": ("segmenter",), "classify": ("data",), "neighbors": ("data",), "modes": ("data",),
         "checkerboard": ("data",), "filter-audit": ("data", "segmenter"), "evaluate": ("data",)}
