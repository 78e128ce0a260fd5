#!/usr/bin/env python3
"""Evaluate models/sign_detector.onnx with onnxruntime only (no torch).

Decodes exactly as README.md "ONNX contract" says, then reports per class:
recall by size bucket (long side 8-14, 14-24, 24-48, 48+ px) and precision, at
several thresholds; the confusion between classes; per-class thresholds chosen on
one set (`--tune`, rendered on training backgrounds) and applied to the others;
onnxruntime time on a 1920x1088 frame with 2 intra-op threads (median of 10).

    python evaluate.py --set holdout=/tmp/signs/eval_holdout --set trainbg=/tmp/signs/eval_train \
        --tune trainbg --json results.json
A set is a folder of JPEGs with boxes.csv (image, x, y, w, h, class, ignore) as
written by `generate.py evalset`.
"""
import argparse
import csv
import importlib.util
import json
import os
import pathlib
from collections import defaultdict

import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("plates_evaluate", HERE.parent / "plates/evaluate.py")
pe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pe)
session, preprocess, iou, timing, cpu_time = pe.session, pe.preprocess, pe.iou, pe.timing, pe.cpu_time

CLASSES = ["speed_limit", "stop_sign", "give_way", "no_entry", "no_left_turn", "no_right_turn",
           "no_u_turn", "pedestrian_crossing", "traffic_light", "fire_hydrant"]
BUCKETS = [(8, 14), (14, 24), (24, 48), (48, 1e9)]
BNAMES = ["8-14", "14-24", "24-48", "48+"]
MATCH_IOU = 0.3
BIG = 14  # the sizes that matter: long side >= 14 px


def decode(heatmap, size, offset, thr, img_w, img_h, nms_iou=0.5):
    """Outputs -> list of (x, y, w, h, score, class) in input pixels (see README):
    every class channel separately (PlateNet's decoding), then per-class greedy NMS."""
    return [(*d, c) for c in range(heatmap.shape[1])
            for d in pe.decode(heatmap, size, offset, thr, img_w, img_h, nms_iou, channel=c)]


def detect(sess, rgb, thr):
    h, w = rgb.shape[:2]
    heat, size, off = sess.run(None, {"image": preprocess(rgb)})
    return decode(heat, size, off, thr, w, h)


def read_set(folder):
    folder = pathlib.Path(folder)
    gt = defaultdict(lambda: ([], []))
    with open(folder / "boxes.csv") as f:
        for r in csv.DictReader(f):
            b = [float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])]
            if r["ignore"] == "1":
                gt[r["image"]][1].append(b)
            else:
                gt[r["image"]][0].append(b + [CLASSES.index(r["class"])])
    return folder, dict(gt)


def bucket(b):
    L = max(b[2], b[3])
    for i, (lo, hi) in enumerate(BUCKETS):
        if lo <= L < hi:
            return i
    return None


def match(dets, gts, ignore):
    """Greedy by score, per class: an object is found by a detection of its class with
    IoU >= 0.3. Returns found flags, and per detection: 'tp', 'fp' or 'ign'."""
    found = [False] * len(gts)
    kinds = []
    for d in sorted(dets, key=lambda d: -d[4]):
        best, bi = 0.0, -1
        for i, g in enumerate(gts):
            if not found[i] and g[4] == d[5]:
                v = iou(d, g)
                if v > best:
                    best, bi = v, i
        if best >= MATCH_IOU:
            found[bi] = True
            kinds.append((d, "tp", bi))
        elif any(iou(d, g) > 0 for g in ignore):
            kinds.append((d, "ign", -1))
        else:
            kinds.append((d, "fp", -1))
    return found, kinds


def evaluate(per_img, thr_of):
    """thr_of(class) -> threshold. Per class counts."""
    C = len(CLASSES)
    hit = np.zeros((C, len(BUCKETS)), int)
    tot = np.zeros((C, len(BUCKETS)), int)
    tp = np.zeros(C, int)
    fp = np.zeros(C, int)
    tp_big = np.zeros(C, int)
    fp_big = np.zeros(C, int)
    conf = np.zeros((C, C + 1), int)  # gt class x (detected class, or C = missed)
    centre_err = []
    for dets, gts, ignore in per_img:
        d = [x for x in dets if x[4] >= thr_of(x[5])]
        found, kinds = match(d, gts, ignore)
        for b, ok in zip(gts, found):
            k = bucket(b)
            if k is not None:
                tot[b[4], k] += 1
                hit[b[4], k] += int(ok)
        for det, kind, gi in kinds:
            c = det[5]
            big = max(det[2], det[3]) >= BIG
            if kind == "tp":
                tp[c] += 1
                tp_big[c] += big
                g = gts[gi]
                if max(g[2], g[3]) >= BIG:
                    centre_err.append(np.hypot(det[0] + det[2] / 2 - g[0] - g[2] / 2,
                                               det[1] + det[3] / 2 - g[1] - g[3] / 2) / max(g[2], g[3]))
            elif kind == "fp":
                fp[c] += 1
                fp_big[c] += big
        # confusion: the best-scoring detection of any class overlapping each object
        for g in gts:
            if max(g[2], g[3]) < BIG:
                continue
            cand = [x for x in d if iou(x, g) >= MATCH_IOU]
            conf[g[4], max(cand, key=lambda x: x[4])[5] if cand else C] += 1
    return {"hit": hit, "tot": tot, "tp": tp, "fp": fp, "tp_big": tp_big, "fp_big": fp_big,
            "conf": conf, "centre_err": centre_err}


