"""report.pdf: the report's figures paginated (matplotlib PdfPages), one page per figure with
its section title and caption; absent sections get a page that says why."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gan_viz.io import atomic_path

PAGE = (8.27, 11.69)  # A4 portrait, inches


def _text_page(pdf, title: str, lines: list[str]) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=PAGE)
    fig.text(0.07, 0.95, title, fontsize=14, weight="bold", va="top")
    body = "\n".join(textwrap.fill(t, 95) for t in lines)
    fig.text(0.07, 0.9, body, fontsize=8.5, va="top", family="sans-serif")
    pdf.savefig(fig)
    plt.close(fig)


def _figure_page(pdf, title: str, png: Path, caption: str) -> None:
    """The image under the title at its own aspect ratio (as wide as fits), the caption right below it."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=PAGE)
    fig.text(0.07, 0.97, title, fontsize=12, weight="bold", va="top")
    img = mpimg.imread(png)
    cap = textwrap.fill(caption, 110) if caption else ""
    cap_h = 0.013 * (cap.count("\n") + 1) + 0.02 if cap else 0.0
    top, avail_h = 0.94, 0.94 - 0.03 - cap_h  # page fractions
    w = 0.9
    h = w * PAGE[0] / PAGE[1] * img.shape[0] / img.shape[1]  # height in page fractions at full width
    if h > avail_h:
        w, h = w * avail_h / h, avail_h
    ax = fig.add_axes(((1 - w) / 2, top - h, w, h))
    ax.imshow(img, interpolation="antialiased")
    ax.set_axis_off()
    if cap:
        fig.text(0.07, top - h - 0.01, cap, fontsize=7.5, va="top")
    pdf.savefig(fig)
    plt.close(fig)


def write_pdf(path: Path, title: str, intro: str, blocks, glance: list | None = None, quality: str | None = None) -> Path:
    """One page per figure of every block (``reports.html.Block``), captions under the first; page 1 is
    the intro and, with ``glance`` ((section, measured, instrument) rows, :mod:`reports.glance`), what
    each section measured."""
    from matplotlib.backends.backend_pdf import PdfPages

    root = path.parent
    with atomic_path(path) as tmp:
        with PdfPages(tmp) as pdf:
            if glance:
                first = [intro, "", "At a glance (each section's own summary.json; details on its pages):", ""]
                first += ([f"Model card: {quality}", ""] if quality else [])
                first += [f"{t}: {m}" + (f" [{i}]" if i else "") for t, m, i in glance]
            else:
                first = [intro, ""] + [f"{b.title}: " + ("absent" if b.absent else f"{len(b.figures)} figure(s)")
                                       for b in blocks]
            _text_page(pdf, title, first)
            for b in blocks:
                lines = ([f"Absent: {b.absent}"] if b.absent else []) + \
                        [f"{k}: {v}" for k, v in (b.table or {}).items()]
                if lines or not b.figures:
                    _text_page(pdf, b.title, lines + ([b.caption] if b.caption and not b.figures else []) +
                               ([b.command] if b.command else []))
                for i, rel in enumerate(b.figures):
                    _figure_page(pdf, b.title if i == 0 else f"{b.title} ({Path(rel).stem})", root / rel,
                                 b.caption if i == 0 else "")
    return path
