"""gan-viz filter-audit: what did the filters learn? Random vs trained, every conv layer of D and G."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..analyses import filter_audit as fa
from ..analyses.unit_scan import ImageSource
from ..checkpoint import Checkpoint, load_checkpoint
from ..errors import UserError
from ..io import atomic_path, save_figure, write_json, write_npz
from ..models import sample_z
from ..reports import filter_audit as figs
from .common import add_common, device_of, prepare_out
from .guided_backprop import image_source

NAME = "filter-audit"
HELP = "what did the filters learn: Network Dissection IoU with object masks, selectivity, weights (random vs trained)"
EXAMPLES = ["gan-viz filter-audit --out out/audit",
            "gan-viz filter-audit --nets D --images 2000 --out out/audit_d",
            "gan-viz filter-audit --ckpt netD_epoch_24.pth --masks my_masks.npz --data-root data --out out/audit_pt"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--nets", default="D,G", help="networks to audit: D, G or D,G (default D,G; G needs its weights)")
    p.add_argument("--images", type=int, default=500, metavar="N", help="images (and latent codes for G) scanned")
    p.add_argument("--source", default="auto", choices=["auto", "real", "generated"],
                   help="D's images: real test images of the checkpoint's dataset, generated, or auto")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of a real dataset")
    p.add_argument("--masks", default=None, metavar="FILE.npz",
                   help="class masks for D's real images: 'masks' (N, H, W) ints, one per test image in order, "
                        "and 'class_names' (K,)")
    p.add_argument("--parser", default=None, metavar="PATH",
                   help="scene parser weights for masks of generated rooms (default: the shipped parser; "
                        "'none' to skip)")
    p.add_argument("--iou-threshold", type=float, default=fa.IOU_THRESHOLD,
                   help=f"IoU a filter needs to be labelled with a class (default {fa.IOU_THRESHOLD})")
    p.add_argument("--top-fraction", type=float, default=fa.TOP_FRACTION,
                   help=f"share of each filter's activations above its threshold (default {fa.TOP_FRACTION})")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random-filter baselines' init")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")


def _user_masks(path: str, source: ImageSource, size: int) -> tuple[torch.Tensor, tuple]:
    try:
        with np.load(path, allow_pickle=False) as z:
            masks, names = z["masks"], tuple(str(n) for n in z["class_names"])
    except FileNotFoundError:
        raise UserError(f"--masks file {path} does not exist") from None
    except (KeyError, ValueError, OSError) as e:
        raise UserError(f"--masks {path} must be an .npz with 'masks' (N, H, W) and 'class_names' ({e})") from None
    if masks.ndim != 3 or masks.shape[1:] != (size, size) or len(masks) < source.n:
        raise UserError(f"--masks has shape {masks.shape}; need ({source.n} or more, {size}, {size}) for "
                        f"--images {source.n} at the model's size")
    if not np.issubdtype(masks.dtype, np.integer) or masks.min() < 0 or masks.max() >= len(names):
        raise UserError(f"--masks must hold integer class ids in 0..{len(names) - 1}")
    return torch.from_numpy(masks[:source.n].astype(np.int64)), names


def _segmenter(args, ck: Checkpoint):
    """The scene parser's segment(), where masks of generated rooms make sense; else (None, why)."""
    if args.parser == "none":
        return None, "no masks for generated images (--parser none)"
    if ck.dataset != "rooms" and args.parser is None:
        return None, f"no masks for generated images (the parser knows rooms, the model learned {ck.dataset})"
    from ..parser import load_parser

    try:
        parser = load_parser(args.parser)
    except UserError as e:
        if args.parser is not None:
            raise
        return None, f"no masks for generated images ({e})"
    return parser.segment, "masks from the scene parser on the generated images"


def _plan(args, ck: Checkpoint, device):
    """Validate everything and decide sources and masks before anything is written."""
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    if not nets or set(nets) - {"D", "G"}:
        raise UserError(f"--nets {args.nets!r}: choose D, G or D,G")
    if args.images < 2 or args.batch_size < 1:
        raise UserError("--images must be at least 2 and --batch-size at least 1")
    if not 0 < args.iou_threshold <= 1 or not 0 < args.top_fraction < 1:
        raise UserError("--iou-threshold must be in (0, 1] and --top-fraction in (0, 1)")
    if ck.config.arch != "dcgan":
        raise UserError("the filter audit needs a DCGAN (conv filters); this checkpoint is an MLP GAN")
    plan = {"D": None, "G": None, "source": None, "classmaps": None, "names": (), "segment": None, "notes": {}}
    from ..data.rooms import CLASSES

    segment, seg_note = _segmenter(args, ck)
    if "D" in nets:
        plan["D"] = ck.require("D")
        source, note = image_source(ck, args, device)
        plan["source"] = source
        if args.masks is not None:
            if source.kind != "real":
                raise UserError("--masks belong to real images; this run scans generated ones (pass the dataset)")
            plan["classmaps"], plan["names"] = _user_masks(args.masks, source, ck.config.image_size)
            note += f"; masks from {args.masks}"
        elif source.classmaps is not None:
            plan["classmaps"], plan["names"] = torch.from_numpy(source.classmaps(np.arange(source.n))), CLASSES
            note += "; rooms class maps"
        elif source.kind == "generated" and segment is not None:
            plan["classmaps"] = segment(torch.cat([source.fetch(np.arange(s, min(source.n, s + 256)))
                                                   for s in range(0, source.n, 256)]))
            plan["names"] = CLASSES
            note += "; " + seg_note
        else:
            note += "; no masks: selectivity and sparsity only"
        plan["notes"]["D"] = note
    if "G" in nets:
        plan["G"] = ck.require("G")
        if plan["names"] and plan["names"] != CLASSES:
            segment, seg_note = None, "no masks (user masks name other classes than the parser's)"
        plan["segment"], plan["names"] = segment, plan["names"] or (CLASSES if segment else ())
        plan["notes"]["G"] = f"{args.images} generated images (seed {args.seed}); {seg_note}"
    return plan


