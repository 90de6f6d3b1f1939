"""Run every analysis that applies to a model and collect its results for the report.

Each section is one registered analysis (:mod:`gan_viz.analyses.registry`): its name, the
small options chosen so that the whole report takes a few minutes on a 2-core CPU
(the runner's option names, as its command's argparse dest names), and its caption.
The report calls ``registry.run(name, ctx, **options)`` with one
:class:`~gan_viz.analyses.registry.Context` per section: the same subject, seed, device,
real data (``--dataset`` / ``--data-root``) and concept instrument (``--segmenter``) for
all. A section whose runner raises :class:`~gan_viz.errors.UserError` (no labels, no
instrument for this model, no runner registered) is kept with the reason it is absent;
other exceptions propagate.

A section is skipped (cached) when its folder holds a ``summary.json`` and a
``report_key.json`` whose recorded inputs (analysis name and options, the subject's
provenance and a digest of its weights, dataset / data root / segmenter, seed and
device, the shipped scene parser's stamp, a digest of gan-viz's own source: every ``.py``
of gan_viz, analyses and reports, :func:`~gan_viz.reports.keys.source_digest`) equal this run's; the data's stamp
holds the content key of its files (:func:`gan_viz.data.cache.content_key`), so an edited
analysis or a changed folder reruns the sections it reaches.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.memory import release

from .keys import KEY_FILE, cache_key, cached, file_stamp, weights_digest
from .sections import KEYS, SECTIONS, TAKES, Section
from .timing import cpu_seconds, forget_seconds


@dataclass
class Inputs:
    """What every section shares: the subject and the run's seed, device, real data and instrument."""

    subject: object  # gan_viz.subject.Subject
    device: str = "cpu"
    seed: int = 0
    dataset: str | None = None  # None: the subject's domain
    data_root: str | None = None
    segmenter: str | None = None  # None: the instrument of the subject's domain, if any
    _stamp: dict | None = field(default=None, repr=False)
    _content: list | None = field(default=None, repr=False)  # [content key] once computed

    @property
    def data(self) -> str | None:
        return self.dataset if self.dataset is not None else self.subject.domain

    def context(self, folder: Path, model: bool = True, takes: tuple = ("data", "segmenter")):
        """The analysis context of a section whose command takes ``takes`` (see ``TAKES``)."""
        from gan_viz.analyses.registry import Context

        data = "data" in takes
        return Context(self.subject if model else None, folder, self.seed, self.device,
                       self.dataset if data else None, self.data_root if data else None,
                       self.segmenter if "segmenter" in takes else None)

    def stamp(self) -> dict:
        """The subject's provenance and a digest of its weights (computed once)."""
        if self._stamp is None:
            self._stamp = {"provenance": self.subject.provenance.to_dict(), "weights": weights_digest(self.subject)}
        return self._stamp

    def data_stamp(self) -> dict:
        root = str(Path(self.data_root).expanduser().resolve()) if self.data_root else None
        seg = self.segmenter
        seg_file = {}
        if seg and seg != "rooms" and ":" in seg:
            seg_file = file_stamp(Path(seg.rsplit(":", 1)[0]))
        if self._content is None:  # what the files hold (names, sizes, mtimes), once per run
            from gan_viz.data.cache import content_key

            self._content = [content_key(self.data, self.data_root)]
        return {"dataset": self.data, "data_root": root, "data_content": self._content[0], "segmenter": seg,
                "segmenter_file": seg_file}

    def argv(self, takes: tuple = ("data", "segmenter")) -> list[str]:
        """The command-line options that name these inputs, for a command that takes ``takes``
        (see ``TAKES``): the command shown under a section."""
        p = self.subject.provenance
        spec = p.metadata.get("model_def") if p.format == "model-def" else None
        out = ["--model-def", spec] if spec else []
        if p.path and not (spec and p.path == spec.rsplit(":", 1)[0]):
            out += ["--ckpt", p.path]
        for flag, v, what in (("--dataset", self.dataset, "data"), ("--data-root", self.data_root, "data"),
                              ("--segmenter", self.segmenter, "segmenter")):
            if v is not None and what in takes:
                out += [flag, str(v)]
        return out + ["--device", self.device, "--seed", str(self.seed)]


