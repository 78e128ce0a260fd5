#!/usr/bin/env python3
"""Synthetic licence-plate data: rendered plates composited onto real photos.

Plates are drawn from scratch (formats, fonts, random characters), warped in 3D
(yaw/pitch/roll), placed on vehicles found by the committed COCO-SSD model or at
random positions, then the whole picture is degraded (blur, noise, light, JPEG).
Backgrounds are real photos from Debian `opencv-doc` and the project's testdata
(see SOURCES.md); each belongs to the train or the held-out split.

Everything is driven by a numpy Generator with a fixed seed, so a given
(seed, split, count) always gives the same images and boxes.

    python generate.py backgrounds --bg-dir DIR        # prepare backgrounds + vehicle boxes
    python generate.py crops --bg-dir DIR --split train --n 12000 --out /tmp/x.npz
    python generate.py evalset --bg-dir DIR --split holdout --n 300 --out DIR2
    python generate.py testdata --bg-dir DIR --out testdata/plates/rendered
"""
import argparse
import csv
import io
import json
import math
import pathlib
import string
import sys

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
FONTS = sorted((HERE / "fonts").glob("*.ttf"))
sys.path.insert(0, str(HERE.parent / "common"))
from camera import camera_blur, cast_shadow, noise_and_jpeg, turned_corners  # noqa: E402

# Backgrounds: (name, source) where source is "repo:PATH" (in this repository) or
# "ocv:PATH" (inside Debian opencv-doc 4.6.0+dfsg-12, usr/share/doc/opencv-doc/examples/).
# "video:PATH:FRAME" is one frame of a video from opencv-doc.
TRAIN_BG = [
    "repo:testdata/street/leuvenA.jpg",
    "repo:testdata/street/opencv_scenetext01.jpg",
    "ocv:text/scenetext03.jpg",
    "ocv:text/scenetext04.jpg",
    "ocv:data/building.jpg",
    "ocv:data/home.jpg",
    "ocv:data/graf1.png",
    "ocv:data/aero1.jpg",
    "ocv:data/board.jpg",
    "ocv:data/stuff.jpg",
    "ocv:data/fruits.jpg",
    "ocv:data/baboon.jpg",
    "ocv:data/box_in_scene.png",
    "ocv:data/ela_original.jpg",
    "ocv:data/aloeL.jpg",
    "ocv:data/basketball1.png",
    "ocv:data/rubberwhale1.png",
    "ocv:data/messi5.jpg",
    "ocv:data/squirrel_cls.jpg",
    "ocv:data/sudoku.png",
    "ocv:data/imageTextR.png",
    "ocv:data/text_defocus.jpg",
    "ocv:hfs/data/000.jpg",
    "ocv:alphamat/input_images/plant.jpg",
    "ocv:text/scenetext_segmented_word01.jpg",
    "ocv:text/scenetext_segmented_word03.jpg",
    "repo:testdata/faces/2007_007763.jpg",
    "repo:testdata/faces/2008_001009.jpg",
    "repo:testdata/faces/2008_001322.jpg",
    "repo:testdata/faces/2008_002079.jpg",
    "repo:testdata/faces/2008_002470.jpg",
]
HOLDOUT_BG = [
    "repo:testdata/street/leuvenB.jpg",
    "repo:testdata/street/opencv_scenetext02.jpg",
    "repo:testdata/street/opencv_scenetext05.jpg",
    "ocv:text/scenetext06.jpg",
    "ocv:data/aero3.jpg",
    "ocv:data/graf3.png",
    "ocv:data/ela_modified.jpg",
    "ocv:data/orange.jpg",
    "ocv:text/scenetext_segmented_word02.jpg",
    "ocv:text/scenetext_segmented_word04.jpg",
    "repo:testdata/faces/2008_002506.jpg",
    "repo:testdata/faces/2008_004176.jpg",
    "repo:testdata/faces/2008_007676.jpg",
    "repo:testdata/faces/2009_004587.jpg",
    "video:data/vtest.avi:0",
    "video:data/vtest.avi:300",
    "video:data/vtest.avi:600",
]
# Real plates visible in background photos: never a negative, never counted as a
# false positive (x, y, w, h in the original image). Labelled by hand.
REAL_PLATES = {
    "ocv:text/scenetext06.jpg": [(86, 464, 10, 8)],
    "video:data/vtest.avi:0": [(658, 81, 12, 4), (744, 75, 15, 4)],
    "video:data/vtest.avi:300": [(658, 81, 12, 4), (744, 75, 15, 4)],
    "video:data/vtest.avi:600": [(658, 81, 12, 4), (744, 75, 15, 4)],
}
VEHICLE_CLASSES = {3: "car", 4: "motorcycle", 6: "bus", 8: "truck"}