def _layer_summary(a: fa.LayerAudit, names) -> dict:
    d = {"filters": a.shape[0], "map": list(a.shape[1:]), "dead": int(a.dead.sum()),
         "selectivity_median": float(np.median(a.selectivity)),
         "active_fraction_median": float(np.median(a.active_fraction))}
    if a.labels is not None:
        d["labelled"] = int((a.labels >= 0).sum())
        d["labels"] = {c: int((a.labels == i).sum()) for i, c in enumerate(names) if (a.labels == i).any()}
        d["best_iou_median"] = float(np.median(a.iou.max(1)))
        d["best_iou_max"] = float(a.iou.max())
        d["mask_fraction_median"] = float(np.median(a.mask_fraction))
        d["precision_labelled"] = int((a.precision_labels >= 0).sum())
        d["precision_labels"] = {c: int((a.precision_labels == i).sum()) for i, c in enumerate(names)
                                 if (a.precision_labels == i).any()}
        d["best_precision_median"] = float(np.median(a.precision.max(1)))
    return d


def _summary(r: fa.AuditResult, ck: Checkpoint, notes: dict) -> dict:
    layers: dict = {}
    for a in r.audits:
        layers.setdefault(a.name, {})[a.network] = _layer_summary(a, r.class_names)
    return {"checkpoint": str(ck.path), "checkpoint_source": ck.source, "n_images": r.n_images,
            "sources": notes, "class_names": list(r.class_names), "iou_threshold": r.iou_threshold,
            "top_fraction": r.top_fraction, "random_seed": r.random_seed,
            "threshold_rule": "top-fraction quantile of each filter's activations at the layer's resolution; "
                              "maps upsampled bilinearly to the image size, then thresholded",
            "precision_rule": f"label = the class holding >= {fa.PRECISION_THRESHOLD} of the filter's mask when "
                              f"that is >= {fa.LIFT_THRESHOLD}x the class's pixel share (IoU <= mask / class "
                              "size, so IoU labels cannot fire on large classes)",
            "layers": layers, "weights": r.weights}


def _arrays(r: fa.AuditResult, z: torch.Tensor | None) -> dict:
    arrays = {"class_names": np.array(r.class_names), "random_seed": np.array(r.random_seed),
              "layer_names": np.array(sorted({a.name for a in r.audits})), "image_index": np.arange(r.n_images)}
    if z is not None:
        arrays["z"] = z.numpy()
    for a in r.audits:
        key = f"{a.name.replace('.', '_')}__{a.network}__"
        for field in ("max_response", "active_fraction", "selectivity", "dead", "top_index", "threshold", "iou",
                      "labels", "precision", "lift", "precision_labels", "mask_fraction"):
            if getattr(a, field) is not None:
                arrays[key + field] = getattr(a, field)
    for net, ws in r.first_layer.items():
        for network, w in ws.items():
            arrays[f"first_layer_{net}__{network}"] = w
    return arrays


def run(args) -> int:
    ck = load_checkpoint(args.ckpt)
    device = device_of(args)
    plan = _plan(args, ck, device)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict())
    z = sample_z(ck.config, args.images, torch.Generator().manual_seed(args.seed)) if plan["G"] is not None else None
    r = fa.compute_filter_audit(ck.config, plan["D"], plan["G"], plan["source"], plan["classmaps"], z,
                                plan["segment"], plan["names"], 6, args.iou_threshold, args.top_fraction,
                                args.random_seed, args.batch_size, device, plan["notes"])
    if r.class_names:
        save_figure(figs.plot_label_counts(r, "iou"), out, "label_counts")
        save_figure(figs.plot_label_counts(r, "precision"), out, "label_counts_precision")
        with atomic_path(out / "labels.md") as tmp:
            Path(tmp).write_text(figs.labels_table(r))
    save_figure(figs.plot_selectivity(r), out, "selectivity")
    save_figure(figs.plot_first_layer(r), out, "first_layer_filters")
    if r.strips:
        last = [a.layer for a in r.audits if a.net == "D"][-1]
        save_figure(figs.plot_top_strips(r, last), out, "top_strips")
    summary = _summary(r, ck, plan["notes"])
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, z))
    for name, per in summary["layers"].items():
        line = "  ".join(f"{net}: sel {v['selectivity_median']:.3f}" + (
            f", labelled IoU {v['labelled']}/{v['filters']}, precision {v['precision_labelled']}/{v['filters']}"
            if "labelled" in v else "") for net, v in per.items())
        print(f"{name:<10} {line}")
    print(f"wrote {out}")
    return 0
