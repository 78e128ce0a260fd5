#!/usr/bin/env python3
"""Synthetic traffic-sign data: the project's sign sprites composited onto real photos.

Sprites (RGBA PNGs cropped to the sign, `--sprites DIR`, see SOURCES.md) are warped
in 3D (yaw/pitch/roll), put on a thin pole (signs, lights) or on the ground
(hydrants), composited over the plates backgrounds (training/plates/generate.py,
`backgrounds.json`: train split for training, holdout split for evaluation), among
hard negatives (other round/triangular signs, text panels, bare poles), then the
whole picture is degraded (light, colour cast, blur, noise, JPEG).

Everything is driven by numpy Generators with fixed seeds, so a given
(seed, split, count) always gives the same images and boxes.

    python generate.py crops   --sprites DIR --bg-dir BG --split train --n 12000 --out /tmp/x.npz
    python generate.py evalset --sprites DIR --bg-dir BG --split holdout --n 200 --out DIR2
"""
import argparse
import csv
import json
import math
import pathlib
import sys

import cv2
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "common"))
from camera import camera_blur, cast_shadow, noise_and_jpeg, turned_corners  # noqa: E402
from model import CLASSES, _load  # noqa: E402

pg = _load("generate")  # the plates generator: backgrounds, text negatives, helpers
load_backgrounds, iou, negative_patch = pg.load_backgrounds, pg.iou, pg.negative_patch

SPEEDS = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 90, 100, 110, 120, 130]
FILES = {"stop_sign": "stop_sign", "give_way": "give_way", "no_entry": "no_entry",
         "no_left_turn": "no_left_turn", "no_right_turn": "no_right_turn", "no_u_turn": "no_u_turn",
         "pedestrian_crossing": "pedestrian_crossing", "traffic_light": "traffic_light",
         "fire_hydrant": "fire_hydrant"}
CI = {c: i for i, c in enumerate(CLASSES)}
# horizontal flip: class it becomes (None = not flippable: text, digits, a walking person)
FLIP_TO = {"speed_limit": None, "stop_sign": None, "pedestrian_crossing": None,
           "give_way": "give_way", "no_entry": "no_entry", "no_u_turn": "no_u_turn",
           "no_left_turn": "no_right_turn", "no_right_turn": "no_left_turn",
           "traffic_light": "traffic_light", "fire_hydrant": "fire_hydrant"}
POLE_RGB = np.array([126, 128, 131], np.float32)  # the simulator's pole colour


class Sprite:
    def __init__(self, rgba):
        self.rgba = rgba.astype(np.float32)
        a = (rgba[..., 3] > 127).astype(np.uint8)
        cs, _ = cv2.findContours(a, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        pts = np.concatenate([c.reshape(-1, 2) for c in cs]).astype(np.float64) + 0.5
        self.outline = pts  # sprite-pixel points on the opaque outline (visible extent)


def load_sprites(folder):
    folder = pathlib.Path(folder)

    def rd(name):
        im = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert im is not None and im.ndim == 3 and im.shape[2] == 4, f"bad sprite {name}"
        rgba = cv2.cvtColor(im, cv2.COLOR_BGRA2RGBA)
        return Sprite(rgba)

    sp = {"speed_limit": [rd(f"speed_limit_{v}") for v in SPEEDS]}
    for c, f in FILES.items():
        sp[c] = [rd(f)]
    return sp


# ---------------------------------------------------------------- geometry and pasting

def homography(rng, w, h, long_px, cx, cy, yaw_deg, pitch_deg, roll_deg):
    """Homography taking a w x h sprite, turned by yaw/pitch/roll and seen through a
    pinhole camera, to a quad whose bounding box has long side long_px and centre (cx, cy)."""
    proj = turned_corners(rng, w, h, (yaw_deg, pitch_deg, roll_deg), max(w, h), (2.5, 10.0))
    ext = proj.max(0) - proj.min(0)
    proj = proj * (long_px / ext.max())
    proj -= (proj.max(0) + proj.min(0)) / 2
    quad = (proj + np.array([cx, cy])).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return cv2.getPerspectiveTransform(src, quad)


def warp_rgba(canvas, rgba, M, alpha=1.0):
    """Composite rgba (h, w, 4 float32) through homography M onto canvas (float32 RGB,
    in place). Shrinks with INTER_AREA first so small targets do not alias.
    Returns the homography actually used relative to the original sprite."""
    h, w = rgba.shape[:2]
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32), M)[0]
    ext = corners.max(0) - corners.min(0)
    k = max(ext[0] / w, ext[1] / h)
    src = rgba
    S = np.eye(3)
    if k < 0.7:  # pre-shrink (premultiplied, so edges do not darken)
        nw, nh = max(2, int(round(w * k * 1.3))), max(2, int(round(h * k * 1.3)))
        pm = rgba.copy()
        pm[..., :3] *= pm[..., 3:4] / 255.0
        src = cv2.resize(pm, (nw, nh), interpolation=cv2.INTER_AREA)
        S = np.diag([w / nw, h / nh, 1.0])
    else:
        src = rgba.copy()
        src[..., :3] *= src[..., 3:4] / 255.0
    H, W = canvas.shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M @ S
    warped = cv2.warpPerspective(src, T, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = warped[..., 3:4] / 255.0 * alpha
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - a) + warped[..., :3] * alpha


