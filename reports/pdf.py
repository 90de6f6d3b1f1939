"""report.pdf: the report laid out as a document (matplotlib PdfPages, A4 portrait).

Page 1 is the title, the intro and "at a glance" (what each section measured, beside its
control, with its verdict). The sections follow in a flow: each section's title, its text
(absent reason, model card rows, command), then its figures, each with its caption under it,
scaled to the page's width and at most :data:`MAX_FIG_H` of its height (narrow ones two to a
row), so several figures share a page; a new page starts only where the next item does not fit.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from gan_viz.io import atomic_path

PAGE = (8.27, 11.69)  # A4 portrait, inches
TOP, BOTTOM, LEFT, WIDTH = 0.96, 0.04, 0.07, 0.86  # page fractions
MAX_FIG_H = 0.21  # a figure takes at most this share of the page's height (four rows fit a page)
LINE = 0.0125  # height of one line of 7.5 pt text, page fraction
WRAP = 120  # characters per line of 7.5 pt text across the page
NARROW = 0.42  # figures at most this wide (page fraction, once scaled) share a row, two side by side


class _Flow:
    """Places text and images down the page, starting a new page where the next item does not fit."""

    def __init__(self, pdf):
        self.pdf, self.fig, self.y = pdf, None, TOP

    def _room(self, h: float) -> None:
        import matplotlib.pyplot as plt

        if self.fig is not None and self.y - h >= BOTTOM:
            return
        self.flush()
        self.fig, self.y = plt.figure(figsize=PAGE), TOP

    def flush(self) -> None:
        import matplotlib.pyplot as plt

        if self.fig is not None:
            self.pdf.savefig(self.fig)
            plt.close(self.fig)
            self.fig = None

    def text(self, body: str, size: float = 7.5, weight: str = "normal", wrap: int = WRAP, gap: float = 0.006) -> None:
        if not body:
            return
        wrapped = "\n".join(textwrap.fill(t, wrap) if t else "" for t in body.split("\n"))
        h = LINE * size / 7.5 * (wrapped.count("\n") + 1) + gap
        self._room(h)
        self.fig.text(LEFT, self.y, wrapped, fontsize=size, weight=weight, va="top", family="sans-serif")
        self.y -= h

    @staticmethod
    def measure(png: Path, caption: str = "") -> tuple:
        """(image, width, height, wrapped caption, caption height) in page fractions."""
        import matplotlib.image as mpimg

        img = mpimg.imread(png)
        w = WIDTH
        h = w * PAGE[0] / PAGE[1] * img.shape[0] / img.shape[1]
        if h > MAX_FIG_H:
            w, h = w * MAX_FIG_H / h, MAX_FIG_H
        cap = textwrap.fill(caption, WRAP) if caption else ""
        return img, w, h, cap, (LINE * (cap.count("\n") + 1) + 0.008 if cap else 0.0)

    def keep(self, h: float) -> None:
        """Start a new page unless ``h`` fits (a title stays with what follows it)."""
        self._room(h)

    def image(self, png: Path, caption: str = "", beside: Path | None = None) -> None:
        """One figure centred, or (``beside``) two narrow ones side by side; the caption under them."""
        img, w, h, cap, cap_h = self.measure(png, caption)
        pair = None if beside is None else self.measure(beside)
        row_h = h if pair is None else max(h, pair[2])
        self._room(row_h + cap_h + 0.01)
        if pair is None:
            places = [(img, (1 - w) / 2, w, h)]
        else:
            gap = (1 - w - pair[1]) / 3
            places = [(img, gap, w, h), (pair[0], 2 * gap + w, pair[1], pair[2])]
        for im, x, pw, ph in places:
            ax = self.fig.add_axes((x, self.y - ph, pw, ph))
            ax.imshow(im, interpolation="antialiased")
            ax.set_axis_off()
        self.y -= row_h + 0.006
        if cap:
            self.fig.text(LEFT, self.y, cap, fontsize=7.5, va="top")
            self.y -= cap_h
        self.y -= 0.008


def write_pdf(path: Path, title: str, intro: str, blocks, glance: list | None = None, quality: str | None = None) -> Path:
    """The document: page 1 the intro and, with ``glance`` ((section, measured, instrument, verdict)
    rows, :mod:`reports.glance`), what each section measured and its verdict; then every block
    (``reports.html.Block``) in a flow, its captions under its first figure."""
    from matplotlib.backends.backend_pdf import PdfPages

    root = path.parent
    with atomic_path(path) as tmp:
        with PdfPages(tmp) as pdf:
            flow = _Flow(pdf)
            flow.text(title, size=14, weight="bold", wrap=70, gap=0.012)
            flow.text(intro, size=8.5, wrap=105, gap=0.012)
            if glance:
                flow.text("At a glance (each section's own summary.json; details in its section)", size=10,
                          weight="bold", wrap=90)
                if quality:
                    flow.text(f"Model card: {quality}")
                for t, m, i, v in glance:
                    flow.text(f"{t}: {m}" + (f" [{i}]" if i else "") + (f"\nVerdict: {v}" if v else ""))
            else:
                flow.text("\n".join(f"{b.title}: " + ("absent" if b.absent else f"{len(b.figures)} figure(s)")
                                    for b in blocks))
            flow.flush()  # the sections start on page 2
            for b in blocks:
                first = flow.measure(root / b.figures[0], b.caption) if b.figures else None
                flow.keep(0.03 + (first[2] + first[4] + 0.02 if first else 0.05))  # the title with its first figure
                flow.text(b.title, size=11, weight="bold", wrap=80)
                lines = ([f"Absent: {b.absent}"] if b.absent else []) + \
                        [f"{k}: {v}" for k, v in (b.table or {}).items()]
                lines += [b.caption] if b.caption and not b.figures else []
                flow.text("\n".join(lines))
                i = 0
                while i < len(b.figures):  # narrow figures go two to a row
                    here = root / b.figures[i]
                    nxt = root / b.figures[i + 1] if i + 1 < len(b.figures) else None
                    two = nxt is not None and max(flow.measure(here)[1], flow.measure(nxt)[1]) <= NARROW
                    flow.image(here, b.caption if i == 0 else "", beside=nxt if two else None)
                    i += 2 if two else 1
                flow.text(b.command, size=6.5, wrap=140)
            flow.flush()
    return path
