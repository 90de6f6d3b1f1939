"""The explorer's state: one subject, its instrument, the sample grid, the pinned samples
and the current edit, and the regeneration of the pinned samples under that edit.

An edit is GANPaint's: a G layer, units ablated everywhere (``ablate``), and brush
strokes per pinned sample that remove (ablate inside the mask) or insert (set to a high
activation inside the mask) the brush's ``units``. All of it is one application of the
edit rule ``x * (1 - a) + r * a`` (:func:`gan_viz.hooks.edit`) with ``a``, ``r`` of shape
(P, C, h, w): the mask, painted at image resolution, is max-pooled to the layer's cells.
The inserted value of a unit is its top-1% activation level over the scan samples (the
level at which the filter audit's dissection says the unit fires).

Where G is a flat chain, G's layers up to the edited one run once per pinned set and only
the rest runs per edit; elsewhere the edit is a scoped hook on G's own forward. Every
request that changes the state is validated first (:class:`BadRequest`, nothing changed)
and then applied; requests of one channel that a newer one supersedes are dropped
(:meth:`Session.ticket`). The :class:`~gan_viz.explore.edits.Edit` and the validation of an
edit request into one live in :mod:`.edits`; the request errors in :mod:`.errors`.

Example:
    >>> s = Session(subject, instrument)
    >>> s.set_edit(s.parse_edit({"layer": "G.relu3", "ablate": [3, 7]}))
    >>> s.render()["measure"]["after"]          # the concept's pixel share after the edit
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from gan_viz.errors import UserError
from gan_viz.hooks import edit as edit_rule
from gan_viz.hooks import edit_layer

from . import adapters, edits
from .edits import Edit
from .encode import image_urls
from .errors import BadRequest, Superseded

MAX_GRID = 64  # samples in one grid
MAX_PINS = 16  # pinned samples (the ones edits regenerate)
DEFAULT_CONCEPT = "window"


@dataclass(frozen=True)
class Pin:
    id: int
    z: torch.Tensor  # (nz,) float32
    origin: str  # e.g. "seed 0 #3", "arithmetic", "z"


class Session:
    """Everything one explorer holds (see the module docstring).

    Args:
        subject: the model (needs a generator for samples and edits; D alone browses D units).
        instrument: the concept instrument (None: no measures, ``reason`` says why).
        seed: the first grid's seed. n: its size. pins: how many of it start pinned.
        scan: samples the unit tables and top images are computed on.
        directions: latent directions for the sliders (:class:`~gan_viz.explore.directions.Directions`).
    """

    def __init__(self, subject, instrument=None, reason: str | None = None, seed: int = 0, n: int = 16,
                 pins: int = 8, scan: int = 256, directions=None):
        from .units import UnitBrowser

        self.S, self.inst, self.directions = subject, instrument, directions
        self.reason = reason if instrument is None else None
        self.state_lock = threading.Lock()  # short: validation reads, state writes
        self.compute_lock = threading.RLock()  # torch work, one request at a time
        self._tickets: dict[str, int] = {}
        self._ids = itertools.count()
        self.pins: list[Pin] = []
        self.grid_seed, self.grid_z = seed, torch.zeros(0, subject.nz or 0)
        names = instrument.class_names if instrument is not None else ()
        concept = DEFAULT_CONCEPT if DEFAULT_CONCEPT in names else (names[1] if len(names) > 1 else None)
        self.layer = adapters.default_edit_layer(subject) if subject.has_G else None
        self.edit = Edit(layer=self.layer, concept=concept)
        self._cache: dict = {}
        self.units = UnitBrowser(self, scan)
        if subject.has_G:
            self.new_grid(seed, n)
            for i in range(min(pins, n, MAX_PINS)):
                self.pin_grid(i)

    # --- superseding ----------------------------------------------------------------------

    def ticket(self, channel: str) -> int:
        """A number for a request of ``channel`` ("edit", "walk", ...), taken on arrival."""
        with self.state_lock:
            self._tickets[channel] = self._tickets.get(channel, 0) + 1
            return self._tickets[channel]

    def check_current(self, channel: str, ticket: int) -> None:
        """Raise :class:`Superseded` when a newer request of ``channel`` has arrived."""
        if self._tickets.get(channel, 0) != ticket:
            raise Superseded(channel)

    # --- samples and pins -----------------------------------------------------------------

    def _need_G(self) -> None:
        if not self.S.has_G:
            raise BadRequest(f"{self.S.where} has no generator: there are no samples to show or edit")

    def new_grid(self, seed: int, n: int) -> dict:
        """A grid of ``n`` samples from ``seed`` (row i = sample i of ``gan-viz generate --n n --seed seed``)."""
        self._need_G()
        if not 1 <= n <= MAX_GRID:
            raise BadRequest(f"n={n}: a grid holds 1 to {MAX_GRID} samples")
        if not -2 ** 63 <= seed < 2 ** 63:
            raise BadRequest(f"seed {seed} is out of range (a 64-bit integer)")
        with self.compute_lock:
            z = self.S.sample_z(n, torch.Generator().manual_seed(seed))
            with torch.inference_mode():
                images = self.S.images(z)
            with self.state_lock:
                self.grid_seed, self.grid_z = seed, z
        return {"seed": seed, "n": n, "images": image_urls(images)}

    def _add_pin(self, z: torch.Tensor, origin: str) -> Pin:
        if len(self.pins) >= MAX_PINS:
            raise BadRequest(f"{MAX_PINS} samples are pinned already (the most an edit regenerates); unpin one first")
        pin = Pin(next(self._ids), z.detach().float().clone(), origin)
        with self.state_lock:
            self.pins = [*self.pins, pin]
        return pin

    def pin_grid(self, index: int) -> Pin:
        self._need_G()
        if not 0 <= index < len(self.grid_z):
            raise BadRequest(f"grid index {index} is out of range: the grid has {len(self.grid_z)} samples "
                             f"(0-{len(self.grid_z) - 1})")
        with self.compute_lock:
            return self._add_pin(self.grid_z[index], f"seed {self.grid_seed} #{index}")

    def pin_z(self, z, origin: str = "z") -> Pin:
        self._need_G()
        try:
            t = torch.as_tensor(np.asarray(z, dtype=np.float64)).float()
        except (TypeError, ValueError):
            raise BadRequest("z must be a list of numbers") from None
        if t.shape != (self.S.nz,) or not torch.isfinite(t).all():
            raise BadRequest(f"z has shape {tuple(t.shape)}; this model needs {self.S.nz} finite numbers")
        with self.compute_lock:
            return self._add_pin(t, origin)

    def unpin(self, pin_id: int) -> None:
        with self.compute_lock:
            self.pin(pin_id)  # raises for an unknown id
            with self.state_lock:
                self.pins = [p for p in self.pins if p.id != pin_id]
                self.edit = replace(self.edit, remove={k: v for k, v in self.edit.remove.items() if k != pin_id},
                                    insert={k: v for k, v in self.edit.insert.items() if k != pin_id})

    def pin(self, pin_id: int) -> Pin:
        for p in self.pins:
            if p.id == pin_id:
                return p
        raise BadRequest(f"no pinned sample has id {pin_id}; pinned: {[p.id for p in self.pins] or 'none'}")

    def pinned_z(self, pins=None) -> torch.Tensor:
        pins = self.pins if pins is None else pins
        return torch.stack([p.z for p in pins]) if pins else torch.zeros(0, self.S.nz)

    @staticmethod
    def npy(z: torch.Tensor) -> bytes:
        """z (N, nz) as the bytes of a .npy file (``gan-viz generate --z FILE.npy`` reproduces the images)."""
        buf = io.BytesIO()
        np.save(buf, z.numpy().astype(np.float32))
        return buf.getvalue()

    # --- the edit -------------------------------------------------------------------------

    def layer_shape(self, layer: str) -> tuple:
        key = ("shape", layer)
        if key not in self._cache:
            self._cache[key] = adapters.check_edit_layer(self.S, layer)
        return self._cache[key]

    def resolve_edit_layer(self, name: str) -> tuple[str, tuple]:
        """(short name, (C, h, w)) of an editable G layer, or BadRequest naming the problem."""
        if not isinstance(name, str) or not name:
            raise BadRequest("layer must be a G layer name such as G.relu3")
        if name.startswith("D."):
            raise BadRequest(f"layer {name}: edits apply to the generator; give a G layer (D layers can be browsed)")
        key = ("resolve", name)
        if key not in self._cache:  # forget's check runs a probe forward: once per name
            try:
                short, shape = adapters.check_edit_layer(self.S, name)
            except UserError as e:
                raise BadRequest(str(e)) from None
            self._cache[key] = self._cache[("shape", short)] = (short, shape)
        return self._cache[key]

    def parse_edit(self, body: dict) -> Edit:
        """The :class:`Edit` of a request body (layer, ablate, units, strokes {pin id: {remove, insert}},
        concept), validated against the state (:func:`.edits.parse_edit`); raises :class:`BadRequest`
        and changes nothing."""
        self._need_G()
        layer, (c, _, _) = self.resolve_edit_layer(body.get("layer") or f"G.{self.layer}")
        return edits.parse_edit(body, layer, c, {p.id for p in self.pins}, self.S.image_shape[1:],
                                self.edit.concept, self.inst)

    def set_edit(self, e: Edit) -> None:
        with self.compute_lock, self.state_lock:
            self.edit = e

    def _edit_tensors(self, e: Edit, pins: list[Pin]) -> tuple[torch.Tensor, torch.Tensor]:
        """The edit rule's ``a`` and ``r``, broadcasting against the layer's output (P, C, h, w):
        (1, C, 1, 1) and a scalar for ablation alone, (P, C, h, w) each with brush strokes."""
        _, (c, h, w) = self.layer_shape(e.layer)
        a = torch.zeros(1, c, 1, 1)
        a[0, list(e.ablate)] = 1.0
        r = torch.zeros(())
        if e.units and (e.remove or e.insert):
            sel = torch.zeros(1, c, 1, 1)
            sel[0, list(e.units)] = 1.0
            _, H, W = self.S.image_shape
            blank = np.zeros((H, W), np.float32)
            masks = lambda d: torch.from_numpy(np.stack([d.get(p.id, blank) for p in pins]))[:, None]  # noqa: E731
            rem = F.adaptive_max_pool2d(masks(e.remove), (h, w))  # (P, 1, h, w): every cell a stroke touches
            ins = F.adaptive_max_pool2d(masks(e.insert), (h, w))
            a = torch.maximum(a, sel * torch.maximum(rem, ins))  # (P, C, h, w)
            wins = ((ins > 0) & (ins >= rem)).float()  # (P, 1, h, w): insertion where it is the stroke
            r = (sel * self.units.insert_level(e.layer).view(1, c, 1, 1)) * wins
        return a, r

    def _before(self, pins: list[Pin]) -> dict:
        """The unedited images of a pinned set (cached by the pins' ids)."""
        key = ("before", tuple(p.id for p in pins))
        if key not in self._cache:
            with torch.inference_mode():
                self._cache = {k: v for k, v in self._cache.items() if k[0] not in ("before", "head")}
                images = self.S.images(self.pinned_z(pins))
                self._cache[key] = {"images": images, "urls": image_urls(images)}
        return self._cache[key]

    def _head(self, layer: str, pins: list[Pin]) -> torch.Tensor:
        key = ("head", layer, tuple(p.id for p in pins))
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "head"}
            self._cache[key] = adapters.features(self.S, layer, self.pinned_z(pins))
        return self._cache[key]

    def _tail(self, layer: str):
        key = ("tail", layer)
        if key not in self._cache:
            self._cache[key] = adapters.tail_after(self.S.G, layer) if self.S.G is not None else None
        return self._cache[key]

    @torch.inference_mode()
    def edited_images(self, e: Edit, pins: list[Pin]) -> torch.Tensor:
        """G(z) of the pins under edit ``e``: (P, C, H, W) float32 in [-1, 1]."""
        if not e.active:
            return self._before(pins)["images"]
        a, r = self._edit_tensors(e, pins)
        tail = self._tail(e.layer)
        if tail is not None:
            return tail(edit_rule(self._head(e.layer, pins), a, r)).float().cpu()
        with edit_layer(self.S.require("G"), e.layer, a, r, prefix="G"):
            return self.S.images(self.pinned_z(pins))

    def render(self, measure: bool = True) -> dict:
        """The pinned samples before and after the current edit, with the instrument's measure."""
        with self.compute_lock:
            pins, e = list(self.pins), self.edit
            t0 = time.perf_counter()
            before = self._before(pins)
            after = self.edited_images(e, pins)
            t1 = time.perf_counter()
            out = {"pins": [{"id": p.id, "origin": p.origin} for p in pins], "edit": e.summary(),
                   "before": before["urls"], "after": before["urls"] if not e.active else image_urls(after)}
            t2 = time.perf_counter()
            if measure:
                out["measure"] = self.measure(e, pins, after)
            out["timing_ms"] = {"generate": round(1e3 * (t1 - t0), 2), "encode": round(1e3 * (t2 - t1), 2),
                                "measure": round(1e3 * (time.perf_counter() - t2), 2)}
            return out

    # --- measures -------------------------------------------------------------------------

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.inst.segment(images)

    def measure(self, e: Edit, pins: list[Pin], after: torch.Tensor) -> dict:
        """The concept's pixel share on each pinned sample and in its painted region, before and after."""
        if self.inst is None:
            return {"absent": self.reason or "no concept instrument"}
        if e.concept is None:
            return {"absent": "no concept chosen"}
        if not pins:
            return {"concept": e.concept, "before": None, "after": None, "per_pin": []}
        cid = self.inst.class_names.index(e.concept)
        b = self._before(pins)
        if "segment" not in b:
            b["segment"] = self.segment(b["images"])
        seg_b = b["segment"]
        seg_a = seg_b if not e.active else self.segment(after)
        hit_b, hit_a = (seg_b == cid).float(), (seg_a == cid).float()  # (P, H, W)
        masks = torch.stack([torch.from_numpy(np.maximum(e.remove.get(p.id, 0), e.insert.get(p.id, 0)) *
                                              np.ones(seg_b.shape[1:], np.float32)) > 0 for p in pins]).float()
        share = lambda hit, m: float((hit * m).sum() / m.sum()) if float(m.sum()) > 0 else None  # noqa: E731
        per = [{"id": p.id, "before": float(hit_b[i].mean()), "after": float(hit_a[i].mean()),
                "mask_pixels": int(masks[i].sum()), "in_mask_before": share(hit_b[i], masks[i]),
                "in_mask_after": share(hit_a[i], masks[i])} for i, p in enumerate(pins)]
        k = len(self.inst.class_names)
        frac = lambda s: (F.one_hot(s.flatten(1), k).float().mean((0, 1))).tolist()  # noqa: E731
        return {"concept": e.concept, "instrument": self.inst.name, "forced": self.inst.forced,
                "before": float(hit_b.mean()), "after": float(hit_a.mean()),
                "in_mask_before": share(hit_b, masks), "in_mask_after": share(hit_a, masks),
                "classes": list(self.inst.class_names), "fractions_before": frac(seg_b),
                "fractions_after": frac(seg_a), "per_pin": per}

    # --- the page's view of everything ----------------------------------------------------

    def state(self) -> dict:
        with self.state_lock:
            return {"grid": {"seed": self.grid_seed, "n": len(self.grid_z)},
                    "pins": [{"id": p.id, "origin": p.origin} for p in self.pins], "edit": self.edit.to_json()}
