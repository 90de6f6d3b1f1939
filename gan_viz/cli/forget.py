"""gan-viz forget: find the generator filters of an object, remove them, measure (paper Fig. 6).

The work is the registered runner :func:`gan_viz.analyses.forget.run`; this module parses
the options and prints a digest.
"""

from __future__ import annotations

from ..analyses import forget as fg
from ..instruments import record_line
from .common import add_common, add_segmenter
from .runner import run_analysis

NAME = fg.NAME
HELP = "find the generator filters that draw an object, remove them and measure what disappears (Fig. 6)"
EXAMPLES = ["gan-viz forget --concept window --out out/fig6",
            "gan-viz forget --boxes boxes.csv --manifest out/to_annotate/manifest.json --out out/fig6_hand",
            "gan-viz forget --select positive --fits 5 --eval-samples 1000 --out out/fig6_paper_rule",
            "gan-viz forget --select top-16 --out out/fig6_probe_top16",
            "gan-viz forget --select causal-8 --concept window --out out/fig6_causal",
            "gan-viz forget --select optimized-8 --concept window --out out/fig6_optimized",
            "gan-viz forget --model-def mine.py:build --segmenter seg.py:build --concept tree --layer G.blocks.2.act "
            "--out out/fig6_mine"]


def add_arguments(p):
    add_common(p)
    add_segmenter(p)
    p.add_argument("--concept", default="window",
                   help="the object to forget: a class of the instrument (default window, a rooms parser class)")
    p.add_argument("--boxes", default=None, metavar="FILE",
                   help="boxes drawn on `gan-viz samples` output: COCO/LabelMe JSON, VOC XML, CSV or a folder "
                        "of them (needs --manifest); default: the instrument boxes the concept. Without an "
                        "instrument the run is the paper's: nothing is measured")
    p.add_argument("--manifest", default=None, metavar="FILE", help="manifest.json written by gan-viz samples")
    p.add_argument("--judge", default=None, metavar="SPEC",
                   help="the held-out instrument that measures the removals on fresh samples (the headline; the "
                        "selecting instrument's figure is reported beside it): FILE.py:FUNC (a second segmenter of "
                        "yours), rooms-b (the second rooms parser) or none (default: the second rooms parser, "
                        "gan_viz/assets/parser_b.pt, wherever the rooms parser selects; else none, said in the summary)")
    p.add_argument("--parser", default=None, metavar="PATH",
                   help="rooms scene parser weights (default: the shipped gan_viz/assets/parser.pt)")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="G layer to probe and edit, by dotted name (default: the second-highest conv's block "
                        "output after BN+ReLU, e.g. G.relu3 at 32x32, as the paper; G.blocks.2.act for nested blocks)")
    p.add_argument("--samples", type=int, default=150,
                   help="samples the instrument boxes the concept on, per fit (default 150, as the paper)")
    p.add_argument("--select", default=None, metavar="RULE",
                   help="positive (the paper: every probe weight > 0), top-K (the K largest weights), causal-K "
                        "(the K filters removing most object pixels one at a time) or optimized-K (GAN "
                        "Dissection: the K largest of an ablation optimised against the instrument's object "
                        f"probability) (default: {fg.DEFAULT_SELECT}, e.g. optimized-16 of 64; the paper's rule "
                        "removed about half the filters, and as many random filters removed almost as many "
                        "windows)")
    p.add_argument("--fits", type=int, default=5, help="probe fits, each with its own draw (default 5)")
    p.add_argument("--random-draws", type=int, default=5, help="random-filter controls per fit (default 5)")
    p.add_argument("--eval-samples", type=int, default=1000, help="samples measured by the instrument (default 1000)")
    p.add_argument("--causal-samples", type=int, default=200,
                   help="samples the filters' effects are measured / optimised on for causal-K and "
                        "optimized-K (default 200)")
    p.add_argument("--opt-steps", type=int, default=600,
                   help="Adam steps of the optimized-K ablation (default 600; on the bundled model, at the "
                        "report's settings, the held-out parser's median removal over 3 fits was 33 / 35 / 35 / 36 / "
                        "35 / 38%% at 50 / 75 / 100 / 150 / 200 / 300 steps, one fit still at 16%% after 50: "
                        "converged from 75, which the report uses; fewer are faster)")
    p.add_argument("--opt-size", type=int, default=None, metavar="N",
                   help="optimise the ablation on the samples area-averaged to N x N (default: their own size); "
                        "the rooms parser reads 32-128, so a 64x64 model's optimisation at 32 costs about a "
                        "quarter; the removals are always measured at the samples' own size")
    p.add_argument("--replace", default="zero", choices=list(fg.REPLACEMENTS),
                   help="what a removed filter becomes: zero (the paper) or its mean activation over the probe "
                        "samples (never the evaluation samples)")
    p.add_argument("--curve-points", type=int, default=8, help="points of the removal curve (default 8)")
    p.add_argument("--show", type=int, default=10, help="samples in the figure (default 10, as the paper)")
    p.add_argument("--no-paper-rule", dest="paper_rule", action="store_false",
                   help="do not also remove and measure each fit's weight > 0 filters (the paper's rule)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    print(record_line(s["instrument"]))
    if not s.get("measured"):
        print(f"{args.concept}: {s['n_filters_removed']} filters of {s['layer']} removed ({s['select']}, probe AUC "
              f"{s['classifier']['auc']:.3f}); nothing measured without an instrument; wrote {ctx.out}")
        return 0
    o = s["over_fits"]
    bed = o["other_lost_share"].get("bed", {}).get("median")
    pc = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    print(f"removal measured by {s['judge']} (held out: {s['evaluation']['held_out']}): median "
          f"{pc(s['removed_share_median'])}, random control {pc(s['random_removed_share_median'])}"
          + (f"; by the selecting {s['judges'][1]}: {pc(s['selecting_instrument_removed_share_median'])}"
             if len(s["judges"]) > 1 else "")
          + (f"; the paper's weight > 0 rule: {pc(s['paper_rule_removed_share_median'])} (random "
             f"{pc(s['paper_rule_random_removed_share_median'])})" if "paper_rule_removed_share_median" in s else ""))
    print(f"{args.concept}: {s['fraction_before']:.4f} -> {s['fraction_after']:.4f} of pixels with "
          f"{s['n_filters_removed']} filters of {s['layer']} removed; over {args.fits} fits median "
          f"{100 * (o['removed_share']['median'] or 0):.1f}% removed (random control "
          f"{100 * (o['random_removed_share']['median'] or 0):.1f}%"
          + (f", beds lost {100 * bed:.1f}%" if bed is not None else "")
          + f"; scene pixels changed {100 * (o['scene_changed']['median'] or 0):.1f}%, random "
          f"{100 * (o['random_scene_changed']['median'] or 0):.1f}%); wrote {ctx.out}")
    return 0
