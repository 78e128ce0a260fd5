#!/usr/bin/env python3
"""Train SignNet on crops made by generate.py, then export the ONNX model.

    python train.py --data /tmp/signs/train_a.npz,/tmp/signs/train_b.npz --out /tmp/signs/run \
        --minutes 40 --export ../../models/sign_detector.onnx

Two CPU threads by default (the machine is shared). With --minutes the cosine
learning-rate schedule runs on wall-clock time (the fraction of the budget spent), so
training ends annealed on time whatever else the machine is doing; --steps fixes the
step count instead. Same losses as PlateNet (training/common/centernet.py), per class.
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "common"))
import centernet as cn  # noqa: E402
from model import CLASSES, K, STRIDE, SIZE_SCALE, SignNet, Exported, fold_input_scale  # noqa: E402



def make_targets(boxes, ignore, size):
    """Per-class heatmaps, regression targets, masks (common/centernet.py)."""
    return cn.make_targets(boxes, ignore, size, stride=STRIDE, size_scale=SIZE_SCALE, channels=K,
                           min_w=3, min_h=3)


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


def export(net, path):
    fold_input_scale(net)
    cn.export(Exported(net), path, (("classes", ",".join(CLASSES)), ("stride", str(STRIDE))),
              "streetcomb training/signs")


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
        lh, ls, lo = cn.losses(net, data.batch(idx, rng), K)
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
