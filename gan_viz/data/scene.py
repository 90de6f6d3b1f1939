"""The random bedroom behind :mod:`gan_viz.data.rooms`: camera, room box, objects as 3D quads.

Coordinates in metres: x to the right, y up (floor y=0), z away from the camera (camera
at z=0, back wall at z=D). ``build_scene(rng)`` only draws random numbers and lists quads
(4 corners each) in painter's order with a colour, a class and an instance id per quad;
rendering is in rooms.py. Nothing here depends on the image size.
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass

import numpy as np

# class ids, mirrored from rooms.CLASSES (kept here to avoid a circular import)
WALL, FLOOR, CEILING, WINDOW, BED, DOOR, LAMP, PICTURE, RUG, NIGHTSTAND = range(10)
TIMES = ("day", "dusk", "night")
N_WINDOWS_P = (0.15, 0.4, 0.3, 0.15)  # probability of 0, 1, 2, 3 windows
_SKY = {"day": ((110, 170, 235), (175, 215, 250)), "dusk": ((70, 60, 120), (250, 150, 80)),
        "night": ((10, 15, 40), (30, 40, 80))}
_LIGHT = {"day": 1.0, "dusk": 0.8, "night": 0.55}


@dataclass(frozen=True)
class Scene:
    quads: list  # Q x 12 floats: 4 corners (x, y, z), painter's order; quad 0 = back wall
    camera: tuple  # (cx, cy, f, u0, v0): f, u0, v0 as fractions of the image size
    colors: np.ndarray  # (Q, 3) uint8
    classes: np.ndarray  # (Q,) uint8
    instances: np.ndarray  # (Q,) int32, 0 = room shell, else one id per object
    attrs: dict


class _Builder:
    """Collects quads with their colour, class and instance."""

    def __init__(self, light: float, tint: tuple):
        self.quads, self.colors, self.classes, self.instances = [], [], [], []
        self.light, self.tint, self.n_inst = light, tint, 0

    def new_instance(self) -> int:
        self.n_inst += 1
        return self.n_inst

    def add(self, corners, color, cls: int, inst: int, shade: float = 1.0) -> None:
        self.quads.extend(corners)
        k = self.light * shade
        self.colors.append((color[0] * k * self.tint[0], color[1] * k * self.tint[1], color[2] * k * self.tint[2]))
        self.classes.append(cls)
        self.instances.append(inst)

    def glow(self, corners, color, cls: int, inst: int) -> None:
        """A light-emitting quad (sky, lit lamp): not dimmed by the room light."""
        self.quads.extend(corners)
        self.colors.append(color)
        self.classes.append(cls)
        self.instances.append(inst)


class _Room:
    """Room box geometry plus helpers that make wall-, floor- and box-aligned quads."""

    def __init__(self, r: random.Random):
        self.W = r.uniform(3.4, 4.8)
        self.H = r.uniform(2.4, 3.0)
        self.D = r.uniform(3.6, 5.2)
        self.cx = r.uniform(-0.15, 0.15) * self.W
        self.cy = r.uniform(1.15, 1.7)
        fw = r.uniform(0.52, 0.75)  # back wall width as a fraction of the image width
        self.f = fw * self.D / self.W
        self.u0 = 0.5 + r.uniform(-0.05, 0.05)
        self.v0 = r.uniform(0.36, 0.5)  # horizon height: the camera looks slightly down
        self.zn = 0.25
        # side walls enter the image from this depth on (left, right)
        self.zvis = (max(self.zn, self.f * (self.W / 2 + self.cx) / self.u0),
                     max(self.zn, self.f * (self.W / 2 - self.cx) / (1 - self.u0)))

    def wall_rect(self, wall: str, s0: float, s1: float, y0: float, y1: float, off: float = 0.0):
        """Rectangle on a wall: s is x on the back wall, z on the left/right wall."""
        if wall == "back":
            z = self.D - off
            return (s0, y0, z, s1, y0, z, s1, y1, z, s0, y1, z)
        x = -self.W / 2 + off if wall == "left" else self.W / 2 - off
        return (x, y0, s0, x, y0, s1, x, y1, s1, x, y1, s0)

    def wall_span(self, wall: str) -> tuple:
        if wall == "back":
            return -self.W / 2 + 0.15, self.W / 2 - 0.15
        return self.zvis[0 if wall == "left" else 1] + 0.15, self.D - 0.15

    def floor_rect(self, x0, x1, z0, z1, y=0.0):
        return (x0, y, z0, x1, y, z0, x1, y, z1, x0, y, z1)

    def box_faces(self, x0, x1, y0, y1, z0, z1):
        """Visible faces of an axis-aligned box as [(corners, shade)], seen from the camera."""
        faces = []
        if self.cx < x0:
            faces.append(((x0, y0, z0, x0, y0, z1, x0, y1, z1, x0, y1, z0), 0.7))
        if self.cx > x1:
            faces.append(((x1, y0, z0, x1, y0, z1, x1, y1, z1, x1, y1, z0), 0.7))
        if self.cy > y1:
            faces.append(((x0, y1, z0, x1, y1, z0, x1, y1, z1, x0, y1, z1), 1.0))
        faces.append(((x0, y0, z0, x1, y0, z0, x1, y1, z0, x0, y1, z0), 0.85))
        return faces


def _hsv(h, s, v):
    return tuple(255.0 * c for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _shell(b: _Builder, room: _Room, r: random.Random, light_side: str) -> None:
    W, H, D, zn = room.W, room.H, room.D, room.zn
    wall = _hsv(r.random(), r.uniform(0.05, 0.35), r.uniform(0.65, 0.95))
    wood = r.random() < 0.7
    floor = _hsv(r.uniform(0.05, 0.1), r.uniform(0.4, 0.7), r.uniform(0.35, 0.7)) if wood else \
        _hsv(r.random(), r.uniform(0.05, 0.3), r.uniform(0.3, 0.7))
    ceil = _hsv(r.uniform(0.1, 0.15), r.uniform(0.0, 0.08), r.uniform(0.85, 0.98))
    b.add(room.wall_rect("back", -W / 2, W / 2, 0, H), wall, WALL, 0)
    b.add(room.floor_rect(-W / 2, W / 2, zn, D), floor, FLOOR, 0, 0.9)
    b.add(room.floor_rect(-W / 2, W / 2, zn, D, H), ceil, CEILING, 0, 0.95)
    for side in ("left", "right"):
        b.add(room.wall_rect(side, zn, D, 0, H), wall, WALL, 0, 1.1 if side == light_side else 0.8)


def _window(b: _Builder, room: _Room, r, wall, s0, s1, tod) -> None:
    inst = b.new_instance()
    y0, y1 = r.uniform(0.75, 1.0), min(room.H - 0.2, r.uniform(2.0, 2.4))
    t = 0.08
    frame = _hsv(r.random(), r.uniform(0, 0.15), r.uniform(0.85, 1.0)) if r.random() < 0.7 else \
        _hsv(r.uniform(0.05, 0.1), 0.6, 0.4)
    top, bottom = _SKY[tod]
    b.add(room.wall_rect(wall, s0 - t, s1 + t, y0 - t, y1 + t, 0.01), frame, WINDOW, inst)
    yh = y0 + (y1 - y0) * r.uniform(0.0, 0.45)  # horizon
    ym = (yh + y1) / 2
    b.glow(room.wall_rect(wall, s0, s1, ym, y1, 0.02), top, WINDOW, inst)
    b.glow(room.wall_rect(wall, s0, s1, yh, ym, 0.02), bottom, WINDOW, inst)
    if yh > y0 + 0.02:
        g = 0.25 if tod == "night" else 1.0
        ground = _hsv(r.uniform(0.2, 0.35), r.uniform(0.3, 0.6), r.uniform(0.3, 0.6) * g) if r.random() < 0.6 \
            else _hsv(0.6, 0.05, r.uniform(0.4, 0.7) * g)
        b.glow(room.wall_rect(wall, s0, s1, y0, yh, 0.02), ground, WINDOW, inst)
    sm = (s0 + s1) / 2
    b.add(room.wall_rect(wall, sm - t / 2, sm + t / 2, y0, y1, 0.03), frame, WINDOW, inst)
    if r.random() < 0.5:
        yc = (y0 + y1) / 2
        b.add(room.wall_rect(wall, s0, s1, yc - t / 2, yc + t / 2, 0.03), frame, WINDOW, inst)


def _door(b: _Builder, room: _Room, r, wall, s0, s1) -> None:
    inst = b.new_instance()
    h = r.uniform(1.95, 2.15)
    frame = _hsv(r.random(), r.uniform(0, 0.1), r.uniform(0.8, 1.0))
    panel = _hsv(r.uniform(0.05, 0.11), r.uniform(0.3, 0.7), r.uniform(0.3, 0.7)) if r.random() < 0.6 \
        else _hsv(r.random(), r.uniform(0, 0.2), r.uniform(0.75, 0.95))
    t = 0.07
    b.add(room.wall_rect(wall, s0 - t, s1 + t, 0, h + t, 0.01), frame, DOOR, inst)
    b.add(room.wall_rect(wall, s0, s1, 0, h, 0.02), panel, DOOR, inst, 0.9)
    hs = s1 - 0.15 if r.random() < 0.5 else s0 + 0.09
    b.add(room.wall_rect(wall, hs, hs + 0.06, 0.95, 1.05, 0.03), (200, 190, 120), DOOR, inst)


def _picture(b: _Builder, room: _Room, r, wall, s0, s1) -> None:
    inst = b.new_instance()
    h = (s1 - s0) * r.uniform(0.6, 1.2)
    y0 = r.uniform(1.35, 1.6)
    y1 = min(room.H - 0.2, y0 + h)
    t = 0.05
    b.add(room.wall_rect(wall, s0, s1, y0, y1, 0.01), _hsv(r.random(), 0.5, r.uniform(0.1, 0.6)), PICTURE, inst)
    canvas = _hsv(r.random(), r.uniform(0.2, 0.8), r.uniform(0.4, 1.0))
    b.add(room.wall_rect(wall, s0 + t, s1 - t, y0 + t, y1 - t, 0.02), canvas, PICTURE, inst)
    ym = y0 + t + (y1 - y0 - 2 * t) * r.uniform(0.3, 0.7)
    b.add(room.wall_rect(wall, s0 + t, s1 - t, y0 + t, ym, 0.03), _hsv(r.random(), 0.6, r.uniform(0.3, 0.9)),
          PICTURE, inst)


def _layout(r: random.Random, span: tuple, widths: list) -> list:
    """Random non-overlapping intervals of the given widths within span (shrunk to fit)."""
    a, b_ = span
    gap = 0.2
    need = sum(widths) + gap * (len(widths) - 1)
    k = min(1.0, (b_ - a) / need) if need > 0 else 1.0
    widths = [w * k for w in widths]
    slack = max(0.0, (b_ - a) - sum(widths) - gap * (len(widths) - 1))
    cuts = sorted(r.random() for _ in widths)
    out, pos, prev = [], a, 0.0
    for w, c in zip(widths, cuts):
        pos += (c - prev) * slack
        prev = c
        out.append((pos, pos + w))
        pos += w + gap
    return out


def _wall_items(b, room, r, tod) -> dict:
    """Windows, a door and a picture placed on the three walls; returns attributes."""
    n_win = r.choices(range(4), N_WINDOWS_P)[0]
    walls = {w: [] for w in ("back", "left", "right")}
    items = [("window", r.uniform(0.9, 1.6)) for _ in range(n_win)]
    if r.random() < 0.8:
        items.append(("door", r.uniform(0.8, 0.95)))
    if r.random() < 0.7:
        items.append(("picture", r.uniform(0.4, 0.9)))
    for kind, w in items:
        p = r.random()
        wall = "back" if p < (0.5 if kind == "window" else 0.4) else ("left" if p < 0.75 else "right")
        lo, hi = room.wall_span(wall)
        if hi - lo < w + 0.3:
            wall = "back"
        walls[wall].append((kind, w))
    attrs = {"n_windows": n_win, "window_walls": [], "has_door": False, "has_picture": False}
    for wall, its in walls.items():
        r.shuffle(its)
        for (kind, _), (s0, s1) in zip(its, _layout(r, room.wall_span(wall), [w for _, w in its])):
            if kind == "window":
                _window(b, room, r, wall, s0, s1, tod)
                attrs["window_walls"].append(wall)
            elif kind == "door":
                _door(b, room, r, wall, s0, s1)
                attrs["has_door"] = True
            else:
                _picture(b, room, r, wall, s0, s1)
                attrs["has_picture"] = True
    return attrs


def build_scene(r: random.Random) -> Scene:
    """Draw one random bedroom from ``r``. Returns a :class:`Scene` (quads, colours, classes)."""
    from .furniture import furnish

    room = _Room(r)
    tod = r.choices(TIMES, (0.55, 0.2, 0.25))[0]
    lamp_on = r.random() < (0.3 if tod == "day" else 0.8)
    light = _LIGHT[tod] * r.uniform(0.85, 1.1) + (0.25 if lamp_on and tod != "day" else 0.0)
    tint = (1.0, 0.95, 0.85) if lamp_on and tod != "day" else (1.0, 1.0, 1.0)
    b = _Builder(light, tint)
    _shell(b, room, r, "left" if r.random() < 0.5 else "right")
    attrs = {"time_of_day": tod, "lamp_on": lamp_on}
    furniture_quads = furnish(room, r, lamp_on)
    rug = [f for f in furniture_quads if f[2] == RUG]
    for q in rug:  # the rug lies on the floor, under everything else
        _emit(b, q)
    attrs.update(_wall_items(b, room, r, tod))
    for q in furniture_quads:
        if q[2] != RUG:
            _emit(b, q)
    attrs.update(furniture_attrs(furniture_quads))
    colors = np.clip(np.asarray(b.colors, np.float32), 0, 255).astype(np.uint8)
    cam = (room.cx, room.cy, room.f, room.u0, room.v0)
    return Scene(b.quads, cam, colors, np.asarray(b.classes, np.uint8), np.asarray(b.instances, np.int32), attrs)


_INST_BASE = 1000  # furniture instance ids are offset so they never meet wall-item ids


def _emit(b: _Builder, q) -> None:
    corners, color, cls, inst, shade, glowing = q
    if glowing:
        b.glow(corners, color, cls, _INST_BASE + inst)
    else:
        b.add(corners, color, cls, _INST_BASE + inst, shade)


def furniture_attrs(quads) -> dict:
    present = {q[2] for q in quads}
    return {"has_bed": BED in present, "has_rug": RUG in present, "has_nightstand": NIGHTSTAND in present,
            "has_lamp": LAMP in present}
