#!/usr/bin/env python3
"""Train PlateNet on crops made by generate.py, then export the ONNX model.

    python train.py --data /tmp/plates/train.npz --out /tmp/plates/run \
        --minutes 40 --export ../../models/plate_detector.onnx

One CPU thread by default (the machine is shared); a wall-clock budget sets the
number of steps (cosine learning-rate schedule over that many steps).
"""
import pathlib
import sys

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
        self.images, self.boxes, self.ignore = cn.load_crops(paths)
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
    a = cn.cli(__doc__, 1, "wall-clock budget; sets the step count after timing 20 steps",
               "fixed step count instead of --minutes (the committed model: 5558)", data_required=True)
    cn.train(a, PlateNet, Data, export, 1, "plates", cn.StepBudget, lr_floor=0.0, save_every=1000)


if __name__ == "__main__":
    main()
