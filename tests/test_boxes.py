"""Box annotations: COCO, LabelMe, VOC and CSV import, manifest matching, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan_viz.boxes import (cell_labels, load_manifest, manifest_dict, match_boxes, parser_boxes,
                                    read_annotations)
from gan_viz.errors import UserError

FILES = [f"sample_{i:04d}.png" for i in range(3)]
# one window on sample 1 and one door on sample 2, in PNG pixels of a 32px sample at scale 1
WINDOW = (4.0, 6.0, 12.0, 10.0)


@pytest.fixture
def manifest(tmp_path):
    def make(scale=1, size=32):
        path = tmp_path / f"manifest_{scale}.json"
        z = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
        path.write_text(json.dumps(manifest_dict(FILES, z, size, scale, "ck.pt", 0)))
        return load_manifest(path)
    return make


def write_coco(path, window=WINDOW, size=32, file="sample_0001.png"):
    x0, y0, x1, y1 = window
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": f"imgs/{file}", "width": size, "height": size},
                   {"id": 8, "file_name": "sample_0002.png", "width": size, "height": size}],
        "categories": [{"id": 1, "name": "window"}, {"id": 2, "name": "door"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0]},
                        {"id": 2, "image_id": 8, "category_id": 2, "bbox": [1, 1, 5, 5]}]}))
    return path


def write_labelme(folder, window=WINDOW, size=32):
    x0, y0, x1, y1 = window
    (folder / "sample_0001.json").write_text(json.dumps({
        "imagePath": "sample_0001.png", "imageWidth": size, "imageHeight": size,
        "shapes": [{"label": "window", "points": [[x1, y0], [x0, y1]], "shape_type": "rectangle"}]}))
    (folder / "sample_0002.json").write_text(json.dumps({
        "imagePath": "sample_0002.png", "imageWidth": size, "imageHeight": size,
        "shapes": [{"label": "door", "points": [[1, 1], [3, 9], [6, 2]], "shape_type": "polygon"}]}))
    return folder


def write_voc(path, window=WINDOW, size=32):
    x0, y0, x1, y1 = window  # VOC: 1-based inclusive pixels
    path.write_text(f"""<annotation><filename>sample_0001.png</filename>
      <size><width>{size}</width><height>{size}</height><depth>3</depth></size>
      <object><name>window</name><bndbox><xmin>{x0 + 1:g}</xmin><ymin>{y0 + 1:g}</ymin>
        <xmax>{x1:g}</xmax><ymax>{y1:g}</ymax></bndbox></object>
      <object><name>door</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object>
    </annotation>""")
    return path


def write_csv(path, rows, header=True):
    lines = (["file,label,x0,y0,x1,y1"] if header else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_format_gives_the_same_box(manifest, tmp_path):
    man = manifest()
    lm = tmp_path / "labelme"
    lm.mkdir()
    sources = [write_coco(tmp_path / "coco.json"), write_labelme(lm), write_voc(tmp_path / "s1.xml"),
               write_csv(tmp_path / "b.csv", [("sample_0001.png", "window", *WINDOW)]),
               write_csv(tmp_path / "nohead.csv", [("sample_0001.png", "Window", *WINDOW)], header=False)]
    for src in sources:
        assert match_boxes(read_annotations(src), man, "window") == {1: [WINDOW]}, src
    assert match_boxes(read_annotations(lm), man, "door") == {2: [(1.0, 1.0, 6.0, 9.0)]}  # polygon's bounds


def test_scaled_pngs_are_scaled_back(manifest, tmp_path):
    man = manifest(scale=4)
    big = tuple(4 * v for v in WINDOW)
    got = match_boxes(read_annotations(write_coco(tmp_path / "c.json", big, size=128)), man, "window")
    assert got == {1: [WINDOW]}
    with pytest.raises(UserError, match="says 32x32 pixels but sample_0001.png is 128x128"):
        match_boxes(read_annotations(write_coco(tmp_path / "d.json", WINDOW, size=32)), man, "window")


def test_small_overhang_is_clipped(manifest, tmp_path):
    src = write_csv(tmp_path / "b.csv", [("sample_0000.png", "window", -0.5, 0, 32.8, 4)])
    assert match_boxes(read_annotations(src), manifest(), "window") == {0: [(0.0, 0.0, 32.0, 4.0)]}


@pytest.mark.parametrize("row, msg", [
    (("sample_0001.png", "window", 4, 6, 40, 10), "b.csv line 2: .*outside the 32x32 image"),
    (("sample_0001.png", "window", 12, 6, 4, 10), "b.csv line 2: .*empty or inverted"),
    (("sample_0001.png", "window", 4, 6, 4, 10), "empty or inverted"),
    (("sample_0009.png", "window", 4, 6, 8, 10), "b.csv line 2: image 'sample_0009.png' is not in the manifest"),
    (("sample_0001.png", "door", 4, 6, 8, 10), "no boxes labelled 'window'.*labels found: door"),
    (("sample_0001.png", "window", "a", 6, 8, 10), "not a number"),
    (("sample_0001.png", "window", 4, 6, 8), "5 columns"),
])
def test_bad_boxes_name_the_entry(manifest, tmp_path, row, msg):
    src = write_csv(tmp_path / "b.csv", [row])
    with pytest.raises(UserError, match=msg):
        match_boxes(read_annotations(src), manifest(), "window")


def test_bad_annotation_files(tmp_path, manifest):
    with pytest.raises(UserError, match="does not exist"):
        read_annotations(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        read_annotations(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(UserError, match="neither COCO"):
        read_annotations(tmp_path / "y.json")
    (tmp_path / "z.xml").write_text("<annotation><object>")
    with pytest.raises(UserError, match="not valid XML"):
        read_annotations(tmp_path / "z.xml")
    (tmp_path / "h.csv").write_text("name,cls,a,b,c,d\n")
    with pytest.raises(UserError, match="header"):
        read_annotations(tmp_path / "h.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no"):
        read_annotations(empty)
    (tmp_path / "p.json").write_text(json.dumps({"imagePath": "sample_0001.png", "shapes": [
        {"label": "window", "points": [[1, 1]], "shape_type": "point"}]}))
    with pytest.raises(UserError, match="p.json shape 0: .*not a box"):
        read_annotations(tmp_path / "p.json")


def test_manifest_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_manifest(tmp_path / "m.json")
    (tmp_path / "m.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(UserError, match="not a gan-viz samples manifest"):
        load_manifest(tmp_path / "m.json")
    (tmp_path / "m.json").write_text(json.dumps({"format": "gan-viz-samples/1", "samples": [{"index": 0}]}))
    with pytest.raises(UserError, match="damaged"):
        load_manifest(tmp_path / "m.json")


def test_cell_labels():
    cells = cell_labels([(0, 0, 8, 4)], 32, 8)  # a 32px image on an 8x8 grid: cells are 4px
    assert cells.sum() == 2 and cells[0, :2].all()
    tiny = cell_labels([(5, 5, 6, 6)], 32, 8)  # smaller than a cell: still its cell
    assert tiny.sum() == 1 and tiny[1, 1]
    half = cell_labels([(0, 0, 6, 4)], 32, 8)  # covers cell 1 by half: counted
    assert half[0, :2].all() and half.sum() == 2


def test_parser_boxes_are_continuous():
    cm = np.zeros((2, 8, 8), np.uint8)
    cm[0, 2:4, 1:6] = 3  # rows 2-3, columns 1-5
    cm[1, 0, 0] = 3  # a single pixel: below min_pixels
    assert parser_boxes(cm, 3) == {0: [(1.0, 2.0, 6.0, 4.0)]}
