"""Browsing units: every filter of a G or D layer, its dissection label, top images and maps.

All of it is computed on ``scan`` generated samples (a fixed seed, so the same on every
start), on demand, and cached: a layer's table (the filter audit's measures, and its
Network Dissection against the instrument's class maps of the same images), a unit's top
images (G: with the unit's activation map over them; D: the guided-backprop analysis's
maps of its maximal unit), and a concept's units (GANPaint's ranking by IoU with the
concept, or forget's causal selection: the concept pixels each unit removes alone).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch

from gan_viz.errors import UserError
from gan_viz.hooks import layer_table

from . import adapters
from .encode import heat_urls, image_urls, rgb_urls
from .errors import BadRequest

SCAN_SEED = 20160107  # the scan samples' seed (the DCGAN paper's arXiv date)
TOP_K = 8  # top images per unit
CAUSAL_SAMPLES = 32  # samples forget's causal ranking measures each unit on
RANKS = ("iou", "causal")
KEEP_LAYERS = 4  # layers whose activations stay cached


class UnitBrowser:
    """The unit views of one session (see the module docstring)."""

    def __init__(self, session, scan: int = 256):
        if not 8 <= scan <= 4096:
            raise UserError(f"--scan {scan}: scan between 8 and 4096 samples")
        self.session, self.S, self.n = session, session.S, int(scan)
        self.lock = threading.RLock()
        self._acts: OrderedDict = OrderedDict()
        self._tables: dict = {}
        self._details: dict = {}
        self._layers = None
        self._scan = None

    # --- layers -----------------------------------------------------------------------------

    def layers(self) -> list[dict]:
        """Every G layer an edit can address and every convolutional D layer: name, shape, editable."""
        if self._layers is None:
            S, rows = self.S, []
            z_shape = S.z_shape if S.G is not None else None
            for r in layer_table(S.G, S.D if S.D is not None else None, z_shape, S.image_shape):
                if len(r.shape) != 3 or r.shape[0] < 2:
                    continue
                try:
                    (adapters.check_edit_layer(S, r.full_name) if r.net == "G"
                     else adapters.check_d_layer(S, r.full_name))
                except UserError:
                    continue
                rows.append({"name": r.full_name, "net": r.net, "kind": r.kind, "shape": list(r.shape),
                             "editable": r.net == "G"})
            self._layers = rows
        return self._layers

    def resolve(self, name) -> tuple[str, str, tuple]:
        """(net, short name, (C, h, w)) of a browsable layer, or BadRequest naming the valid ones."""
        if not isinstance(name, str) or not name:
            raise BadRequest("give a layer, e.g. G.relu3 or D.lrelu2")
        for row in self.layers():
            if row["name"] == name or (name.split(".", 1)[0] not in ("G", "D") and row["name"] == f"G.{name}"):
                return row["net"], row["name"][2:], tuple(row["shape"])
        valid = ", ".join(r["name"] for r in self.layers())
        if name[:2] in ("G.", "D.") and (self.S.G if name[0] == "G" else self.S.D) is not None:
            try:
                from gan_viz.layers import resolve_layer

                resolve_layer(self.S.G if name[0] == "G" else self.S.D, name, name[0])
            except UserError as e:
                raise BadRequest(f"{e}; the explorer's layers are: {valid}") from None
        raise BadRequest(f"unknown layer {name!r} (or not a feature map the explorer shows); "
                         f"choose one of {valid}")

    def check_unit(self, name: str, unit) -> tuple[str, str, tuple, int]:
        net, short, shape = self.resolve(name)
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < shape[0]:
            raise BadRequest(f"unit {unit} is out of range: {net}.{short} has {shape[0]} units "
                             f"(0-{shape[0] - 1})")
        return net, short, shape, unit

    # --- the scan ---------------------------------------------------------------------------

    def scan(self) -> dict:
        """The scan samples: z (N, nz), images (N, C, H, W), class maps (N, H, W) or None."""
        with self.lock:
            if self._scan is None:
                z, images = self._scan_images()
                maps = self.session.segment(images) if self.session.inst is not None else None
                self._scan = {"z": z, "images": images.clone(), "maps": maps}
            return self._scan

    def _scan_images(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """G's samples from the scan seed; for a D alone, real test images of its domain."""
        if self.S.has_G:
            z = self.S.sample_z(self.n, torch.Generator().manual_seed(SCAN_SEED))
            with torch.inference_mode():
                return z, self.S.images(z)
        from gan_viz.sources import real_source

        try:
            src = real_source(self.S, self.n)
        except UserError as e:
            raise BadRequest(f"{self.S.where} has no generator, and no real images to scan: {e}") from None
        return None, src.fetch(np.arange(self.n))

    def acts(self, net: str, short: str) -> torch.Tensor:
        """The layer's activations on the scan samples: (N, C, h, w) float32, cached (a few layers)."""
        key = (net, short)
        with self.lock:
            if key not in self._acts:
                sc = self.scan()
                a = (adapters.features(self.S, short, sc["z"]) if net == "G"
                     else adapters.d_activations(self.S.require("D"), short, sc["images"]))
                self._acts[key] = a.float()
                while len(self._acts) > KEEP_LAYERS:
                    self._acts.popitem(last=False)
            self._acts.move_to_end(key)
            return self._acts[key]

    def insert_level(self, short: str) -> torch.Tensor:
        """(C,) each G unit's top-1% activation level over the scan: what an insertion writes."""
        key = ("level", short)
        with self.lock:
            if key not in self._tables:
                a = self.acts("G", short)
                flat = a.transpose(0, 1).reshape(a.shape[1], -1)
                m = max(1, int(np.ceil(0.01 * flat.shape[1])))
                self._tables[key] = flat.topk(m, dim=1).values[:, -1].clamp(min=0).clone()
            return self._tables[key]

    # --- tables and details ----------------------------------------------------------------

    def table(self, name: str) -> dict:
        """Every unit of a layer: max response, selectivity, dead, dissection label and IoU."""
        net, short, shape = self.resolve(name)
        key = ("table", net, short)
        with self.lock:
            if key not in self._tables:
                self._tables[key] = self._table(net, short, shape)
            return self._tables[key]

    def _table(self, net: str, short: str, shape: tuple) -> dict:
        a = self.acts(net, short)
        meas = adapters.layer_measures(a, TOP_K)
        inst, maps = self.session.inst, self.scan()["maps"]
        d = adapters.dissect_layer(a, maps, len(inst.class_names)) if inst is not None else None
        rows = []
        for c in range(shape[0]):
            row = {"unit": c, "max": round(float(meas["max_response"][c]), 4),
                   "selectivity": round(float(meas["selectivity"][c]), 4), "dead": bool(meas["dead"][c])}
            if d is not None:
                best = int(np.argmax(d["iou"][c]))
                row.update(label=inst.class_names[best] if d["labels"][c] >= 0 else None,
                           best=inst.class_names[best], iou=round(float(d["iou"][c, best]), 4))
            rows.append(row)
        out = {"layer": f"{net}.{short}", "net": net, "shape": list(shape), "editable": net == "G",
               "scan": self.n, "units": rows, "top_index": meas["top_index"],
               "instrument": None if inst is None else inst.name,
               "absent": self.session.reason if inst is None else None}
        if d is not None:
            out.update(iou=d["iou"], iou_threshold=d["iou_threshold"], classes=list(inst.class_names))
        return out

    def public_table(self, name: str) -> dict:
        """The table as the page gets it (IoU rows (C, K) rounded; no top image indices)."""
        t = self.table(name)
        out = {k: v for k, v in t.items() if k not in ("top_index", "iou")}
        if "iou" in t:
            out["iou_rows"] = np.round(t["iou"].astype(np.float64), 4).tolist()
        return out

    def detail(self, name: str, unit) -> dict:
        """One unit: its top images (G: with its activation map; D: with guided-backprop maps)."""
        net, short, shape, unit = self.check_unit(name, unit)
        key = (net, short, unit)
        with self.lock:
            if key not in self._details:
                self._details[key] = self._detail(net, short, unit)
            return self._details[key]

    def _detail(self, net: str, short: str, unit: int) -> dict:
        t = self.table(f"{net}.{short}")
        sc, a = self.scan(), self.acts(net, short)
        idx = np.asarray(t["top_index"][unit])
        out = {"layer": f"{net}.{short}", "unit": unit, "row": t["units"][unit], "scan_index": idx.tolist(),
               "activations": [round(float(v), 4) for v in a[idx, unit].amax((1, 2))],
               "images": image_urls(sc["images"][idx]), "heat": heat_urls(sc["images"][idx], a[idx, unit])}
        if "iou" in t:
            order = np.argsort(-t["iou"][unit])[:3]
            out["top_classes"] = [{"class": t["classes"][i], "iou": round(float(t["iou"][unit, i]), 4)}
                                  for i in order]
        if net == "D":
            try:
                p = adapters.guided_panel(self.S, short, sc["z"], sc["images"], unit, TOP_K)
            except UserError as e:  # e.g. the first rectifier: guiding it would be the plain gradient
                out["gbp_absent"] = str(e)
            else:
                out.update(gbp_images=image_urls(p["images"]), gbp_maps=rgb_urls(p["maps"]),
                           gbp_index=np.asarray(p["index"]).tolist(), gbp_rule="leaky")
        return out

    # --- a concept's units -----------------------------------------------------------------

    def concept_units(self, name: str, concept, rank: str = "iou", k=None) -> dict:
        """The K units of a G layer that draw ``concept``: by IoU with it (GANPaint) or by the
        pixels of it each removes alone (forget's ``causal`` rule)."""
        inst = self.session.inst
        if inst is None:
            raise BadRequest(f"choosing a concept's units needs a concept instrument, and "
                             f"{self.session.reason or 'there is none'}")
        net, short, shape = self.resolve(name)
        if net != "G":
            raise BadRequest(f"layer {name}: a concept's units are chosen in a G layer (the one edits change)")
        if concept not in inst.class_names:
            raise BadRequest(f"concept {concept!r} is not a class of {inst.name}; choose one of "
                             f"{', '.join(inst.class_names)}")
        if rank not in RANKS:
            raise BadRequest(f"rank {rank!r}: choose one of {', '.join(RANKS)}")
        k = max(1, shape[0] // 4) if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= shape[0]:
            raise BadRequest(f"k={k}: choose 1 to {shape[0]} units (the layer's {shape[0]})")
        cid = inst.class_names.index(concept)
        key = ("scores", short, concept, rank)
        with self.lock:
            if key not in self._tables:
                if rank == "iou":
                    scores = np.asarray(self.table(name)["iou"][:, cid], np.float64)
                else:
                    z = self.S.sample_z(CAUSAL_SAMPLES, torch.Generator().manual_seed(SCAN_SEED + 1))
                    scores = adapters.causal_units(self.S, short, z, self.session.segment, cid, shape[0])
                self._tables[key] = scores
            scores = self._tables[key]
        units = adapters.select_units(scores, k)
        return {"layer": f"G.{short}", "concept": concept, "rank": rank, "k": k,
                "units": [int(u) for u in units], "scores": [round(float(scores[u]), 5) for u in units],
                "how": ("Network Dissection IoU with the concept on the scan samples (GANPaint's ranking)"
                        if rank == "iou" else
                        f"forget's causal rule: concept pixels each unit removes alone, on {CAUSAL_SAMPLES} samples")}
