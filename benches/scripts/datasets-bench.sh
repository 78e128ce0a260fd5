#!/usr/bin/env bash
# `make bench-datasets`: a data buyer's queries over the same lake, `streetcomb query`
# versus DuckDB (the pinned venv that scripts/setup.sh installs), in the same run.
#
# The lake (datasets/examples/gen_lake.rs, written through the normal Store API):
# FRAMES frames (default 1,000,000) of many drives over two weeks in three Finnish
# cities, FEATURES features (default 100,000), per-day coverage and a rewards ledger,
# hive-partitioned by day and H3 resolution-4 cell.
#
# Each query runs RUNS times (default 5) as a whole process on each side: the
# `streetcomb query` binary, and `python3 -c 'import duckdb; ...'` reading the same
# folders with hive partitioning. Prints the medians and the ratio, then the bytes each
# of our scans read (`--stats`) against the lake's size, which is partition pruning
# shown in bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
RUNS="${RUNS:-5}"
FRAMES="${FRAMES:-1000000}"
FEATURES="${FEATURES:-100000}"
OUT="target/datasets-bench"
LAKE="$OUT/lake-$FRAMES-$FEATURES"
PY="$CACHE/venv-duckdb/bin/python3"
die() { printf 'datasets-bench: error: %s\n' "$*" >&2; exit 1; }
[ -x "$PY" ] || die "no DuckDB venv at $PY: run 'make setup' first"

# One cargo invocation, so both share the binary's dependency features (and build).
cargo build --quiet --release -p streetcomb --bin streetcomb -p streetcomb-datasets --example gen_lake
BIN=target/release/streetcomb
mkdir -p "$OUT"
if [ ! -f "$LAKE/.complete" ]; then
    rm -rf "$LAKE"
    echo "generating the lake ($FRAMES frames, $FEATURES features) in $LAKE" >&2
    target/release/examples/gen_lake "$LAKE" "$FRAMES" "$FEATURES" >&2
    touch "$LAKE/.complete"
fi

# name|SQL (the same text runs on both sides; tables are the dataset folders).
QUERIES=$(cat <<'SQL'
features_bbox_week|SELECT class, count(*) AS n, avg(confidence) AS conf FROM features WHERE bbox.xmin <= 24.98 AND bbox.xmax >= 24.90 AND bbox.ymin <= 60.19 AND bbox.ymax >= 60.15 AND last_seen >= TIMESTAMP '2026-11-09 00:00:00' AND last_seen < TIMESTAMP '2026-11-16 00:00:00' GROUP BY class ORDER BY class
coverage_freshness|SELECT h3, max(last_covered_at) AS last_covered, count(DISTINCT contributor_id) AS contributors, sum(n_frames) AS frames FROM coverage GROUP BY h3 ORDER BY last_covered DESC, h3 LIMIT 20
top_contributors|SELECT contributor_id, sum(amount) AS total FROM rewards_ledger GROUP BY contributor_id ORDER BY total DESC, contributor_id LIMIT 10
frames_city_day|SELECT contributor_id, count(*) AS n FROM frames WHERE date = DATE '2026-11-10' AND bbox.xmin <= 25.0 AND bbox.xmax >= 24.85 AND bbox.ymin <= 60.22 AND bbox.ymax >= 60.13 GROUP BY contributor_id ORDER BY n DESC, contributor_id LIMIT 10
SQL
)

cat >"$OUT/duck.py" <<'PY'
import sys, time, duckdb
lake, sql = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
con = duckdb.connect()
for t in ["frames", "features", "coverage", "rewards_ledger"]:
    con.execute(
        f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)"
    )
# Written out as CSV, as `streetcomb query --format csv` does (and no pytz needed).
out = sys.argv[3]
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER false)")
# Rows, then the seconds from connecting to the result written (no interpreter start).
print(sum(1 for _ in open(out)), time.perf_counter() - t0)
PY

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# duckdb: the whole python process; duckdb-q: from connecting to the CSV written, inside
# it (no interpreter start-up), which only favours DuckDB since ours is a whole process.
printf '%-20s %10s %10s %8s %10s %8s %6s\n' query streetcomb duckdb ratio duckdb-q ratio rows
: >"$OUT/ratios.txt"
while IFS='|' read -r name sql; do
    [ -n "$name" ] || continue
    ours=() duck=() inproc=()
    for _ in $(seq "$RUNS"); do
        t0=$(now)
        ours_rows=$("$BIN" --quiet --store "$LAKE" query --format csv "$sql" | tail -n +2 | wc -l)
        t1=$(now)
        read -r duck_rows duck_in < <("$PY" "$OUT/duck.py" "$LAKE" "$sql" "$OUT/duck.csv")
        t2=$(now)
        inproc+=("$duck_in")
        ours+=("$(awk "BEGIN { print $t1 - $t0 }")")
        duck+=("$(awk "BEGIN { print $t2 - $t1 }")")
    done
    [ "$ours_rows" = "$duck_rows" ] || die "$name: streetcomb returned $ours_rows rows, DuckDB $duck_rows"
    mo=$(printf '%s\n' "${ours[@]}" | median)
    md=$(printf '%s\n' "${duck[@]}" | median)
    mi=$(printf '%s\n' "${inproc[@]}" | median)
    ratio=$(awk "BEGIN { print $mo / $md }")
    ratio_in=$(awk "BEGIN { print $mo / $mi }")
    echo "$ratio $ratio_in" >>"$OUT/ratios.txt"
    printf '%-20s %9.3fs %9.3fs %7.2fx %9.3fs %7.2fx %6s\n' "$name" "$mo" "$md" "$ratio" "$mi" "$ratio_in" "$ours_rows"
done <<<"$QUERIES"
printf 'median ratio streetcomb/duckdb over the queries (medians of %s runs): %.2fx whole process, %.2fx against DuckDB without its start-up (goal <= 1.5x)\n' \
    "$RUNS" "$(cut -d' ' -f1 "$OUT/ratios.txt" | median)" "$(cut -d' ' -f2 "$OUT/ratios.txt" | median)"

# Partition pruning, in bytes read from the store.
total=$(du -sb "$LAKE/frames" | cut -f1)
scan() { "$BIN" --quiet --store "$LAKE" query --stats --format csv "$1" 2>&1 >/dev/null | sed -n 's/^bytes_scanned=//p'; }
cell=$("$BIN" --quiet --store "$LAKE" query --format csv \
    "SELECT h3_4 FROM frames WHERE date = DATE '2026-11-10' GROUP BY h3_4 ORDER BY count(*) DESC, h3_4 LIMIT 1" | tail -n 1)
# The same projection each time, so only the partition filters change what is read.
Q="SELECT count(*) AS n, min(captured_at) AS t0, avg(lat) AS lat, count(DISTINCT contributor_id) AS c FROM frames"
all=$(scan "$Q")
day=$(scan "$Q WHERE date = DATE '2026-11-10'")
city=$(scan "$Q WHERE date = DATE '2026-11-10' AND h3_4 = '$cell'")
printf 'frames: %s bytes on disk; bytes read by the same query over all of it: %s; one day: %s; one day and one H3-4 cell: %s\n' \
    "$total" "$all" "$day" "$city"
