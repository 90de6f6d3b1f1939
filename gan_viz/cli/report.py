"""gan-viz report: every paper figure and the filter audit of a checkpoint, as HTML and PDF."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import BUNDLED
from ..errors import UserError
from .common import add_ckpt, add_device, add_seed

NAME = "report"
HELP = ("run every analysis that applies to a checkpoint (fast settings, cached) and write report.html "
        "and report.pdf: Figs. 4-7, classification, memorisation, modes, mechanics, model card, filter gallery")
EXAMPLES = ["gan-viz report --out out/report",
            "gan-viz report --ckpt runs/rooms32/checkpoints/last.pt --out out/report_run",
            "gan-viz report --only fig4,fig5,upsampling --out out/report_quick",
            "gan-viz report --ckpt netG_epoch_24.pth --out out/report_pt"]


def add_arguments(p):
    from ..reports.report import KEYS

    add_ckpt(p)
    p.add_argument("--out", default="out/report", metavar="DIR", help="report folder (default: out/report)")
    p.add_argument("--only", default=None, metavar="LIST",
                   help=f"comma-separated sections (or their prefixes such as fig4): {', '.join(KEYS)}")
    p.add_argument("--force", action="store_true", help="rerun every section even when its cached inputs match")
    add_seed(p)
    add_device(p)


def run(args) -> int:
    from ..reports.report import build_report, parse_only
    from .common import device_of

    parse_only(args.only)  # validate before anything runs
    ckpt = Path(args.ckpt) if args.ckpt is not None else BUNDLED
    if not ckpt.exists():
        raise UserError(f"checkpoint {ckpt} does not exist; pass --ckpt with a checkpoint")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    device = device_of(args).type
    rec = build_report(ckpt, out, args.only, device, args.seed, args.force)
    for key, s in rec["sections"].items():
        print(f"{key:<22} {s['status']:<7} {s['seconds']:6.1f} s" + (f"  {s['reason']}" if s["reason"] else ""))
    print(f"wrote {out / 'report.html'} and {out / 'report.pdf'} in {rec['seconds_total']:.1f} s")
    return 0
