"""Choose a rooms run's checkpoint by its model card, not by its last step.

Every numbered checkpoint of a run (``checkpoints/step_XXXXXXXX.pt``) is measured on one
fixed evaluation z (seed ``EVAL_SEED``) against the same held-out rooms; those that meet
the card's goals are candidates, the one with the lowest parser-space Frechet distance is
tried first, and a candidate is chosen only when the goals also hold on fresh draws (another
z seed, twice the samples, held-out rooms the selection never saw): choosing among
checkpoints by a measure and reporting that same measure would overstate it.

Goals (the bundled model's card): window and bed pixel fractions within +-25% of the real
rooms', images with a window within +-15%, no collapse (``diversity_ratio`` >= 0.6: the
samples' mean pairwise parser-feature distance over the real rooms'; measured: real rooms 1.0, one
image repeated < 0.1, the bundled 32x32 model 0.78 at 32x32 and 0.69 upsampled to 64x64), and, when
given, a Frechet distance no worse than a reference model's (compare at one size: the bundled 32x32
model reads 4.2-4.3 at 32x32 and 27.6 bilinearly upsampled to 64x64, 1,000 samples).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

log = logging.getLogger("gan_viz.export")
EVAL_SEED, FRESH_SEED = 0, 7
FRESH_REAL_START = 1000  # held-out rooms 0..n-1 judge the selection; fresh ones start here


@dataclass(frozen=True)
class Goals:
    fraction_tol: float = 0.25  # window and bed pixel fraction ratio within 1 +- this
    presence_tol: float = 0.15  # images with a window ratio within 1 +- this
    min_diversity: float = 0.6  # below: the samples are near copies of each other (collapse)
    frechet_max: float | None = None  # a reference model's parser-space Frechet distance

    def failures(self, q: dict) -> list[str]:
        """Why ``q`` (a :func:`~gan_viz.training.model_card.rooms_quality` dict) misses the goals."""
        bad = []
        for c in ("window", "bed"):
            r = q["ratio"]["fraction"][c]
            if r is None or abs(r - 1) > self.fraction_tol:
                bad.append(f"{c} pixels {r:.2f}x real")
        r = q["ratio"]["presence"]["window"]
        if r is None or abs(r - 1) > self.presence_tol:
            bad.append(f"images with a window {r:.2f}x real")
        if q["diversity_ratio"] < self.min_diversity:
            bad.append(f"diversity {q['diversity_ratio']:.2f} < {self.min_diversity} (collapse)")
        if self.frechet_max is not None and q["frechet_parser"] > self.frechet_max:
            bad.append(f"Frechet {q['frechet_parser']:.2f} > {self.frechet_max:.2f}")
        return bad


def row_of(step: int, q: dict, goals: Goals) -> dict:
    """One line of the selection curve."""
    return {"step": step, "window_fraction_ratio": q["ratio"]["fraction"]["window"],
            "bed_fraction_ratio": q["ratio"]["fraction"]["bed"],
            "window_presence_ratio": q["ratio"]["presence"]["window"],
            "frechet_parser": q["frechet_parser"], "diversity_ratio": q["diversity_ratio"],
            "fails": goals.failures(q)}


def numbered_checkpoints(run: Path) -> list[tuple[int, Path]]:
    found = sorted((int(p.stem.split("_")[1]), p) for p in (Path(run) / "checkpoints").glob("step_*.pt"))
    if not found:
        raise UserError(f"{run} holds no numbered checkpoints (checkpoints/step_*.pt); pass a `gan-viz train` "
                        "run folder, or --ckpt FILE for one checkpoint")
    return found


def closest(curve: list[dict]) -> dict:
    """The row nearest the card: fewest failed goals, then the lowest Frechet distance."""
    return min(curve, key=lambda r: (len(r["fails"]), r["frechet_parser"]))


def choose(run: Path, parser, goals: Goals, n: int = 1000, min_step: int = 0, progress: bool = True) -> dict:
    """Measure every numbered checkpoint of ``run`` from ``min_step`` on, choose by the card.

    Returns ``{"curve": rows, "chosen": step, "path": Path, "fresh": quality, "tried": [...]}``;
    raises :class:`UserError` when no checkpoint meets the goals on both the selection and the
    fresh draws (an undertrained default is never shipped).
    """
    from tqdm import tqdm

    from ..checkpoint import load_checkpoint
    from .model_card import real_rooms_stats, rooms_quality

    found = [(s, p) for s, p in numbered_checkpoints(run) if s >= min_step]
    if not found:
        raise UserError(f"no checkpoint of {run} at step >= {min_step}; lower --min-step")
    curve, quality, real, control = [], {}, None, None
    bar = tqdm(found, desc="card per checkpoint", unit="ckpt", disable=not progress)
    for step, path in bar:
        ck = load_checkpoint(path)
        if ck.dataset != "rooms":
            raise UserError(f"{path} was trained on {ck.dataset!r}; choosing by the card needs a rooms run "
                            "(the scene parser measures rooms only)")
        if real is None:
            real, control = real_rooms_stats(parser, ck.config, n), real_rooms_stats(parser, ck.config, n, n)
        quality[step] = rooms_quality(ck.G, ck.config, parser, n=n, seed=EVAL_SEED, real=real, control=control)
        curve.append(row_of(step, quality[step], goals))
        r = curve[-1]
        bar.write(f"step {step}: window {r['window_fraction_ratio']:.2f}x, bed {r['bed_fraction_ratio']:.2f}x, "
                  f"window images {r['window_presence_ratio']:.2f}x, Frechet {r['frechet_parser']:.2f}, "
                  f"diversity {r['diversity_ratio']:.2f}" + (f" - fails: {'; '.join(r['fails'])}" if r["fails"] else
                                                             " - meets the card"))
    candidates = sorted((r for r in curve if not r["fails"]), key=lambda r: r["frechet_parser"])
    tried = []
    for r in candidates:
        path = dict(found)[r["step"]]
        ck = load_checkpoint(path)
        fresh = rooms_quality(ck.G, ck.config, parser, n=2 * n, seed=FRESH_SEED, real_start=FRESH_REAL_START)
        fails = goals.failures(fresh)
        tried.append({"step": r["step"], "fresh_fails": fails})
        if not fails:
            return {"curve": curve, "chosen": r["step"], "path": path, "selection": quality[r["step"]],
                    "fresh": fresh, "tried": tried}
    best = closest(curve)
    raise UserError(f"no checkpoint of {run} meets the card on both the selection and fresh draws "
                    f"({len(candidates)} met it on the selection); closest: step {best['step']} "
                    f"({'; '.join(best['fails']) or 'failed on fresh draws'}); train longer (--resume) "
                    "or relax the goals")


def plot_curve(curve: list[dict], goals: Goals, chosen: int | None, out_dir: Path, name: str) -> list[Path]:
    """The selection curves with the goal bands (PNG + PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import save_figure

    steps = [r["step"] for r in curve]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    ax = axes[0]
    for key, label in (("window_fraction_ratio", "window pixels"), ("bed_fraction_ratio", "bed pixels")):
        ax.plot(steps, [r[key] for r in curve], marker="o", ms=3, label=label)
    ax.axhspan(1 - goals.fraction_tol, 1 + goals.fraction_tol, color="g", alpha=0.12, label="goal")
    ax.set_title("pixel fraction, generated / real")
    ax = axes[1]
    ax.plot(steps, [r["window_presence_ratio"] for r in curve], marker="o", ms=3, label="images with a window")
    ax.plot(steps, [r["diversity_ratio"] for r in curve], marker="s", ms=3, label="diversity")
    ax.axhspan(1 - goals.presence_tol, 1 + goals.presence_tol, color="g", alpha=0.12, label="window goal")
    ax.axhline(goals.min_diversity, color="r", lw=0.8, ls="--", label="collapse below")
    ax.set_title("presence and diversity, generated / real")
    ax = axes[2]
    ax.plot(steps, [r["frechet_parser"] for r in curve], marker="o", ms=3, label="Frechet (parser)")
    if goals.frechet_max is not None:
        ax.axhline(goals.frechet_max, color="r", lw=0.8, ls="--", label="reference model")
    ax.set_title("Frechet distance, parser features")
    for ax in axes:
        ax.set_xlabel("training step")
        if chosen is not None:
            ax.axvline(chosen, color="k", lw=0.8, ls=":")
        ax.legend(fontsize=7)
    fig.suptitle(f"Card measures per checkpoint (z seed {EVAL_SEED}); chosen: step {chosen}", fontsize=10)
    fig.tight_layout()
    paths = save_figure(fig, out_dir, name)
    plt.close(fig)
    return paths
