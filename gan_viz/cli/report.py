"""gan-viz report: every paper figure and the filter audit of a model, as HTML and PDF."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .common import add_ckpt, add_data, add_device, add_seed, add_segmenter

NAME = "report"
HELP = ("run every analysis that applies to a model (fast settings, cached) and write report.html "
        "and report.pdf: Figs. 4-7, classification, memorisation, modes, mechanics, model card, filter gallery")
EXAMPLES = ["gan-viz report --out out/report",
            "gan-viz report --ckpt runs/rooms32/checkpoints/last.pt --out out/report_run",
            "gan-viz report --only fig4,fig5,upsampling --out out/report_quick",
            "gan-viz report --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/report_pt",
            "gan-viz report --model-def mymodel.py:build --dataset folder --data-root ~/faces --out out/report_mine"]


def add_arguments(p):
    from ..reports.report import KEYS

    add_ckpt(p)
    add_data(p, "real data every section reads: rooms, digits, folder, mnist, ... (default: the model's own)")
    add_segmenter(p)
    p.add_argument("--out", default="out/report", metavar="DIR", help="report folder (default: out/report)")
    p.add_argument("--only", default=None, metavar="LIST",
                   help="comma-separated sections to (re)run (or their prefixes such as fig4); the report keeps "
                        "every other section --out holds for the same inputs: " + ", ".join(KEYS))
    p.add_argument("--force", action="store_true", help="rerun every section even when its cached inputs match")
    p.add_argument("--heldout-root", default=None, metavar="DIR",
                   help="memorisation: a folder of images G never saw, the held-out reference (without it a "
                        "folder's held-out images are a part of it G trained on: a lower bound, no C_T)")
    add_seed(p)
    add_device(p)


def _check_data(dataset: str | None, data_root: str | None) -> None:
    from ..data import DATASETS

    if dataset is not None and dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if data_root is not None and not Path(data_root).expanduser().is_dir():
        raise UserError(f"--data-root {data_root} does not exist or is not a folder")


def _open_data(S, dataset: str | None, data_root: str | None) -> None:
    """Data that was asked for opens before any section runs (else one line, exit 2): no section
    may find it missing and stand generated images in for it."""
    from ..data import build_dataset

    if dataset is None and data_root is None:
        return
    name = dataset or S.domain
    if name is None:
        raise UserError(f"--data-root {data_root}: {S.where} does not record its dataset; pass --dataset NAME")
    root = data_root or ((S.train_config or {}).get("data_root") if name == S.domain else None)
    build_dataset(name, S.image_size, S.nc, "test", root, seed=0)


def run(args) -> int:
    from ..reports.report import build_report, parse_only
    from .common import device_of, subject_of

    parse_only(args.only)  # validate before anything runs
    _check_data(args.dataset, args.data_root)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder; choose another path")
    S = subject_of(args)
    _open_data(S, args.dataset, args.data_root)
    device = device_of(args).type
    if args.segmenter is not None:  # a bad --segmenter: one line before any section runs
        from ..instruments import resolve_instrument

        resolve_instrument(S, args.segmenter, device=device)
    if args.heldout_root is not None and not Path(args.heldout_root).expanduser().is_dir():
        raise UserError(f"--heldout-root {args.heldout_root} does not exist or is not a folder")
    held = {"memorisation": {"heldout_root": str(args.heldout_root)}} if args.heldout_root is not None else None
    rec = build_report(S, out, args.only, device, args.seed, args.force, args.dataset, args.data_root,
                       args.segmenter, settings=held)
    for key, s in rec["sections"].items():
        print(f"{key:<22} {s['status']:<7} {s['seconds']:6.1f} s" + (f"  {s['reason']}" if s["reason"] else ""))
    print(f"wrote {out / 'report.html'} and {out / 'report.pdf'} in {rec['seconds_total']:.1f} s")
    return 0
