#!/usr/bin/env python3
"""Train SignNet on crops made by generate.py, then export the ONNX model.

    python train.py --data /tmp/signs/train_a.npz,/tmp/signs/train_b.npz --out /tmp/signs/run \
        --minutes 40 --export ../../models/sign_detector.onnx

Two CPU threads by default (the machine is shared). With --minutes the cosine
learning-rate schedule runs on wall-clock time (the fraction of the budget spent), so
training ends annealed on time whatever else the machine is doing; --steps fixes the
step count instead. Same losses as PlateNet (training/common/centernet.py), per class.
"""
import pathlib
import sys

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
        self.images, self.boxes, self.ignore = cn.load_crops(paths)
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
    a = cn.cli(__doc__, 2, "wall-clock budget (time-based schedule)", "fixed step count instead of --minutes")
    cn.train(a, SignNet, Data, export, K, "objects", cn.ClockBudget, lr_floor=0.02, save_every=500)


if __name__ == "__main__":
    main()
