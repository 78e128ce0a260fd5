"""SignNet: a small anchor-free (CenterNet-style) traffic-sign detector, K = 10 classes.

PlateNet's design (training/plates/model.py: patchify stem, depthwise-separable
blocks, FPN-lite, stride-4 head; its `cbr` and `DS` blocks are imported from
there) with one heatmap channel per class and one more, cheap /32 stage so that
signs up to ~300 px are seen whole.

Input: float32 [1, 3, H, W] RGB, 0-255, H and W multiples of 32.
Outputs (exported graph, see README.md "ONNX contract"):
  heatmap [1, 10, H/4, W/4] sigmoid class-centre scores, zero where not a 3x3 local max
                            of its own class channel
  size    [1, 2, H/4, W/4]  box width, height in input pixels
  offset  [1, 2, H/4, W/4]  sub-cell centre offset (x, y) in cells, 0..1
Own design from torch.nn building blocks; no third-party detector code.
"""
import importlib.util
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

_PLATES = pathlib.Path(__file__).resolve().parent.parent / "plates"


def _load(name):
    """Import training/plates/NAME.py under the name plates_NAME (no clash with ours)."""
    spec = importlib.util.spec_from_file_location(f"plates_{name}", _PLATES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_pm = _load("model")
cbr, DS, fold_input_scale = _pm.cbr, _pm.DS, _pm.fold_input_scale

CLASSES = ["speed_limit", "stop_sign", "give_way", "no_entry", "no_left_turn", "no_right_turn",
           "no_u_turn", "pedestrian_crossing", "traffic_light", "fire_hydrant"]
K = len(CLASSES)
STRIDE = 4
PAD_MULTIPLE = 32
SIZE_SCALE = 16.0  # size output = exp(raw) * SIZE_SCALE pixels


class SignNet(nn.Module):
    def __init__(self, c=(16, 48, 96, 128), neck=16):
        super().__init__()
        c1, c2, c3, c4 = c
        self.stem = cbr(3, c1, 4, 4)                           # /4 patchify
        self.stem[0].padding = (0, 0)
        self.s4 = nn.Sequential(DS(c1, c1))                    # /4
        self.s8 = nn.Sequential(DS(c1, c2, 2), DS(c2, c2), DS(c2, c2))  # /8
        self.s16 = nn.Sequential(DS(c2, c3, 2), DS(c3, c3), DS(c3, c3, dil=2))  # /16
        self.s32 = nn.Sequential(DS(c3, c4, 2), DS(c4, c4), DS(c4, c4, dil=2))  # /32
        self.l32 = cbr(c4, neck, 1)
        self.l16 = cbr(c3, neck, 1)
        self.l8 = cbr(c2, neck, 1)
        self.l4 = cbr(c1, neck, 1)
        self.head = nn.Sequential(DS(neck, neck), cbr(neck, neck, 1))
        self.out = nn.Conv2d(neck, K + 4, 1)
        self.input_scale = 1.0 / 255.0
        nn.init.constant_(self.out.bias, 0.0)
        with torch.no_grad():
            self.out.bias[:K] = -4.6  # prior 0.01 for the heatmaps

    def raw(self, x):
        if self.input_scale != 1.0:
            x = x * self.input_scale
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p = self.l32(f32)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.l16(f16)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.l8(f8)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.l4(f4)
        # [N, K+4, H/4, W/4]: K heat logits, log w, log h, off x, off y
        return self.out(self.head(p))

    def forward(self, x):
        return self.raw(x)


def Exported(net):
    """The exported graph: PlateNet's decoding (training/plates/model.py) over K class
    channels, each peak-filtered separately."""
    return _pm.Exported(net, K)


if __name__ == "__main__":
    n = SignNet()
    print(sum(p.numel() for p in n.parameters()), "parameters")