def extent(sprite, M):
    """Bounding box (x, y, w, h) of the sprite's opaque outline under M."""
    p = cv2.perspectiveTransform(sprite.outline[None].astype(np.float32), M)[0]
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def draw_pole(canvas, cx, top, bottom, width, rgb):
    """A vertical pole with anti-aliased, sub-pixel edges."""
    H, W = canvas.shape[:2]
    width = max(1.0, width)
    xa, xb = cx - width / 2, cx + width / 2
    c0, c1 = max(0, int(math.floor(xa))), min(W, int(math.ceil(xb)))
    r0, r1 = max(0, int(round(top))), min(H, int(round(bottom)))
    if c1 <= c0 or r1 <= r0:
        return
    cols = np.arange(c0, c1, dtype=np.float32)
    cov = np.clip(np.minimum(cols + 1, xb) - np.maximum(cols, xa), 0, 1)[None, :, None]
    shade = np.linspace(0.85, 1.1, c1 - c0, dtype=np.float32)[None, :, None]  # round-ish pole
    reg = canvas[r0:r1, c0:c1]
    reg[:] = reg * (1 - cov) + rgb * shade * cov


def pole_colour(rng):
    r = rng.random()
    if r < 0.6:
        return POLE_RGB * rng.uniform(0.75, 1.25)
    if r < 0.8:
        return rng.uniform(20, 70, 3).astype(np.float32)  # dark / black
    if r < 0.9:
        return np.array([40, 80, 50], np.float32) * rng.uniform(0.7, 1.3)  # green
    return rng.uniform(150, 210) * np.ones(3, np.float32)  # galvanised


# ---------------------------------------------------------------- hard negatives

_FONT = None


def _text(img, txt, cx, cy, hgt, colour, thick=None):
    """Centre txt on (cx, cy) with cv2's Hershey font, about hgt pixels tall."""
    font = cv2.FONT_HERSHEY_DUPLEX
    sc = hgt / 22.0
    th = thick or max(1, int(hgt / 7))
    (tw, tht), _ = cv2.getTextSize(txt, font, sc, th)
    cv2.putText(img, txt, (int(cx - tw / 2), int(cy + tht / 2)), font, sc, colour, th, cv2.LINE_AA)


