"""report.html: one offline page, images beside it (relative paths), a section per figure.

Sections come in the paper's order; each shows its PNGs, a caption with the measured
numbers, the command and settings that made it, or the reason it is absent.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from gan_viz.io import atomic_path

# The main figure of each command first; any other PNG of the folder follows, sorted.
MAIN_FIGURES = {
    "fig4_latent_walk": ["latent_walk", "walk_measures"],
    "fig5_guided_backprop": ["guided_backprop", "class_energy"],
    "fig6_forget": ["forget_samples", "removal_curve"],
    "fig7_arithmetic": ["arithmetic", "direction_walk", "direction_measure"],
    "directions": ["effect_window", "effect_bed", "effect_door", "entanglement", "agreement", "grid_interfacegan"],
    "filter_audit": ["label_counts", "selectivity", "first_layer_filters"],
}

CSS = """body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.92em;margin-top:.3em}
.absent{background:#fff4e0;padding:.6em;border-left:4px solid #e0a040}.cmd{font-family:monospace;font-size:.8em;color:#555}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"""


@dataclass
class Block:
    """One section of the page (and of the PDF): figures (paths relative to the report) and text."""

    key: str
    title: str
    figures: list[str] = field(default_factory=list)  # relative PNG paths, first = main
    caption: str = ""
    absent: str = ""
    command: str = ""
    seconds: float | None = None
    status: str = ""
    table: dict | None = None  # key -> value rows (model card)


def figures_of(folder: Path, root: Path, key: str) -> list[str]:
    """PNG files of a section folder, main figures first, as paths relative to ``root``."""
    pngs = {p.stem: p for p in folder.glob("*.png")}
    order = [n for n in MAIN_FIGURES.get(key, []) if n in pngs] + sorted(n for n in pngs if n not in
                                                                         MAIN_FIGURES.get(key, []))
    return [pngs[n].relative_to(root).as_posix() for n in order]


def block_of(outcome, root: Path) -> Block:
    """A page section from a :class:`reports.report.Outcome`."""
    s = outcome.section
    b = Block(s.key, s.title, command=outcome.command, status=outcome.status,
              seconds=outcome.seconds if outcome.status == "ran" else None)
    if not outcome.ok:
        b.absent = outcome.reason
        return b
    b.figures = figures_of(outcome.folder, root, s.key)
    b.caption = outcome.caption()
    return b


def _figure_html(rel: str, caption: str) -> str:
    alt = html.escape(Path(rel).stem.replace("_", " "))
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{html.escape(rel)}" alt="{alt}">{cap}</figure>'


def _table_html(rows: dict) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_short(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{body}</table>"


def _short(v) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) < 400 else text[:400] + " ..."


def section_html(b: Block) -> str:
    parts = [f'<section id="{b.key}"><h2>{html.escape(b.title)}</h2>']
    if b.absent:
        parts.append(f'<p class="absent">Absent: {html.escape(b.absent)}</p>')
    if b.table:
        parts.append(_table_html(b.table))
    for i, rel in enumerate(b.figures):
        parts.append(_figure_html(rel, b.caption if i == 0 else ""))
    if b.caption and not b.figures:
        parts.append(f"<p>{html.escape(b.caption)}</p>")
    if b.command:
        took = f" ({b.seconds:.1f} s)" if b.seconds is not None else f" ({b.status})" if b.status else ""
        parts.append(f'<p class="cmd">{html.escape(b.command)}{took}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def glance_html(glance: list | None, quality: str | None = None) -> str:
    """The 'at a glance' table: (section, what it measured, instrument, verdict, section key, main figure
    or None) rows (:mod:`reports.glance` rows with the section's key and main PNG); each row links to
    its section, the thumbnail too."""
    if not glance:
        return ""
    head = f"<p><b>Model card:</b> {html.escape(quality)}</p>" if quality else ""
    body = "".join(f'<tr><th><a href="#{html.escape(k)}">{html.escape(t)}</a></th><td>{html.escape(m)}</td>'
                   f"<td>{_verdict_html(v)}</td><td>{html.escape(i)}</td><td>{_thumb(f, k)}</td></tr>"
                   for t, m, i, v, k, f in glance)
    return (f'<section id="glance"><h2>At a glance</h2>{head}<table><tr><th>section</th><th>measured '
            f"(beside its control)</th><th>verdict</th><th>instrument</th><th>figure</th></tr>{body}</table></section>")


def _verdict_html(v: str) -> str:
    word = v.split(" (")[0].split(":")[0]
    colour = {"holds": "#2a7d2a", "fails": "#b02a2a"}.get(word, "#8a6d00")
    return f'<span style="color:{colour}"><b>{html.escape(word)}</b></span>{html.escape(v[len(word):])}' if v else ""


def _thumb(rel: str | None, key: str) -> str:
    if not rel:
        return ""
    return f'<a href="#{html.escape(key)}"><img src="{html.escape(rel)}" alt="" style="max-width:120px"></a>'



def write_html(path: Path, title: str, intro: str, blocks: list[Block], glance: list | None = None,
               quality: str | None = None) -> Path:
    """Write the page; every image path must exist beside it (checked here). ``glance``: the first
    section's rows, what each section measured."""
    root = path.parent
    missing = [f for b in blocks for f in b.figures if not (root / f).exists()]
    if missing:
        raise FileNotFoundError(f"report images missing: {missing}")
    toc = "".join(f'<li><a href="#{b.key}">{html.escape(b.title)}</a>{" (absent)" if b.absent else ""}</li>'
                  for b in blocks)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
            f"{glance_html(glance, quality)}<ol>{toc}</ol>\n" + "\n".join(section_html(b) for b in blocks)
            + "</body></html>\n")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page)
    return path
