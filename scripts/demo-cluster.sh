#!/usr/bin/env bash
# `make demo-cluster`: the demo's drives through the cluster and through one process,
# compared. Starts nats-server (JetStream) and an S3 server (moto) on loopback and
# three `streetcomb worker`s on the S3 store, submits the drives, kills one worker with
# SIGKILL while it runs a vision job, waits for the queue to drain, and prints as its
# last line
#   {"workers":3,"killed":1,"redelivered":R,"single":{…},"cluster":{…}}
# where single (the in-process run, `streetcomb cluster local`) and cluster each hold
# frames_published, detections, features and ledger_root. Exits non-zero when they
# differ, when no worker could be killed mid-job, or when the killed job was not
# delivered again.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'demo-cluster: %s\n' "$*" >&2; }
die() { printf 'demo-cluster: error: %s\n' "$*" >&2; exit 1; }
. scripts/cluster-lib.sh

WORK="${DEMO_CLUSTER_DIR:-streetcomb-cluster-demo}"
WORKERS=3
rm -rf "$WORK"
mkdir -p "$WORK"

say "simulating the demo's drives"
"$STREETCOMB" -q --store "$WORK/sim" simulate --out "$WORK/drives" >/dev/null

say "starting nats-server and the S3 server on loopback"
start_nats "$WORK/nats"
start_s3 streetcomb-demo

say "the single-process run (streetcomb cluster local)"
SINGLE=$("$STREETCOMB" -q --store "$WORK/single" cluster local "$WORK/drives" | tail -n 1)

# One vision pipeline of one ONNX Runtime thread each: three workers share this
# machine's cores.
# A short ack wait, so the killed worker's job comes back quickly.
QUEUE=(--nats "$NATS_URL" --ack-wait-s 10 --max-deliver 5)
declare -A PID
for i in $(seq 1 $WORKERS); do
    start_worker "w$i" "$WORK/worker-$i.log" --ack-wait-s 10 --max-deliver 5 --pipelines 1 --threads 1
    PID[w$i]=$WORKER_PID
done
say "3 workers on $S3_URL; submitting the drives"
"$STREETCOMB" -q --store "$S3_URL" submit "${QUEUE[@]}" "$WORK/drives" >&2

# Kill the first worker seen running a vision job.
KILLED=0
for _ in $(seq 1 600); do
    VICTIM=$("$STREETCOMB" -q --json cluster status "${QUEUE[@]}" | python3 -c '
import json, sys
s = json.load(sys.stdin)
busy = [w for w in s["workers"] if w["state"] == "busy" and w.get("kind") == "vision"]
print(busy[0]["worker"] if busy else "")')
    if [ -n "$VICTIM" ]; then
        sleep 2 # well into the job
        kill -KILL "${PID[$VICTIM]}"
        KILLED=1
        say "killed $VICTIM (pid ${PID[$VICTIM]}) with SIGKILL in the middle of a vision job"
        break
    fi
    sleep 0.2
done
[ "$KILLED" = 1 ] || die "no worker was seen running a vision job"

"$STREETCOMB" -q cluster wait "${QUEUE[@]}" --timeout-s 1800
STATUS=$("$STREETCOMB" -q --json cluster status "${QUEUE[@]}")
CLUSTER=$("$STREETCOMB" -q --store "$S3_URL" cluster summary | tail -n 1)

python3 - "$WORKERS" "$KILLED" "$STATUS" "$SINGLE" "$CLUSTER" <<'PY'
import json, sys
workers, killed, status, single, cluster = sys.argv[1:]
status, single, cluster = json.loads(status), json.loads(single), json.loads(cluster)
redelivered = sum(w["redelivered"] for w in status["workers"])
print(json.dumps({"workers": int(workers), "killed": int(killed), "redelivered": redelivered,
                  "single": single, "cluster": cluster}))
if single != cluster:
    sys.exit("demo-cluster: the cluster's results differ from the single process's")
if redelivered < 1:
    sys.exit("demo-cluster: the killed worker's job was not delivered again")
if status["dead_letters"]:
    sys.exit("demo-cluster: jobs ended in the dead letters")
PY