def negative_sprite(rng):
    """An RGBA look-alike that is none of our classes (~200 px)."""
    S = 200
    im = np.zeros((S, S, 3), np.uint8)
    a = np.zeros((S, S), np.uint8)
    red = (int(rng.integers(170, 230)), int(rng.integers(0, 40)), int(rng.integers(20, 50)))
    blue = (int(rng.integers(0, 40)), int(rng.integers(60, 110)), int(rng.integers(150, 210)))
    white = (245, 245, 245)
    kind = rng.integers(10)
    c = (S // 2, S // 2)
    if kind == 0:  # red ring, white face, not-a-speed content (weight/height/letters/car)
        cv2.circle(a, c, 98, 255, -1, cv2.LINE_AA)
        cv2.circle(im, c, 98, red, -1, cv2.LINE_AA)
        cv2.circle(im, c, 78, white, -1, cv2.LINE_AA)
        t = rng.integers(4)
        if t == 0:
            _text(im, str(rng.choice(["3.5t", "7.5t", "12t", "2.5m", "3m", "2,2m", "10t"])), 100, 100, 44, (0, 0, 0))
        elif t == 1:
            cv2.rectangle(im, (55, 85), (95, 120), (0, 0, 0), -1)
            cv2.rectangle(im, (105, 85), (145, 120), (200, 0, 0), -1)
        elif t == 2:
            cv2.circle(im, (70, 120), 22, (0, 0, 0), 5)
            cv2.circle(im, (130, 120), 22, (0, 0, 0), 5)
            cv2.line(im, (70, 120), (100, 80), (0, 0, 0), 5)
            cv2.line(im, (100, 80), (130, 120), (0, 0, 0), 5)
        # t == 3: empty ring (closed to all vehicles)
    elif kind == 1:  # blue disc with a white arrow (mandatory direction)
        cv2.circle(a, c, 98, 255, -1, cv2.LINE_AA)
        cv2.circle(im, c, 98, blue, -1, cv2.LINE_AA)
        ang = rng.uniform(0, 2 * math.pi)
        p1 = (int(100 - 55 * math.cos(ang)), int(100 - 55 * math.sin(ang)))
        p2 = (int(100 + 55 * math.cos(ang)), int(100 + 55 * math.sin(ang)))
        cv2.arrowedLine(im, p1, p2, white, 16, cv2.LINE_AA, tipLength=0.4)
    elif kind == 2:  # no parking / no stopping: blue disc, red ring, slash or cross
        cv2.circle(a, c, 98, 255, -1, cv2.LINE_AA)
        cv2.circle(im, c, 98, red, -1, cv2.LINE_AA)
        cv2.circle(im, c, 80, blue, -1, cv2.LINE_AA)
        cv2.line(im, (45, 45), (155, 155), red, 20, cv2.LINE_AA)
        if rng.random() < 0.5:
            cv2.line(im, (155, 45), (45, 155), red, 20, cv2.LINE_AA)
    elif kind == 3:  # warning triangle, point up
        pts = np.array([[100, 8], [195, 180], [5, 180]], np.int32)
        cv2.fillConvexPoly(a, pts, 255, cv2.LINE_AA)
        cv2.fillConvexPoly(im, pts, red, cv2.LINE_AA)
        cv2.fillConvexPoly(im, np.array([[100, 45], [165, 163], [35, 163]], np.int32), white, cv2.LINE_AA)
        _text(im, str(rng.choice(["!", "?", "~", "x"])), 100, 125, 50, (0, 0, 0))
    elif kind == 4:  # blue or white rectangle panel with a letter / words
        pw = int(rng.integers(110, 200))
        x0 = (S - pw) // 2
        col = blue if rng.random() < 0.5 else (int(rng.integers(200, 255)),) * 3
        a[10:190, x0:x0 + pw] = 255
        im[10:190, x0:x0 + pw] = col
        _text(im, str(rng.choice(["P", "H", "i", "BUS", "50", "30", "ZONE", "A1", "km"])), 100, 100,
              70, white if col == blue else (0, 0, 0))
    elif kind == 5:  # plain coloured discs: orange, red, green, yellow (lamps, balls, logos)
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            col = red if rng.random() < 0.5 else (240, int(rng.integers(100, 180)), 0)
        cv2.circle(a, c, 98, 255, -1, cv2.LINE_AA)
        cv2.circle(im, c, 98, col, -1, cv2.LINE_AA)
        if rng.random() < 0.5:
            _text(im, str(rng.choice(["TAXI", "M", "U", "OK", "S"])), 100, 100, 50, white)
    elif kind == 6:  # yellow diamond (priority road) or orange diamond
        pts = np.array([[100, 5], [195, 100], [100, 195], [5, 100]], np.int32)
        cv2.fillConvexPoly(a, pts, 255, cv2.LINE_AA)
        cv2.fillConvexPoly(im, pts, white, cv2.LINE_AA)
        cv2.fillConvexPoly(im, (pts - 100) * 7 // 10 + 100, (240, 190, 0), cv2.LINE_AA)
    elif kind == 7:  # wheel / clock / round dark thing
        cv2.circle(a, c, 98, 255, -1, cv2.LINE_AA)
        cv2.circle(im, c, 98, (30, 30, 30), -1, cv2.LINE_AA)
        cv2.circle(im, c, int(rng.integers(30, 70)), tuple(int(v) for v in rng.integers(100, 230, 3)), -1,
                   cv2.LINE_AA)
    elif kind == 8:  # red-bordered white rectangle with text (a "no" notice, a shop sign)
        a[30:170, 5:195] = 255
        im[30:170, 5:195] = red
        im[42:158, 17:183] = white
        _text(im, str(rng.choice(["NO", "EXIT", "OPEN", "SALE", "STOP?", "60 min"])), 100, 100, 45,
              (0, 0, 0))
    else:  # dark box with a lit lamp or two (car lights, lit windows), not a 3-lamp head
        a[60:140, 20:180] = 255
        im[60:140, 20:180] = 25
        for x in rng.choice([50, 100, 150], int(rng.integers(1, 3)), replace=False):
            col = [(255, 40, 30), (255, 160, 0), (240, 240, 220)][rng.integers(3)]
            cv2.circle(im, (int(x), 100), 24, col, -1, cv2.LINE_AA)
    return Sprite(np.dstack([im, a]))


def text_sprite(rng):
    """Shop words, grilles, windows, numbered panels from the plates generator, opaque."""
    p = negative_patch(rng)
    return Sprite(np.dstack([p, np.full(p.shape[:2], 255, np.uint8)]))


# ---------------------------------------------------------------- composition

def sample_long(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def pick_class(rng, sprites):
    c = CLASSES[rng.integers(len(CLASSES))]
    return c, sprites[c][rng.integers(len(sprites[c]))]


def flipped(sprite, cls, rng):
    """Maybe mirror the sprite (only where the mirror image is a sign of a known class)."""
    to = FLIP_TO[cls]
    if to is None or rng.random() < 0.5:
        return sprite, cls
    s = Sprite(np.ascontiguousarray(sprite.rgba[:, ::-1]).astype(np.uint8))
    return s, to


def put_object(rng, canvas, sprite, cls, cx, cy, long_px, flat=False, pole=True, pole_rgb=None):
    """Warp one sprite into canvas (with its pole); returns its visible box."""
    h, w = sprite.rgba.shape[:2]
    if cls in ("traffic_light", "fire_hydrant"):
        ang = (5, 3, 3) if flat else (20, 8, 5)
    else:
        ang = (4, 3, 2) if flat else (30, 10, 6)
    M = homography(rng, w, h, long_px, cx, cy, *ang)
    box = extent(sprite, M)
    if pole and cls != "fire_hydrant":
        pw = box[2] * (0.07 / (0.35 if cls == "traffic_light" else 0.64)) * rng.uniform(0.7, 1.4)
        bottom = cy + box[3] * rng.uniform(1.5, 6.0)
        draw_pole(canvas, cx + rng.uniform(-0.03, 0.03) * box[2], cy, bottom, pw,
                  pole_rgb if pole_rgb is not None else pole_colour(rng))
    warp_rgba(canvas, sprite.rgba, M)
    return box


def occlude(rng, canvas, box):
    """Cover 10-30 % of the box from one side with a plain or textured occluder."""
    x, y, w, h = box
    H, W = canvas.shape[:2]
    f = rng.uniform(0.1, 0.3)
    side = rng.integers(4)
    if side == 0:
        x0, x1, y0, y1 = x, x + w * f, y, y + h
    elif side == 1:
        x0, x1, y0, y1 = x + w * (1 - f), x + w, y, y + h
    elif side == 2:
        x0, x1, y0, y1 = x, x + w, y + h * (1 - f), y + h
    else:
        x0, x1, y0, y1 = x, x + w, y, y + h * f
    x0, y0 = int(max(0, math.floor(x0))), int(max(0, math.floor(y0)))
    x1, y1 = int(min(W, math.ceil(x1))), int(min(H, math.ceil(y1)))
    if x1 <= x0 or y1 <= y0:
        return
    if rng.random() < 0.5:
        canvas[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
    else:  # foliage-ish texture
        g = rng.uniform(0, 1, (y1 - y0, x1 - x0, 1)).astype(np.float32)
        base = np.array([rng.uniform(20, 90), rng.uniform(50, 140), rng.uniform(10, 70)], np.float32)
        canvas[y0:y1, x0:x1] = base * (0.5 + g)


def clip_box(b, W, H):
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(W), b[0] + b[2]), min(float(H), b[1] + b[3])
    return [x0, y0, x1 - x0, y1 - y0]


def place_signs(rng, canvas, sprites, n, lo, hi, boxes, ignore, flat_p=0.3, occl_p=0.15):
    """n objects (sometimes two stacked on one pole); labels appended to boxes as
    [x, y, w, h, class]; boxes mostly outside the picture go to ignore."""
    H, W = canvas.shape[:2]
    placed = []
    k = 0
    while k < n:
        k += 1
        cls, sp = pick_class(rng, sprites)
        sp, cls = flipped(sp, cls, rng)
        L = sample_long(rng, lo, hi)
        h, w = sp.rgba.shape[:2]
        bw, bh = L * w / max(w, h), L * h / max(w, h)
        stack = cls not in ("traffic_light", "fire_hydrant") and k < n and rng.random() < 0.25
        tot_h = bh * (2.1 if stack else 1.0)
        for _try in range(15):
            cx = rng.uniform(-0.15 * bw, W + 0.15 * bw)
            cy = rng.uniform(-0.15 * bh, H - tot_h + 0.5 * bh) if H > tot_h else rng.uniform(0, H)
            cand = [cx - bw * 0.6, cy - bh * 0.6, bw * 1.2, tot_h + bh * 0.2]
            if all(iou(cand, b) == 0 for b in placed):
                break
        else:
            continue
        placed.append(cand)
        flat = rng.random() < flat_p
        prgb = pole_colour(rng)
        items = [(sp, cls, cy)]
        if stack:  # a second sign of another class right below, same pole
            k += 1
            c2, s2 = pick_class(rng, sprites)
            while c2 in ("traffic_light", "fire_hydrant"):
                c2, s2 = pick_class(rng, sprites)
            s2, c2 = flipped(s2, c2, rng)
            items.append((s2, c2, cy + bh * rng.uniform(1.02, 1.15)))
        for s, c, y in items:
            h2, w2 = s.rgba.shape[:2]
            L2 = L if s is sp else L * rng.uniform(0.8, 1.1)
            box = put_object(rng, canvas, s, c, cx, y, L2, flat=flat, pole=rng.random() < 0.9,
                             pole_rgb=prgb)
            if rng.random() < occl_p:
                occlude(rng, canvas, box)
            vis = clip_box(box, W, H)
            if vis[2] <= 0 or vis[3] <= 0:
                continue
            if vis[2] * vis[3] >= 0.6 * box[2] * box[3]:
                boxes.append(vis + [CI[c]])
            else:
                ignore.append(vis)


def add_negatives(rng, canvas, n, avoid, lo=8, hi=200):
    H, W = canvas.shape[:2]
    for _ in range(n):
        sp = negative_sprite(rng) if rng.random() < 0.65 else text_sprite(rng)
        L = sample_long(rng, lo, hi)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        h, w = sp.rgba.shape[:2]
        cand = [cx - L / 2, cy - L / 2, L, L]
        if any(iou(cand, a) > 0 for a in avoid):
            continue
        avoid.append(cand)
        put_object(rng, canvas, sp, "neg", cx, cy, L, pole=rng.random() < 0.5)
    if rng.random() < 0.3:  # bare poles
        for _ in range(rng.integers(1, 3)):
            x = rng.uniform(0, W)
            top = rng.uniform(0, H * 0.8)
            cand = [x - 3, top, 6, H - top]
            if any(iou(cand, a) > 0 for a in avoid):
                continue
            draw_pole(canvas, x, top, H, rng.uniform(1, 12), pole_colour(rng))


def person_sprite(rng):
    """A small standing figure (head, coat of any colour, often red, orange or yellow,
    trousers, arms), the look of a pedestrian 10-80 px tall: SignCheck's negatives
    for the people that dashcams see on every street."""
    H = 200
    W = int(H * rng.uniform(0.32, 0.45))
    im = np.zeros((H, W, 4), np.float32)
    cx = W / 2
    skin = np.array(rng.choice([[224, 184, 150], [190, 140, 100], [120, 80, 55], [60, 40, 30]]), np.float32)
    hair = np.array([30, 25, 20], np.float32) * rng.uniform(0.6, 2.5)
    if rng.random() < 0.55:  # the colours our signs are made of
        coat = np.array(rng.choice([[200, 30, 30], [230, 120, 20], [230, 200, 30], [240, 240, 240], [30, 60, 180]]),
                        np.float32) * rng.uniform(0.7, 1.15)
    else:
        coat = rng.uniform(20, 230, 3).astype(np.float32)
    legs = np.array(rng.choice([[40, 50, 90], [30, 30, 30], [90, 80, 70], [150, 150, 160]]), np.float32)

    def fill(draw, colour):
        m = np.zeros((H, W), np.uint8)
        draw(m)
        a = m.astype(np.float32)[..., None] / 255.0
        im[..., :3] = im[..., :3] * (1 - a) + colour * a
        im[..., 3:] = np.maximum(im[..., 3:], a * 255)

    head_r = H * rng.uniform(0.065, 0.08)
    top = H * 0.13 + head_r
    shoulder, hip = H * 0.22, H * rng.uniform(0.52, 0.6)
    tw = W * rng.uniform(0.55, 0.8)
    fill(lambda m: cv2.rectangle(m, (int(cx - tw * 0.22), int(hip)), (int(cx - 2), H - 1), 255, -1), legs)
    fill(lambda m: cv2.rectangle(m, (int(cx + 2), int(hip)), (int(cx + tw * 0.22), H - 1), 255, -1), legs)
    fill(lambda m: cv2.fillConvexPoly(m, np.array([[cx - tw / 2, shoulder], [cx + tw / 2, shoulder],
                                                   [cx + tw * 0.45, hip + H * 0.05], [cx - tw * 0.45, hip + H * 0.05]],
                                                  np.int32), 255, cv2.LINE_AA), coat)
    for sgn in (-1, 1):  # arms
        fill(lambda m, sgn=sgn: cv2.line(m, (int(cx + sgn * tw * 0.45), int(shoulder + 5)),
                                         (int(cx + sgn * tw * rng.uniform(0.45, 0.6)), int(hip)),
                                         255, max(3, int(W * 0.12)), cv2.LINE_AA), coat * 0.9)
    fill(lambda m: cv2.circle(m, (int(cx), int(top - head_r * 0.3)), int(head_r), 255, -1, cv2.LINE_AA), skin)
    fill(lambda m: cv2.ellipse(m, (int(cx), int(top - head_r * 0.8)), (int(head_r), int(head_r * 0.7)), 0, 180, 360,
                               255, -1, cv2.LINE_AA), hair)
    return Sprite(im.clip(0, 255).astype(np.uint8))


def add_people(rng, canvas, n, avoid, lo=10, hi=120):
    """n figures (person_sprite) at random places; returns their boxes."""
    H, W = canvas.shape[:2]
    boxes = []
    for _ in range(n):
        sp = person_sprite(rng)
        L = sample_long(rng, lo, hi)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        cand = [cx - L / 4, cy - L / 2, L / 2, L]
        if any(iou(cand, a) > 0 for a in avoid):
            continue
        avoid.append(cand)
        boxes.append(put_object(rng, canvas, sp, "fire_hydrant", cx, cy, L, pole=False))
    return boxes


def degrade(rng, img, strength=1.0, max_blur=9, jpeg=(40, 95)):
    """Camera effects on the whole picture (float32 RGB in, uint8 out): exposure,
    gamma, colour cast, night, cast shadow, motion blur or defocus, noise, JPEG."""
    img = img.copy()
    if rng.random() < 0.2 * strength:  # night-ish
        img *= rng.uniform(0.2, 0.5)
        img += rng.normal(0, rng.uniform(2, 7), img.shape)
    else:
        img = img * rng.uniform(0.65, 1.25) + rng.uniform(-30, 30)  # contrast, exposure drift
        if rng.random() < 0.3:
            img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.5:  # colour cast (white balance)
        img *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    if rng.random() < 0.2 * strength:  # cast shadow: darken one half-plane
        cast_shadow(rng, img, 0.45)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img = camera_blur(rng, img, 0.3 * strength, 0.55 * strength, max_blur, 1.6)
    return noise_and_jpeg(rng, img, jpeg[0], jpeg[1] + 1)


def make_crop(rng, bgs, sprites, size=256, lo=7, hi=220):
    """A training crop: size x size uint8 RGB, [x, y, w, h, cls] boxes, ignore boxes."""
    bg = bgs[rng.integers(len(bgs))]
    img = bg["img"]
    h, w = img.shape[:2]
    s = float(math.exp(rng.uniform(math.log(0.3), math.log(1.6))))
    s = max(s, size / min(h, w) * 1.0001)
    sw, sh = int(round(w * s)), int(round(h * s))
    x0, y0 = int(rng.uniform(0, sw - size)), int(rng.uniform(0, sh - size))
    M = np.array([[s, 0, -x0], [0, s, -y0]], np.float64)
    crop = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    flip = rng.random() < 0.5
    if flip:
        crop = crop[:, ::-1].copy()
    canvas = crop.astype(np.float32)

    def tr(b):
        bx, by, bw, bh = b[0] * s - x0, b[1] * s - y0, b[2] * s, b[3] * s
        if flip:
            bx = size - bx - bw
        return [bx, by, bw, bh]

    ignore = [tr(r) for r in bg.get("real_signs", [])]
    boxes = []
    n = int(rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5]))
    if rng.random() < 0.4:
        add_negatives(rng, canvas, int(rng.integers(1, 4)), list(ignore))
    place_signs(rng, canvas, sprites, n, lo, hi, boxes, ignore)
    out = degrade(rng, canvas)
    return out, boxes, ignore


def make_full(rng, bg, sprites, n, W, H, lo=8, hi=300, negatives=True, people=0):
    """A whole frame (for evaluation): the background scaled to cover W x H, objects
    mostly flat and facing the camera (as the simulator draws them), JPEG ~88.
    `people` > 0 also draws up to that many figures (add_people); their boxes are
    returned as a fourth value then."""
    img = bg["img"]
    h, w = img.shape[:2]
    s = max(W / w, H / h) * rng.uniform(1.0, 1.4)
    x0, y0 = rng.uniform(0, w * s - W), rng.uniform(0, h * s - H)
    M = np.array([[s, 0, -x0], [0, s, -y0]], np.float64)
    canvas = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    canvas = canvas.astype(np.float32)
    ignore = [[r[0] * s - x0, r[1] * s - y0, r[2] * s, r[3] * s] for r in bg.get("real_signs", [])]
    boxes = []
    if negatives and rng.random() < 0.5:
        add_negatives(rng, canvas, int(rng.integers(1, 5)), list(ignore), 8, 200)
    place_signs(rng, canvas, sprites, n, lo, hi, boxes, ignore, flat_p=0.6, occl_p=0.05)
    figures = add_people(rng, canvas, int(rng.integers(0, people + 1)), boxes + ignore) if people else []
    out = degrade(rng, canvas, strength=0.6, max_blur=7, jpeg=(80, 95))
    return (out, boxes, ignore, figures) if people else (out, boxes, ignore)


# ---------------------------------------------------------------- CLI

def backgrounds(bg_dir, split):
    bgs = load_backgrounds(bg_dir, split)
    for b in bgs:
        b["real_signs"] = [list(r) for r in REAL_SIGNS.get(b["name"], [])]
    return bgs


# Real traffic signs of our classes visible in background photos (x, y, w, h in the
# original image): ignore regions, never negatives nor false positives. Hand-checked.
# scenetext06 (held out) has a real no-entry sign on a pole, seen at an angle.
REAL_SIGNS = {"ocv:text/scenetext06.jpg": [(82, 321, 26, 42)]}


def cmd_crops(a):
    rng = np.random.default_rng([a.seed, 0 if a.split == "train" else 1])
    bgs = backgrounds(a.bg_dir, a.split)
    sprites = load_sprites(a.sprites)
    imgs = np.empty((a.n, a.size, a.size, 3), np.uint8)
    boxes, ignores = [], []
    for i in range(a.n):
        im, b, ig = make_crop(rng, bgs, sprites, a.size)
        imgs[i] = im
        boxes.append(b)
        ignores.append(ig)
        if i % 1000 == 0:
            print(f"{i}/{a.n}", file=sys.stderr, flush=True)
    np.savez(a.out, images=imgs, boxes=np.array(json.dumps(boxes)), ignore=np.array(json.dumps(ignores)))


def cmd_evalset(a):
    rng = np.random.default_rng([a.seed, 2 if a.split == "train" else 3])
    bgs = backgrounds(a.bg_dir, a.split)
    sprites = load_sprites(a.sprites)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "boxes.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "x", "y", "w", "h", "class", "ignore"])
        for i in range(a.n):
            bg = bgs[i % len(bgs)]
            W, H = (1280, 720) if i % 2 == 0 else (1920, 1080)
            im, boxes, ignore = make_full(rng, bg, sprites, int(rng.integers(2, 9)), W, H)
            name = f"{i:04d}.jpg"
            cv2.imwrite(str(out / name), cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 97])
            for b in boxes:
                wr.writerow([name] + [round(v, 2) for v in b[:4]] + [CLASSES[b[4]], 0])
            for b in ignore:
                wr.writerow([name] + [round(v, 2) for v in b[:4]] + ["", 1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("crops", "evalset"):
        s = sub.add_parser(name)
        s.add_argument("--sprites", required=True, help="folder of the sign sprites (RGBA PNGs)")
        s.add_argument("--bg-dir", required=True, help="plates backgrounds (backgrounds.json)")
        s.add_argument("--out", required=True)
        s.add_argument("--seed", type=int, default=20261201)
        s.add_argument("--split", choices=["train", "holdout"], required=True)
        s.add_argument("--n", type=int, required=True)
        if name == "crops":
            s.add_argument("--size", type=int, default=256)
    a = p.parse_args()
    if a.cmd == "crops":
        cmd_crops(a)
    else:
        cmd_evalset(a)


if __name__ == "__main__":
    main()
