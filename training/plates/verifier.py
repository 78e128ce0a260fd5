#!/usr/bin/env python3
"""PlateCheck: the second stage of plate detection, trained on the detector's own mistakes.

PlateNet (model.py) is run at its recall-first threshold, which leaves ~100 false
boxes a picture on foliage, brick, windows and text. PlateCheck looks at each of
those candidate boxes again, in a crop with context normalised to 32x64, and says
plate or not. Its negatives are hard negatives by construction: every candidate the
detector returned that is not a plate, mined from rendered pictures over the
training backgrounds (never from the street photos and video frames that
`make bench-privacy` measures on).

    python verifier.py data  --bg-dir DIR --n 3000 --out /tmp/plates/check.npz
    python verifier.py train --data /tmp/plates/check.npz --out /tmp/plates/check \
        --export ../../models/plate_check.onnx
    python verifier.py eval  --set DIR [--set DIR...]

ONNX contract (models/plate_check.onnx): input `crops` float32 [N, 3, 32, 64] RGB
0-255; output `score` float32 [N] in 0..1 (sigmoid applied). Crop of a candidate box
(x0, y0, x1, y1), w = x1 - x0, h = y1 - y0, centre (cx, cy): the window
cx +- w, cy +- max(1.5 h, w / 4), clipped to the picture, resized (bilinear) to
64x32. vision/src/plates.rs builds exactly this window.
"""
import pathlib
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn

import evaluate
import generate

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
from checks import CropNet, cbr, cli, export, fit, jitter_box, predict, resumed  # noqa: E402
CROP_H, CROP_W = 32, 64
DET_THRESHOLD = 0.1
# Backgrounds that make bench-privacy measures on: never mined.
BENCH_PREFIXES = ("repo:testdata/street/", "video:")


def window(box, img_w, img_h):
    """The crop window of a candidate (x0, y0, x1, y1): see the module docstring."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = w, max(1.5 * h, w / 4)
    return (max(0.0, cx - hw), max(0.0, cy - hh), min(float(img_w), cx + hw), min(float(img_h), cy + hh))


def crop(rgb, box):
    h, w = rgb.shape[:2]
    wx0, wy0, wx1, wy1 = window(box, w, h)
    ix0, iy0 = int(np.floor(wx0)), int(np.floor(wy0))
    ix1, iy1 = max(ix0 + 1, int(np.ceil(wx1))), max(iy0 + 1, int(np.ceil(wy1)))
    patch = rgb[iy0:iy1, ix0:ix1]
    return cv2.resize(patch, (CROP_W, CROP_H), interpolation=cv2.INTER_LINEAR)


def candidates(sess, rgb, thr=DET_THRESHOLD):
    """PlateNet boxes from `thr` (the pipeline's threshold), as (x0, y0, x1, y1, score)."""
    return [(x, y, x + w, y + h, s) for x, y, w, h, s in evaluate.detect(sess, rgb, thr)]


def label(box, truths, ignore):
    """1 plate, 0 not, None (touches a real plate of the background: skip)."""
    b = (box[0], box[1], box[2] - box[0], box[3] - box[1])
    if any(evaluate.iou(b, t) >= 0.3 for t in truths):
        return 1
    if any(evaluate.iou(b, t) > 0 for t in ignore):
        return None
    return 0


def cmd_data(a):
    sess = evaluate.session(HERE.parent.parent / "models" / "plate_detector.onnx", 2)
    bgs = [b for b in generate.load_backgrounds(a.bg_dir, "train") if not b["name"].startswith(BENCH_PREFIXES)]
    rng = np.random.default_rng([a.seed, 7])
    xs, ys, sizes = [], [], []
    t0 = time.time()
    for i in range(a.n):
        bg = bgs[i % len(bgs)]
        im, boxes, ignore = generate.make_full(rng, bg, int(rng.integers(2, 7)))
        h, w = im.shape[:2]
        for c in candidates(sess, im, a.det_threshold):
            lab = label(c, boxes, ignore)
            # Keep every confident mistake, a third of the rest (memory).
            if lab is None or (lab == 0 and c[4] < 0.3 and rng.random() > a.keep_neg):
                continue
            xs.append(crop(im, c[:4]))
            ys.append(lab)
            sizes.append(c[2] - c[0])
        # The true boxes too, slightly jittered: plates the detector boxed poorly.
        for t in boxes:
            b = jitter_box(rng, t)
            if b[2] - b[0] > 4 and b[3] - b[1] > 2:
                xs.append(crop(im, b))
                ys.append(1)
                sizes.append(t[2])
        if i % 200 == 199:
            print(f"{i + 1}/{a.n} pictures, {len(ys)} crops ({sum(ys)} plates), {time.time() - t0:.0f} s", flush=True)
    np.savez_compressed(a.out, x=np.stack(xs), y=np.array(ys, np.float32), size=np.array(sizes, np.float32))
    print(f"{len(ys)} crops, {int(sum(ys))} plates -> {a.out}")


class PlateCheck(CropNet):
    """~130 k parameters; stride-2 stem, two conv+pool stages, a small head."""

    def __init__(self):
        super().__init__(nn.Sequential(
            cbr(3, 24, 2),                    # 16x32
            cbr(24, 48), nn.MaxPool2d(2),     # 8x16
            cbr(48, 64), nn.MaxPool2d(2),     # 4x8
            cbr(64, 64),
        ), 64 * 4 * 8, 48, 1)

    def forward(self, x):  # x: [N, 3, 32, 64], 0-255
        return super().forward(x).squeeze(1)


def cmd_train(a):
    parts = [np.load(f) for f in a.data.split(",")]
    x = np.concatenate([d["x"] for d in parts])
    y = np.concatenate([d["y"] for d in parts])
    idx = np.random.default_rng(a.seed).permutation(len(y))
    n_val = len(y) // 10
    val, tr = idx[:n_val], idx[n_val:]
    pos, neg = tr[y[tr] == 1], tr[y[tr] == 0]
    print(f"train {len(tr)} ({len(pos)} plates), val {n_val}")

    def flip(xb, yb, mask):
        xb[mask] = xb[mask][:, :, ::-1]
        return xb, yb

    # Balanced batches: half plates, half hard negatives.
    net = fit(resumed(PlateCheck(), a), x, y, groups=[pos, neg], steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed,
              threads=a.threads, loss_fn=nn.BCEWithLogitsLoss(), flip=flip,
              report=lambda n: evaluate_crops(n, x[val], y[val]))
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "check.pt")
    if a.export:
        export(net, torch.sigmoid, (CROP_H, CROP_W), "score", a.export)


