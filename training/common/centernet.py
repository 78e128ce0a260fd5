"""Shared pieces of the CenterNet-style detectors (PlateNet, SignNet): targets,
losses, the training run and the ONNX export. Each detector's own train.py keeps its
data augmentation, learning-rate schedule and network."""
import argparse
import json
import math
import pathlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from checks import resumed, set_metadata


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


def load_crops(paths):
    """Images [N, S, S, 3] uint8, boxes and ignore regions of generate.py crop files
    (a comma-separated list)."""
    ims, boxes, ignore = [], [], []
    for path in paths.split(","):
        d = np.load(path)
        ims.append(d["images"])
        boxes += json.loads(str(d["boxes"]))
        ignore += json.loads(str(d["ignore"]))
    return (np.concatenate(ims) if len(ims) > 1 else ims[0]), boxes, ignore


def load_folded(net, path):
    """Loads the weights of an exported model into `net`. The export folded each
    BatchNorm into the convolution before it and the 1/255 input scale into the first
    one, so each BatchNorm becomes the identity plus the folded bias (to be kept in
    eval mode) and the first convolution is scaled back. The exported graph runs its
    convolutions in the order the network registers them; shapes are checked."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    mods = list(net.modules())
    pairs = []
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            bn = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.BatchNorm2d) else None
            pairs.append((m, bn))
    if len(pairs) != len(convs):
        raise SystemExit(f"{path}: {len(convs)} convolutions, the network has {len(pairs)}")
    with torch.no_grad():
        for k, ((conv, bn), node) in enumerate(zip(pairs, convs)):
            w = torch.from_numpy(init[node.input[1]].copy())
            b = torch.from_numpy(init[node.input[2]].copy()) if len(node.input) > 2 else None
            if w.shape != conv.weight.shape:
                raise SystemExit(f"{path}: convolution {k} is {tuple(w.shape)}, "
                                 f"the network's {tuple(conv.weight.shape)}")
            if k == 0:
                w = w / net.input_scale
            conv.weight.copy_(w)
            if bn is None:
                conv.bias.copy_(b)
            else:
                bn.weight.fill_(1.0)
                bn.bias.copy_(b if b is not None else torch.zeros_like(bn.bias))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)


def cli(doc, threads, minutes_help, steps_help, data_required=False):
    """The command line both detectors' train.py take."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=data_required, help="crops .npz from generate.py (comma-separated list)")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=40, help=minutes_help)
    p.add_argument("--steps", type=int, help=steps_help)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", help="checkpoint to start from")
    p.add_argument("--init-onnx", metavar="ONNX",
                   help="start from an exported model instead (its BatchNorm is folded, so the "
                        "fine-tuning keeps those statistics frozen)")
    p.add_argument("--export", help="write the ONNX model here at the end")
    p.add_argument("--export-only", metavar="CKPT", help="only export this checkpoint")
    return p.parse_args()


class StepBudget:
    """--steps, or --minutes turned into a step count by timing the first 20 steps."""

    def __init__(self, a, t0):
        self.total = a.steps
        self.timed = a.steps is None
        self.budget = a.minutes * 60 - (time.time() - t0)
        self.t_start = time.time()

    def fraction(self, step):
        if self.timed and self.total is None and step == 20:
            per = (time.time() - self.t_start) / 20
            self.total = max(40, int(self.budget / per))
            print(f"{per:.3f} s/step -> {self.total} steps", flush=True)
        if self.total is None:
            return 0.0
        return step / self.total if self.total else 1.0


class ClockBudget:
    """--steps, or the share of the --minutes budget spent (less 30 s for the export):
    training ends annealed on time whatever else the machine is doing."""

    def __init__(self, a, t0):
        self.total = a.steps
        self.budget = a.minutes * 60 - (time.time() - t0) - 30
        self.t_start = time.time()

    def fraction(self, step):
        if self.total is not None:
            return step / self.total
        return (time.time() - self.t_start) / self.budget


def train(a, make_net, load_data, export, k, what, schedule, lr_floor, save_every):
    """A detector's training run as its train.py's command line `a` asks: load the
    crops (`load_data(paths)` -> an object with images, boxes and batch(idx, rng)),
    AdamW with 100 warm-up steps and a cosine learning rate down to `lr_floor` of
    its peak over `schedule`'s fraction, checkpoints every `save_every` steps, then
    `export(net, path)`. `--export-only CKPT` only exports."""
    torch.set_num_threads(a.threads)
    if a.export_only:
        net = make_net()
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
    data = load_data(a.data)
    print(f"data: {len(data.images)} crops, {sum(map(len, data.boxes))} {what}, "
          f"{time.time() - t0:.0f} s to load", flush=True)
    net = make_net()
    print(f"{sum(q.numel() for q in net.parameters())} parameters", flush=True)
    resumed(net, a)
    frozen = bool(a.init_onnx)
    if frozen:
        load_folded(net, a.init_onnx)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    net.train()
    if frozen:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    budget = schedule(a, t0)
    step, hist = 0, []
    while True:
        frac = budget.fraction(step)
        if frac >= 1.0:
            break
        warm = min(1.0, (step + 1) / 100)
        lr = a.lr * warm * (lr_floor + (1 - lr_floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for gq in opt.param_groups:
            gq["lr"] = lr
        idx = rng.integers(0, len(data.images), a.batch)
        lh, ls, lo = losses(net, data.batch(idx, rng), k)
        loss = lh + ls + lo
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        hist.append([lh.item(), ls.item(), lo.item()])
        step += 1
        if step % 100 == 0:
            h = np.mean(hist[-100:], axis=0)
            total = f"/{budget.total}" if budget.total is not None else ""
            print(f"step {step}{total} lr {lr:.5f} heat {h[0]:.3f} size {h[1]:.3f} off {h[2]:.3f} "
                  f"{(time.time() - t0) / 60:.1f} min", flush=True)
        if step % save_every == 0:
            torch.save(net.state_dict(), out / "last.pt")
    torch.save(net.state_dict(), out / "last.pt")
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)
    if a.export:
        net.eval()
        export(net, a.export)
        print(f"exported {a.export}", flush=True)
