"""Object boxes on generated samples: the samples manifest, annotation files, parser boxes.

A person draws boxes on the PNGs that ``gan-viz samples`` wrote, in the tool they already
use; this module reads the result back and matches it to the samples' latent codes.

Formats (the format is recognised from the file, a folder is read file by file):
    - COCO JSON: ``images`` (id, file_name, width, height), ``annotations`` (image_id,
      category_id, ``bbox`` = [x, y, w, h]) and ``categories`` (id, name).
    - LabelMe JSON (one file per image): ``imagePath``, ``imageWidth``, ``imageHeight``,
      ``shapes`` (label, points, shape_type rectangle / polygon / circle).
    - Pascal VOC XML (one file per image): ``filename``, ``size``, ``object`` (name,
      ``bndbox`` xmin ymin xmax ymax, 1-based inclusive pixels as the VOC devkit).
    - CSV: ``file,label,x0,y0,x1,y1`` with corner coordinates in pixels (x1, y1 the far
      edges, as COCO and LabelMe); a header row is optional.

Every box becomes continuous pixel coordinates ``(x0, y0, x1, y1)`` of the model's image:
pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``; boxes of upscaled PNGs are divided by the
manifest's ``scale``.

Example:
    >>> man = load_manifest("out/samples/manifest.json")
    >>> boxes = match_boxes(read_annotations("boxes.csv"), man, "window")
    >>> boxes[3]  # [(x0, y0, x1, y1), ...] on sample 3
"""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_viz.errors import UserError

MANIFEST_FORMAT = "gan-viz-samples/1"
TOLERANCE = 1.0  # annotation pixels a box may stick out of the image (then clipped)


@dataclass(frozen=True)
class RawBox:
    """One box as the annotation file states it (annotation pixels)."""

    file: str  # image file name as written in the annotation
    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    where: str  # e.g. "boxes.csv line 4": names the entry in errors
    size: tuple | None = None  # (width, height) the annotation declares for its image


@dataclass(frozen=True)
class Manifest:
    """The samples a person annotated: file names, latent codes, resolution."""

    path: Path
    files: tuple  # (N,) file names relative to the manifest's folder
    z: np.ndarray  # (N, nz) float32
    image_size: int  # model resolution
    scale: int  # the PNGs are image_size * scale pixels wide
    checkpoint: str

    @property
    def folder(self) -> Path:
        return self.path.parent


# --- manifest --------------------------------------------------------------------------

def manifest_dict(files, z: np.ndarray, image_size: int, scale: int, checkpoint: str, seed: int) -> dict:
    """The JSON written by ``gan-viz samples``: one entry (index, file, z) per sample."""
    return {"format": MANIFEST_FORMAT, "checkpoint": checkpoint, "seed": seed, "image_size": image_size,
            "scale": scale, "png_size": image_size * scale, "n": len(files),
            "samples": [{"index": i, "file": f, "z": [float(v) for v in z[i]]} for i, f in enumerate(files)]}


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest written by ``gan-viz samples``; one-line errors for anything else."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"manifest {path} does not exist; pass the manifest.json written by gan-viz samples") from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as e:
        raise UserError(f"manifest {path} is not a JSON file ({type(e).__name__}); "
                        "pass the manifest.json written by gan-viz samples") from None
    if not isinstance(d, dict) or d.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path} is not a gan-viz samples manifest (format {MANIFEST_FORMAT}); "
                        "write one with `gan-viz samples`")
    try:
        samples = sorted(d["samples"], key=lambda s: int(s["index"]))
        files = tuple(str(s["file"]) for s in samples)
        z = np.asarray([s["z"] for s in samples], np.float32)
        size, scale = int(d["image_size"]), int(d.get("scale", 1))
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"manifest {path} is damaged (missing or bad {e}); rewrite it with gan-viz samples") from None
    if not files or z.ndim != 2 or not np.isfinite(z).all() or scale < 1:
        raise UserError(f"manifest {path} holds no usable samples; rewrite it with gan-viz samples")
    return Manifest(path, files, z, size, scale, str(d.get("checkpoint", "")))


def check_pngs(manifest: Manifest, images: np.ndarray) -> None:
    """The manifest's PNGs (where present) must be what the model draws from their z.

    Args:
        images: (n, H, W, 3) uint8, the model's images of the first n manifest z.
    Raises:
        UserError: a PNG differs (mean absolute difference > 8 grey levels): another model's samples.
    """
    import cv2

    mine = np.asarray(images).astype(np.int16)
    for i in range(min(len(mine), len(manifest.files))):
        png = cv2.imread(str(manifest.folder / manifest.files[i]), cv2.IMREAD_COLOR)
        if png is None:
            continue
        png = png[::manifest.scale, ::manifest.scale, ::-1].astype(np.int16)
        if png.shape != mine[i].shape or np.abs(png - mine[i]).mean() > 8:
            raise UserError(f"{manifest.files[i]} in {manifest.folder} is not what this model draws from the "
                            f"manifest's z; pass the --ckpt the samples were made with ({manifest.checkpoint})")