def bg_file_name(src):
    name = src.replace(":", "_").replace("/", "_")
    return name.replace(".", "_") + ".png" if src.startswith("video:") else name


def prepare_backgrounds(bg_dir, ocv_root):
    """Copy every background into bg_dir and find vehicles in it with COCO-SSD."""
    import onnxruntime as ort
    bg_dir = pathlib.Path(bg_dir)
    bg_dir.mkdir(parents=True, exist_ok=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(REPO / "models/coco_ssd_mobilenet_v2.onnx"), opts,
                                providers=["CPUExecutionProvider"])
    meta = {}
    for src in TRAIN_BG + HOLDOUT_BG:
        kind, rest = src.split(":", 1)
        if kind == "repo":
            img = cv2.imread(str(REPO / rest))
        elif kind == "ocv":
            img = cv2.imread(str(pathlib.Path(ocv_root) / rest))
        else:
            path, frame = rest.rsplit(":", 1)
            cap = cv2.VideoCapture(str(pathlib.Path(ocv_root) / path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame))
            ok, img = cap.read()
            assert ok, src
        assert img is not None, f"cannot read background {src}"
        cv2.imwrite(str(bg_dir / bg_file_name(src)), img)
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        scores, boxes = sess.run(None, {"image_tensor:0": rgb[None]})
        vehicles = []
        for i in range(scores.shape[1]):
            for cls in VEHICLE_CLASSES:
                s = float(scores[0, i, cls - 1])
                if s > 0.35:
                    y0, x0, y1, x1 = boxes[0, i, 0]
                    vehicles.append([float(x0 * w), float(y0 * h), float((x1 - x0) * w),
                                     float((y1 - y0) * h), s])
        vehicles = nms_list(vehicles, 0.5)
        meta[src] = {"file": bg_file_name(src), "vehicles": vehicles,
                     "real_plates": REAL_PLATES.get(src, [])}
        print(f"{src}: {w}x{h}, {len(vehicles)} vehicles", file=sys.stderr)
    (bg_dir / "backgrounds.json").write_text(json.dumps(meta, indent=1))


def nms_list(boxes, thr):
    boxes = sorted(boxes, key=lambda b: -b[4])
    keep = []
    for b in boxes:
        if all(iou(b, k) < thr for k in keep):
            keep.append(b)
    return keep


def iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def load_backgrounds(bg_dir, split):
    bg_dir = pathlib.Path(bg_dir)
    meta = json.loads((bg_dir / "backgrounds.json").read_text())
    out = []
    for src in (TRAIN_BG if split == "train" else HOLDOUT_BG):
        m = meta[src]
        img = cv2.cvtColor(cv2.imread(str(bg_dir / m["file"])), cv2.COLOR_BGR2RGB)
        out.append({"name": src, "img": img, "vehicles": m["vehicles"],
                    "real": [tuple(r) for r in m["real_plates"]]})
    return out


# ---------------------------------------------------------------- plate rendering

_font_cache = {}


def font(path, size):
    key = (str(path), size)
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(str(path), size)
    return _font_cache[key]


L = string.ascii_uppercase
D = string.digits


def rand_chars(rng, pattern):
    return "".join(rng.choice(list(L)) if c == "A" else rng.choice(list(D)) if c == "9"
                   else rng.choice(list(L + D)) if c == "X" else c for c in pattern)


