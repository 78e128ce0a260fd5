#!/usr/bin/env python3
"""Train SignNet on crops made by generate.py, then export the ONNX model.

    python train.py --data /tmp/signs/train_a.npz,/tmp/signs/train_b.npz --out /tmp/signs/run \
        --minutes 40 --export ../../models/sign_detector.onnx

Two CPU threads by default (the machine is shared). With --minutes the cosine
learning-rate schedule runs on wall-clock time (the fraction of the budget spent), so
training ends annealed on time whatever else the machine is doing; --steps fixes the
step count instead. Same losses as PlateNet (training/plates/train.py), per class.
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from model import CLASSES, K, STRIDE, SIZE_SCALE, SignNet, Exported, fold_input_scale  # noqa: E402



def focal_loss(logit, gt, valid):
    """CenterNet focal loss, as PlateNet's (training/plates/train.py; copied: that module
    imports its own `model`, which would clash with ours)."""
    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = (gt >= 1.0).float()
    neg = (1 - pos) * valid
    pos_l = -torch.log(p) * (1 - p) ** 2 * pos
    neg_l = -torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return (pos_l.sum() + neg_l.sum()) / n


def make_targets(boxes, ignore, size):
    """Per-class heatmaps (elliptical Gaussians at object centres), regression targets, masks."""
    g = size // STRIDE
    heat = np.zeros((K, g, g), np.float32)
    ign = np.ones((g, g), np.float32)  # 1 = counts in the heatmap loss
    reg = np.zeros((4, g, g), np.float32)  # log(w/S), log(h/S), off x, off y
    regm = np.zeros((g, g), np.float32)
    for b in ignore:
        x0, y0 = int(max(0, math.floor(b[0] / STRIDE))), int(max(0, math.floor(b[1] / STRIDE)))
        x1 = int(min(g, math.ceil((b[0] + b[2]) / STRIDE) + 1))
        y1 = int(min(g, math.ceil((b[1] + b[3]) / STRIDE) + 1))
        ign[y0:y1, x0:x1] = 0
    r = np.arange(g, dtype=np.float32)
    for x, y, w, h, c in boxes:
        cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < g and 0 <= iy < g) or w < 3 or h < 3:
            continue
        sx = max(0.4, 0.54 * (w / STRIDE) / 6)
        sy = max(0.4, 0.54 * (h / STRIDE) / 6)
        gauss = np.exp(-((r[None, :] - ix) ** 2 / (2 * sx * sx)) - ((r[:, None] - iy) ** 2 / (2 * sy * sy)))
        heat[c] = np.maximum(heat[c], gauss)
        heat[c, iy, ix] = 1.0
        reg[:, iy, ix] = [math.log(w / SIZE_SCALE), math.log(h / SIZE_SCALE), cx - ix, cy - iy]
        regm[iy, ix] = 1.0
    return heat, ign, reg, regm


class Data:
    def __init__(self, paths):
        ims, self.boxes, self.ignore = [], [], []
        for path in paths.split(","):
            d = np.load(path)
            ims.append(d["images"])
            self.boxes += json.loads(str(d["boxes"]))
            self.ignore += json.loads(str(d["ignore"]))
        self.images = np.concatenate(ims) if len(ims) > 1 else ims[0]
        self.size = self.images.shape[1]

    def batch(self, idx, rng):
        im = torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float()
        gains = torch.from_numpy(rng.uniform(0.9, 1.1, (len(idx), 3, 1, 1)).astype(np.float32))
        im = (im * gains).clamp(0, 255)
        t = [make_targets(self.boxes[i], self.ignore[i], self.size) for i in idx]
        st = lambda k: torch.from_numpy(np.stack([x[k] for x in t]))  # noqa: E731
        return im, st(0), st(1), st(2), st(3)


def losses(net, batch):
    im, heat, ign, reg, regm = batch
    out = net(im)
    lh = focal_loss(out[:, :K], heat, ign.unsqueeze(1))
    m = regm.unsqueeze(1)
    n = regm.sum().clamp(min=1.0)
    ls = (F.l1_loss(out[:, K:K + 2], reg[:, 0:2], reduction="none") * m).sum() / n
    lo = (F.l1_loss(torch.sigmoid(out[:, K + 2:K + 4]), reg[:, 2:4], reduction="none") * m).sum() / n
    return lh, ls, lo


def export(net, path):
    import onnx
    fold_input_scale(net)
    m = Exported(net).eval()
    x = torch.zeros(1, 3, 256, 384)
    torch.onnx.export(m, x, str(path), input_names=["image"],
                      output_names=["heatmap", "size", "offset"],
                      dynamic_axes={"image": {2: "height", 3: "width"},
                                    "heatmap": {2: "height_4", 3: "width_4"},
                                    "size": {2: "height_4", 3: "width_4"},
                                    "offset": {2: "height_4", 3: "width_4"}},
                      opset_version=17, do_constant_folding=True, dynamo=False)
    mp = onnx.load(str(path))
    for k, v in (("classes", ",".join(CLASSES)), ("stride", str(STRIDE))):
        e = mp.metadata_props.add()
        e.key, e.value = k, v
    mp.producer_name = "streetcomb training/signs"
    onnx.save(mp, str(path))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", help="crops .npz from generate.py (comma-separated list)")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=40, help="wall-clock budget (time-based schedule)")
    p.add_argument("--steps", type=int, help="fixed step count instead of --minutes")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", help="checkpoint to start from")
    p.add_argument("--export", help="write the ONNX model here at the end")
    p.add_argument("--export-only", metavar="CKPT", help="only export this checkpoint")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.export_only:
        net = SignNet()
        net.load_state_dict(torch.load(a.export_only, map_location="cpu"))
        net.eval()
        export(net, a.export)
        print(f"exported {a.export}")
        return
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = Data(a.data)
    print(f"data: {len(data.images)} crops, {sum(map(len, data.boxes))} objects, "
          f"{time.time() - t0:.0f} s to load", flush=True)
    net = SignNet()
    print(f"{sum(q.numel() for q in net.parameters())} parameters", flush=True)
    if a.resume:
        net.load_state_dict(torch.load(a.resume, map_location="cpu"))
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    net.train()
    budget = a.minutes * 60 - (time.time() - t0) - 30  # leave time for the export
    step, t_start = 0, time.time()
    hist = []
    while True:
        if a.steps is not None:
            frac = step / a.steps
        else:
            frac = (time.time() - t_start) / budget
        if frac >= 1.0:
            break
        warm = min(1.0, (step + 1) / 100)
        lr = a.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for gq in opt.param_groups:
            gq["lr"] = lr
        idx = rng.integers(0, len(data.images), a.batch)
        lh, ls, lo = losses(net, data.batch(idx, rng))
        loss = lh + ls + lo
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        hist.append([lh.item(), ls.item(), lo.item()])
        step += 1
        if step % 100 == 0:
            h = np.mean(hist[-100:], axis=0)
            print(f"step {step} lr {lr:.5f} heat {h[0]:.3f} size {h[1]:.3f} off {h[2]:.3f} "
                  f"{(time.time() - t0) / 60:.1f} min", flush=True)
        if step % 500 == 0:
            torch.save(net.state_dict(), out / "last.pt")
    torch.save(net.state_dict(), out / "last.pt")
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)
    if a.export:
        net.eval()
        export(net, a.export)
        print(f"exported {a.export}", flush=True)


if __name__ == "__main__":
    main()