@dataclass
class Outcome:
    """What became of one section: ran, cached, or absent (with the reason)."""

    section: Section
    folder: Path
    status: str  # "ran", "cached" or "absent"
    seconds: float = 0.0
    reason: str = ""
    options: dict = field(default_factory=dict)
    command: str = ""
    cpu_seconds: float = 0.0  # user + system CPU time: unlike wall time, not inflated by other jobs

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")

    def summary(self) -> dict:
        return json.loads((self.folder / "summary.json").read_text()) if self.ok else {}

    def caption(self) -> str:
        """The section's caption, else its analysis's registered one, else the generic one."""
        from gan_viz.analyses import registry

        from . import captions

        fn = self.section.caption
        if fn is None:
            with contextlib.suppress(UserError):
                fn = registry.get(self.section.name).caption
        return (fn or captions.generic)(self.summary())


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


def section_options(s: Section, inputs: Inputs, settings: Mapping | None = None) -> dict:
    """The section's fast options, plus its rooms / no-data additions, plus ``settings[s.key]``."""
    opts = dict(s.options)
    if inputs.data == "rooms":
        opts.update(s.rooms)
    if inputs.data is None:
        opts.update(s.no_data)
    opts.update((settings or {}).get(s.key, {}))
    return json.loads(json.dumps(opts))  # plain JSON values, as the cache key stores them


def command_of(s: Section, options: Mapping, inputs: Inputs, folder: Path | None = None) -> str:
    """The command line that reproduces the section into ``folder`` (its summary.json: the same
    figures of merit; tested by running every command of a report.json)."""
    words = ["gan-viz", s.name]
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            words.append(flag)
        elif v is not False and v is not None:  # a value such as -1,0,1 is attached, not read as an option
            words += [f"{flag}={v}"] if str(v).startswith("-") else [flag, str(v)]
    if s.model:
        words += inputs.argv(TAKES.get(s.name, ()))
    if folder is not None:
        words += ["--out", str(folder)]
    return " ".join(shlex.quote(w) for w in words)


def run_section(s: Section, root: Path, inputs: Inputs, force: bool = False,
                settings: Mapping | None = None) -> Outcome:
    """Run one section's analysis in-process (its printout goes to ``log.txt`` in its folder)."""
    from gan_viz.analyses import registry
    from gan_viz.io import run_record, write_json, write_text

    folder = root / s.key
    options = section_options(s, inputs, settings)
    command = command_of(s, options, inputs, folder)
    key = cache_key(s, options, inputs)
    if not force and cached(folder, key):
        return Outcome(s, folder, "cached", options=options, command=command)
    for old in [*folder.glob("*.png"), *folder.glob("*.pdf"), folder / KEY_FILE, folder / "summary.json"]:
        old.unlink(missing_ok=True)  # this section's own outputs of other inputs: never shown as current
    folder.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        with contextlib.redirect_stdout(log):
            registry.run(s.name, inputs.context(folder, s.model, TAKES.get(s.name, ())), **options)
    except UserError as e:
        return Outcome(s, folder, "absent", time.perf_counter() - t0, str(e), options, command)
    dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    write_text(folder / "log.txt", log.getvalue())
    record = {"analysis": s.name, "options": options, "seed": inputs.seed, "device": inputs.device}
    if s.model:
        record.update(subject=inputs.subject.describe(), checkpoint=inputs.subject.where, **inputs.data_stamp())
    write_json(folder / "run.json", run_record(f"report {s.key}", **record))
    write_json(folder / KEY_FILE, key)
    return Outcome(s, folder, "ran", dt, "", options, command, cpu)


def announce_time(sections: list[Section], root: Path, inputs: Inputs, force: bool, settings) -> float | None:
    """Say before starting when the report will take more than a few minutes (Fig. 6 is its cost)."""
    s = next((s for s in sections if s.key == "fig6_forget"), None)
    if s is None or inputs.segmenter not in (None, "rooms"):
        return None
    options = section_options(s, inputs, settings)
    if not force and cached(root / s.key, cache_key(s, options, inputs)):
        return None
    try:
        est = forget_seconds(inputs.subject, options, inputs.device, inputs.segmenter)
    except (UserError, RuntimeError, ValueError):
        return None
    if est is not None and est > 180:
        sys.stderr.write(f"report: Fig. 6 (forget) is expected to take about {est / 60:.0f} min on this model "
                         f"(measured here: one optimisation step and one measurement, times the section's "
                         f"{options['fits']} fits x {options['opt_steps']} steps and its removals); the other "
                         "sections about a minute or two. --only skips sections.\n")
    return est


