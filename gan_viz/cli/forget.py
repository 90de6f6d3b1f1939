"""gan-viz forget: find the generator filters of an object, remove them, measure (paper Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..analyses import boxes as bx
from ..analyses import forget as fg
from ..analyses.forget_causal import parser_concept_prob
from ..analyses.forget_plots import plot_forget_samples, plot_removal_curve
from ..analyses.forget_probe import check_layer, parse_select
from ..checkpoint import Checkpoint, load_checkpoint
from ..data.rooms import MAX_SIZE, MIN_SIZE
from ..errors import UserError
from ..images import to_uint8
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out
from ..subject import generate_images

NAME = "forget"
HELP = "find the generator filters that draw an object, remove them and measure what disappears (Fig. 6)"
EXAMPLES = ["gan-viz forget --concept window --out out/fig6",
            "gan-viz forget --boxes boxes.csv --manifest out/to_annotate/manifest.json --out out/fig6_hand",
            "gan-viz forget --select positive --fits 5 --eval-samples 1000 --out out/fig6_paper_rule",
            "gan-viz forget --select top-16 --out out/fig6_probe_top16",
            "gan-viz forget --select causal-8 --concept window --out out/fig6_causal",
            "gan-viz forget --select optimized-8 --concept window --out out/fig6_optimized"]
DEFAULT_SELECT = "optimized-K with K = a quarter of the layer's filters"


def add_arguments(p):
    add_common(p)
    p.add_argument("--concept", default="window", help="the object to forget (a scene parser class; default window)")
    p.add_argument("--boxes", default=None, metavar="FILE",
                   help="boxes drawn on `gan-viz samples` output: COCO/LabelMe JSON, VOC XML, CSV or a folder "
                        "of them (needs --manifest); default: the scene parser boxes the concept")
    p.add_argument("--manifest", default=None, metavar="FILE", help="manifest.json written by gan-viz samples")
    p.add_argument("--parser", default=None, metavar="PATH",
                   help="scene parser weights (default: the shipped gan_viz/assets/parser.pt)")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="G layer to probe and edit (default: the second-highest conv's block output after "
                        "BN+ReLU, e.g. G.relu3 at 32x32, as the paper)")
    p.add_argument("--samples", type=int, default=150,
                   help="samples the parser boxes the concept on, per fit (default 150, as the paper)")
    p.add_argument("--select", default=None, metavar="RULE",
                   help="positive (the paper: every probe weight > 0), top-K (the K largest weights), causal-K "
                        "(the K filters removing most object pixels one at a time) or optimized-K (GAN "
                        "Dissection: the K largest of an ablation optimised against the parser's object "
                        f"probability) (default: {DEFAULT_SELECT}, e.g. optimized-16 of 64; the paper's rule "
                        "removed about half the filters, and as many random filters removed almost as many "
                        "windows)")
    p.add_argument("--fits", type=int, default=5, help="probe fits, each with its own draw (default 5)")
    p.add_argument("--random-draws", type=int, default=5, help="random-filter controls per fit (default 5)")
    p.add_argument("--eval-samples", type=int, default=1000, help="samples measured by the parser (default 1000)")
    p.add_argument("--causal-samples", type=int, default=200,
                   help="samples the filters' effects are measured / optimised on for causal-K and "
                        "optimized-K (default 200)")
    p.add_argument("--opt-steps", type=int, default=600,
                   help="Adam steps of the optimized-K ablation (default 600: on the bundled model 150 / 300 / 600 steps removed 46 / 50 / 52%% of window pixels; fewer are faster)")
    p.add_argument("--replace", default="zero", choices=list(fg.REPLACEMENTS),
                   help="what a removed filter becomes: zero (the paper) or its mean activation")
    p.add_argument("--curve-points", type=int, default=8, help="points of the removal curve (default 8)")
    p.add_argument("--show", type=int, default=10, help="samples in the figure (default 10, as the paper)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def _validate(args, ck: Checkpoint):
    for opt in ("samples", "fits", "random_draws", "eval_samples", "causal_samples", "curve_points", "show",
                "batch_size", "opt_steps"):
        if getattr(args, opt) < 1:
            raise UserError(f"--{opt.replace('_', '-')} {getattr(args, opt)}: must be at least 1")
    if args.show > args.eval_samples:
        raise UserError(f"--show {args.show} is larger than --eval-samples {args.eval_samples}")
    if (args.boxes is None) != (args.manifest is None):
        raise UserError("--boxes and --manifest go together: the boxes are drawn on the samples the manifest lists")
    G = ck.require("G")
    size = ck.config.image_size
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"the scene parser measures {MIN_SIZE}-{MAX_SIZE} pixel images; this generator makes "
                        f"{size}x{size}")
    layer, shape = check_layer(G, args.layer, ck.config.nz)
    select = args.select if args.select is not None else f"optimized-{max(1, shape[0] // 4)}"
    cfg = fg.ForgetConfig(args.concept, parse_select(select, shape[0]), args.fits, args.random_draws,
                          args.replace, args.seed, args.batch_size, args.curve_points, args.show,
                          args.opt_steps)
    return G, layer, shape, cfg


def _check_pngs(man: bx.Manifest, G, device) -> None:
    """The manifest's PNGs (where present) must be what this generator draws from its z."""
    n = min(4, len(man.files))
    mine = to_uint8(generate_images(G, torch.from_numpy(man.z[:n]), n, device)).astype(np.int16)
    for i in range(n):
        png = cv2.imread(str(man.folder / man.files[i]), cv2.IMREAD_COLOR)
        if png is None:
            continue
        png = png[::man.scale, ::man.scale, ::-1].astype(np.int16)
        if png.shape != mine[i].shape or np.abs(png - mine[i]).mean() > 8:
            raise UserError(f"{man.files[i]} in {man.folder} is not what this checkpoint draws from the manifest's "
                            f"z; pass the --ckpt the samples were made with ({man.checkpoint})")