# (name, width mm, height mm, weight)
FORMATS = [("eu", 520, 110, 3.0), ("uk_rear", 520, 111, 1.5), ("uk_front", 520, 111, 0.7),
           ("us", 305, 152, 2.5), ("nordic", 442, 118, 1.5), ("square", 280, 200, 1.2),
           ("asia", 330, 165, 1.2), ("dark", 520, 110, 0.5)]
EU_PATTERNS = ["AA-999-AA", "AAA 999", "AA 9999", "A 999 AA", "AA-AA 999", "AAA-999", "999-AAA",
               "AA 99 AAA", "A-AA 9999", "99-AAA-9", "AAA 99A"]
US_STATES = ["CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OREGON", "OHIO", "NEVADA",
             "ILLINOIS", "ARIZONA", "MAINE", "UTAH", "GEORGIA", "VERMONT", "IOWA"]


def fit_text(draw, text, fpath, box_w, box_h):
    size = max(6, int(box_h))
    f = font(fpath, size)
    l, t, r, b = draw.textbbox((0, 0), text, font=f)
    scale = min(box_w / max(1, r - l), box_h / max(1, b - t))
    size = max(6, int(size * scale))
    f = font(fpath, size)
    return f


def draw_text_centered(draw, text, fpath, cx, cy, box_w, box_h, fill, stretch=False):
    f = fit_text(draw, text, fpath, box_w, box_h)
    l, t, r, b = draw.textbbox((0, 0), text, font=f)
    draw.text((cx - (l + r) / 2, cy - (t + b) / 2), text, font=f, fill=fill)