def run_all(sections: list[Section], root: Path, inputs: Inputs, force: bool = False,
            settings: Mapping | None = None) -> list[Outcome]:
    """Run (or reuse) every section; one progress bar over the sections, each named as it runs."""
    outcomes = []
    with tqdm(total=len(sections), desc="report", unit="section") as bar:
        for s in sections:
            bar.set_description(f"report: {s.key}")
            o = run_section(s, root, inputs, force, settings)
            release()  # the next section starts from the resident memory it needs, not this one's peak
            bar.set_postfix_str(f"{s.key} {o.status} {o.seconds:.1f}s")
            bar.update(1)
            outcomes.append(o)
    return outcomes


def kept_outcome(s: Section, root: Path, inputs: Inputs, settings: Mapping | None = None,
                 previous: Mapping | None = None) -> Outcome | None:
    """Section ``s`` as ``root`` already holds it for these inputs, without running anything: its
    cache when the key matches, or its absence (with the reason) recorded by the previous
    ``report.json`` for the same subject, data, seed, device and options; None: not there."""
    folder = root / s.key
    options = section_options(s, inputs, settings)
    command = command_of(s, options, inputs, folder)
    if cached(folder, cache_key(s, options, inputs)):
        return Outcome(s, folder, "cached", options=options, command=command)
    prev = previous or {}
    sec = (prev.get("sections") or {}).get(s.key) or {}
    same = (prev.get("subject_stamp") == inputs.stamp() and prev.get("data") == inputs.data_stamp()
            and prev.get("seed") == inputs.seed and prev.get("device") == inputs.device)
    if same and sec.get("status") == "absent" and sec.get("options") == options:
        return Outcome(s, folder, "absent", reason=sec.get("reason", ""), options=options, command=command)
    return None


def with_kept(outcomes: list[Outcome], root: Path, inputs: Inputs, settings: Mapping | None = None) -> list[Outcome]:
    """``outcomes`` (the sections just run) and, in paper order, every other section ``root``
    holds for these inputs (:func:`kept_outcome`): ``--only`` reruns some sections of a report
    and leaves the others in it."""
    previous = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        previous = json.loads((root / "report.json").read_text())
    ran = {o.section.key: o for o in outcomes}
    merged = []
    for s in SECTIONS:
        o = ran.get(s.key) or kept_outcome(s, root, inputs, settings, previous)
        if o is not None:
            merged.append(o)
    return merged


def _title_and_intro(inputs: Inputs) -> tuple[str, str]:
    S = inputs.subject
    name = S.path.name if S.path is not None else S.provenance.format
    step = f"step {S.step}, " if S.step else ""
    title = f"gan-viz report: {name} ({step}{inputs.data or 'dataset not recorded'})"
    data = (f"real data: {inputs.data}" + (f" from {inputs.data_root}" if inputs.data_root else "")
            if inputs.data else "no real data (pass --dataset and --data-root)")
    seg = _instrument_phrase(S, inputs.segmenter)
    intro = (f"Model {S.where} ({S.source}); {data}; concept instrument: {seg}. Each section ran its analysis "
             f"(the code of its gan-viz command) with the small settings shown under it (chosen for a report in "
             f"a few minutes on a 2-core CPU; rerun the command with its defaults for the full measurement). "
             f"Seed {inputs.seed}.")
    return title, intro


def _instrument_phrase(S, spec: str | None) -> str:
    from gan_viz.instruments import absent_reason

    if spec is None:
        reason = absent_reason(S)
        return "the rooms scene parser (the model's domain is rooms)" if reason is None else f"none ({reason})"
    if spec == "rooms":
        from gan_viz.applicability import phrase
        from gan_viz.instruments import rooms_check

        with contextlib.suppress(UserError):
            rec = rooms_check(S)
            if rec is not None and not rec["in_domain"]:
                return f"the rooms scene parser, FORCED by --segmenter rooms OUTSIDE ITS DOMAIN ({phrase(rec)})"
        return "the rooms scene parser" + ("" if S.domain == "rooms" else ", FORCED by --segmenter rooms")
    return "none (--segmenter none)" if spec == "none" else f"the user's segmenter {spec}"