def _probe_sets(args, ck: Checkpoint, G, parser, gen: torch.Generator, device, needs: bool) -> tuple[list, str]:
    """One ProbeSet per fit: annotated samples (shared), or fresh samples boxed by the parser;
    ``needs``: also draw samples to measure the filters' effects on (causal rules)."""
    cfg = ck.config
    causal = lambda: sample_z(cfg, args.causal_samples, gen) if needs else None  # noqa: E731
    if args.boxes is not None:
        man = bx.load_manifest(args.manifest)
        if man.image_size != cfg.image_size or man.z.shape[1] != cfg.nz:
            raise UserError(f"manifest {args.manifest} holds {man.image_size}px samples with nz={man.z.shape[1]}; "
                            f"this checkpoint makes {cfg.image_size}px with nz={cfg.nz}")
        boxes = bx.match_boxes(bx.read_annotations(args.boxes), man, args.concept)
        _check_pngs(man, G, device)
        z = torch.from_numpy(man.z)
        return [fg.ProbeSet(z, boxes, causal()) for _ in range(args.fits)], f"annotations {args.boxes}"
    from ..data.rooms import CLASSES

    cid = list(CLASSES).index(args.concept)
    sets = []
    for _ in range(args.fits):
        z = sample_z(cfg, args.samples, gen)
        seg = parser.segment(generate_images(G, z, args.batch_size, device)).numpy()
        sets.append(fg.ProbeSet(z, bx.parser_boxes(seg, cid), causal()))
    return sets, f"scene parser boxes on {args.samples} new samples per fit"


