"""Fits `signs.box_fit` (vision/src/signs.rs, config/vision.toml) from the box sides
`make bench-signs` writes.

The detector's boxes run loose on small signs by a pixel or two (the anti-aliased
rim), and by a few per cent on some classes at every size; mapbuild takes range from
box size, so each class gets found = scale x true + offset_px per axis, fitted by
least relative absolute error (each box counts by its error as a share of its side,
the error range inherits).

usage (the boxes must come without the current fit: --box-fit off):
  cargo run --release -p streetcomb-pipeline --example sign_bench -- --frames 600 \\
      --seed 21 --width 1280 --height 720 --box-fit off --box-sides sides21.csv
  python3 training/signs/fit_boxes.py sides21.csv [more.csv ...]

Standard library only: it runs with any Python 3.
"""

import csv
import sys
from collections import defaultdict

# Classes whose sides are within this share of true at every size keep no fit.
WITHIN = 0.02
BUCKETS = [(8, 14), (14, 24), (24, 48), (48, float("inf"))]


def weighted_line(t, f, w):
    """Weighted least squares of f = s t + b."""
    sw = sum(w)
    mt = sum(wi * ti for wi, ti in zip(w, t)) / sw
    mf = sum(wi * fi for wi, fi in zip(w, f)) / sw
    stt = sum(wi * (ti - mt) ** 2 for wi, ti in zip(w, t))
    stf = sum(wi * (ti - mt) * (fi - mf) for wi, ti, fi in zip(w, t, f))
    s = stf / stt if stt > 0 else 1.0
    return s, mf - s * mt


def fit(t, f):
    """found = s true + b minimising sum |found - (s true + b)| / true (IRLS)."""
    w = [1.0] * len(t)
    s, b = 1.0, 0.0
    for _ in range(50):
        s, b = weighted_line(t, f, [wi / ti**2 for wi, ti in zip(w, t)])
        w = [1.0 / max(abs(fi - (s * ti + b)) / ti, 1e-3) for ti, fi in zip(t, f)]
    return s, b


def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2 if n else float("nan")


def main(paths):
    rows = defaultdict(list)
    for p in paths:
        with open(p, newline="") as fh:
            for r in csv.DictReader(fh):
                rows[r["class"]].append(
                    tuple(float(r[k]) for k in ("true_w", "true_h", "found_w", "found_h"))
                )
    print("[signs.box_fit]")
    for cls in sorted(rows):
        v = rows[cls]
        ratios = []
        for lo, hi in BUCKETS:
            b = [x for x in v if lo <= max(x[0], x[1]) < hi]
            if len(b) >= 5:
                ratios.append(median([x[2] / x[0] for x in b]))
                ratios.append(median([x[3] / x[1] for x in b]))
        sw, bw = fit([x[0] for x in v], [x[2] for x in v])
        sh, bh = fit([x[1] for x in v], [x[3] for x in v])
        line = f"{cls} = {{ width = [{sw:.3f}, {bw:.2f}], height = [{sh:.3f}, {bh:.2f}] }}"
        if all(abs(r - 1) <= WITHIN for r in ratios):
            line = "# " + line + "  (within 2 % at every size: left out)"
        print(f"{line}  # {len(v)} boxes")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
