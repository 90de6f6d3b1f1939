"""The scene parser: a small fully convolutional network that segments rooms images.

It is the measuring instrument of gan-viz: trained on rendered rooms (exact class maps),
applied to generated images to count windows, beds and doors. Its limit: it learned
rendered rooms, so on generated images it measures "what looks like a rendered window".

API:
    >>> p = load_parser()                       # shipped weights (gan_viz/assets/parser.pt)
    >>> cls = p.segment(images)                 # (N, C, H, W) in [-1, 1] -> (N, H, W) int64
    >>> frac = p.class_fractions(images)        # (N, K) float, rows sum to 1
    >>> feat = p.features(images)               # (N, F) pooled features (Frechet distance)
    >>> p.boxes(cls[0], CLASS_ID["window"])     # [(x0, y0, x1, y1), ...] inclusive
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.rooms import CLASSES, MAX_SIZE, MIN_SIZE
from .errors import UserError

DEFAULT_PATH = Path(__file__).parent / "assets" / "parser.pt"
FORMAT = "gan-viz-parser-1"


@dataclass(frozen=True)
class ParserConfig:
    """Architecture of the parser (stored in its weights file)."""

    widths: tuple = (16, 32, 64, 96)  # channels at 1, 1/2, 1/4, 1/8 resolution
    classes: tuple = CLASSES  # output classes, index = class id

    def __post_init__(self):
        if len(self.widths) != 4 or any(int(w) < 1 for w in self.widths):
            raise UserError(f"parser widths {self.widths!r} must be 4 positive integers")


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ParserNet(nn.Module):
    """A 3-level U-Net: (N, 3, H, W) in [-1, 1] -> logits (N, K, H, W); H, W multiples of 8."""

    def __init__(self, cfg: ParserConfig):
        super().__init__()
        a, b, c, d = cfg.widths
        self.cfg = cfg
        self.enc0 = nn.Sequential(_conv(3, a), _conv(a, a))
        self.enc1 = nn.Sequential(_conv(a, b, 2), _conv(b, b))
        self.enc2 = nn.Sequential(_conv(b, c, 2), _conv(c, c))
        self.enc3 = nn.Sequential(_conv(c, d, 2), _conv(d, d, dilation=2), _conv(d, d, dilation=4))
        self.dec2 = _conv(d + c, c)
        self.dec1 = _conv(c + b, b)
        self.dec0 = _conv(b + a, a + a // 2)
        self.head = nn.Conv2d(a + a // 2, len(cfg.classes), 1)

    def encode(self, x: torch.Tensor) -> list:
        e0 = self.enc0(x)  # (N, a, H, W)
        e1 = self.enc1(e0)  # (N, b, H/2, W/2)
        e2 = self.enc2(e1)  # (N, c, H/4, W/4)
        e3 = self.enc3(e2)  # (N, d, H/8, W/8)
        return [e0, e1, e2, e3]

    def decode(self, feats: list) -> torch.Tensor:
        e0, e1, e2, e3 = feats
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        h = self.dec2(torch.cat([up(e3, e2), e2], 1))
        h = self.dec1(torch.cat([up(h, e1), e1], 1))
        h = self.dec0(torch.cat([up(h, e0), e0], 1))
        return self.head(h)  # (N, K, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


CHUNK_PIXELS = 2 ** 15  # pixels per forward of the parser's net (see SceneParser._chunks)


def chunk_size(h: int, w: int, device="cpu", batch_size: int | None = None) -> int:
    """Images of ``h`` x ``w`` pixels per forward of the parser's net: :data:`CHUNK_PIXELS` of them on
    a CPU (at most ``batch_size``); on an accelerator ``batch_size`` (default 256), whole batches."""
    cap = 256 if batch_size is None else max(1, int(batch_size))
    if torch.device(device).type != "cpu":
        return cap
    return max(1, min(cap, CHUNK_PIXELS // max(1, int(h) * int(w))))


def prepare(images: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """Check (N, C, H, W) in [-1, 1], repeat grayscale to RGB, pad H, W to multiples of 8.

    Returns the padded float tensor (channels_last: oneDNN's fast layout, 40% less time for
    the parser on a CPU) and the (H, W) to crop back to.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise UserError(f"the scene parser needs images of shape (N, 1 or 3, H, W); got {shape}")
    h, w = images.shape[-2:]
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        raise UserError(f"the scene parser works on {MIN_SIZE} to {MAX_SIZE} pixel images; got {h}x{w}")
    x = images.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x.contiguous(memory_format=torch.channels_last), (h, w)