def _arrays(r: fg.ForgetResult, sets: list, seed: int) -> dict:
    C = r.layer_shape[0]
    pad = lambda fs: np.array([np.pad(f, [(0, 0)] * (f.ndim - 1) + [(0, C - f.shape[-1])], constant_values=-1)
                               for f in fs])  # noqa: E731  (fits select different numbers: -1 pads)
    boxes = np.array([(f, i, *b) for f, ps in enumerate(sets) for i, bs in ps.boxes.items() for b in bs],
                     np.float32).reshape(-1, 6)
    out = {"z_eval": r.z_eval, "z_probe": np.stack([ps.z.numpy() for ps in sets]), "layer": np.array(f"G.{r.layer}"),
           "boxes": boxes, "boxes_columns": np.array(["fit", "sample", "x0", "y0", "x1", "y1"]),
           "scores": np.stack([o.scores for o in r.fits]), "filters": pad([o.filters for o in r.fits]),
           "random_filters": pad([o.random_filters for o in r.fits]), "classes": np.array(r.classes),
           "fractions_before": r.before.fractions, "presence_before": r.before.presence,
           "fractions_after": np.stack([o.after.fractions for o in r.fits]),
           "fractions_random": np.stack([[m.fractions for m in o.random] for o in r.fits]),
           "curve_k": r.curve_k, "curve": r.curve, "curve_random": r.curve_random, "curve_changed": r.curve_changed,
           "curve_random_changed": r.curve_random_changed, "seed": np.array(seed),
           "scene_changed": np.array([o.after.scene_changed for o in r.fits]),
           "scene_changed_random": np.array([[m.scene_changed for m in o.random] for o in r.fits]),
           "representative_fit": np.array(r.rep), **{f"images_{k}": v for k, v in r.images.items()}}
    if sets[0].causal_z is not None:
        out["z_causal"] = np.stack([ps.causal_z.numpy() for ps in sets])
    return out


def run(args) -> int:
    from ..data.rooms import CLASSES
    from ..parser import load_parser

    ck = load_checkpoint(args.ckpt)
    G, layer, shape, cfg = _validate(args, ck)
    if args.concept not in CLASSES:
        raise UserError(f"--concept {args.concept!r} is not a scene parser class; choose one of {', '.join(CLASSES)}")
    device = device_of(args)
    parser = load_parser(args.parser, device)
    gen = torch.Generator().manual_seed(args.seed)
    z_eval = sample_z(ck.config, args.eval_samples, gen)  # drawn first: the same for any --fits
    sets, source = _probe_sets(args, ck, G, parser, gen, device, cfg.select.kind in ("causal", "optimized"))
    if not any(ps.boxes for ps in sets):
        raise UserError(f"the scene parser finds no {args.concept} on the probe samples; raise --samples "
                        "or pick a concept this model draws")
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict())
    prob = parser_concept_prob(parser, list(parser.classes).index(args.concept))
    r = fg.compute_forget(G, layer, sets, z_eval, parser.segment, parser.classes, cfg, device, prob)
    save_figure(plot_forget_samples(r), out, "forget_samples")
    save_figure(plot_removal_curve(r), out, "removal_curve")
    summary = {"checkpoint": str(ck.path), "checkpoint_step": ck.step, "boxes_source": source,
               "parser": str(Path(args.parser) if args.parser else "shipped"), **fg.summarize(r)}
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, sets, args.seed))
    s, o = summary, summary["over_fits"]
    bed = o["other_lost_share"].get("bed", {}).get("median")
    print(f"{args.concept}: {s['fraction_before']:.4f} -> {s['fraction_after']:.4f} of pixels with "
          f"{s['n_filters_removed']} filters of G.{layer} removed; over {args.fits} fits median "
          f"{100 * (o['removed_share']['median'] or 0):.1f}% removed (random control "
          f"{100 * (o['random_removed_share']['median'] or 0):.1f}%"
          + (f", beds lost {100 * bed:.1f}%" if bed is not None else "")
          + f"; scene pixels changed {100 * (o['scene_changed']['median'] or 0):.1f}%, random "
          f"{100 * (o['random_scene_changed']['median'] or 0):.1f}%); wrote {out}")
    return 0
