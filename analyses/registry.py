"""The analyses as library calls: one registry that the CLI and the report both use.

Every analysis registers an :class:`Analysis`: a ``run(ctx, **options) -> summary``
function that computes, plots and writes its folder (figures as PNG and PDF,
``summary.json``, ``arrays.npz``) and returns the summary dict, plus a caption for the
report. A :class:`Context` carries what every analysis shares: the subject, the output
folder, seed, device, the real data (``dataset`` / ``data_root``; default: the
subject's domain) and the concept instrument (``segmenter``: None = the one that
applies to the subject's domain, if any).

A command-line front end parses its options and calls ``get(name).run(ctx, **options)``;
the report calls the same with its fast settings. Nothing here reads argv.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gan_viz.errors import UserError
from gan_viz.subject import Subject


@dataclass
class Context:
    """What an analysis run shares with every other (see the module docstring)."""

    subject: Subject | None
    out: Path
    seed: int = 0
    device: torch.device | str = "cpu"
    dataset: str | None = None  # real data the analysis may read (None: the subject's domain)
    data_root: str | None = None
    segmenter: str | None = None  # None (the domain's instrument), "rooms" (forced) or FILE.py:FUNC
    extra: dict = field(default_factory=dict)  # e.g. record fields for run.json

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    @property
    def data(self) -> str | None:
        """The dataset real images come from: --dataset, else the subject's domain."""
        if self.dataset is not None:
            return self.dataset
        return None if self.subject is None else self.subject.domain


@dataclass(frozen=True)
class Analysis:
    """One registered analysis. ``needs``: "G" and/or "D" (the subject must have them)."""

    name: str
    run: Callable[..., dict]
    caption: Callable[[dict], str] | None = None
    needs: tuple[str, ...] = ()
    title: str = ""
    options: type | None = None  # the runner's typed options (a frozen dataclass): run(ctx, options)

    def option_names(self) -> list[str]:
        """The runner's option names: its options dataclass's fields, else its keyword-only parameters."""
        if self.options is not None:
            return [f.name for f in dataclasses.fields(self.options)]
        params = inspect.signature(self.run).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


REGISTRY: dict[str, Analysis] = {}


def register(name: str, *, caption: Callable[[dict], str] | None = None, needs: tuple[str, ...] = (),
             title: str = "", options: type | None = None) -> Callable:
    """Decorator: register ``run(ctx, **options) -> summary`` under ``name``; with ``options`` (a frozen
    dataclass of the runner's options) the runner is ``run(ctx, opts) -> summary`` and :func:`run`
    builds ``opts`` from the keyword options (an unknown or mistyped name fails there)."""
    def deco(fn: Callable[..., dict]) -> Callable[..., dict]:
        REGISTRY[name] = Analysis(name, fn, caption, needs, title, options)
        return fn
    return deco


def get(name: str) -> Analysis:
    """The registered analysis ``name`` (its module is imported on first use)."""
    if name not in REGISTRY:
        import importlib

        module = MODULES.get(name)
        if module is not None:
            importlib.import_module(f"gan_viz.analyses.{module}")
    if name not in REGISTRY:
        raise UserError(f"unknown analysis {name!r}; known: {', '.join(sorted(MODULES))}")
    return REGISTRY[name]


def run(name: str, ctx: Context, **options: Any) -> dict:
    """Run analysis ``name`` in ``ctx`` (checks the networks it needs first)."""
    a = get(name)
    for net in a.needs:
        if ctx.subject is None:
            raise UserError(f"{name} needs a model")
        ctx.subject.require(net) if net == "D" or not ctx.subject.has_G else None
    from gan_viz.io import deferred_figures

    with deferred_figures():  # its figures' PDFs are drawn beside its next work, complete when it returns
        if a.options is not None:
            return a.run(ctx, a.options(**options))
        return a.run(ctx, **options)


# analysis name -> module under analyses/ that registers it (imported lazily: the heavy
# dependencies of one analysis are not paid by another)
MODULES: dict[str, str] = {
    "classify": "classify.run",
    "neighbors": "neighbors.run",
    "modes": "modes.run",
    "checkerboard": "checkerboard.run",
    "upsampling": "upsampling.run",
    "guided-backprop": "guided_backprop.run",
    "forget": "forget.run",
    "arithmetic": "arithmetic.run",
    "directions": "directions.run",
    "latent-walk": "latent_walk.run",
    "filter-audit": "filter_audit.run",
    "evaluate": "evaluate.run",
}