def evaluate_crops(net, x, y):
    s = predict(net, x, torch.sigmoid)
    res = []
    for t in (0.3, 0.5, 0.7):
        tp = ((s >= t) & (y == 1)).sum()
        fp = ((s >= t) & (y == 0)).sum()
        res.append(f"T{t}: recall {tp / max(1, (y == 1).sum()):.3f} fp-rate {fp / max(1, (y == 0).sum()):.4f}")
    return "; ".join(res)


def cmd_eval(a):
    """Plate recall and false boxes a picture on labelled sets, detector alone and with the check."""
    import onnxruntime as ort
    det = evaluate.session(HERE.parent.parent / "models" / "plate_detector.onnx", 2)
    chk = ort.InferenceSession(str(a.model), providers=["CPUExecutionProvider"])
    for s in a.set:
        folder, gt = evaluate.read_set(s)
        rows = []  # (is_plate_match index or -1, det score, check score, width)
        n_plates = {20: 0, 40: 0}
        found = {}
        for name, (truths, ignore) in gt.items():
            rgb = cv2.cvtColor(cv2.imread(str(folder / name)), cv2.COLOR_BGR2RGB)
            cands = candidates(det, rgb, a.det_threshold)
            if not cands:
                continue
            crops = np.stack([crop(rgb, c[:4]) for c in cands]).transpose(0, 3, 1, 2).astype(np.float32)
            scores = chk.run(None, {"crops": crops})[0]
            for c, v in zip(cands, scores):
                lab = label(c, truths, ignore)
                if lab is None:
                    continue
                ti = -1
                if lab == 1:
                    b = (c[0], c[1], c[2] - c[0], c[3] - c[1])
                    ti = max(range(len(truths)), key=lambda k: evaluate.iou(b, truths[k]))
                rows.append((name, ti, c[4], float(v), truths[ti][2] if ti >= 0 else 0))
            for t in truths:
                for k in n_plates:
                    n_plates[k] += t[2] >= k
        pics = len(gt)
        print(f"\n{s}: {pics} pictures, plates >= 20 px: {n_plates[20]}, >= 40 px: {n_plates[40]}")
        for dt in (0.1, 0.2, 0.3, 0.4, 0.5):
            for vt in (0.0, 0.3, 0.5, 0.7, 0.9):
                ok = [r for r in rows if r[2] >= dt and r[3] >= vt]
                for k in (20, 40):
                    found[k] = len({(r[0], r[1]) for r in ok if r[1] >= 0 and r[4] >= k})
                fp = sum(1 for r in ok if r[1] < 0)
                print(f"plate model >= {dt}, check >= {vt}: recall >=20 {found[20] / max(1, n_plates[20]):.3f}, "
                      f">=40 {found[40] / max(1, n_plates[40]):.3f}; false boxes a picture {fp / pics:.2f}")


def main():
    def data_args(d):
        d.add_argument("--det-threshold", type=float, default=DET_THRESHOLD)

    def eval_args(e):
        e.add_argument("--model", default=str(HERE.parent.parent / "models" / "plate_check.onnx"))
        e.add_argument("--det-threshold", type=float, default=DET_THRESHOLD)

    a = cli(__doc__, 3000, 128, data_args, eval_args)
    {"data": cmd_data, "train": cmd_train, "eval": cmd_eval}[a.cmd](a)


if __name__ == "__main__":
    main()