def summary(r):
    out = {}
    for c, name in enumerate(CLASSES):
        h, t = r["hit"][c], r["tot"][c]
        out[name] = {
            "recall_by_size": {BNAMES[k]: [int(h[k]), int(t[k])] for k in range(len(BUCKETS))},
            "recall_14plus": [int(h[1:].sum()), int(t[1:].sum())],
            "recall_24plus": [int(h[2:].sum()), int(t[2:].sum())],
            "precision": float(r["tp"][c] / max(1, r["tp"][c] + r["fp"][c])),
            "precision_14plus": float(r["tp_big"][c] / max(1, r["tp_big"][c] + r["fp_big"][c])),
            "fp": int(r["fp"][c]), "fp_14plus": int(r["fp_big"][c])}
    return out


def pct(a, b):
    return f"{100 * a / b:5.1f}%" if b else "  n/a"


def print_table(s, title):
    print(f"\n{title}")
    print(f"{'class':20s} | " + " | ".join(f"R {b:>6s}" for b in BNAMES) +
          " | R >=14 | R >=24 | P all  | P >=14 | FP>=14")
    for name in CLASSES:
        x = s[name]
        cells = [pct(*x["recall_by_size"][b]) for b in BNAMES]
        print(f"{name:20s} | " + " | ".join(f"{c:>8s}" for c in cells) +
              f" | {pct(*x['recall_14plus'])} | {pct(*x['recall_24plus'])} | "
              f"{100 * x['precision']:5.1f}% | {100 * x['precision_14plus']:5.1f}% | {x['fp_14plus']:5d}")


def tune(per_img, grid, min_p=0.95):
    """Per class: the lowest threshold whose precision (boxes >= 14 px) is >= min_p,
    else the one with the best F1 (>= 14 px); recall counted on objects >= 14 px."""
    res = {t: summary(evaluate(per_img, lambda c, t=t: t)) for t in grid}
    best = {}
    for name in CLASSES:
        ok = [t for t in grid if res[t][name]["precision_14plus"] >= min_p]
        if ok:
            best[name] = min(ok)
        else:
            def f1(t):
                p = res[t][name]["precision_14plus"]
                h, n = res[t][name]["recall_14plus"]
                r = h / max(1, n)
                return 2 * p * r / max(1e-9, p + r)
            best[name] = max(grid, key=f1)
    return best


# Real photos (never composited with sprites): every box on them is false except on the
# one real no-entry sign (hand-labelled; scenetext06 is a held-out background).
REAL_PHOTOS = ["testdata/street/leuvenA.jpg", "testdata/street/leuvenB.jpg",
               "testdata/street/opencv_scenetext01.jpg", "testdata/street/opencv_scenetext02.jpg",
               "testdata/street/opencv_scenetext05.jpg", "testdata/street/licenseplate_motion.jpg",
               "testdata/plates/opencv_scenetext06.jpg", "testdata/plates/opencv_vtest_frame000.jpg"] + \
    [f"testdata/street/video/vtest_{k}.jpg" for k in (100, 250, 400, 550, 700)]
REAL_SIGNS = {"testdata/plates/opencv_scenetext06.jpg": [[82, 321, 26, 42, CLASSES.index("no_entry")]]}


