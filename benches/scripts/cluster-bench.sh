#!/usr/bin/env bash
# The cluster's cost and throughput (`make bench-cluster`), on this machine:
#  1. per-job overhead: a cheap job run in-process versus through nats-server and a
#     worker (cluster/examples/job_overhead.rs; medians of 5 rounds of 200 jobs);
#  2. throughput: the same simulated drives (CONTRIBUTORS drives of ROUTE_M metres)
#     through `streetcomb cluster local` (one process) and through 1, 2 and 3 workers,
#     all on an S3 store (moto) on loopback: wall time from submit to an empty queue,
#     and published frames per second. Workers on one machine share its cores, so
#     this measures the queue's cost, not scale-out across machines.
# Prints one JSON line per measurement and a summary line.
set -euo pipefail
. "$(dirname "$0")/lib.sh" cluster-bench
. scripts/cluster-lib.sh
CONTRIBUTORS="${CONTRIBUTORS:-3}"
ROUTE_M="${ROUTE_M:-500}"
WORK=$(mktemp -d)
CORES=$(nproc)

cargo build -q -p streetcomb -p streetcomb-cluster --examples --bins
say "per-job overhead"
OVERHEAD=$(cargo run -q -p streetcomb-cluster --example job_overhead 2>/dev/null | tail -n 1)
echo "$OVERHEAD"

"$STREETCOMB" -q --store "$WORK/sim" simulate --contributors "$CONTRIBUTORS" --route-m "$ROUTE_M" \
    --out "$WORK/drives" >/dev/null
start_s3 bench

t0=$(now)
SINGLE=$("$STREETCOMB" -q --store "$S3_URL/single" cluster local "$WORK/drives" | tail -n 1)
t1=$(now)
RESULTS=("$(python3 -c "import json,sys; s=json.loads(sys.argv[1]); print(json.dumps({'run':'in-process','workers':0,'seconds':round($t1-$t0,2),'frames':s['frames_published'],'frames_per_s':round(s['frames_published']/($t1-$t0),2)}))" "$SINGLE")")
echo "${RESULTS[0]}"

for n in 1 2 3; do
    start_nats "$WORK/nats-$n"
    # The cores shared out: one single-threaded vision pipeline per core and worker.
    pipelines=$(( CORES / n > 0 ? CORES / n : 1 ))
    pids=()
    for i in $(seq 1 "$n"); do
        S3_URL_SAVED=$S3_URL
        S3_URL="$S3_URL_SAVED/cluster-$n" start_worker "w$i" "$WORK/worker-$n-$i.log" \
            --pipelines "$pipelines" --threads 1 --exit-when-idle-s 2
        S3_URL=$S3_URL_SAVED
        pids+=("$WORKER_PID")
    done
    t0=$(now)
    "$STREETCOMB" -q --store "$S3_URL/cluster-$n" submit --nats "$NATS_URL" "$WORK/drives" >/dev/null
    "$STREETCOMB" -q cluster wait --nats "$NATS_URL" --timeout-s 3600
    t1=$(now)
    for p in "${pids[@]}"; do wait "$p" || true; done
    SUM=$("$STREETCOMB" -q --store "$S3_URL/cluster-$n" cluster summary | tail -n 1)
    [ "$SUM" = "$SINGLE" ] || die "the $n-worker run differs from the in-process run: $SUM vs $SINGLE"
    LINE=$(python3 -c "import json,sys; s=json.loads(sys.argv[1]); print(json.dumps({'run':'cluster','workers':$n,'pipelines_each':$pipelines,'seconds':round($t1-$t0,2),'frames':s['frames_published'],'frames_per_s':round(s['frames_published']/($t1-$t0),2)}))" "$SUM")
    echo "$LINE"
    RESULTS+=("$LINE")
done
python3 - "$OVERHEAD" "$CORES" "${RESULTS[@]}" <<'PY'
import json, sys
overhead, cores, rows = json.loads(sys.argv[1]), int(sys.argv[2]), [json.loads(r) for r in sys.argv[3:]]
base = rows[0]["seconds"]
print(json.dumps({"cores": cores, "overhead_ms_per_job": round(overhead["overhead_ms_per_job"], 3),
                  "runs": [{**r, "vs_in_process": round(r["seconds"] / base, 2)} for r in rows]}))
PY
rm -rf "$WORK"