class SceneParser:
    """A trained :class:`ParserNet` with the measuring verbs; always runs in eval mode."""

    def __init__(self, net: ParserNet, meta: dict | None = None, device="cpu"):
        self.net = net.eval().to(device)
        self.device = torch.device(device)
        self.classes = net.cfg.classes
        self.meta = dict(meta or {})

    def _chunks(self, images: torch.Tensor, batch_size: int, fn) -> list:
        """``fn(logits)`` of each chunk of ``images`` (cropped back to their size), in order.

        On a CPU the net runs on chunks of at most :data:`CHUNK_PIXELS` pixels (8 images at 64x64, 32
        at 32x32; :func:`chunk_size`): its full-resolution activations then stay in the CPU's caches (on 2 AVX2 cores,
        256 images at 64x64 took 0.79 s in one batch and 0.51 s in chunks of 8); ``batch_size``
        only caps it. The result does not depend on the chunking beyond float rounding.
        """
        x, (h, w) = prepare(images)
        step = chunk_size(*x.shape[-2:], self.device, batch_size)
        return [fn(self.net(x[i:i + step].to(self.device))[..., :h, :w]) for i in range(0, len(x), step)]

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, K, H, W) float logits on the CPU."""
        out = self._chunks(images, batch_size, lambda t: t.float().cpu())
        h, w = images.shape[-2:]
        return torch.cat(out) if out else torch.zeros(0, len(self.classes), h, w)

    @torch.no_grad()
    def segment(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, H, W) int64 class ids (index ``self.classes``)."""
        out = self._chunks(images, batch_size, lambda t: t.argmax(1).cpu())
        h, w = images.shape[-2:]
        return torch.cat(out) if out else torch.zeros(0, h, w, dtype=torch.int64)

    def class_fractions(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) -> (N, K) float: the fraction of each image's pixels in each class."""
        from .images import class_fractions_of

        return class_fractions_of(self.segment(images, batch_size), len(self.classes))

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) -> (N, F) float: mean- and max-pooled deepest features plus the
        class fractions (F = 2 * widths[3] + K), for a Frechet distance between image sets."""
        x, _ = prepare(images)
        out, step = [], chunk_size(*x.shape[-2:], self.device, batch_size)
        for i in range(0, len(x), step):
            feats = self.net.encode(x[i:i + step].to(self.device))
            probs = self.net.decode(feats).softmax(1).mean((2, 3))  # (n, K)
            deep = feats[3]
            out.append(torch.cat([deep.mean((2, 3)), deep.amax((2, 3)), probs], 1).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, 2 * self.net.cfg.widths[3] + len(self.classes))

    @staticmethod
    def boxes(classmap, class_id: int, min_pixels: int = 1) -> list:
        """Boxes (x0, y0, x1, y1), inclusive, of the 8-connected regions of ``class_id``.

        Args:
            classmap: (H, W) integer array or tensor. class_id: which class.
            min_pixels: drop regions smaller than this.
        """
        cm = classmap.cpu().numpy() if isinstance(classmap, torch.Tensor) else np.asarray(classmap)
        if cm.ndim != 2:
            raise UserError(f"boxes() needs one (H, W) class map; got shape {cm.shape}")
        mask = (cm == class_id).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return [(int(x), int(y), int(x + w - 1), int(y + h - 1))
                for x, y, w, h, area in stats[1:n] if area >= min_pixels]


def save_parser(net: ParserNet, path, meta: dict | None = None) -> Path:
    """Write weights + config + metadata, loadable with ``torch.load(weights_only=True)``."""
    from .io import atomic_path

    cfg = dataclasses.asdict(net.cfg)
    payload = {"format": FORMAT, "config": {"widths": list(cfg["widths"]), "classes": list(cfg["classes"])},
               "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
               "meta": dict(meta or {})}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_parser(path=None, device="cpu") -> SceneParser:
    """Load a parser weights file (default: the shipped ``gan_viz/assets/parser.pt``)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.is_file():
        hint = "train one with `gan-viz parser train --out PATH`" if path != DEFAULT_PATH else \
            "the package ships without parser weights; train them with `gan-viz parser train`"
        raise UserError(f"no scene parser weights at {path}; {hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read scene parser weights {path} ({type(e).__name__}); retrain or re-install") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is not a gan-viz scene parser file (format {FORMAT})")
    c = payload["config"]
    cfg = ParserConfig(widths=tuple(int(w) for w in c["widths"]), classes=tuple(c["classes"]))
    if cfg.classes != CLASSES:
        raise UserError(f"{path} was trained for classes {cfg.classes}, this gan-viz uses {CLASSES}; retrain it")
    net = ParserNet(cfg)
    net.load_state_dict(payload["state_dict"])
    return SceneParser(net, payload.get("meta", {}), device)