def _record(S, inputs: Inputs, outcomes: list[Outcome], at_a_glance, expected_forget, t_sections: float,
            t_total: float) -> dict:
    """report.json: the subject, the inputs, and each section's status, time, options and command."""
    return {"checkpoint": S.where, "subject": S.describe(), "subject_stamp": inputs.stamp(),
            "data": inputs.data_stamp(), "seed": inputs.seed, "device": inputs.device,
            "sections": {o.section.key: {"analysis": o.section.name, "status": o.status,
                                         "seconds": round(o.seconds, 2), "cpu_seconds": round(o.cpu_seconds, 2),
                                         "reason": o.reason, "options": o.options, "command": o.command}
                         for o in outcomes},
            "seconds_sections": round(t_sections, 2), "seconds_total": round(t_total, 2),
            "expected_forget_seconds": None if expected_forget is None else round(expected_forget, 1),
            "at_a_glance": [{"section": t, "measured": m, "instrument": i, "verdict": v}
                            for t, m, i, v in at_a_glance]}


def build_report(subject, out: Path, only: str | None = None, device: str = "cpu", seed: int = 0,
                 force: bool = False, dataset: str | None = None, data_root: str | None = None,
                 segmenter: str | None = None, settings: Mapping | None = None) -> dict:
    """Run the sections, then write report.html, report.pdf and report.json into ``out``.

    Args:
        subject: a :class:`~gan_viz.subject.Subject`, or a checkpoint path (None: the bundled model).
        dataset, data_root, segmenter: passed to every section (as ``--dataset`` etc. to a command).
        settings: section key -> options that replace its fast settings (e.g. smaller ones in tests).
    Returns:
        the record written to report.json (sections with status, seconds, reasons; settings).
    """
    from gan_viz.checkpoint import load_subject
    from gan_viz.io import deferred_figures, write_json

    from . import extras
    from .html import block_of, write_html
    from .pdf import write_pdf

    t0 = time.perf_counter()
    sections = parse_only(only)
    unknown = sorted(set(settings or {}) - set(KEYS))
    if unknown:
        raise UserError(f"settings for unknown sections {unknown}; sections are {', '.join(KEYS)}")
    S = subject if hasattr(subject, "provenance") else load_subject(subject)
    inputs = Inputs(S, str(device), seed, dataset, data_root, segmenter)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    expected_forget = announce_time(sections, out, inputs, force, settings)
    outcomes = run_all(sections, out, inputs, force, settings)
    if only is not None:  # the report keeps every other section the folder holds for these inputs
        outcomes = with_kept(outcomes, out, inputs, settings)
    t_sections = time.perf_counter() - t0
    blocks = [block_of(o, out) for o in outcomes]
    for o, b in zip(outcomes, blocks):
        if o.section.key == "upsampling" and o.ok:  # the notes' mechanics, said against this model's own G
            b.caption = f"{b.caption} {extras.upsampling_note(S)}".strip()
    with deferred_figures():  # the card's PDFs are drawn beside the gallery's work
        blocks.append(extras.card_block(S, out))
        audit = next((o for o in outcomes if o.section.key == "filter_audit"), None)
        if audit is not None:
            blocks.append(extras.gallery_block(S, audit, out, inputs))
    title, intro = _title_and_intro(inputs)
    from . import glance

    at_a_glance = glance.rows(outcomes)
    linked = [(*row, o.section.key, b.figures[0] if b.figures else None)
              for row, o, b in zip(at_a_glance, outcomes, blocks)]  # + the section's key and main figure
    quality = glance.quality_line((extras.card_facts(S).get("card") or {}).get("quality"))
    write_html(out / "report.html", title, intro, blocks, linked, quality)
    write_pdf(out / "report.pdf", title, intro, blocks, at_a_glance, quality)
    record = _record(S, inputs, outcomes, at_a_glance, expected_forget, t_sections, time.perf_counter() - t0)
    write_json(out / "report.json", record)
    return record
