"""gan-viz latent-walk: Fig. 4, a walk through random points of z, as a grid, a GIF and an MP4, measured."""

from __future__ import annotations

import torch

from ..analyses import latent_walk as W
from ..checkpoint import Checkpoint, load_checkpoint
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out
from ..subject import load_z

NAME = "latent-walk"
HELP = "walk through random points of z (paper Fig. 4): grid, GIF, MP4, image change per step, sharp transitions"
EXAMPLES = ["gan-viz latent-walk --out out/fig4",
            "gan-viz latent-walk --points 9 --steps 16 --interp slerp --seed 3 --out out/fig4_slerp",
            "gan-viz latent-walk --ckpt netG_epoch_24.pth --z anchors.npy --no-video --out out/walk"]


def add_arguments(p):
    add_common(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--points", type=int, default=None, help="random anchor points of z (default 9, as the paper)")
    src.add_argument("--z", default=None, metavar="FILE.npy", help="anchor points from a file, shape (P, nz)")
    p.add_argument("--steps", type=int, default=8, help="frames per segment between two anchors (default 8)")
    p.add_argument("--interp", default="auto", choices=("auto",) + W.INTERPS,
                   help="linear, or slerp (great circle, norm interpolated); auto = slerp for normal z, "
                        "linear for uniform z (the paper's cube) (default auto)")
    p.add_argument("--sharp-factor", type=float, default=3.0,
                   help="a step is sharp when its image change exceeds this many median steps (default 3)")
    p.add_argument("--event-threshold", type=float, default=W.EVENT,
                   help=f"rooms: a class moving by this fraction of the image in one step is an abrupt change "
                        f"(default {W.EVENT})")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of the GIF and MP4 (default 8)")
    p.add_argument("--scale", type=int, default=None,
                   help="enlarge video frames this many times (default: to about 256 pixels)")
    p.add_argument("--no-video", action="store_true", help="skip the GIF and the MP4")
    add_parser_option(p)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def add_parser_option(p) -> None:
    p.add_argument("--parser", default=None, metavar="WEIGHTS",
                   help="scene parser weights for rooms measurements (default: the shipped parser, "
                        "used when the checkpoint was trained on rooms)")


def parser_for(ck: Checkpoint, path: str | None, device, need: bool = False):
    """The scene parser to measure with, or None, and a note saying which and why.

    Args:
        ck: the checkpoint. path: --parser (None: the shipped one, for rooms checkpoints).
        need: raise instead of returning None (options that cannot work without it).
    """
    from ..data.rooms import MAX_SIZE, MIN_SIZE
    from ..parser import DEFAULT_PATH, load_parser

    size = ck.config.image_size
    why = None
    if not MIN_SIZE <= size <= MAX_SIZE:
        why = f"the parser reads {MIN_SIZE}-{MAX_SIZE} pixel images, this model makes {size}"
    elif path is None and ck.dataset != "rooms":
        why = f"the checkpoint was trained on {ck.dataset or 'an unrecorded dataset'}, not rooms (pass --parser to force)"
    if why is None:
        try:
            p = load_parser(path, device)
            return p, f"scene parser {path or DEFAULT_PATH}"
        except UserError as e:
            if path is not None or need:
                raise
            why = str(e)
    if need:
        raise UserError(f"this needs the rooms scene parser, but {why}")
    return None, f"no parser measurements: {why}"


def resolve_interp(choice: str, z_dist: str) -> str:
    if choice != "auto":
        return choice
    return "slerp" if z_dist == "normal" else "linear"


def _validate(args) -> None:
    points = 9 if args.points is None else args.points
    for opt, v, low in (("--points", points, 2), ("--steps", args.steps, 1), ("--batch-size", args.batch_size, 1)):
        if v < low:
            raise UserError(f"{opt} {v}: must be at least {low}" + (" (a walk joins two or more points)"
                                                                   if opt == "--points" else ""))
    if not args.fps > 0:
        raise UserError(f"--fps {args.fps}: must be > 0")
    if args.scale is not None and not 1 <= args.scale <= 64:
        raise UserError(f"--scale {args.scale}: use 1 to 64")
    if not args.sharp_factor > 0:
        raise UserError(f"--sharp-factor {args.sharp_factor}: must be > 0")
    if not 0 < args.event_threshold <= 1:
        raise UserError(f"--event-threshold {args.event_threshold}: must be in (0, 1] (a fraction of the image)")


def _arrays(r: W.WalkResult, seed: int) -> dict:
    a = {"anchors": r.anchors, "z": r.z, "frames": r.frames, "anchor_frames": r.anchor_frames,
         "step_rms": r.step_rms, "z_step": r.z_step, "segment_rms": r.segment_rms, "sharp": r.sharp,
         "steps": r.steps, "interp": r.interp, "sharp_factor": r.sharp_factor, "seed": seed}
    if r.fractions is not None:
        a["class_fractions"], a["class_names"] = r.fractions, list(r.class_names)
    return a


def run(args) -> int:
    _validate(args)
    ck = load_checkpoint(args.ckpt)
    G, cfg = ck.require("G"), ck.config
    if args.z is not None:
        anchors, source = load_z(args.z, cfg.nz), f"rows of {args.z}"
        if len(anchors) < 2:
            raise UserError(f"--z {args.z} holds 1 point; a walk needs at least 2")
    else:
        points = 9 if args.points is None else args.points
        anchors = sample_z(cfg, points, torch.Generator().manual_seed(args.seed))
        source = f"sample_z({cfg.z_dist}, {points}, seed {args.seed})"
    interp = resolve_interp(args.interp, cfg.z_dist)
    device = device_of(args)
    parser, note = parser_for(ck, args.parser, device)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=cfg.to_dict())
    r = W.compute_latent_walk(G, anchors, args.steps, interp, args.sharp_factor, parser, args.batch_size, device,
                              args.event_threshold)
    save_figure(W.plot_walk_grid(r), out, "latent_walk")
    save_figure(W.plot_walk_measures(r), out, "walk_measures")
    files = ["latent_walk.png", "latent_walk.pdf", "walk_measures.png", "walk_measures.pdf"]
    if not args.no_video:
        scale = args.scale or max(1, 256 // cfg.image_size)
        pics = W.video_frames(r.frames, scale)
        W.write_gif(out / "latent_walk.gif", pics, args.fps)
        W.write_mp4(out / "latent_walk.mp4", pics, args.fps)
        files += ["latent_walk.gif", "latent_walk.mp4"]
    summary = {"checkpoint": str(ck.path), "seed": args.seed, "anchors_from": source,
               "interp_choice": args.interp, "measurements": note, **W.summarize(r), "files": files}
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, args.seed))
    s = summary
    print(f"{s['frames']} frames through {s['anchors']} points ({interp}): step RMS median "
          f"{s['step_rms']['median']:.4f}, max {s['step_rms']['max']:.4f} ({s['max_over_median']:.1f} x median), "
          f"{s['n_sharp']} sharp steps; largest-step share {s['largest_step_share']['mean']:.3f} "
          f"(even: {1 / r.steps:.3f})")
    if r.fractions is not None:
        print(f"  parser: {len(r.events)} abrupt class changes, {len(r.presence)} appear/disappear events")
    print(f"wrote {out}")
    return 0
