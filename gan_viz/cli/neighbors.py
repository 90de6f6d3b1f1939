"""gan-viz neighbors: nearest training images of samples (pixel and D-feature space), memorisation score."""

from __future__ import annotations

from ..analyses import neighbors as N
from .common import add_common, add_data
from .runner import run_analysis

NAME = "neighbors"
HELP = ("nearest training images of generated samples in pixel and D-feature space; memorisation score "
        "against held-out real images")
EXAMPLES = ["gan-viz neighbors --out out/neighbors",
            "gan-viz neighbors --ckpt runs/digits/checkpoints/last.pt --n-train 0 --out out/nn_digits",
            "gan-viz neighbors --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/nn",
            "gan-viz neighbors --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms "
            "--heldout-root ~/bedrooms_never_trained --out out/nn"]


def add_arguments(p):
    add_common(p)
    add_data(p, "training data searched (default: the model's)")
    p.add_argument("--n", type=int, default=256, help="generated samples (default: 256)")
    p.add_argument("--n-train", type=int, default=0,
                   help="training images searched: 0 = all the model was trained on (default), or a random "
                        "subset of this many (the summary states train_searched and train_size)")
    p.add_argument("--n-heldout", type=int, default=1000, help="held-out real images (reference; default: 1000)")
    p.add_argument("--heldout-root", default=None, metavar="DIR",
                   help="a folder of images G never saw, the held-out reference (then the whole training data "
                        "is searched); without it a folder's held-out images are a part of it that G trained on: "
                        "the memorisation score is a lower bound and C_T is absent")
    p.add_argument("--k", type=int, default=3, help="neighbours shown per sample and space (default: 3)")
    p.add_argument("--quantile", type=float, default=N.QUANTILE,
                   help="held-out distance quantile used as memorisation threshold (default: %(default)s)")
    p.add_argument("--cells", type=int, default=N.CELLS,
                   help="k-means cells of the data-copying test C_T (Meehan et al. 2020); 0 = no test "
                        "(default: %(default)s)")
    p.add_argument("--spaces", default="pixel,D", help="pixel, D or pixel,D (default: %(default)s)")
    p.add_argument("--show", type=int, default=8, help="samples per figure (default: 8)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, "neighbors")
    def ct(v):
        c = (v.get("data_copying") or {}).get("C_T")
        return "" if c is None else f", data-copying C_T {c:.2f}"
    def mem(v):
        if v["memorisation"] is None:
            return f"memorisation cannot tell (measured {100 * v['memorisation_measured']:.1f}%)"
        return f"memorisation {100 * v['memorisation']:.1f}% (like held-out {100 * v['expected_if_like_heldout']:g}%)"
    row = "; ".join(f"{sp}: {mem(v)}, median ratio {v['median_ratio']:.2f}{ct(v)}" for sp, v in s["spaces"].items())
    for note in s.get("notes", []) + ([s["cannot_tell"]] if s.get("cannot_tell") else []):
        print(f"note: {note}")
    print(f"held-out images: {s['heldout']}")
    if s.get("heldout_seen_by_G"):
        print(f"note: the memorisation score is {s['memorisation_reading']}"
              + (f"; data copying C_T is {s['data_copying_absent']}" if s.get("data_copying_absent") else ""))
    print(f"neighbors {s['dataset']} ({s['train_searched']} of {s['train_size']} training images searched): {row}; "
          f"wrote {ctx.out}")
    return 0
