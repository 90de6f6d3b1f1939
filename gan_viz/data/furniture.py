"""Furniture of a rooms scene: bed, nightstand, lamp, rug, as quads in painter's order.

``furnish(room, r, lamp_on)`` returns a list of
``(corners, colour, class_id, instance, shade, glowing)``; the rug comes first (it lies on
the floor), then the objects far to near. See scene.py for the coordinate frame.
"""

from __future__ import annotations

import colorsys
import random

from .scene import BED, LAMP, NIGHTSTAND, RUG

BED_I, STAND_I, LAMP_I, RUG_I = 1, 2, 3, 4
_LIT = (255.0, 236.0, 180.0)


def _hsv(h, s, v):
    return tuple(255.0 * c for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _box(room, out, x0, x1, y0, y1, z0, z1, color, cls, inst):
    for corners, shade in room.box_faces(x0, x1, y0, y1, z0, z1):
        out.append((corners, color, cls, inst, shade, False))


def _floor_z(room) -> float:
    """Nearest depth at which the floor is visible at the bottom of the image."""
    return max(room.zn, room.f * room.cy / max(1e-3, 1.0 - room.v0))


def _bed(room, r):
    """Returns (quads, footprint (x0, x1, z0, z1), wall) of a bed against a wall."""
    W, D = room.W, room.D
    bw, bl = r.uniform(1.4, 1.9), r.uniform(1.9, 2.2)
    bh, hh = r.uniform(0.45, 0.62), r.uniform(0.9, 1.3)
    wall = "back" if r.random() < 0.65 else ("left" if r.random() < 0.5 else "right")
    lo = max(room.zvis[0 if wall == "left" else 1], _floor_z(room)) + bw / 2 - 0.2
    hi = D - bw / 2 - 0.1
    if wall != "back" and hi < lo:
        wall = "back"
    blanket = _hsv(r.random(), r.uniform(0.2, 0.8), r.uniform(0.4, 0.95))
    sheet = _hsv(r.random(), r.uniform(0.0, 0.15), r.uniform(0.85, 1.0))
    head = _hsv(r.uniform(0.05, 0.1), r.uniform(0.3, 0.7), r.uniform(0.25, 0.6)) if r.random() < 0.6 else \
        _hsv(r.random(), r.uniform(0.1, 0.5), r.uniform(0.3, 0.8))
    q: list = []
    t = 0.08
    if wall == "back":
        xc = r.uniform(-W / 2 + bw / 2 + 0.1, W / 2 - bw / 2 - 0.1)
        x0, x1, z0, z1 = xc - bw / 2, xc + bw / 2, D - bl, D
        _box(room, q, x0, x1, 0, hh, D - t, D, head, BED, BED_I)
        _box(room, q, x0 + 0.03, x1 - 0.03, 0, bh, z0, D - t, blanket, BED, BED_I)
        q.append((room.floor_rect(x0 + 0.03, x1 - 0.03, D - t - 0.65, D - t, bh + 0.003), sheet, BED, BED_I, 1.0, False))
        n = 1 if r.random() < 0.4 else 2
        pw = (bw - 0.2 - 0.1 * (n - 1)) / n
        for i in range(n):
            px = x0 + 0.1 + i * (pw + 0.1)
            _box(room, q, px, px + pw, bh, bh + 0.14, D - t - 0.5, D - t - 0.1, sheet, BED, BED_I)
        return q, (x0, x1, z0, z1), wall
    zc = r.uniform(lo, max(lo, hi))
    z0, z1 = zc - bw / 2, zc + bw / 2
    sgn = -1 if wall == "left" else 1
    xw = sgn * W / 2
    x0, x1 = sorted((xw, xw - sgn * bl))
    hx0, hx1 = sorted((xw, xw - sgn * t))
    _box(room, q, hx0, hx1, 0, hh, z0, z1, head, BED, BED_I)
    mx0, mx1 = sorted((xw - sgn * t, xw - sgn * bl))
    _box(room, q, mx0, mx1, 0, bh, z0 + 0.03, z1 - 0.03, blanket, BED, BED_I)
    sx0, sx1 = sorted((xw - sgn * t, xw - sgn * (t + 0.65)))
    q.append((room.floor_rect(sx0, sx1, z0 + 0.03, z1 - 0.03, bh + 0.003), sheet, BED, BED_I, 1.0, False))
    px0, px1 = sorted((xw - sgn * (t + 0.1), xw - sgn * (t + 0.5)))
    _box(room, q, px0, px1, bh, bh + 0.14, z0 + 0.12, z1 - 0.12, sheet, BED, BED_I)
    return q, (x0, x1, z0, z1), wall


def _stand(room, r, bed_fp, wall):
    """A nightstand beside the bed on the same wall, or None when there is no room."""
    w, h, d = r.uniform(0.4, 0.55), r.uniform(0.45, 0.65), r.uniform(0.38, 0.48)
    x0, x1, z0, z1 = bed_fp
    side = r.random() < 0.5
    if wall == "back":
        sx0 = x1 + 0.05 if side else x0 - 0.05 - w
        if sx0 < -room.W / 2 or sx0 + w > room.W / 2:
            sx0 = x0 - 0.05 - w if side else x1 + 0.05
        if sx0 < -room.W / 2 or sx0 + w > room.W / 2:
            return None
        box = (sx0, sx0 + w, 0, h, room.D - d, room.D)
    else:
        sz0 = z1 + 0.05 if side or z0 - 0.05 - w < _floor_z(room) else z0 - 0.05 - w
        if sz0 + w > room.D:
            return None
        xw = -room.W / 2 if wall == "left" else room.W / 2
        bx0, bx1 = sorted((xw, xw + (d if wall == "left" else -d)))
        box = (bx0, bx1, 0, h, sz0, sz0 + w)
    color = _hsv(r.uniform(0.05, 0.1), r.uniform(0.3, 0.7), r.uniform(0.25, 0.65)) if r.random() < 0.7 else \
        _hsv(r.random(), r.uniform(0, 0.2), r.uniform(0.7, 0.95))
    q: list = []
    _box(room, q, *box, color, NIGHTSTAND, STAND_I)
    bx0, bx1, _, _, bz0, _ = box
    q.append(((bx0 + 0.05, 0.3 * h, bz0 - 0.001, bx1 - 0.05, 0.3 * h, bz0 - 0.001,
               bx1 - 0.05, 0.75 * h, bz0 - 0.001, bx0 + 0.05, 0.75 * h, bz0 - 0.001),
              color, NIGHTSTAND, STAND_I, 0.65, False))
    return q, box


def _shade(x, y_low, y_high, z, w_low, w_high, color, lit):
    corners = (x - w_low / 2, y_low, z, x + w_low / 2, y_low, z, x + w_high / 2, y_high, z, x - w_high / 2, y_high, z)
    return (corners, _LIT if lit else color, LAMP, LAMP_I, 0.95, lit)


def _lamp(room, r, stand_box, lamp_on):
    """Table lamp on the nightstand, else a floor lamp or a pendant (or none)."""
    cloth = _hsv(r.random(), r.uniform(0.1, 0.6), r.uniform(0.6, 1.0))
    base = _hsv(r.random(), r.uniform(0, 0.3), r.uniform(0.2, 0.8))
    q: list = []
    if stand_box is not None:
        x0, x1, _, h, z0, z1 = stand_box
        x, z = (x0 + x1) / 2, (z0 + z1) / 2
        bh, sh = r.uniform(0.2, 0.3), r.uniform(0.22, 0.3)
        _box(room, q, x - 0.04, x + 0.04, h, h + bh, z - 0.04, z + 0.04, base, LAMP, LAMP_I)
        q.append(_shade(x, h + bh - 0.05, h + bh + sh, z - 0.1, r.uniform(0.36, 0.46), r.uniform(0.2, 0.3),
                        cloth, lamp_on))
        return q, "table"
    p = r.random()
    if p < 0.5:
        x = (room.W / 2 - 0.35) * (1 if r.random() < 0.5 else -1)
        z = room.D - 0.35
        top = r.uniform(1.4, 1.7)
        _box(room, q, x - 0.03, x + 0.03, 0, top, z - 0.03, z + 0.03, base, LAMP, LAMP_I)
        _box(room, q, x - 0.15, x + 0.15, 0, 0.04, z - 0.15, z + 0.15, base, LAMP, LAMP_I)
        q.append(_shade(x, top - 0.1, top + 0.25, z - 0.2, 0.48, 0.3, cloth, lamp_on))
        return q, "floor"
    if p < 0.8:
        x = r.uniform(-0.3, 0.3) * room.W
        z = r.uniform(0.55, 0.8) * room.D
        y = room.H - r.uniform(0.5, 0.8)
        _box(room, q, x - 0.015, x + 0.015, y, room.H, z - 0.015, z + 0.015, (40, 40, 40), LAMP, LAMP_I)
        q.append(_shade(x, y - 0.25, y, z, 0.55, 0.2, cloth, lamp_on))
        return q, "pendant"
    return q, "none"


def _rug(room, r):
    w, d = r.uniform(1.4, 2.6), r.uniform(1.0, 1.8)
    xc = r.uniform(-0.25, 0.25) * room.W
    zc = r.uniform(max(_floor_z(room) + d / 2, room.D * 0.45), room.D - d / 2 - 0.2)
    outer = _hsv(r.random(), r.uniform(0.3, 0.8), r.uniform(0.3, 0.8))
    inner = _hsv(r.random(), r.uniform(0.2, 0.7), r.uniform(0.4, 0.9))
    b = r.uniform(0.06, 0.15)
    return [(room.floor_rect(xc - w / 2, xc + w / 2, zc - d / 2, zc + d / 2, 0.002), outer, RUG, RUG_I, 0.9, False),
            (room.floor_rect(xc - w / 2 + b, xc + w / 2 - b, zc - d / 2 + b, zc + d / 2 - b, 0.003),
             inner, RUG, RUG_I, 0.9, False)]


def _depth(quads) -> float:
    """Mean distance of a group's corners from the camera (painter's key)."""
    zs = [c[2::3] for c, *_ in quads]
    return sum(sum(z) for z in zs) / max(1, 4 * len(zs))


def furnish(room, r: random.Random, lamp_on: bool) -> list:
    """All furniture quads of one room: rug first, then groups far to near."""
    groups = []
    rug = _rug(room, r) if r.random() < 0.6 else []
    stand_box = None
    if r.random() < 0.92:
        bed_q, fp, wall = _bed(room, r)
        groups.append(bed_q)
        if r.random() < 0.75:
            st = _stand(room, r, fp, wall)
            if st is not None:
                groups.append(st[0])
                stand_box = st[1]
    lamp_q, _ = _lamp(room, r, stand_box, lamp_on)
    if lamp_q and stand_box is not None:
        groups[-1] = groups[-1] + lamp_q  # the table lamp is drawn with its nightstand
    elif lamp_q:
        groups.append(lamp_q)
    groups.sort(key=_depth, reverse=True)
    return rug + [q for g in groups for q in g]