def render_plate(rng):
    """One plate as an RGB image (about 60-140 px tall) plus its format name."""
    names = [f[0] for f in FORMATS]
    wts = np.array([f[3] for f in FORMATS])
    fi = rng.choice(len(FORMATS), p=wts / wts.sum())
    name, wmm, hmm, _ = FORMATS[fi]
    px_per_mm = rng.uniform(0.4, 0.9) if name not in ("square", "asia") else rng.uniform(0.5, 1.0)
    W, H = int(wmm * px_per_mm), int(hmm * px_per_mm)
    fpath = FONTS[rng.integers(len(FONTS))]
    white = tuple(int(v) for v in rng.integers(225, 256, 3))
    yellow = (int(rng.integers(225, 256)), int(rng.integers(190, 225)), int(rng.integers(0, 60)))
    black = tuple(int(v) for v in rng.integers(0, 40, 3))
    bg, fg = white, black
    if name == "uk_rear":
        bg = yellow
    elif name == "dark":
        bg, fg = black, white
    elif name == "asia" and rng.random() < 0.4:
        bg, fg = yellow, black
    elif name == "asia" and rng.random() < 0.3:
        bg, fg = white, (0, int(rng.integers(80, 130)), 40)
    elif name == "us" and rng.random() < 0.35:
        bg = tuple(int(v) for v in rng.integers(150, 256, 3))
    im = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(im)
    x0 = 0
    if name in ("eu", "nordic") or (name == "uk_rear" and rng.random() < 0.5) or \
            (name == "uk_front" and rng.random() < 0.5):
        sw = int(W * rng.uniform(0.08, 0.11))
        blue = (0, int(rng.integers(40, 80)), int(rng.integers(140, 200)))
        d.rectangle([0, 0, sw, H], fill=blue)
        # ring of stars and country code
        cx, cy, r = sw / 2, H * 0.32, min(sw, H) * 0.25
        for k in range(12):
            a = 2 * math.pi * k / 12
            px, py = cx + r * math.cos(a), cy + r * math.sin(a)
            d.ellipse([px - 1.2, py - 1.2, px + 1.2, py + 1.2], fill=(255, 215, 0))
        draw_text_centered(d, rand_chars(rng, rng.choice(["A", "AA", "AAA"])), FONTS[0],
                           cx, H * 0.75, sw * 0.8, H * 0.3, (255, 255, 255))
        x0 = sw
    if name == "us":
        state = US_STATES[rng.integers(len(US_STATES))]
        col = tuple(int(v) for v in rng.integers(0, 160, 3))
        draw_text_centered(d, state, FONTS[rng.integers(len(FONTS))], W / 2, H * 0.14,
                           W * 0.7, H * 0.16, col)
        text = rand_chars(rng, rng.choice(["9AAA999", "AAA 9999", "999 AAA", "9AA A99", "AAA-999"]))
        fg = tuple(int(v) for v in rng.integers(0, 120, 3)) if rng.random() < 0.5 else fg
        draw_text_centered(d, text, fpath, W / 2, H * 0.55, W * 0.86, H * 0.52, fg)
        if rng.random() < 0.5:
            draw_text_centered(d, rng.choice(["DMV.CA.GOV", "SUNSHINE STATE", "THE LONE STAR STATE",
                                              "LAND OF LINCOLN", "WILD WEST"]),
                               FONTS[0], W / 2, H * 0.9, W * 0.6, H * 0.1, col)
    elif name in ("square", "asia"):
        top = rand_chars(rng, rng.choice(["AA 99", "AAA", "99 A", "A 999", "AA"]))
        bot = rand_chars(rng, rng.choice(["9999", "99-99", "999", "A 9999", "99 AA"]))
        draw_text_centered(d, top, fpath, W / 2, H * 0.3, W * 0.7, H * 0.32, fg)
        draw_text_centered(d, bot, fpath, W / 2, H * 0.72, W * 0.88, H * 0.42, fg)
    else:
        pat = EU_PATTERNS[rng.integers(len(EU_PATTERNS))] if name != "uk_rear" and name != "uk_front" \
            else rng.choice(["AA99 AAA", "A999 AAA", "AA99AAA"])
        text = rand_chars(rng, pat)
        draw_text_centered(d, text, fpath, (x0 + W) / 2, H / 2, (W - x0) * 0.9, H * 0.72, fg)
    # border
    if rng.random() < 0.6:
        t = max(1, int(H * rng.uniform(0.02, 0.05)))
        d.rectangle([t, t, W - 1 - t, H - 1 - t], outline=fg, width=t)
    arr = np.asarray(im).astype(np.float32)
    # dirt and wear
    if rng.random() < 0.5:
        for _ in range(rng.integers(1, 8)):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            r = rng.uniform(0.03, 0.25) * H
            yy, xx = np.mgrid[0:H, 0:W]
            m = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))
            arr *= (1 - rng.uniform(0.1, 0.6) * m)[..., None]
    if rng.random() < 0.3:  # faded / dusty
        arr = arr * rng.uniform(0.6, 0.9) + rng.uniform(10, 60)
    # mounting: plastic frame around the plate, sometimes with a dealer text
    if rng.random() < 0.35:
        fw = int(H * rng.uniform(0.05, 0.15)) + 1
        col = rng.integers(0, 60) if rng.random() < 0.7 else rng.integers(150, 255)
        fr = np.full((H + 2 * fw, W + 2 * fw, 3), col, np.float32)
        fr[fw:fw + H, fw:fw + W] = arr
        arr = fr
    return np.clip(arr, 0, 255).astype(np.uint8), name


