#!/usr/bin/env python3
"""Evaluate models/plate_detector.onnx with onnxruntime only (no torch).

Decodes exactly as README.md "ONNX contract" says, then prints:
  recall by plate width (12-20, 20-40, 40-80, 80+ px) and precision, per eval set and
  threshold; recall on the hand-labelled real plates (testdata/plates/real_plates.csv);
  onnxruntime time on a 1920x1088 frame with 2 threads (median of 10).

    python evaluate.py --set holdout=/tmp/plates/eval_holdout --set train=/tmp/plates/eval_train
A set is a folder of JPEGs with boxes.csv (image, x, y, w, h, ignore) as written by
`generate.py evalset` / `generate.py testdata` (rendered.csv is read too).
"""
import argparse
import csv
import json
import os
import pathlib
import time
from collections import defaultdict

import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
STRIDE = 4
PAD = 32
BUCKETS = [(12, 20), (20, 40), (40, 80), (80, 1e9)]
MATCH_IOU = 0.3


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def preprocess(rgb):
    """HxWx3 uint8 RGB -> [1,3,H',W'] float32 0-255, zero-padded right/bottom to multiples of 32."""
    h, w = rgb.shape[:2]
    H, W = -(-h // PAD) * PAD, -(-w // PAD) * PAD
    x = np.zeros((1, 3, H, W), np.float32)
    x[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    return x


def nms(boxes, scores, thr):
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 0] + boxes[i, 2], boxes[rest, 0] + boxes[rest, 2])
        y1 = np.minimum(boxes[i, 1] + boxes[i, 3], boxes[rest, 1] + boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = boxes[i, 2] * boxes[i, 3] + boxes[rest, 2] * boxes[rest, 3] - inter
        order = rest[inter / np.maximum(union, 1e-9) <= thr]
    return keep


def decode(heatmap, size, offset, thr, img_w, img_h, nms_iou=0.5, channel=0):
    """Outputs -> list of (x, y, w, h, score) in input pixels (see README), from one
    heatmap channel (the sign detector decodes each of its classes this way)."""
    ys, xs = np.nonzero(heatmap[0, channel] >= thr)
    if len(xs) == 0:
        return []
    s = heatmap[0, channel, ys, xs]
    cx = (xs + offset[0, 0, ys, xs]) * STRIDE
    cy = (ys + offset[0, 1, ys, xs]) * STRIDE
    w = size[0, 0, ys, xs]
    h = size[0, 1, ys, xs]
    x0 = np.clip(cx - w / 2, 0, img_w)
    y0 = np.clip(cy - h / 2, 0, img_h)
    x1 = np.clip(cx + w / 2, 0, img_w)
    y1 = np.clip(cy + h / 2, 0, img_h)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    keep = nms(boxes, s, nms_iou)
    return [(*boxes[k].tolist(), float(s[k])) for k in keep]


def detect(sess, rgb, thr, half=False):
    h, w = rgb.shape[:2]
    if half:
        im = np.asarray(Image.fromarray(rgb).resize((w // 2, h // 2), Image.BILINEAR))
        dets = detect(sess, im, thr)
        return [(x * 2, y * 2, bw * 2, bh * 2, s) for x, y, bw, bh, s in dets]
    heat, size, off = sess.run(None, {"image": preprocess(rgb)})
    return decode(heat, size, off, thr, w, h)


def iou(a, b):
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    u = a[2] * a[3] + b[2] * b[3] - inter
    return inter / u if u > 0 else 0.0


def read_set(folder):
    folder = pathlib.Path(folder)
    csvf = folder / "boxes.csv" if (folder / "boxes.csv").exists() else folder / "rendered.csv"
    gt = defaultdict(lambda: ([], []))
    with open(csvf) as f:
        for r in csv.DictReader(f):
            b = [float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])]
            gt[r["image"]][1 if r.get("ignore", "0") == "1" else 0].append(b)
    return folder, dict(gt)


def match(dets, gts, ignore):
    """Greedy by score: a plate is found by a detection with IoU >= 0.3.
    Other detections are false positives (duplicates included) unless they touch an
    ignore box (a real, unlabelled-for-training plate in the background photo)."""
    found = [False] * len(gts)
    fp = 0
    big = [0, 0]  # detections >= 20 px wide: [true, false] positives
    for d in sorted(dets, key=lambda d: -d[4]):
        best, bi = 0.0, -1
        for i, g in enumerate(gts):
            if not found[i]:
                v = iou(d, g)
                if v > best:
                    best, bi = v, i
        if best >= MATCH_IOU:
            found[bi] = True
            big[0] += d[2] >= 20
        elif not any(iou(d, g) > 0 for g in ignore):
            fp += 1
            big[1] += d[2] >= 20
    return found, fp, big


def evaluate_set(sess, folder, thresholds, half=False):
    folder, gt = read_set(folder)
    per_img = []
    lo = min(thresholds)
    for name, (boxes, ignore) in sorted(gt.items()):
        rgb = np.asarray(Image.open(folder / name).convert("RGB"))
        per_img.append((detect(sess, rgb, lo, half), boxes, ignore))
    res = {}
    for t in thresholds:
        hit = defaultdict(int)
        tot = defaultdict(int)
        tp = fp = 0
        big = [0, 0]
        for dets, boxes, ignore in per_img:
            d = [x for x in dets if x[4] >= t]
            found, f, bg = match(d, boxes, ignore)
            fp += f
            big[0] += bg[0]
            big[1] += bg[1]
            tp += sum(found)
            for b, ok in zip(boxes, found):
                for blo, bhi in BUCKETS:
                    if blo <= b[2] < bhi:
                        tot[blo] += 1
                        hit[blo] += int(ok)
                if b[2] >= 20:
                    tot["20+"] += 1
                    hit["20+"] += int(ok)
        res[t] = {"recall": {str(k): (hit[k], tot[k]) for k in [b[0] for b in BUCKETS] + ["20+"]},
                  "precision": tp / max(1, tp + fp), "tp": tp, "fp": fp, "images": len(per_img),
                  "precision_20px": big[0] / max(1, sum(big)), "fp_20px": big[1],
                  "fp_per_image": fp / max(1, len(per_img))}
    return res


def real_plates(sess, thr, half=False):
    rows = list(csv.DictReader(open(REPO / "testdata/plates/real_plates.csv")))
    by = defaultdict(list)
    for r in rows:
        by[r["image"]].append([float(r[k]) for k in "xywh"])
    out = []
    for img, boxes in by.items():
        rgb = np.asarray(Image.open(REPO / img).convert("RGB"))
        dets = detect(sess, rgb, thr, half)
        low = detect(sess, rgb, 0.02, half)  # to tell how far below the threshold a miss is
        for b in boxes:
            best = max([(iou(d, b), d[4]) for d in dets], default=(0.0, 0.0))
            cand = [d[4] for d in low if iou(d, b) >= MATCH_IOU]
            out.append({"image": img, "box": b, "found": best[0] >= MATCH_IOU,
                        "iou": round(best[0], 2), "score": round(best[1], 3),
                        "best_matching_score": round(max(cand, default=0.0), 3)})
    return out


def timing(path, threads=2, runs=10, w=1920, h=1088):
    sess = session(path, threads)
    rng = np.random.default_rng(0)
    x = (rng.random((1, 3, h, w)) * 255).astype(np.float32)
    for _ in range(3):
        sess.run(None, {"image": x})
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"image": x})
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts)), 1000 * float(np.min(ts))


