"""PlateNet: a small anchor-free (CenterNet-style) licence-plate detector.

Fully convolutional, stride 4 output, any input size that is a multiple of 32.
Input: float32 [1, 3, H, W] RGB, 0-255 (the same tensor CenterFace takes).
Outputs (exported graph, see README.md "ONNX contract"):
  heatmap [1, 1, H/4, W/4]  sigmoid plate-centre score, zero where not a 3x3 local max
  size    [1, 2, H/4, W/4]  box width, height in input pixels
  offset  [1, 2, H/4, W/4]  sub-cell centre offset (x, y) in cells, 0..1
Own design from torch.nn building blocks; no third-party detector code.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE = 4
PAD_MULTIPLE = 32
SIZE_SCALE = 16.0  # size output = exp(raw) * SIZE_SCALE pixels


def cbr(cin, cout, k=3, s=1, groups=1, dil=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, padding=dil * (k // 2), dilation=dil, groups=groups,
                        bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DS(nn.Module):
    """Depthwise-separable block; residual when the shape is kept."""

    def __init__(self, cin, cout, s=1, dil=1):
        super().__init__()
        self.dw = cbr(cin, cin, 3, s, groups=cin, dil=dil)
        self.pw = cbr(cin, cout, 1, act=False)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return F.relu(y + x) if self.res else F.relu(y)


class PlateNet(nn.Module):
    def __init__(self, c=(16, 48, 96), neck=16):
        super().__init__()
        c1, c2, c3 = c
        # patchify stem: one 4x4 stride-4 conv straight to stride 4 (cheap on 2 MP frames)
        self.stem = cbr(3, c1, 4, 4)                           # /4
        self.stem[0].padding = (0, 0)
        self.s4 = nn.Sequential(DS(c1, c1))                    # /4
        self.s8 = nn.Sequential(DS(c1, c2, 2), DS(c2, c2), DS(c2, c2))  # /8
        self.s16 = nn.Sequential(DS(c2, c3, 2), DS(c3, c3), DS(c3, c3, dil=2), DS(c3, c3, dil=3))  # /16
        self.l16 = cbr(c3, neck, 1)
        self.l8 = cbr(c2, neck, 1)
        self.l4 = cbr(c1, neck, 1)
        self.head = nn.Sequential(DS(neck, neck), cbr(neck, neck, 1))
        self.out = nn.Conv2d(neck, 5, 1)
        self.input_scale = 1.0 / 255.0
        nn.init.constant_(self.out.bias, 0.0)
        with torch.no_grad():
            self.out.bias[0] = -4.6  # prior 0.01 for the heatmap

    def raw(self, x):
        # 0-255 input; the 1/255 scale is folded into the stem at export (fold_input_scale)
        if self.input_scale != 1.0:
            x = x * self.input_scale
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        p = self.l16(f16)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.l8(f8)
        p = F.interpolate(p, scale_factor=2.0, mode="nearest") + self.l4(f4)
        return self.out(self.head(p))  # [N, 5, H/4, W/4]: heat logit, log w, log h, off x, off y

    def forward(self, x):
        return self.raw(x)


def fold_input_scale(net):
    """Fold the 1/255 input scale into the stem conv (exact: the stem has no padding)."""
    with torch.no_grad():
        net.stem[0].weight.mul_(net.input_scale)
    net.input_scale = 1.0


class Exported(nn.Module):
    """The graph that is exported: decoded outputs with the 3x3 peak filter built in,
    for a net whose raw output is k heat logits, log w, log h, off x, off y (PlateNet:
    k = 1; SignNet reuses this with one channel per class, each peak-filtered alone)."""

    def __init__(self, net, k=1):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, image):
        r = self.net.raw(image)
        k = self.k
        heat = torch.sigmoid(r[:, 0:k])
        peak = F.max_pool2d(heat, 3, 1, 1)  # per channel
        heat = heat * (peak == heat).to(heat.dtype)
        size = torch.exp(r[:, k:k + 2].clamp(-6.0, 6.0)) * SIZE_SCALE
        offset = torch.sigmoid(r[:, k + 2:k + 4])
        return heat, size, offset