def negative_patch(rng):
    """Plate-sized clutter that is not a plate: shop text, grilles, windows, sign panels."""
    kind = rng.integers(4)
    H = int(rng.integers(30, 90))
    if kind == 0:  # words in mixed case
        words = ["Bakery", "open", "Pharmacy", "EXIT", "Parking", "cafe", "Hotel", "sale",
                 "Street", "STOP", "Bus only", "Taxi", "No entry", "Centre", "Market", "Shop"]
        text = " ".join(rng.choice(words, size=rng.integers(1, 3)))
        W = int(H * rng.uniform(2, 7))
        bg = tuple(int(v) for v in rng.integers(0, 256, 3))
        fg = tuple(int(v) for v in rng.integers(0, 256, 3))
        im = Image.new("RGB", (W, H), bg)
        d = ImageDraw.Draw(im)
        draw_text_centered(d, text, FONTS[rng.integers(len(FONTS))], W / 2, H / 2, W * 0.9,
                           H * 0.6, fg)
        return np.asarray(im)
    if kind == 1:  # grille: horizontal or vertical bars
        W = int(H * rng.uniform(2, 6))
        a = np.full((H, W, 3), rng.integers(0, 80), np.uint8)
        step = int(rng.integers(3, 10))
        c = int(rng.integers(120, 255))
        if rng.random() < 0.5:
            a[::step] = c
        else:
            a[:, ::step] = c
        return a
    if kind == 2:  # window grid
        W = int(H * rng.uniform(1, 3))
        a = np.full((H, W, 3), rng.integers(100, 255), np.uint8)
        n = int(rng.integers(2, 5))
        for i in range(n):
            for j in range(n):
                y0, x0 = int(H * (i + 0.15) / n), int(W * (j + 0.15) / n)
                a[y0:y0 + int(H * 0.7 / n), x0:x0 + int(W * 0.7 / n)] = rng.integers(0, 90)
        return a
    # sign panel with one big number or symbol text (speed limit, street number)
    W = int(H * rng.uniform(0.8, 1.6))
    bg = (255, 255, 255) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(0, 256, 3))
    im = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(im)
    d.rectangle([2, 2, W - 3, H - 3], outline=(200, 0, 0) if rng.random() < 0.5 else (0, 0, 0),
                width=max(2, H // 12))
    draw_text_centered(d, str(rng.choice([30, 40, 50, 60, 80, 12, 7, 101])),
                       FONTS[rng.integers(len(FONTS))], W / 2, H / 2, W * 0.7, H * 0.6, (0, 0, 0))
    return np.asarray(im)


# ---------------------------------------------------------------- geometry

def perspective_quad(rng, w, h, out_w, cx, cy):
    """Project a w x h rectangle turned by yaw/pitch/roll; scale so the projected
    bounding box is out_w wide and centred on (cx, cy). Returns 4x2 corners."""
    proj = turned_corners(rng, w, h, (25, 12, 8), w, (2.5, 8.0))
    bw = proj[:, 0].max() - proj[:, 0].min()
    proj = proj * (out_w / bw)
    proj -= (proj.max(0) + proj.min(0)) / 2
    return (proj + np.array([cx, cy])).astype(np.float32)


def paste(canvas, patch, quad, alpha=1.0):
    """Warp patch (h, w, 3 uint8) onto the quad in canvas (float32, in place)."""
    h, w = patch.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    M = cv2.getPerspectiveTransform(src, quad)
    H, W = canvas.shape[:2]
    x0, y0 = np.floor(quad.min(0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
    # supersample small targets so the warp does not alias (the camera would blur too)
    warped = cv2.warpPerspective(patch, T, (x1 - x0, y1 - y0), flags=cv2.INTER_AREA
                                 if w > (x1 - x0) * 2 else cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), T, (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR)
    if (x1 - x0) * 2 < w:  # shrink a lot: pre-blur the patch to avoid aliasing
        k = w / max(1, (x1 - x0))
        pb = cv2.GaussianBlur(patch, (0, 0), 0.4 * k)
        warped = cv2.warpPerspective(pb, T, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    m = (mask * alpha)[..., None]
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - m) + warped.astype(np.float32) * m


def box_of(quad):
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


# ---------------------------------------------------------------- composition

def sample_width(rng, lo=12, hi=160):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def add_plate(rng, canvas, cx, cy, width, boxes):
    plate, name = render_plate(rng)
    ph, pw = plate.shape[:2]
    # car body around the plate (a bumper of some paint colour), sometimes
    if rng.random() < 0.5:
        mw, mh = int(pw * rng.uniform(0.2, 0.8)), int(ph * rng.uniform(0.3, 1.5))
        paint = rng.integers(0, 256, 3).astype(np.float32)
        body = np.empty((ph + 2 * mh, pw + 2 * mw, 3), np.float32)
        grad = np.linspace(rng.uniform(0.6, 1.2), rng.uniform(0.6, 1.2), body.shape[0])[:, None, None]
        body[:] = paint * grad
        if rng.random() < 0.5:  # tail lights / a lid edge
            lc = np.array([200, 20, 20], np.float32) if rng.random() < 0.7 else paint * 0.3
            ly = int(rng.uniform(0, mh))
            body[ly:ly + max(2, mh // 2), :max(2, mw // 2)] = lc
            body[ly:ly + max(2, mh // 2), -max(2, mw // 2):] = lc
        body[mh:mh + ph, mw:mw + pw] = plate
        full = np.clip(body, 0, 255).astype(np.uint8)
        frac_w = pw / full.shape[1]
        quad_full = perspective_quad(rng, full.shape[1], full.shape[0], width / frac_w, cx, cy)
        # plate corners inside the full patch via the same homography
        src = np.array([[0, 0], [full.shape[1], 0], [full.shape[1], full.shape[0]],
                        [0, full.shape[0]]], np.float32)
        M = cv2.getPerspectiveTransform(src, quad_full)
        pc = np.array([[mw, mh, 1], [mw + pw, mh, 1], [mw + pw, mh + ph, 1], [mw, mh + ph, 1]],
                      np.float64) @ M.T
        quad = (pc[:, :2] / pc[:, 2:3]).astype(np.float32)
        paste(canvas, full, quad_full, alpha=rng.uniform(0.85, 1.0))
    else:
        quad = perspective_quad(rng, pw, ph, width, cx, cy)
        paste(canvas, plate, quad)
    # plate-local lighting: shadow or glare
    b = box_of(quad)
    x0, y0 = int(max(0, b[0])), int(max(0, b[1]))
    x1, y1 = int(min(canvas.shape[1], b[0] + b[2])), int(min(canvas.shape[0], b[1] + b[3]))
    if x1 > x0 and y1 > y0 and rng.random() < 0.3:
        canvas[y0:y1, x0:x1] *= rng.uniform(0.4, 1.3)
    # partial occlusion (a pole, a tow bar, another car): at most ~30 % of the box
    if x1 > x0 and y1 > y0 and rng.random() < 0.15:
        ow = int((x1 - x0) * rng.uniform(0.08, 0.3))
        ox = int(rng.uniform(x0, max(x0 + 1, x1 - ow)))
        canvas[y0:y1 + 2, ox:ox + ow] = rng.integers(0, 256, 3)
    # the label is the visible part of the plate's bounding box
    bx0, by0 = max(0.0, b[0]), max(0.0, b[1])
    bx1 = min(float(canvas.shape[1]), b[0] + b[2])
    by1 = min(float(canvas.shape[0]), b[1] + b[3])
    b = [bx0, by0, bx1 - bx0, by1 - by0]
    boxes.append(b)
    return b


def degrade(rng, img, strength=1.0, max_blur=11):
    """Camera effects on the whole picture (float32 RGB in, uint8 out)."""
    img = img.copy()
    if rng.random() < 0.3 * strength:  # night
        img *= rng.uniform(0.15, 0.45)
        img += rng.normal(0, rng.uniform(2, 8), img.shape)
    else:
        img = img * rng.uniform(0.6, 1.25) + rng.uniform(-25, 25)
        if rng.random() < 0.3:
            g = rng.uniform(0.7, 1.4)
            img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** g
    if rng.random() < 0.25 * strength:  # cast shadow: darken one half-plane
        cast_shadow(rng, img, 0.4)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img = camera_blur(rng, img, 0.35 * strength, 0.6 * strength, max_blur, 2.0)
    return noise_and_jpeg(rng, img, 25, 95)


def place_plates(rng, canvas, vehicles, n, wlo, whi, boxes, avoid=(), margin=4):
    """Put n plates on canvas: on vehicles (lower-middle band) when there are any,
    otherwise anywhere; avoid overlapping earlier boxes."""
    H, W = canvas.shape[:2]
    for _ in range(n):
        for _try in range(20):
            width = sample_width(rng, wlo, whi)
            if vehicles and rng.random() < 0.6:
                v = vehicles[rng.integers(len(vehicles))]
                cx = v[0] + v[2] * rng.uniform(0.35, 0.65)
                cy = v[1] + v[3] * rng.uniform(0.55, 0.85)
                width = min(width, max(12.0, v[2] * rng.uniform(0.15, 0.4)))
            else:
                cx = rng.uniform(width / 2 + margin, W - width / 2 - margin)
                cy = rng.uniform(width / 4 + margin, H - width / 4 - margin)
            cand = [cx - width / 2, cy - width / 3, width, width * 2 / 3]
            if all(iou(cand, b) == 0 for b in list(boxes) + list(avoid)) \
                    and width / 2 < cx < W - width / 2:
                add_plate(rng, canvas, cx, cy, width, boxes)
                break


def add_negatives(rng, canvas, n, avoid):
    H, W = canvas.shape[:2]
    for _ in range(n):
        patch = negative_patch(rng)
        width = sample_width(rng, 16, 200)
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        quad = perspective_quad(rng, patch.shape[1], patch.shape[0], width, cx, cy)
        b = box_of(quad)
        if any(iou(b, a) > 0 or iou(a, b) > 0 for a in avoid):
            continue
        paste(canvas, patch, quad)


def make_crop(rng, bgs, size, max_blur=11):
    """A training crop: size x size uint8 RGB, plate boxes, ignore boxes."""
    bg = bgs[rng.integers(len(bgs))]
    img = bg["img"]
    h, w = img.shape[:2]
    veh = bg["vehicles"]
    if veh and rng.random() < 0.5:
        v = veh[rng.integers(len(veh))]
        width = sample_width(rng)
        s = width / (v[2] * rng.uniform(0.18, 0.35))
        s = float(np.clip(s, 0.25, 4.0))
        fx = (v[0] + v[2] / 2) * s + rng.uniform(-size / 3, size / 3)
        fy = (v[1] + v[3] * 0.7) * s + rng.uniform(-size / 3, size / 3)
    else:
        s = float(math.exp(rng.uniform(math.log(0.3), math.log(1.6))))
        s = max(s, size / min(h, w))
        fx, fy = rng.uniform(0, w * s), rng.uniform(0, h * s)
    s = max(s, size / min(h, w) * 1.0001)
    sw, sh = int(round(w * s)), int(round(h * s))
    x0 = int(np.clip(fx - size / 2, 0, sw - size))
    y0 = int(np.clip(fy - size / 2, 0, sh - size))
    # resize only the needed window
    M = np.array([[s, 0, -x0], [0, s, -y0]], np.float64)
    crop = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1].copy()
        flip = True
    else:
        flip = False
    canvas = crop.astype(np.float32)

    def tr(b):
        bx, by, bw, bh = b[0] * s - x0, b[1] * s - y0, b[2] * s, b[3] * s
        if flip:
            bx = size - bx - bw
        return [bx, by, bw, bh]

    ignore = [tr(r) for r in bg["real"]]
    vehicles = [tr(v) for v in veh]
    vehicles = [v for v in vehicles if v[0] < size and v[1] < size and v[0] + v[2] > 0 and v[1] + v[3] > 0]
    boxes = []
    n = int(rng.choice([0, 1, 1, 2, 2, 3, 4]))
    place_plates(rng, canvas, vehicles, n, 12, 160, boxes, ignore)
    if rng.random() < 0.4:
        add_negatives(rng, canvas, int(rng.integers(1, 4)), boxes + ignore)
    out = degrade(rng, canvas, max_blur=max_blur)
    return out, boxes, ignore


def make_full(rng, bg, n_plates, wlo=12, whi=160, strength=0.7, max_side=None, negatives=True):
    """A whole picture (for evaluation): the background at a random scale with plates."""
    img = bg["img"]
    h, w = img.shape[:2]
    s = rng.uniform(0.9, 1.6)
    if max_side:
        s = min(s, max_side / max(h, w))
    im = cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    canvas = im.astype(np.float32)
    vehicles = [[v[0] * s, v[1] * s, v[2] * s, v[3] * s] for v in bg["vehicles"]]
    ignore = [[r[0] * s, r[1] * s, r[2] * s, r[3] * s] for r in bg["real"]]
    boxes = []
    place_plates(rng, canvas, vehicles, n_plates, wlo, whi, boxes, ignore)
    if negatives and rng.random() < 0.5:
        add_negatives(rng, canvas, int(rng.integers(1, 4)), boxes + ignore)
    out = degrade(rng, canvas, strength)
    return out, boxes, ignore


# ---------------------------------------------------------------- CLI

def cmd_crops(a):
    rng = np.random.default_rng([a.seed, 0 if a.split == "train" else 1])
    bgs = load_backgrounds(a.bg_dir, a.split)
    imgs = np.empty((a.n, a.size, a.size, 3), np.uint8)
    boxes, ignores = [], []
    for i in range(a.n):
        im, b, ig = make_crop(rng, bgs, a.size, a.max_blur)
        imgs[i] = im
        boxes.append(b)
        ignores.append(ig)
        if i % 1000 == 0:
            print(f"{i}/{a.n}", file=sys.stderr, flush=True)
    np.savez(a.out, images=imgs, boxes=np.array(json.dumps(boxes)), ignore=np.array(json.dumps(ignores)))


def write_set(out, items):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "boxes.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "x", "y", "w", "h", "ignore"])
        for name, im, boxes, ignore in items:
            cv2.imwrite(str(out / name), cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
            for b in boxes:
                wr.writerow([name] + [round(v, 1) for v in b] + [0])
            for b in ignore:
                wr.writerow([name] + [round(v, 1) for v in b] + [1])


def cmd_evalset(a):
    rng = np.random.default_rng([a.seed, 2 if a.split == "train" else 3])
    bgs = load_backgrounds(a.bg_dir, a.split)
    items = []
    for i in range(a.n):
        bg = bgs[i % len(bgs)]
        im, boxes, ignore = make_full(rng, bg, int(rng.integers(2, 7)))
        items.append((f"{i:04d}.jpg", im, boxes, ignore))
    write_set(a.out, items)


def cmd_testdata(a):
    """The small fixed set for the Rust tests: held-out backgrounds, 25-120 px plates."""
    rng = np.random.default_rng([a.seed, 4])
    bgs = {b["name"]: b for b in load_backgrounds(a.bg_dir, "holdout")}
    picks = ["repo:testdata/street/leuvenB.jpg", "repo:testdata/street/opencv_scenetext02.jpg",
             "repo:testdata/street/opencv_scenetext05.jpg", "ocv:data/ela_modified.jpg",
             "repo:testdata/faces/2009_004587.jpg", "repo:testdata/faces/2008_004176.jpg"]
    # (no background with a real plate in it: every plate in these images is listed)
    items = []
    for i, p in enumerate(picks):
        im, boxes, ignore = make_full(rng, bgs[p], int(rng.integers(3, 5)), 25, 120, strength=0.4,
                                      max_side=1280, negatives=False)
        items.append((f"rendered_{i}.jpg", im, boxes, ignore))
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "rendered.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["image", "x", "y", "w", "h"])
        for name, im, boxes, ignore in items:
            cv2.imwrite(str(out / name), cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 85])
            for b in boxes:
                wr.writerow([name] + [round(v, 1) for v in b])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backgrounds")
    b.add_argument("--bg-dir", required=True)
    b.add_argument("--ocv-root", required=True,
                   help="the extracted opencv-doc package's usr/share/doc/opencv-doc/examples")
    for name in ("crops", "evalset", "testdata"):
        s = sub.add_parser(name)
        s.add_argument("--bg-dir", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--seed", type=int, default=20261121)
        if name != "testdata":
            s.add_argument("--split", choices=["train", "holdout"], required=True)
            s.add_argument("--n", type=int, required=True)
        if name == "crops":
            s.add_argument("--size", type=int, default=256)
            s.add_argument("--max-blur", type=int, default=11,
                           help="longest motion-blur kernel in pixels (the committed model: 11)")
    a = p.parse_args()
    if a.cmd == "backgrounds":
        prepare_backgrounds(a.bg_dir, a.ocv_root)
    elif a.cmd == "crops":
        cmd_crops(a)
    elif a.cmd == "evalset":
        cmd_evalset(a)
    else:
        cmd_testdata(a)


if __name__ == "__main__":
    main()
