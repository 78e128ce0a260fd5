"""Shared pieces of the second-look classifiers (PlateCheck, SignCheck).

A detector run at a recall-first threshold proposes boxes; a small CNN looks at a
crop around each box again. Both checks are trained the same way: crops of the
detector's own proposals on rendered pictures (hard negatives by construction) plus
jittered true boxes, balanced batches, brightness/contrast jitter, OneCycle AdamW.
What differs (crop window, labels, loss, flips) comes in as arguments.
"""
import time

import numpy as np
import torch
import torch.nn as nn


def cbr(i, o, s=1):
    """3x3 conv (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


def to_tensor(x):
    """[N, H, W, 3] uint8 -> [N, 3, H, W] float32 0-255."""
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float()


def jitter_box(rng, box, sigma=0.08):
    """(x, y, w, h) moved and resized by N(0, sigma) of its size, as (x0, y0, x1, y1)."""
    x, y, w, h = box[:4]
    j = rng.normal(0, sigma, 4) * [w, h, w, h]
    return (x + j[0], y + j[1], x + w + j[2], y + h + j[3])


def fit(net, x, y, *, groups, steps, batch, lr, seed, threads, loss_fn, flip=None, report=None, every=500):
    """Trains `net` on crops `x` ([N, H, W, 3] uint8) with labels `y`.

    Each batch draws the same number of crops from every index array in `groups`
    (balanced classes). `flip(xb, yb, mask)` may mirror the crops in `mask` and
    return new labels (None: no flips). `report(net)` -> str is printed every
    `every` steps."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    per = batch // len(groups)
    t0 = time.time()
    for step in range(steps):
        net.train()
        b = np.concatenate([rng.choice(g, per) for g in groups])
        xb, yb = x[b].copy(), y[b].copy()
        if flip is not None:
            xb, yb = flip(xb, yb, rng.random(len(b)) < 0.5)
        xt = to_tensor(xb)
        g = torch.from_numpy(rng.uniform(0.6, 1.4, (len(b), 1, 1, 1))).float()
        o = torch.from_numpy(rng.uniform(-30, 30, (len(b), 1, 1, 1))).float()
        xt = ((xt - 128) * g + 128 + o).clamp(0, 255)
        loss = loss_fn(net(xt), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % every == every - 1 or step == steps - 1:
            msg = report(net) if report else ""
            print(f"step {step + 1}: loss {loss.item():.3f}, {msg}, {time.time() - t0:.0f} s", flush=True)
    return net


def resumed(net, a):
    """`net`, with the weights of `a.resume` when the command line names one."""
    if a.resume:
        net.load_state_dict(torch.load(a.resume, map_location="cpu"))
    return net


@torch.no_grad()
def predict(net, x, post, chunk=2048):
    """`post(logits)` of every crop, in chunks, as numpy."""
    net.eval()
    return torch.cat([post(net(to_tensor(x[i:i + chunk]))) for i in range(0, len(x), chunk)]).numpy()


class CropNet(nn.Module):
    """A crop classifier: `features` (a conv stack on 0-255 input scaled to 0-1), then
    Flatten, Dropout 0.2, Linear(flat, hidden), ReLU, Linear(hidden, out)."""

    def __init__(self, features, flat, hidden, out):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, out))

    def forward(self, x):
        return self.head(self.features(x / 255.0))


class Exported(nn.Module):
    """`post` (sigmoid, softmax) applied to the classifier's logits, as shipped."""

    def __init__(self, net, post):
        super().__init__()
        self.net, self.post = net, post

    def forward(self, crops):
        return self.post(self.net(crops))


def export(net, post, crop_hw, output, path, metadata=()):
    """The classifier with `post` to ONNX: input `crops` [n, 3, H, W], output `output`
    with a dynamic first axis; `metadata` (key, value) pairs stored in the file."""
    net.eval()
    torch.onnx.export(Exported(net, post).eval(), torch.zeros(2, 3, *crop_hw), str(path),
                      input_names=["crops"], output_names=[output],
                      dynamic_axes={"crops": {0: "n"}, output: {0: "n"}}, opset_version=17,
                      do_constant_folding=True, dynamo=False)
    set_metadata(path, metadata)
    print(f"exported {path}")


def set_metadata(path, metadata=(), producer=None):
    """Stores (key, value) pairs, and the producer's name, in an ONNX file."""
    if not metadata and not producer:
        return
    import onnx
    mp = onnx.load(str(path))
    for k, v in metadata:
        e = mp.metadata_props.add()
        e.key, e.value = k, v
    if producer:
        mp.producer_name = producer
    onnx.save(mp, str(path))


def cli(doc, steps, batch, data_args, eval_args):
    """The data / train / eval command line every check shares; `data_args(parser)`
    and `eval_args(parser)` add what is the check's own."""
    import argparse
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--bg-dir", required=True)
    d.add_argument("--n", type=int, required=True, help="rendered pictures to mine")
    d.add_argument("--out", required=True)
    d.add_argument("--seed", type=int, default=20261207)
    d.add_argument("--keep-neg", type=float, default=0.35, help="share of weak negatives kept")
    data_args(d)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True, help="crops .npz from `data` (comma-separated list)")
    t.add_argument("--out", required=True)
    t.add_argument("--export")
    t.add_argument("--steps", type=int, default=steps)
    t.add_argument("--batch", type=int, default=batch)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--resume", help="a check.pt to start from (fine-tuning on new crops)")
    e = sub.add_parser("eval")
    e.add_argument("--set", action="append", required=True)
    eval_args(e)
    return p.parse_args()
