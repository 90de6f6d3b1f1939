"""gan-viz guided-backprop: Fig. 5, guided backprop of D's filters, random vs trained."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import guided_backprop as gb
from ..analyses.unit_scan import ImageSource
from ..checkpoint import Checkpoint, load_checkpoint
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, parse_int_list, prepare_out

NAME = "guided-backprop"
HELP = "guided backprop of D's filters on their top images, random vs trained (paper Fig. 5)"
EXAMPLES = ["gan-viz guided-backprop --out out/fig5",
            "gan-viz guided-backprop --filters all --top 9 --images 5000 --out out/fig5_all",
            "gan-viz guided-backprop --ckpt netD_epoch_24.pth --source generated --rule relu --out out/fig5_pt"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="D layer whose filters to show (default: the last conv layer before D's output "
                        "conv, read after its BatchNorm and LeakyReLU, e.g. D.lrelu4 at 64x64)")
    p.add_argument("--filters", default=None, metavar="LIST",
                   help="filters: 0-5, 1,4,7 or all (default: the first 6, as the paper)")
    p.add_argument("--top", type=int, default=8, metavar="K", help="images per filter (default 8)")
    p.add_argument("--images", type=int, default=1000, metavar="N", help="images scanned (default 1000)")
    p.add_argument("--source", default="auto", choices=["auto", "real", "generated"],
                   help="real test images of the checkpoint's dataset, generated ones, or auto "
                        "(real where available)")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder of a real dataset (default: the one recorded in the checkpoint)")
    p.add_argument("--rule", default="leaky", choices=list(gb.RULES),
                   help="backward rule through the rectifiers: leaky = positive gradients times the "
                        "LeakyReLU slope (default), relu = as if ReLUs, plain = the unguided gradient")
    p.add_argument("--random-seed", type=int, default=0,
                   help="seed of the random-filter baseline's init (default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward/backward pass")


def _real_source(ck: Checkpoint, n: int, root: str | None) -> ImageSource:
    from ..data import build_dataset

    name = ck.dataset
    if name is None:
        raise UserError(f"{ck.path} does not record its dataset; use --source generated")
    cfg = ck.config
    root = root or (ck.train_config or {}).get("data_root")
    ds = build_dataset(name, cfg.image_size, cfg.nc, "test", root, seed=0)
    classes = ()
    if name == "rooms":
        from ..data.rooms import CLASSES

        classes = CLASSES
    return gb.dataset_source(ds, name, n, classes)


def image_source(ck: Checkpoint, args, device: torch.device) -> tuple[ImageSource, str]:
    """The images to scan and a note on why that source was chosen."""
    if args.source in ("auto", "real"):
        try:
            return _real_source(ck, args.images, args.data_root), f"real test images of {ck.dataset}"
        except UserError as e:
            if args.source == "real":
                raise
            note = f"generated images (no real images: {e})"
    else:
        note = "generated images (--source generated)"
    G = ck.require("G")
    z = sample_z(ck.config, args.images, torch.Generator().manual_seed(args.seed))
    return gb.generated_source(G, z, device), note


def _validate(args, D, image_shape) -> tuple[str, list[int]]:
    for opt, v in (("--top", args.top), ("--images", args.images), ("--batch-size", args.batch_size)):
        if v < 1:
            raise UserError(f"{opt} {v}: must be at least 1")
    if args.top > args.images:
        raise UserError(f"--top {args.top} is larger than --images {args.images}; "
                        "each filter keeps its top K of the N images scanned")
    layer = gb.check_layer(D, args.layer)
    channels = gb.layer_channels(D, layer, image_shape)
    filters = (list(range(min(6, channels))) if args.filters is None
               else parse_int_list(args.filters, "--filters", upper=channels))
    return layer, filters


def _summary(r: gb.GuidedBackpropResult, note: str, ck: Checkpoint) -> dict:
    out = {"checkpoint": str(ck.path), "checkpoint_source": ck.source, "layer": f"D.{r.layer}", "rule": r.rule,
           "filters": list(r.filters), "top_k": r.k, "n_images": r.n_images, "images": note,
           "random_seed": r.random_seed, "display": gb.SCALES}
    for tag in ("trained", "random"):
        p = getattr(r, tag)
        norms = np.sqrt((p.maps.astype(np.float64) ** 2).reshape(len(p.maps), -1).sum(1))
        out[tag] = {"top_activations": {str(f): np.round(p.activations[i * r.k:(i + 1) * r.k].astype(float), 6).tolist()
                                        for i, f in enumerate(r.filters)},
                    "mean_top_activation": float(p.activations.mean()),
                    "median_map_l2": float(np.median(norms)),
                    "timing_s": {"scan": round(p.scan_s, 3), "backprop": round(p.backprop_s, 3)}}
        if tag in r.energy:
            e = r.energy[tag]
            out[tag]["object_energy_fraction"] = float(e.object_energy.mean())
            out[tag]["object_pixel_fraction"] = float(e.object_pixels.mean())
            out[tag]["per_filter"] = {str(f): _best_class(e, i, r.class_names) for i, f in enumerate(r.filters)}
    return out


def _best_class(e, i: int, names) -> dict:
    """The class a filter's energy prefers most over its pixel share (classes >= 1% of pixels)."""
    lift = np.where(e.pixels[i] >= 0.01, e.lift[i], -np.inf)
    c = int(np.argmax(lift))
    return {"best_class": names[c], "lift": round(float(lift[c]), 3), "energy": round(float(e.energy[i, c]), 4),
            "pixels": round(float(e.pixels[i, c]), 4), "object_energy": round(float(e.object_energy[i]), 4)}


