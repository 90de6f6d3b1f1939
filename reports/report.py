"""Run every analysis that applies to a checkpoint and collect its results for the report.

Each section calls the same code path as its command (``gan-viz NAME ... --out
REPORT/<section>``) with small settings chosen so that the whole report takes about a
minute on a 2-core CPU; the settings are recorded in the report. A section whose
command raises :class:`~gan_viz.errors.UserError` (no masks, no labels, no parser for
this checkpoint) is kept with the reason it is absent; other exceptions propagate.

A section is skipped (cached) when its folder holds a ``summary.json`` and a
``report_key.json`` whose recorded inputs (argv + checkpoint and shipped scene parser
size and mtime + gan-viz version) equal this run's.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from gan_viz import __version__
from gan_viz.errors import UserError

KEY_FILE = "report_key.json"


@dataclass(frozen=True)
class Section:
    """One analysis of the report.

    Args:
        key: the section's folder name and id for --only.
        title: the heading in the report (the paper's figure it reproduces).
        argv: the command and its fast settings (``--ckpt/--out/--device/--seed`` are added).
        ckpt: whether the command reads the checkpoint.
        rooms: options added for checkpoints trained on rooms (e.g. a label a small CNN learns quickly).
    """

    key: str
    title: str
    argv: tuple[str, ...]
    ckpt: bool = True
    rooms: tuple[str, ...] = ()


# Paper order: Figs. 4, 5, 6, 7, classification, memorisation, modes; then mechanics and the audit.
SECTIONS = (
    Section("fig4_latent_walk", "Fig. 4: walking in the latent space",
            ("latent-walk", "--points", "9", "--steps", "8", "--no-video")),
    Section("fig5_guided_backprop", "Fig. 5: guided backpropagation of D's features",
            ("guided-backprop", "--images", "256", "--top", "4")),
    Section("fig6_forget", "Fig. 6: forgetting to draw windows",
            ("forget", "--concept", "window", "--fits", "1", "--random-draws", "2", "--samples", "80",
             "--causal-samples", "200", "--opt-steps", "150", "--eval-samples", "160",
             "--curve-points", "3")),
    Section("fig7_arithmetic", "Fig. 7: vector arithmetic on z",
            ("arithmetic", "--expr", "A - B + C", "--concepts", "A=window,B=no-window,C=no-window",
             "--samples-n", "300", "--direction", "A - B", "--eval-samples", "100")),
    Section("classification", "Table 1: D as a feature extractor",
            ("classify", "--n-train", "800", "--n-test", "400", "--labels", "200", "--draws", "1", "--C-grid", "0.01")),
    Section("memorisation", "Figs. 2-3: memorisation (nearest training images)",
            ("neighbors", "--n", "64", "--n-train", "800", "--n-heldout", "200")),
    Section("modes", "Mode coverage",
            ("modes", "--n", "300", "--n-train", "800", "--n-test", "300", "--epochs", "2"),
            rooms=("--attribute", "time_of_day")),
    Section("upsampling", "Mechanics: upsampling by transposed convolution", ("upsampling",), ckpt=False),
    Section("checkerboard", "Mechanics: checkerboard artefacts", ("checkerboard", "--n", "128")),
    Section("filter_audit", "Filter audit of D (Network Dissection)",
            ("filter-audit", "--nets", "D", "--images", "160")),
)
KEYS = tuple(s.key for s in SECTIONS)


@dataclass
class Outcome:
    """What became of one section: ran, cached, or absent (with the reason)."""

    section: Section
    folder: Path
    status: str  # "ran", "cached" or "absent"
    seconds: float = 0.0
    reason: str = ""
    argv: list = field(default_factory=list)
    cpu_seconds: float = 0.0  # user + system CPU time: unlike wall time, not inflated by other jobs

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")

    def summary(self) -> dict:
        return json.loads((self.folder / "summary.json").read_text()) if self.ok else {}


def parse_only(text: str | None) -> list[Section]:
    """``--only fig4_latent_walk,modes`` (or prefixes like fig4,modes) -> the sections, in paper order."""
    if text is None:
        return list(SECTIONS)
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    chosen = set()
    for w in wanted:
        hits = [s.key for s in SECTIONS if s.key == w or s.key.startswith(w + "_") or s.key.split("_", 1)[-1] == w]
        if not hits:
            raise UserError(f"--only {w!r} is not a section; choose from {', '.join(KEYS)}")
        chosen.update(hits)
    return [s for s in SECTIONS if s.key in chosen]


def ckpt_stamp(path: Path | None) -> dict:
    """What identifies the checkpoint's content cheaply: path, size and mtime."""
    if path is None:
        return {}
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def section_argv(s: Section, ckpt: Path | None, folder: Path, device: str, seed: int,
                 dataset: str | None = None) -> list[str]:
    argv = list(s.argv) + (list(s.rooms) if dataset == "rooms" else []) + ["--out", str(folder)]
    if s.ckpt:
        argv += (["--ckpt", str(ckpt)] if ckpt is not None else []) + ["--device", device, "--seed", str(seed)]
    return argv


def _cached(folder: Path, key: dict) -> bool:
    f = folder / KEY_FILE
    if not (folder / "summary.json").exists() or not f.exists():
        return False
    try:
        return json.loads(f.read_text()) == key
    except json.JSONDecodeError:
        return False


def run_section(s: Section, root: Path, ckpt: Path | None, device: str, seed: int, force: bool = False,
                dataset: str | None = None) -> Outcome:
    """Run one section's command in-process (its printout goes to ``log.txt`` in its folder)."""
    from gan_viz.cli import build_parser
    from gan_viz.io import write_json

    folder = root / s.key
    argv = section_argv(s, ckpt, folder, device, seed, dataset)
    key = {"argv": argv, "checkpoint": ckpt_stamp(ckpt) if s.ckpt else {},
           "parser": _parser_stamp() if s.ckpt else {}, "gan_viz_version": __version__}
    if not force and _cached(folder, key):
        return Outcome(s, folder, "cached", argv=argv)
    args = build_parser().parse_args(argv)
    for old in [*folder.glob("*.png"), *folder.glob("*.pdf"), folder / KEY_FILE, folder / "summary.json"]:
        old.unlink(missing_ok=True)  # this section's own outputs of other inputs: never shown as current
    log = io.StringIO()
    t0, c0 = time.perf_counter(), _cpu()
    try:
        with contextlib.redirect_stdout(log):
            code = int(args._run(args) or 0)
    except UserError as e:
        return Outcome(s, folder, "absent", time.perf_counter() - t0, str(e), argv)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    if code != 0:
        raise RuntimeError(f"gan-viz {' '.join(argv)} exited with status {code}")
    (folder / "log.txt").write_text(log.getvalue())
    write_json(folder / KEY_FILE, key)
    return Outcome(s, folder, "ran", dt, argv=argv, cpu_seconds=cpu)


def _parser_stamp() -> dict:
    """The shipped scene parser measures several sections: a new one invalidates their cache."""
    from gan_viz.parser import DEFAULT_PATH

    return ckpt_stamp(DEFAULT_PATH) if Path(DEFAULT_PATH).exists() else {}


def _cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run_all(sections: list[Section], root: Path, ckpt: Path | None, device: str = "cpu", seed: int = 0,
            force: bool = False, dataset: str | None = None) -> list[Outcome]:
    """Run (or reuse) every section; one progress bar over the sections, each named as it runs."""
    outcomes = []
    with tqdm(total=len(sections), desc="report", unit="section") as bar:
        for s in sections:
            bar.set_description(f"report: {s.key}")
            o = run_section(s, root, ckpt, device, seed, force, dataset)
            bar.set_postfix_str(f"{s.key} {o.status} {o.seconds:.1f}s")
            bar.update(1)
            outcomes.append(o)
    return outcomes


def card_block(ck, root: Path):
    """The model card: config table, training curves (when the run's metrics.csv is known), samples."""
    from gan_viz.io import save_figure

    from . import extras
    from .html import Block

    folder = root / "model_card"
    folder.mkdir(parents=True, exist_ok=True)
    facts = extras.card_facts(ck)
    b = Block("model_card", "Model card", table={k: v for k, v in facts.items() if k != "card"})
    card = facts.get("card", {})
    b.table.update({f"card.{k}": v for k, v in card.items()
                    if k in ("exported_from", "wall_seconds_logged", "quality", "hardware", "size_bytes")})
    save_figure(extras.plot_samples(ck), folder, "samples")
    b.figures.append("model_card/samples.png")
    csv_path = extras.metrics_csv(ck, card)
    if csv_path is not None:
        save_figure(extras.plot_training_curves(csv_path), folder, "training_curves")
        b.figures.append("model_card/training_curves.png")
    png = ck.path.with_name(ck.path.stem + "_samples.png")
    b.caption = (f"Samples of G at step {ck.step} (seed 0)" + (f"; training curves from {csv_path}" if csv_path else
                 "; no training curves (the run's metrics.csv is not beside this checkpoint)")
                 + (f"; exported sample sheet {png.name} beside the checkpoint." if png.exists() else "."))
    return b


def gallery_block(ck, audit: Outcome, root: Path, device: str):
    """Every filter of D's last audited layer: its top image and the audit's label."""
    import torch

    from gan_viz.io import save_figure

    from . import extras
    from .html import Block

    b = Block("filter_gallery", "Gallery of D's last-layer filters")
    if not audit.ok:
        b.absent = f"the filter audit is absent ({audit.reason or 'not run'})"
        return b
    layer, imgs, labels = extras.gallery_images(ck, audit.folder, torch.device(device))
    save_figure(extras.plot_filter_gallery(imgs, labels, layer), root / "filter_gallery", "gallery", dpi=110)
    b.figures = ["filter_gallery/gallery.png"]
    count = lambda keep: ", ".join(f"{c} {labels.count(c)}" for c in sorted(set(filter(keep, labels)))) or "none"  # noqa: E731
    n_iou = sum(lab != "-" and not lab.startswith("p:") for lab in labels)
    n_prec = sum(lab.startswith("p:") for lab in labels)
    b.caption = (f"All {len(labels)} filters of {layer}, each shown on its top-activating image of the audit. "
                 f"{n_iou} carry a Network Dissection label (IoU above the audit's threshold: "
                 f"{count(lambda s: s != '-' and not s.startswith('p:'))}); {n_prec} more only a precision label "
                 f"(p:, most of the filter's top activations on one class: {count(lambda s: s.startswith('p:'))}).")
    return b


def build_report(ckpt: Path, out: Path, only: str | None = None, device: str = "cpu", seed: int = 0,
                 force: bool = False) -> dict:
    """Run the sections, then write report.html, report.pdf and report.json into ``out``.

    Returns:
        the record written to report.json (sections with status, seconds, reasons; settings).
    """
    from gan_viz.checkpoint import load_checkpoint
    from gan_viz.io import write_json

    from .html import block_of, write_html
    from .pdf import write_pdf

    t0 = time.perf_counter()
    sections = parse_only(only)
    ck = load_checkpoint(ckpt)
    outcomes = run_all(sections, out, ckpt, device, seed, force, ck.dataset)
    t_sections = time.perf_counter() - t0
    blocks = [block_of(o, out) for o in outcomes]
    blocks.append(card_block(ck, out))
    audit = next((o for o in outcomes if o.section.key == "filter_audit"), None)
    if audit is not None:
        blocks.append(gallery_block(ck, audit, out, device))
    title = f"gan-viz report: {ck.path.name} (step {ck.step}, {ck.dataset or 'dataset not recorded'})"
    intro = (f"Checkpoint {ck.path} ({ck.source}). Each section ran its gan-viz command with the small settings "
             f"shown under it (chosen for a report in about a minute on a 2-core CPU; rerun a command with its "
             f"defaults for the full measurement). Seed {seed}.")
    write_html(out / "report.html", title, intro, blocks)
    write_pdf(out / "report.pdf", title, intro, blocks)
    record = {"checkpoint": str(ck.path), "checkpoint_stamp": ckpt_stamp(ckpt), "seed": seed, "device": device,
              "sections": {o.section.key: {"status": o.status, "seconds": round(o.seconds, 2),
                                           "cpu_seconds": round(o.cpu_seconds, 2), "reason": o.reason,
                                           "argv": o.argv} for o in outcomes},
              "seconds_sections": round(t_sections, 2), "seconds_total": round(time.perf_counter() - t0, 2)}
    write_json(out / "report.json", record)
    return record