def cpu_time(path, runs=10, w=1920, h=1088):
    """Process CPU time per inference with 1 thread: what the frame costs in core-ms."""
    sess = session(path, 1)
    x = (np.random.default_rng(0).random((1, 3, h, w)) * 255).astype(np.float32)
    for _ in range(2):
        sess.run(None, {"image": x})
    ts = []
    for _ in range(runs):
        t = time.process_time()
        sess.run(None, {"image": x})
        ts.append(time.process_time() - t)
    return 1000 * float(np.median(ts))


def fmt_recall(r):
    cells = []
    for k in ["12", "20", "40", "80", "20+"]:
        h, t = r[k]
        cells.append(f"{100 * h / t:5.1f}% ({h}/{t})" if t else "   n/a")
    return " | ".join(cells)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(REPO / "models/plate_detector.onnx"))
    p.add_argument("--set", action="append", default=[], help="NAME=FOLDER")
    p.add_argument("--thresholds", default="0.05,0.1,0.15,0.2,0.3,0.4")
    p.add_argument("--threshold", type=float, default=0.10, help="the recommended threshold")
    p.add_argument("--half", action="store_true", help="run the model on half-resolution images")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    ths = sorted(set(float(t) for t in a.thresholds.split(",")) | {a.threshold})
    sess = session(a.model, 1)
    results = {"model": pathlib.Path(a.model).name, "half": a.half, "threshold": a.threshold,
               "match_iou": MATCH_IOU, "sets": {}}
    print(f"model {a.model} ({pathlib.Path(a.model).stat().st_size / 1e6:.2f} MB)"
          f"{', half resolution' if a.half else ''}; a plate counts as found at IoU >= {MATCH_IOU}")
    for spec in a.set:
        name, folder = spec.split("=", 1)
        res = evaluate_set(sess, folder, ths, a.half)
        results["sets"][name] = {str(t): v for t, v in res.items()}
        n = sum(v[1] for k, v in res[ths[0]]["recall"].items() if k != "20+")
        print(f"\n== {name}: {res[ths[0]]['images']} images, {n} plates")
        print("thr   | 12-20 px          | 20-40 px          | 40-80 px          | 80+ px            "
              "| all >= 20 px      | precision (FP/image) | precision of boxes >= 20 px")
        for t in ths:
            r = res[t]
            mark = " <- recommended" if t == a.threshold else ""
            print(f"{t:5.2f} | {fmt_recall(r['recall'])} | {100 * r['precision']:5.1f}% "
                  f"({r['fp_per_image']:.1f}) | {100 * r['precision_20px']:5.1f}% "
                  f"(fp {r['fp_20px']}){mark}")
    rp = real_plates(sess, a.threshold, a.half)
    results["real_plates"] = rp
    k = sum(r["found"] for r in rp)
    big = [r for r in rp if r["box"][2] >= 20]
    print(f"\n== real plates at threshold {a.threshold}: {k}/{len(rp)} found "
          f"({sum(r['found'] for r in big)}/{len(big)} of those >= 20 px wide)")
    for r in rp:
        print(f"  {r['image']} {r['box']}: {'FOUND' if r['found'] else 'missed'} "
              f"(best IoU {r['iou']} at score {r['score']}; highest score of a box with "
              f"IoU >= {MATCH_IOU}: {r['best_matching_score']})")
    if not a.no_timing:
        med, mn = timing(a.model)
        results["ms_1920x1088_2threads"] = {"median": med, "min": mn}
        print(f"\n== onnxruntime {ort.__version__}, 1920x1088, 2 threads: median {med:.1f} ms "
              f"(min {mn:.1f} ms) of 10 runs")
        med2, mn2 = timing(a.model, w=960, h=544)
        results["ms_960x544_2threads"] = {"median": med2, "min": mn2}
        print(f"   half resolution 960x544: median {med2:.1f} ms (min {mn2:.1f} ms)")
        cpu = cpu_time(a.model)
        results["cpu_ms_1920x1088_1thread"] = cpu
        print(f"   CPU time of one 1920x1088 inference on 1 thread (insensitive to other load): "
              f"median {cpu:.1f} ms; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
