#!/usr/bin/env bash
# Sets up everything the plate-detector training needs (not part of `make test` or
# `make demo`: the exported models/plate_detector.onnx is committed).
#
#   1. the pinned training venv $CACHE/venv-train from scripts/setup-requirements-train.txt
#      (PyPI wheels only, every file sha256-checked: --require-hashes --only-binary=:all:),
#      rebuilt only when the requirements file changes, like scripts/setup.sh does;
#   2. the background photos: Debian `opencv-doc` (apt-get download, unpacked into the
#      cache, never installed) plus this repository's testdata/, copied into
#      $CACHE/plates-bg with the vehicle boxes COCO-SSD finds in them.
#
# Prints the venv's python on stdout. Run from anywhere; needs ~5 GB of disk (the
# PyPI torch wheel is the CUDA build and pulls the nvidia-* wheels).
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
VENV="$CACHE/venv-train"
REQS=scripts/setup-requirements-train.txt
BG_DIR="$CACHE/plates-bg"
OCV_VERSION="4.6.0+dfsg-12"

say() { printf 'plates-setup: %s\n' "$*" >&2; }
die() { printf 'plates-setup: error: %s\n' "$*" >&2; exit 1; }

# 1. The venv, built by scripts/pinned-venv.sh like every venv of the project.
train_check() { "$1" -c 'import torch, onnx, onnxruntime, cv2, PIL, numpy; print(torch.__version__)'; }
. scripts/pinned-venv.sh
pinned_venv "$VENV" "$REQS" "training packages (torch: several GB)" train_check

# 2. Backgrounds.
OCV_DIR="$CACHE/opencv-doc-$OCV_VERSION"
if [ ! -d "$OCV_DIR/usr/share/doc/opencv-doc/examples/data" ]; then
    say "fetching Debian opencv-doc $OCV_VERSION (apt-get download; background photos)"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download "opencv-doc=$OCV_VERSION" >&2) \
        || die "apt-get download opencv-doc=$OCV_VERSION failed (run 'apt-get update' first)"
    rm -rf "$OCV_DIR"
    mkdir -p "$OCV_DIR"
    dpkg-deb -x "$tmp"/opencv-doc_*.deb "$OCV_DIR"
    rm -rf "$tmp"
fi
if [ ! -s "$BG_DIR/backgrounds.json" ] || [ training/plates/generate.py -nt "$BG_DIR/backgrounds.json" ]; then
    say "preparing backgrounds in $BG_DIR"
    "$VENV/bin/python3" training/plates/generate.py backgrounds --bg-dir "$BG_DIR" \
        --ocv-root "$OCV_DIR/usr/share/doc/opencv-doc/examples"
fi
echo "$VENV/bin/python3"
