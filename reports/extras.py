"""The report's own blocks: the model card (config, training curves, samples) and the gallery
of every filter of D's last feature layer with the labels from the filter audit.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from gan_viz.errors import UserError

GALLERY_COLS = 16


NOT_RECORDED = "not recorded"


def step_epoch(S) -> tuple[int | None, int | None]:
    """The subject's training step and epoch where its file records them (None: not recorded).

    A gan-viz checkpoint records both; a --model-def records neither; for other files (a state
    dict, a PyTorch examples pair) 0 is what the loader puts where nothing was recorded, so 0
    counts as recorded only where the file name carries it (``netG_epoch_0.pth``)."""
    if S.source == "gan-viz" or str(S.provenance.metadata.get("format", "")).startswith("gan-viz/"):
        return S.step, S.epoch
    named = re.search(r"_epoch_(\d+)", S.path.name) if S.path is not None else None
    step = S.step or None
    epoch = S.epoch if S.epoch or (named and int(named.group(1)) == S.epoch) else None
    return step, epoch


def trained_for(S) -> str:
    """'step 20, epoch 0', 'epoch 24 (step not recorded)' or 'step and epoch not recorded'."""
    step, epoch = step_epoch(S)
    if step is None and epoch is None:
        return "step and epoch not recorded"
    parts = [f"step {step}" if step is not None else "", f"epoch {epoch}" if epoch is not None else ""]
    missing = "step" if step is None else "epoch" if epoch is None else ""
    return ", ".join(p for p in parts if p) + (f" ({missing} not recorded)" if missing else "")


def card_facts(S) -> dict:
    """Model config (or the subject's description), training config and step of the subject, plus
    the exported model card beside its checkpoint where present."""
    d = S.describe()
    step, epoch = step_epoch(S)
    facts = {"checkpoint": S.where, "source": S.source,
             "step": NOT_RECORDED if step is None else step, "epoch": NOT_RECORDED if epoch is None else epoch,
             "model": S.config.to_dict() if S.config is not None else
             {k: d[k] for k in ("G", "D", "nz", "z_dist", "image_shape")},
             "domain": S.domain or NOT_RECORDED, "train": S.train_config or NOT_RECORDED}
    if S.provenance.sha256:
        facts["sha256"] = S.provenance.sha256
    if S.path is not None and S.path.is_file():
        card = S.path.with_name(S.path.stem + "_card.json")
        if card.exists():
            facts["card"] = json.loads(card.read_text())
    return facts


def metrics_csv(S, card: dict | None = None) -> Path | None:
    """RUN/metrics.csv of a checkpoint inside RUN/checkpoints/, or of the run an exported checkpoint's
    card names (``exported_from``, found relative to the working folder), when it exists."""
    candidates = [S.path.resolve().parent.parent / "metrics.csv"] if S.path is not None else []
    if card and card.get("exported_from"):
        candidates.append(Path(card["exported_from"]).parent.parent / "metrics.csv")
    return next((p for p in candidates if p.exists()), None)


def plot_training_curves(path: Path):
    """Losses and D outputs over steps from a run's metrics.csv -> Figure."""
    import matplotlib.pyplot as plt

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UserError(f"{path} holds no rows")
    step = np.array([float(r["step"]) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for col in ("loss_D", "loss_G"):
        if col in rows[0]:
            axes[0].plot(step, [float(r[col]) for r in rows], lw=0.8, label=col)
    for col in ("D_x", "D_G_z"):
        if col in rows[0]:
            axes[1].plot(step, [float(r[col]) for r in rows], lw=0.8, label=col)
    for ax, title in zip(axes, ("losses", "D outputs")):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_samples(S, n: int = 64, seed: int = 0):
    """An 8x8 grid of samples of the subject's G (fixed seed) -> Figure."""
    import matplotlib.pyplot as plt
    import torch

    from gan_viz.images import grid, to_uint8

    img = grid(to_uint8(S.images(S.sample_z(n, torch.Generator().manual_seed(seed)))), 8)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(img.squeeze(), cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{n} samples, seed {seed}, {trained_for(S)}")
    return fig


def audit_last_layer(folder: Path) -> tuple:
    """(layer, top_index (C, K), IoU labels (C,) or None, precision labels (C,) or None, class names)
    of D's last audited layer in an audit folder (labels: class id, -1 = none). The last layer is the
    one with the highest layer numbers (``D.lrelu4`` after ``D.lrelu3``, ``D.main.10`` after ``D.main.7``)."""
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        names = [str(n) for n in z["layer_names"]]
        d_layers = [n for n in names if f"{n.replace('.', '_')}__trained__top_index" in z and n.startswith("D")]
        if not d_layers:
            raise UserError(f"the audit in {folder} holds no D layer")
        last = max(d_layers, key=lambda n: ([int(d) for d in re.findall(r"\d+", n)], names.index(n)))
        key = f"{last.replace('.', '_')}__trained__"
        labels = z[key + "labels"] if key + "labels" in z else None
        prec = z[key + "precision_labels"] if key + "precision_labels" in z else None
        classes = [str(c) for c in z["class_names"]] if "class_names" in z else []
        return last, z[key + "top_index"], labels, prec, classes


def plot_filter_gallery(images: np.ndarray, labels: list[str], layer: str, tag: str = ""):
    """Every filter's top image with its audit label, one mosaic. images: (C, H, W, 3) uint8 -> Figure
    (``tag``: the labelling instrument, :func:`gan_viz.instruments.figure_tag`, in the title)."""
    import matplotlib.pyplot as plt

    from gan_viz.images import grid

    C, H = len(images), images.shape[1]
    cols = min(GALLERY_COLS, C)
    rows = -(-C // cols)
    pad = max(2, H // 3)  # room above each tile for its label
    mosaic = grid(images, cols, pad=pad)  # (rows*(H+pad)+pad, cols*(H+pad)+pad, 3)
    fig, ax = plt.subplots(figsize=(cols * 0.75, rows * 0.85 + 0.4))
    ax.imshow(mosaic, interpolation="nearest")
    for i in range(C):
        r, c = divmod(i, cols)
        ax.text(pad + c * (H + pad) + H / 2, pad + r * (H + pad) - 1, f"{i} {labels[i]}", fontsize=4.5,
                ha="center", va="bottom")
    ax.set_axis_off()
    ax.set_title(f"{tag + ' ' if tag else ''}{layer}: each filter's top image (audit label: IoU class, p:class = "
                 "precision label, '-' = none)", fontsize=9, color="darkred" if "FORCED" in tag else "black")
    fig.tight_layout()
    return fig


def gallery_images(S, folder: Path, options: dict, inputs, device) -> tuple[str, np.ndarray, list[str]]:
    """Top image per filter of D's last audited layer, fetched again from the audit's own image
    source (its ``source`` / ``images`` options and the report's seed and data)."""
    from gan_viz.images import to_uint8
    from gan_viz.sources import image_source

    layer, top, labels, prec, classes = audit_last_layer(folder)
    source, _ = image_source(S, options.get("source", "auto"), int(options.get("images", 500)), inputs.seed,
                             device, inputs.dataset, inputs.data_root)
    imgs = to_uint8(source.fetch(np.asarray(top[:, 0])))  # (C, H, W, 3)
    return layer, imgs, [label_of(i, labels, prec, classes) for i in range(len(top))]


def label_of(i: int, iou, prec, classes) -> str:
    """A filter's IoU label; else its precision label as 'p:class'; else '-'."""
    if iou is not None and iou[i] >= 0:
        return classes[iou[i]]
    if prec is not None and prec[i] >= 0:
        return "p:" + classes[prec[i]]
    return "-"


def card_block(S, root: Path):
    """The model card: config table, training curves (when the run's metrics.csv is known), samples."""
    from gan_viz.io import save_figure

    from .html import Block

    folder = root / "model_card"
    folder.mkdir(parents=True, exist_ok=True)
    facts = card_facts(S)
    b = Block("model_card", "Model card", table={k: v for k, v in facts.items() if k != "card"})
    card = facts.get("card", {})
    b.table.update({f"card.{k}": v for k, v in card.items()
                    if k in ("exported_from", "wall_seconds_logged", "quality", "hardware", "size_bytes")})
    if not S.has_G:
        b.caption = "No generator: no samples."
        return b
    save_figure(plot_samples(S), folder, "samples")
    b.figures.append("model_card/samples.png")
    csv_path = metrics_csv(S, card)
    if csv_path is not None:
        save_figure(plot_training_curves(csv_path), folder, "training_curves")
        b.figures.append("model_card/training_curves.png")
    png = S.path.with_name(S.path.stem + "_samples.png") if S.path is not None else None
    b.caption = (f"Samples of G ({trained_for(S)}; seed 0)" + (f"; training curves from {csv_path}" if csv_path else
                 "; no training curves (the run's metrics.csv is not beside this checkpoint)")
                 + (f"; exported sample sheet {png.name} beside the checkpoint." if png and png.exists() else "."))
    return b


def gallery_block(S, audit, root: Path, inputs):
    """Every filter of D's last audited layer: its top image and the audit's label (``audit``: the
    filter audit's :class:`~reports.report.Outcome`, ``inputs``: the report's :class:`~reports.report.Inputs`)."""
    import torch

    from gan_viz.io import save_figure

    from .html import Block

    b = Block("filter_gallery", "Gallery of D's last-layer filters")
    if not audit.ok:
        b.absent = f"the filter audit is absent ({audit.reason or 'not run'})"
        return b
    from gan_viz.instruments import caption_note, figure_tag

    layer, imgs, labels = gallery_images(S, audit.folder, audit.options, inputs, torch.device(inputs.device))
    record = audit.summary().get("instrument") or {}
    save_figure(plot_filter_gallery(imgs, labels, layer, figure_tag(record)), root / "filter_gallery", "gallery",
                dpi=110)
    b.figures = ["filter_gallery/gallery.png"]
    count = lambda keep: ", ".join(f"{c} {labels.count(c)}" for c in sorted(set(filter(keep, labels)))) or "none"  # noqa: E731
    n_iou = sum(lab != "-" and not lab.startswith("p:") for lab in labels)
    n_prec = sum(lab.startswith("p:") for lab in labels)
    fb = audit.summary().get("fallback")  # D's images were generated in place of real ones: why
    b.caption = (f"D on generated images, not real ones ({fb}). " if fb else "") + (
        f"All {len(labels)} filters of {layer}, each shown on its top-activating image of the audit. "
                 f"{n_iou} carry a Network Dissection label (IoU above the audit's threshold: "
                 f"{count(lambda s: s != '-' and not s.startswith('p:'))}); {n_prec} more only a precision label "
                 f"(p:, most of the filter's top activations on one class: {count(lambda s: s.startswith('p:'))}). "
                 + caption_note(record))
    return b


def upsampling_note(S) -> str:
    """One sentence for the upsampling section: how this model's G upsamples, and whether the section's
    transposed-convolution mechanics are its own (a G with ``nn.Upsample`` + conv uses none)."""
    from torch import nn

    if not S.has_G:
        return "This model has no generator: the grids are the notes' mechanics only."
    G = S.G
    transposed = [(n, m) for n, m in G.named_modules() if isinstance(m, nn.ConvTranspose2d) and max(m.stride) > 1]
    resize = [(n, m) for n, m in G.named_modules() if isinstance(m, (nn.Upsample, nn.UpsamplingNearest2d,
                                                                   nn.UpsamplingBilinear2d, nn.PixelShuffle))]
    parts = []
    if transposed:
        ks = sorted({f"k{m.kernel_size[0]} s{m.stride[0]} p{m.padding[0]}" for _, m in transposed})
        parts.append(f"{len(transposed)} strided transposed convolutions ({', '.join(ks)}: "
                     f"{', '.join('G.' + n for n, _ in transposed)})")
    if resize:
        kinds = sorted({f"{type(m).__name__}({getattr(m, 'mode', '')}{', x' + str(m.scale_factor) if getattr(m, 'scale_factor', None) else ''})"
                        for _, m in resize})
        parts.append(f"{len(resize)} resizing modules followed by convolutions ({', '.join(kinds)}: "
                     f"{', '.join('G.' + n for n, _ in resize)})")
    if not parts:
        return ("This model's G has no strided transposed convolution and no upsampling module (it may resize "
                "in its forward code): the grids below explain mechanics it may not use.")
    text = "This model's G upsamples with " + " and ".join(parts) + "."
    if not transposed:
        text += (" It uses no transposed convolution: the transposed-convolution grids and tap counts explain "
                 "DCGAN's upsampling, not this model's; the nearest-neighbour grid is the part that applies "
                 "(a resize then a convolution spreads each kernel evenly, so it has no uneven-overlap "
                 "checkerboard of its own).")
    return text
