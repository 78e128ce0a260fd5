"""Shared pieces of the CenterNet-style detectors (PlateNet, SignNet): targets,
losses and the ONNX export. Each detector's own train.py keeps its data, schedule
and network."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from checks import set_metadata


def focal_loss(logit, gt, valid):
    """CenterNet focal loss on heatmap logits; `valid` masks ignore regions."""
    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = (gt >= 1.0).float()
    neg = (1 - pos) * valid
    pos_l = -torch.log(p) * (1 - p) ** 2 * pos
    neg_l = -torch.log(1 - p) * p ** 2 * (1 - gt) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return (pos_l.sum() + neg_l.sum()) / n


def make_targets(boxes, ignore, size, *, stride, size_scale, channels, min_w, min_h):
    """Per-class heatmaps (elliptical Gaussians at object centres, sigma = 0.54 * size / 6
    cells per axis, at least 0.4), regression targets (log(w/S), log(h/S), offsets)
    and masks for a size x size crop. `boxes` are (x, y, w, h, class)."""
    g = size // stride
    heat = np.zeros((channels, g, g), np.float32)
    ign = np.ones((g, g), np.float32)  # 1 = counts in the heatmap loss
    reg = np.zeros((4, g, g), np.float32)
    regm = np.zeros((g, g), np.float32)
    for b in ignore:
        x0, y0 = int(max(0, math.floor(b[0] / stride))), int(max(0, math.floor(b[1] / stride)))
        x1 = int(min(g, math.ceil((b[0] + b[2]) / stride) + 1))
        y1 = int(min(g, math.ceil((b[1] + b[3]) / stride) + 1))
        ign[y0:y1, x0:x1] = 0
    r = np.arange(g, dtype=np.float32)
    for x, y, w, h, c in boxes:
        cx, cy = (x + w / 2) / stride, (y + h / 2) / stride
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < g and 0 <= iy < g) or w < min_w or h < min_h:
            continue
        sx = max(0.4, 0.54 * (w / stride) / 6)
        sy = max(0.4, 0.54 * (h / stride) / 6)
        gauss = np.exp(-((r[None, :] - ix) ** 2 / (2 * sx * sx)) - ((r[:, None] - iy) ** 2 / (2 * sy * sy)))
        heat[c] = np.maximum(heat[c], gauss)
        heat[c, iy, ix] = 1.0
        reg[:, iy, ix] = [math.log(w / size_scale), math.log(h / size_scale), cx - ix, cy - iy]
        regm[iy, ix] = 1.0
    return heat, ign, reg, regm


def losses(net, batch, k):
    """Focal loss on the k heatmaps, L1 on log sizes and on the sub-cell offset at centres."""
    im, heat, ign, reg, regm = batch
    out = net(im)
    lh = focal_loss(out[:, :k], heat, ign.unsqueeze(1))
    m = regm.unsqueeze(1)
    n = regm.sum().clamp(min=1.0)
    ls = (F.l1_loss(out[:, k:k + 2], reg[:, 0:2], reduction="none") * m).sum() / n
    lo = (F.l1_loss(torch.sigmoid(out[:, k + 2:k + 4]), reg[:, 2:4], reduction="none") * m).sum() / n
    return lh, ls, lo


def export(exported, path, metadata=(), producer=None):
    """The exported (decoding) module to ONNX with dynamic image size; `metadata`
    (key, value) pairs are stored in the file."""
    torch.onnx.export(exported.eval(), torch.zeros(1, 3, 256, 384), str(path), input_names=["image"],
                      output_names=["heatmap", "size", "offset"],
                      dynamic_axes={"image": {2: "height", 3: "width"},
                                    "heatmap": {2: "height_4", 3: "width_4"},
                                    "size": {2: "height_4", 3: "width_4"},
                                    "offset": {2: "height_4", 3: "width_4"}},
                      opset_version=17, do_constant_folding=True, dynamo=False)
    set_metadata(path, metadata, producer)
