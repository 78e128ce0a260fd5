#!/usr/bin/env python3
"""SignCheck: the second look at each sign box, trained on SignNet's own proposals.

SignNet (model.py) run at a recall-first threshold finds 91-98 % of the signs of
14 px and more, but its class scores are not separated enough for precision there.
SignCheck takes every proposal again, in a square crop with context normalised to
32x32, and says which of the ten classes it is, or background. Its training crops
are SignNet's proposals on rendered pictures over the training backgrounds (hard
negatives and confusions by construction), with drawn pedestrians among them (a red
coat at 16 px is a stop sign to a network that never saw people), plus jittered
true boxes and figures; never the
held-out backgrounds or the street photos the benchmarks measure on.

    python verifier.py data  --sprites DIR --bg-dir BG --n 1500 --out /tmp/signs/check_a.npz
    python verifier.py train --data /tmp/signs/check_a.npz,... --out /tmp/signs/check \
        --export ../../models/sign_check.onnx
    python verifier.py eval  --set holdout=/tmp/signs/data/eval_holdout

ONNX contract (models/sign_check.onnx): input `crops` float32 [N, 3, 32, 32] RGB
0-255; output `probs` float32 [N, K + 1], softmax over the classes of the metadata
key `classes` (SignNet's order) and a last column, background. Crop of a box
(x0, y0, x1, y1) with centre (cx, cy) and side L = 1.5 * max(w, h): the square
window cx +- L/2, cy +- L/2 sampled bilinearly at 32x32 (output pixel centres at
+0.5), coordinates outside the picture clamped to its edge (OpenCV warpAffine,
INTER_LINEAR, BORDER_REPLICATE). vision/src/signs.rs builds exactly this crop.
"""
import pathlib
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "common"))
import evaluate  # noqa: E402
import generate  # noqa: E402
from checks import CropNet, cbr, cli, export, fit, jitter_box, predict, resumed  # noqa: E402
from model import CLASSES, K  # noqa: E402

SIDE = 32
CONTEXT = 1.5
PROPOSE = 0.1  # SignNet threshold of the mined proposals
BG = K  # label of "not a sign of ours"
FLIP = np.array([CLASSES.index(generate.FLIP_TO[c]) if generate.FLIP_TO[c] else -1 for c in CLASSES] + [BG])