def real_photos(sess, thr_of, scale=1):
    """Boxes at the given thresholds on real photos (scaled up by `scale`, as a
    1920-wide frame would show them), and the score of each real sign."""
    out = []
    for path in REAL_PHOTOS:
        im = Image.open(REPO / path).convert("RGB")
        if scale != 1:
            im = im.resize((im.width * scale, im.height * scale), Image.BILINEAR)
        rgb = np.asarray(im)
        dets = detect(sess, rgb, 0.05)
        kept = [d for d in dets if d[4] >= thr_of(d[5])]
        signs = [[v * scale for v in g[:4]] + [g[4]] for g in REAL_SIGNS.get(path, [])]
        found = []
        for g in signs:
            cand = [d for d in dets if d[5] == g[4] and iou(d, g) >= MATCH_IOU]
            found.append({"box": g[:4], "class": CLASSES[g[4]],
                          "best_score": round(max([d[4] for d in cand], default=0.0), 3),
                          "found": any(d in kept for d in cand)})
        false = [d for d in kept if not any(iou(d, g) >= MATCH_IOU for g in signs)]
        out.append({"image": path, "size": [rgb.shape[1], rgb.shape[0]], "false_boxes": [
            {"box": [round(v, 1) for v in d[:4]], "score": round(d[4], 3), "class": CLASSES[d[5]]}
            for d in false], "real_signs": found})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(REPO / "models/sign_detector.onnx"))
    p.add_argument("--set", action="append", default=[], help="NAME=FOLDER")
    p.add_argument("--thresholds", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7")
    p.add_argument("--tune", help="the set on which per-class thresholds are chosen")
    p.add_argument("--min-precision", type=float, default=0.95)
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    ths = sorted(float(t) for t in a.thresholds.split(","))
    grid = [round(x, 2) for x in np.arange(0.05, 0.951, 0.05)]
    sess = session(a.model, 2)
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta.get("classes", "").split(",") == CLASSES, meta
    results = {"model": pathlib.Path(a.model).name, "size_bytes": pathlib.Path(a.model).stat().st_size,
               "match_iou": MATCH_IOU, "buckets": BNAMES, "classes": CLASSES, "sets": {}}
    print(f"model {a.model} ({results['size_bytes'] / 1e6:.2f} MB); found = IoU >= {MATCH_IOU} "
          f"with a box of the right class; size = long side of the box")
    cache = {}
    for spec in a.set:
        name, folder = spec.split("=", 1)
        folder, gt = read_set(folder)
        per_img = []
        for img, (boxes, ignore) in sorted(gt.items()):
            rgb = np.asarray(Image.open(folder / img).convert("RGB"))
            per_img.append((detect(sess, rgb, 0.05), boxes, ignore))
        cache[name] = per_img
    tuned = None
    if a.tune:
        tuned = tune(cache[a.tune], grid, a.min_precision)
        results["recommended_thresholds"] = tuned
        results["tuned_on"] = a.tune
        print(f"\nrecommended per-class thresholds (chosen on '{a.tune}': lowest with precision of "
              f"boxes >= 14 px >= {a.min_precision}): {json.dumps(tuned)}")
    for name, per_img in cache.items():
        n_obj = sum(len(b) for _, b, _ in per_img)
        print(f"\n===== {name}: {len(per_img)} images, {n_obj} objects")
        rs = {"images": len(per_img), "objects": n_obj, "by_threshold": {}}
        for t in ths:
            r = evaluate(per_img, lambda c, t=t: t)
            s = summary(r)
            rs["by_threshold"][str(t)] = s
            print_table(s, f"-- {name}, threshold {t}")
        if tuned:
            r = evaluate(per_img, lambda c: tuned[CLASSES[c]])
            s = summary(r)
            rs["tuned"] = s
            print_table(s, f"-- {name}, recommended per-class thresholds")
            ce = np.array(r["centre_err"])
            rs["centre_error_rel"] = {"median": float(np.median(ce)) if len(ce) else None,
                                      "p90": float(np.percentile(ce, 90)) if len(ce) else None}
            if len(ce):
                print(f"box-centre error / long side (found objects >= 14 px): median "
                      f"{np.median(ce):.3f}, 90th pct {np.percentile(ce, 90):.3f}")
            conf = r["conf"]
            rs["confusion_14plus"] = conf.tolist()
            print("confusion (objects >= 14 px; rows = true class, columns = class of the "
                  "best-scoring overlapping box, last = missed):")
            short = [c[:6] for c in CLASSES] + ["missed"]
            print(" " * 20 + " ".join(f"{c:>6s}" for c in short))
            for c, row in enumerate(conf):
                print(f"{CLASSES[c]:20s}" + " ".join(f"{v:6d}" for v in row))
        results["sets"][name] = rs
    if tuned:
        thr = lambda c: tuned[CLASSES[c]]  # noqa: E731
        results["real_photos"] = {}
        for sc in (1, 2):
            rp = real_photos(sess, thr, sc)
            results["real_photos"][f"x{sc}"] = rp
            nf = sum(len(r["false_boxes"]) for r in rp)
            print(f"\n== real photos x{sc} ({len(rp)} photos, no sprites) at the recommended thresholds: "
                  f"{nf} false boxes")
            for r in rp:
                for f in r["false_boxes"]:
                    print(f"   {r['image']}: {f['class']} {f['score']} {f['box']}")
                for g in r["real_signs"]:
                    print(f"   real {g['class']} in {r['image']}: {'FOUND' if g['found'] else 'missed'} "
                          f"(best score of a matching box {g['best_score']})")
    if not a.no_timing:
        med, mn = timing(a.model)
        results["ms_1920x1088_2threads"] = {"median": med, "min": mn}
        med2, mn2 = timing(a.model, w=1280, h=736)
        results["ms_1280x736_2threads"] = {"median": med2, "min": mn2}
        cpu = cpu_time(a.model)
        results["cpu_ms_1920x1088_1thread"] = cpu
        results["load_average"] = os.getloadavg()[0]
        print(f"\n== onnxruntime {ort.__version__}, 2 intra-op threads, median of 10: "
              f"1920x1088 {med:.1f} ms (min {mn:.1f}), 1280x736 {med2:.1f} ms (min {mn2:.1f}); "
              f"CPU time 1 thread 1920x1088 {cpu:.1f} ms; load average {os.getloadavg()[0]:.1f}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
