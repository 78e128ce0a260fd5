#!/usr/bin/env bash
# `make bench-ingest`: ingest throughput (frames/s) on a simulated drive of real street
# photos, next to (1) the raw decode of the same JPEGs with the same decoder on the same
# cores, the physical limit of this stage, and (2) mapillary_tools geotagging the same
# images from the same GPX, in the same run. Medians over RUNS runs (default 3).
#
# mapillary_tools comes from PyPI (pinned) into a venv under the streetcomb cache.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}
RUNS=${RUNS:-3}
# 8 m/s at 2 frames/s: 4 m a frame, so 2400 m is about 600 frames.
ROUTE_M=${ROUTE_M:-2400}
MT_VERSION=0.14.7
VENV="$CACHE/venv-mapillary-tools-$MT_VERSION"

if [ ! -x "$VENV/bin/mapillary_tools" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "mapillary_tools==$MT_VERSION" || {
        echo "bench-ingest: cannot install mapillary_tools==$MT_VERSION from PyPI" >&2
        rm -rf "$VENV"
        exit 1
    }
fi

cargo build -q -p streetcomb
cargo build -q --release -p streetcomb-benches --example ingest_throughput
BENCH=./target/release/examples/ingest_throughput

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
./target/debug/streetcomb --quiet --store "$WORK/store" simulate \
    --out "$WORK/sim" --contributors 1 --route-m "$ROUTE_M" >/dev/null
SIM=$(find "$WORK/sim" -mindepth 1 -maxdepth 1 -type d | head -n 1)
# Frames with an EXIF capture time, so both tools read times the same way.
"$BENCH" prepare "$SIM" "$WORK/drive"

"$BENCH" run "$WORK/drive" "$RUNS" >"$WORK/ours.json"

: >"$WORK/mt.txt"
for _ in $(seq "$RUNS"); do
    rm -f "$WORK/desc.json"
    start=$(date +%s.%N)
    "$VENV/bin/mapillary_tools" process "$WORK/drive/frames" \
        --geotag_source gpx --geotag_source_path "$WORK/drive/track.gpx" \
        --desc_path "$WORK/desc.json" --skip_process_errors >"$WORK/mt.log" 2>&1 || {
        echo "bench-ingest: mapillary_tools failed:" >&2
        tail -n 20 "$WORK/mt.log" >&2
        exit 1
    }
    end=$(date +%s.%N)
    echo "$start $end" >>"$WORK/mt.txt"
done

python3 - "$WORK/ours.json" "$WORK/mt.txt" "$WORK/desc.json" <<'PY'
import json, statistics, sys
ours = json.load(open(sys.argv[1]))
mt = [float(e) - float(s) for s, e in (l.split() for l in open(sys.argv[2]))]
desc = json.load(open(sys.argv[3]))
mt_ok = sum(1 for d in desc if "error" not in d)
n = ours["frames"]
mt_med = statistics.median(mt)
print(f"frames: {n} (1280x720 JPEG), runs: {ours['runs']}, medians")
print(f"{'':30} {'seconds':>8} {'frames/s':>9}")
print(f"{'raw decode (zune-jpeg, RGB)':30} {ours['decode_median_s']:8.3f} {ours['decode_fps']:9.1f}")
print(f"{'streetcomb ingest_drive':30} {ours['ingest_median_s']:8.3f} {ours['ingest_fps']:9.1f}   kept {ours['kept']}")
print(f"{'mapillary_tools process (gpx)':30} {mt_med:8.3f} {n / mt_med:9.1f}   geotagged {mt_ok}")
print(f"ingest / raw decode time: {ours['ingest_over_decode']:.2f}x (goal <= 1.5x)")
print(f"mapillary_tools / ingest time: {mt_med / ours['ingest_median_s']:.1f}x (goal > 1x)")
PY
