#!/usr/bin/env python3
"""Train PlateNet on crops made by generate.py, then export the ONNX model.

    python train.py --data /tmp/plates/train.npz --out /tmp/plates/run \
        --minutes 40 --export ../../models/plate_detector.onnx

One CPU thread by default (the machine is shared); a wall-clock budget sets the
number of steps (cosine learning-rate schedule over that many steps).
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
from model import STRIDE, SIZE_SCALE, PlateNet, Exported, fold_input_scale  # noqa: E402


def make_targets(boxes, ignore, size):
    """One heatmap (plates), regression targets, masks (common/centernet.py)."""
    return cn.make_targets([(*b[:4], 0) for b in boxes], ignore, size, stride=STRIDE, size_scale=SIZE_SCALE,
                           channels=1, min_w=4, min_h=2)


class Data:
    def __init__(self, paths):
        ims, self.boxes, self.ignore = [], [], []
        for path in paths.split(","):  # several crop files may be given, comma-separated
            d = np.load(path)
            ims.append(d["images"])
            self.boxes += json.loads(str(d["boxes"]))
            self.ignore += json.loads(str(d["ignore"]))
        self.images = np.concatenate(ims) if len(ims) > 1 else ims[0]
        self.size = self.images.shape[1]
        t = [make_targets(b, i, self.size) for b, i in zip(self.boxes, self.ignore)]
        self.heat = np.stack([x[0] for x in t])
        self.ign = np.stack([x[1] for x in t])
        self.reg = np.stack([x[2] for x in t])
        self.regm = np.stack([x[3] for x in t])

    def batch(self, idx, rng):
        im = torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float()
        # cheap photometric jitter per image (colour gains), on top of the generator's
        gains = torch.from_numpy(rng.uniform(0.8, 1.2, (len(idx), 3, 1, 1)).astype(np.float32))
        im = (im * gains).clamp(0, 255)
        if rng.random() < 0.2:  # grey frames happen (night, IR)
            im = im.mean(1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
        return (im, torch.from_numpy(self.heat[idx]), torch.from_numpy(self.ign[idx]),
                torch.from_numpy(self.reg[idx]), torch.from_numpy(self.regm[idx]))


def export(net, path):
    fold_input_scale(net)
    cn.export(Exported(net), path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="crops .npz from generate.py (comma-separated list)")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=40,
                   help="wall-clock budget; sets the step count after timing 20 steps")
    p.add_argument("--steps", type=int, help="fixed step count instead of --minutes "
                   "(the committed model: 5558)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", help="checkpoint to start from")
    p.add_argument("--export", help="write the ONNX model here at the end")
    p.add_argument("--export-only", metavar="CKPT", help="only export this checkpoint")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.export_only:
        net = PlateNet()
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
    print(f"data: {len(data.images)} crops, {sum(map(len, data.boxes))} plates, "
          f"{time.time() - t0:.0f} s to load", flush=True)
    net = PlateNet()
    if a.resume:
        net.load_state_dict(torch.load(a.resume, map_location="cpu"))
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    # time a few steps to turn the wall-clock budget into a step count
    net.train()
    budget = a.minutes * 60 - (time.time() - t0)
    step, total, t_start = 0, a.steps, time.time()
    hist = []
    while True:
        if a.steps is None and total is None and step == 20:
            per = (time.time() - t_start) / 20
            total = max(40, int(budget / per))
            print(f"{per:.3f} s/step -> {total} steps", flush=True)
        if total is not None and step >= total:
            break
        frac = step / total if total else 0.0
        warm = min(1.0, (step + 1) / 100)
        lr = a.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        for gq in opt.param_groups:
            gq["lr"] = lr
        idx = rng.integers(0, len(data.images), a.batch)
        lh, ls, lo = cn.losses(net, data.batch(idx, rng), 1)
        loss = lh + ls + lo
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        hist.append([lh.item(), ls.item(), lo.item()])
        step += 1
        if step % 100 == 0:
            h = np.mean(hist[-100:], axis=0)
            print(f"step {step}/{total} lr {lr:.5f} heat {h[0]:.3f} size {h[1]:.3f} off {h[2]:.3f} "
                  f"{(time.time() - t0) / 60:.1f} min", flush=True)
        if step % 1000 == 0:
            torch.save(net.state_dict(), out / "last.pt")
    torch.save(net.state_dict(), out / "last.pt")
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)
    if a.export:
        net.eval()
        export(net, a.export)
        print(f"exported {a.export}", flush=True)


if __name__ == "__main__":
    main()
