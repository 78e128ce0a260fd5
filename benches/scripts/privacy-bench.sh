#!/usr/bin/env bash
# `make bench-privacy`: what the privacy stage hides and what it costs the picture
# (vision/examples/privacy_bench.rs, the stage as `streetcomb process` runs it).
#
# Labelled sets:
#   * the held-out rendered plates: 250 pictures made by training/plates/generate.py
#     evalset on the held-out backgrounds (the training venv of training/plates/setup.sh,
#     PyPI wheels pinned with hashes; generated once into target/bench-privacy/);
#   * the rendered fixture testdata/plates/rendered;
#   * the 43 labelled faces of testdata/faces.
# Real, unlabelled street frames, none of them used to train either plate model:
#   testdata/street/video (frames of opencv's vtest.avi), testdata/street/{leuvenB,
#   opencv_scenetext02,opencv_scenetext05,licenseplate_motion}.jpg and
#   testdata/plates/*.jpg. (leuvenA and opencv_scenetext01 are training backgrounds.)
# Writes target/bench-privacy.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$CACHE/onnxruntime-1.31.1/libonnxruntime.so.1.31.1}"
export STREETCOMB_MODELS="${STREETCOMB_MODELS:-$CACHE/models}"
HOLDOUT=target/bench-privacy/eval_holdout

say() { printf 'privacy-bench: %s\n' "$*" >&2; }
die() { printf 'privacy-bench: error: %s\n' "$*" >&2; exit 1; }

[ -f "$ORT_DYLIB_PATH" ] || die "ONNX Runtime is missing ($ORT_DYLIB_PATH): run make setup"
[ -f "$STREETCOMB_MODELS/plate_check.onnx" ] || die "models are missing in $STREETCOMB_MODELS: run make setup"

if [ ! -s "$HOLDOUT/boxes.csv" ]; then
    PY=$(training/plates/setup.sh)
    BG="$CACHE/plates-bg"
    say "rendering the held-out plate set into $HOLDOUT"
    rm -rf "$HOLDOUT"
    mkdir -p "$(dirname "$HOLDOUT")"
    (cd training/plates && "$PY" generate.py evalset --bg-dir "$BG" --split holdout --n 250 \
        --out "../../$HOLDOUT")
fi

cargo build --quiet --release -p streetcomb-vision --example privacy_bench
target/release/examples/privacy_bench \
    --plates "$HOLDOUT" --plates testdata/plates/rendered \
    --faces testdata/faces \
    --real testdata/street/video \
    --real testdata/street/leuvenB.jpg --real testdata/street/opencv_scenetext02.jpg \
    --real testdata/street/opencv_scenetext05.jpg --real testdata/street/licenseplate_motion.jpg \
    --real testdata/plates \
    --json target/bench-privacy.json