def crop(rgb, box):
    """The 32x32 crop of (x0, y0, x1, y1): see the module docstring."""
    x0, y0, x1, y1 = box[:4]
    side = CONTEXT * max(x1 - x0, y1 - y0, 1.0)
    s = side / SIDE
    wx0, wy0 = (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2
    M = np.array([[s, 0, wx0 + 0.5 * s - 0.5], [0, s, wy0 + 0.5 * s - 0.5]], np.float64)
    return cv2.warpAffine(rgb, M, (SIDE, SIDE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def proposals(sess, rgb, thr=PROPOSE):
    """SignNet boxes from `thr` as (x0, y0, x1, y1, score, class)."""
    return [(x, y, x + w, y + h, s, c) for x, y, w, h, s, c in evaluate.detect(sess, rgb, thr)]


def label(p, truths, ignore):
    """Class of the truth the box is on, BG, or None (ambiguous: skip)."""
    b = (p[0], p[1], p[2] - p[0], p[3] - p[1])
    best, cls = 0.0, BG
    for t in truths:
        v = evaluate.iou(b, t)
        if v > best:
            best, cls = v, t[4]
    if best >= 0.45:
        return cls
    if best >= 0.2 or any(evaluate.iou(b, t) > 0 for t in ignore):
        return None
    return BG


def cmd_data(a):
    sess = evaluate.session(HERE.parent.parent / "models" / "sign_detector.onnx", 1)
    bgs = generate.backgrounds(a.bg_dir, "train")
    sprites = generate.load_sprites(a.sprites)
    rng = np.random.default_rng([a.seed, 11])
    xs, ys = [], []
    t0 = time.time()
    for i in range(a.n):
        W, H = (1280, 720) if i % 3 else (1920, 1080)
        im, boxes, ignore, figures = generate.make_full(rng, bgs[i % len(bgs)], sprites, int(rng.integers(2, 9)),
                                                        W, H, lo=7, hi=260, people=a.people)
        for p in proposals(sess, im, a.propose):
            lab = label(p, boxes, ignore)
            if lab is None or (lab == BG and p[4] < 0.25 and rng.random() > a.keep_neg):
                continue
            xs.append(crop(im, p))
            ys.append(lab)
        for t in boxes:
            b = jitter_box(rng, t)
            if b[2] - b[0] > 3 and b[3] - b[1] > 3:
                xs.append(crop(im, b))
                ys.append(t[4])
        # Figures, whole and their upper half (head and coat), whether proposed or not.
        for f in figures:
            for part in (f, [f[0], f[1], f[2], f[3] * 0.5]):
                b = jitter_box(rng, part, 0.1)
                if b[2] - b[0] > 3 and b[3] - b[1] > 3:
                    xs.append(crop(im, b))
                    ys.append(BG)
        if i % 100 == 99:
            y = np.array(ys)
            print(f"{i + 1}/{a.n} pictures, {len(ys)} crops ({(y == BG).sum()} background), "
                  f"{time.time() - t0:.0f} s", flush=True)
    np.savez_compressed(a.out, x=np.stack(xs), y=np.array(ys, np.int64))
    print(f"{len(ys)} crops -> {a.out}")


class SignCheck(CropNet):
    """~200 k parameters: stride-2 stem, three conv stages with pooling, a small head."""

    def __init__(self):
        super().__init__(nn.Sequential(
            cbr(3, 32, 2),                     # 16x16
            cbr(32, 48), nn.MaxPool2d(2),      # 8x8
            cbr(48, 64), cbr(64, 64), nn.MaxPool2d(2),  # 4x4
            cbr(64, 96),
        ), 96 * 16, 64, K + 1)


def flip(xb, yb, mask):
    """Mirror crops whose class has a mirror image (a no-left-turn becomes a no-right-turn)."""
    mask &= FLIP[yb] >= 0
    xb[mask] = xb[mask][:, :, ::-1]
    yb[mask] = FLIP[yb[mask]]
    return xb, yb


def report(net, x, y):
    p = predict(net, x, lambda z: torch.softmax(z, 1))
    pred = p.argmax(1)
    sign = y != BG
    rec = (pred[sign] == y[sign]).mean()
    fp = (pred[~sign] != BG).mean()
    return f"val: signs right {rec:.3f}, background called a sign {fp:.4f}"


def cmd_train(a):
    parts = [np.load(f) for f in a.data.split(",")]
    x = np.concatenate([d["x"] for d in parts])
    y = np.concatenate([d["y"] for d in parts])
    idx = np.random.default_rng(a.seed).permutation(len(y))
    n_val = len(y) // 10
    val, tr = idx[:n_val], idx[n_val:]
    groups = [tr[y[tr] == c] for c in range(K + 1)]
    print(f"train {len(tr)}: " + ", ".join(f"{n} {len(g)}" for n, g in zip(CLASSES + ["background"], groups)))
    # Background is half of every batch; the classes share the other half.
    groups = [g for g in groups[:K]] + [groups[BG]] * K
    net = fit(resumed(SignCheck(), a), x, y, groups=groups, steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed,
              threads=a.threads, loss_fn=nn.CrossEntropyLoss(label_smoothing=0.05), flip=flip,
              report=lambda n: report(n, x[val], y[val]))
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "check.pt")
    if a.export:
        export(net, lambda z: torch.softmax(z, dim=1), (SIDE, SIDE), "probs", a.export,
               (("classes", ",".join(CLASSES)), ("context", str(CONTEXT))))


def cmd_eval(a):
    """Per class recall (signs >= 14 px) and precision on labelled sets: SignNet alone at
    its committed thresholds, and SignNet proposals from --propose kept by SignCheck."""
    import onnxruntime as ort
    det = evaluate.session(HERE.parent.parent / "models" / "sign_detector.onnx", 2)
    chk = ort.InferenceSession(str(a.model), providers=["CPUExecutionProvider"])
    for s in a.set:
        name, folder = s.split("=")
        folder, gt = evaluate.read_set(folder)
        rows = []  # per picture: (proposals with check probs, truths, ignore)
        for img, (truths, ignore) in gt.items():
            rgb = cv2.cvtColor(cv2.imread(str(folder / img)), cv2.COLOR_BGR2RGB)
            props = proposals(det, rgb, a.propose)
            probs = chk.run(None, {"crops": np.stack([crop(rgb, p) for p in props]).transpose(0, 3, 1, 2)
                                   .astype(np.float32)})[0] if props else np.zeros((0, K + 1), np.float32)
            rows.append((props, probs, truths, ignore))
        print(f"\n{name}: {len(rows)} pictures")
        for t in a.check_thresholds:
            per_img = []
            for props, probs, truths, ignore in rows:
                dets = []
                for p, q in zip(props, probs):
                    c = int(q[:K].argmax())
                    if q[c] >= t:
                        dets.append((p[0], p[1], p[2] - p[0], p[3] - p[1], float(q[c]), c))
                dets = cross_class_nms(dets)
                per_img.append((dets, truths, ignore))
            evaluate.print_table(evaluate.summary(evaluate.evaluate(per_img, lambda c: 0.0)),
                                 f"{name}: proposals >= {a.propose}, SignCheck >= {t}")


def cross_class_nms(dets, thr=0.3):
    """One box a sign, whatever its class (as vision/src/signs.rs, cross_class_iou)."""
    keep = []
    for d in sorted(dets, key=lambda d: -d[4]):
        if all(evaluate.iou(d, k) <= thr for k in keep):
            keep.append(d)
    return keep


def main():
    def data_args(d):
        d.add_argument("--sprites", required=True)
        d.add_argument("--propose", type=float, default=PROPOSE)
        d.add_argument("--people", type=int, default=4, help="at most this many figures a picture (negatives)")

    def eval_args(e):
        e.add_argument("--model", default=str(HERE.parent.parent / "models" / "sign_check.onnx"))
        e.add_argument("--propose", type=float, default=0.15)
        e.add_argument("--check-thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.8, 0.9])

    a = cli(__doc__, 4000, 160, data_args, eval_args)
    {"data": cmd_data, "train": cmd_train, "eval": cmd_eval}[a.cmd](a)


if __name__ == "__main__":
    main()