def _arrays(r: gb.GuidedBackpropResult, source: ImageSource) -> dict:
    rows = {tag: getattr(r, tag) for tag in ("trained", "random")}
    cat = lambda a: np.concatenate([getattr(rows["trained"], a), getattr(rows["random"], a)])  # noqa: E731
    arrays = {"images": cat("images"), "maps": cat("maps"), "filters": cat("filters"),
              "activations": cat("activations"), "image_index": cat("image_index"), "positions": cat("positions"),
              "network": np.array(["trained"] * len(rows["trained"].filters) + ["random"] * len(rows["random"].filters)),
              "layer": np.array(f"D.{r.layer}"), "rule": np.array(r.rule), "top_k": np.array(r.k),
              "random_seed": np.array(r.random_seed), "selected_filters": np.array(r.filters)}
    if source.z is not None:
        arrays["z"] = source.z.numpy()
    for tag, e in r.energy.items():
        arrays[f"class_energy_{tag}"], arrays[f"class_pixels_{tag}"] = e.energy, e.pixels
    if r.energy:
        arrays["class_names"] = np.array(r.class_names)
    return arrays


def run(args) -> int:
    ck = load_checkpoint(args.ckpt)
    D = ck.require("D")
    cfg = ck.config
    layer, filters = _validate(args, D, (cfg.nc, cfg.image_size, cfg.image_size))
    device = device_of(args)
    source, note = image_source(ck, args, device)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=cfg.to_dict())
    r = gb.compute_guided_backprop(D, cfg, layer, source, filters, args.top, args.rule, args.random_seed,
                                   args.batch_size, device)
    save_figure(gb.plot_guided_backprop(r, "map"), out, "guided_backprop")
    save_figure(gb.plot_guided_backprop(r, "shared"), out, "guided_backprop_shared_scale")
    save_figure(gb.plot_guided_backprop(r, content="images"), out, "top_images")
    if r.energy:
        save_figure(gb.plot_class_energy(r), out, "class_energy")
    summary = _summary(r, note, ck)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, source))
    print(f"D.{r.layer} ({r.rule} rule), filters {list(r.filters)}, top {r.k} of {r.n_images} {note}")
    for tag in ("random", "trained"):
        s = summary[tag]
        extra = f", object energy {s['object_energy_fraction']:.3f} (pixels {s['object_pixel_fraction']:.3f})" \
            if "object_energy_fraction" in s else ""
        print(f"  {tag:>7}: mean top activation {s['mean_top_activation']:.4f}, "
              f"median map L2 {s['median_map_l2']:.4g}{extra}")
    print(f"wrote {out}")
    return 0