# --- annotation files ------------------------------------------------------------------

def read_annotations(path: str | Path) -> list[RawBox]:
    """Every box of an annotation file, or of every .json / .xml / .csv file in a folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"box file {path} does not exist; pass a COCO/LabelMe JSON, VOC XML, CSV or a folder")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".xml", ".csv")) \
        if path.is_dir() else [path]
    if not files:
        raise UserError(f"folder {path} holds no .json, .xml or .csv annotation files")
    boxes: list[RawBox] = []
    for f in files:
        boxes += _read_one(f)
    return boxes


def _read_one(path: Path) -> list[RawBox]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".xml":
        return _read_voc(path)
    if suffix != ".json":
        raise UserError(f"box file {path}: unknown format {suffix!r}; use COCO/LabelMe .json, VOC .xml or .csv")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"box file {path} is not valid JSON ({e})") from None
    if isinstance(d, dict) and "annotations" in d and "images" in d:
        return _read_coco(path, d)
    if isinstance(d, dict) and "shapes" in d:
        return _read_labelme(path, d)
    raise UserError(f"box file {path} is neither COCO (images + annotations) nor LabelMe (shapes) JSON")


def _num(v, where: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise UserError(f"{where}: coordinate {v!r} is not a number") from None
    if not math.isfinite(x):
        raise UserError(f"{where}: coordinate {v!r} is not finite")
    return x


def _read_csv(path: Path) -> list[RawBox]:
    cols = ["file", "label", "x0", "y0", "x1", "y1"]
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    out = []
    for line, row in enumerate(rows, 1):
        row = [c.strip() for c in row]
        if not any(row) or row[0].startswith("#"):
            continue
        if line == 1 and not _is_number(row[2] if len(row) > 2 else ""):  # a header row
            if [c.lower() for c in row] != cols:
                raise UserError(f"{path.name} line 1: header {','.join(row)} should be {','.join(cols)}")
            continue
        where = f"{path.name} line {line}"
        if len(row) != 6:
            raise UserError(f"{where}: {len(row)} columns; each row is file,label,x0,y0,x1,y1")
        out.append(RawBox(row[0], row[1], *(_num(v, where) for v in row[2:]), where))
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_coco(path: Path, d: dict) -> list[RawBox]:
    try:
        images = {im["id"]: im for im in d["images"]}
        names = {c["id"]: str(c["name"]) for c in d.get("categories", [])}
    except (KeyError, TypeError) as e:
        raise UserError(f"{path}: COCO images/categories lack {e}") from None
    out = []
    for i, a in enumerate(d["annotations"]):
        where = f"{path.name} annotation {a.get('id', i) if isinstance(a, dict) else i}"
        if not isinstance(a, dict) or "bbox" not in a or a.get("image_id") not in images:
            raise UserError(f"{where}: needs a bbox and an image_id listed in images")
        im = images[a["image_id"]]
        bbox = a["bbox"]
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise UserError(f"{where}: bbox {bbox!r} should be [x, y, width, height]")
        x, y, w, h = (_num(v, where) for v in bbox)
        label = names.get(a.get("category_id"), str(a.get("category_id")))
        size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
        out.append(RawBox(str(im.get("file_name", "")), label, x, y, x + w, y + h, where, size))
    return out


def _read_labelme(path: Path, d: dict) -> list[RawBox]:
    file = str(d.get("imagePath") or path.with_suffix(".png").name)
    size = (int(d["imageWidth"]), int(d["imageHeight"])) if "imageWidth" in d and "imageHeight" in d else None
    out = []
    for i, s in enumerate(d["shapes"]):
        where = f"{path.name} shape {i}"
        kind = s.get("shape_type") or "polygon"
        pts = np.asarray([[_num(v, where) for v in p] for p in s.get("points", [])], np.float64).reshape(-1, 2)
        if kind == "circle" and len(pts) == 2:
            r = float(np.hypot(*(pts[1] - pts[0])))
            pts = np.stack([pts[0] - r, pts[0] + r])
        elif kind not in ("rectangle", "polygon") or len(pts) < 2:
            raise UserError(f"{where}: a {kind!r} with {len(pts)} points is not a box; draw a rectangle or polygon")
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        out.append(RawBox(file, str(s.get("label", "")), x0, y0, x1, y1, where, size))
    return out


def _read_voc(path: Path) -> list[RawBox]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise UserError(f"box file {path} is not valid XML ({e})") from None
    file = (root.findtext("filename") or path.with_suffix(".png").name).strip()
    w, h = root.findtext("size/width"), root.findtext("size/height")
    size = (int(float(w)), int(float(h))) if w and h else None
    out = []
    for i, obj in enumerate(root.iter("object")):
        where = f"{path.name} object {i}"
        bb = obj.find("bndbox")
        if bb is None:
            raise UserError(f"{where}: no bndbox")
        xmin, ymin, xmax, ymax = (_num(bb.findtext(k), where) for k in ("xmin", "ymin", "xmax", "ymax"))
        # VOC pixels are 1-based and inclusive: pixel k covers [k-1, k)
        out.append(RawBox(file, (obj.findtext("name") or "").strip(), xmin - 1, ymin - 1, xmax, ymax, where, size))
    return out


# --- matching and validation -----------------------------------------------------------

def match_boxes(raw: list[RawBox], manifest: Manifest, concept: str) -> dict[int, list[tuple]]:
    """The ``concept`` boxes per sample index, in model pixels, validated.

    Raises:
        UserError naming the entry: no box of that label, a file not in the manifest, a
        declared image size that is not the PNGs', a box outside the image, empty or inverted.
    """
    want = concept.strip().lower()
    chosen = [b for b in raw if b.label.strip().lower() == want]
    if not chosen:
        labels = sorted({b.label for b in raw}) or ["none"]
        raise UserError(f"no boxes labelled {concept!r} in the annotations; labels found: {', '.join(labels)}")
    index = {Path(f).name: i for i, f in enumerate(manifest.files)}
    png = manifest.image_size * manifest.scale
    out: dict[int, list[tuple]] = {}
    for b in chosen:
        name = Path(b.file.replace("\\", "/")).name
        if name not in index:
            raise UserError(f"{b.where}: image {b.file!r} is not in the manifest {manifest.path}; "
                            "annotate the PNGs written beside it")
        if b.size is not None and tuple(b.size) != (png, png):
            raise UserError(f"{b.where}: the annotation says {b.size[0]}x{b.size[1]} pixels but {name} is "
                            f"{png}x{png}; annotate the PNGs as written")
        out.setdefault(index[name], []).append(_check_box(b, png, manifest.scale))
    return out


def _check_box(b: RawBox, png: int, scale: int) -> tuple:
    if b.x1 <= b.x0 or b.y1 <= b.y0:
        raise UserError(f"{b.where}: box ({b.x0:g}, {b.y0:g}, {b.x1:g}, {b.y1:g}) is empty or inverted "
                        "(needs x0 < x1 and y0 < y1)")
    if min(b.x0, b.y0) < -TOLERANCE or max(b.x1, b.y1) > png + TOLERANCE:
        raise UserError(f"{b.where}: box ({b.x0:g}, {b.y0:g}, {b.x1:g}, {b.y1:g}) lies outside the "
                        f"{png}x{png} image")
    x0, y0, x1, y1 = (min(max(v, 0.0), float(png)) / scale for v in (b.x0, b.y0, b.x1, b.y1))
    if x1 <= x0 or y1 <= y0:
        raise UserError(f"{b.where}: box lies on the image border and covers no pixel")
    return (x0, y0, x1, y1)


def parser_boxes(classmaps: np.ndarray, class_id: int, min_pixels: int = 2) -> dict[int, list[tuple]]:
    """Boxes of one class on (N, H, W) class maps (the scene parser's), per sample index.

    Returns continuous coordinates, like :func:`match_boxes` (inclusive parser bounds + 1).
    """
    from gan_viz.parser import SceneParser

    out: dict[int, list[tuple]] = {}
    for i, cm in enumerate(np.asarray(classmaps)):
        found = SceneParser.boxes(cm, class_id, min_pixels)
        if found:
            out[i] = [(float(x0), float(y0), float(x1 + 1), float(y1 + 1)) for x0, y0, x1, y1 in found]
    return out


# --- boxes to feature cells ------------------------------------------------------------

def cell_labels(boxes: list[tuple], image_size: int, grid: int) -> np.ndarray:
    """Which cells of a (grid, grid) feature map lie on the boxes: (grid, grid) bool.

    A cell is on a box when the box covers at least half of it; a box smaller than that
    still marks its best-covered cell, so every box gives at least one positive.
    """
    edges = np.linspace(0.0, image_size, grid + 1)  # cell borders in image pixels
    lo, hi = edges[:-1], edges[1:]
    out = np.zeros((grid, grid), bool)
    for x0, y0, x1, y1 in boxes:
        cx = np.clip(np.minimum(hi, x1) - np.maximum(lo, x0), 0, None) / (hi - lo)  # (grid,)
        cy = np.clip(np.minimum(hi, y1) - np.maximum(lo, y0), 0, None) / (hi - lo)
        cover = cy[:, None] * cx[None, :]  # (grid, grid) fraction of each cell covered
        out |= cover >= 0.5
        out[np.unravel_index(np.argmax(cover), cover.shape)] = True
    return out
