# Shared by scripts/demo-cluster.sh and benches/scripts/cluster-bench.sh (sourced after
# `set -euo pipefail`, with `say` and `die` defined): starts the cluster's real parts on
# loopback and stops them on exit.
#   free_port            prints a free TCP port on 127.0.0.1
#   start_nats DIR       nats-server with JetStream storing under DIR; sets NATS_URL
#   start_s3 BUCKET      moto's S3 server with one bucket; exports the AWS_* variables
#                        the store reads, and sets S3_URL (s3://BUCKET)
#   start_worker NAME LOG [ARGS...]  a `streetcomb worker` in the background; sets WORKER_PID
# Everything started is killed by the EXIT trap (cluster_cleanup).

CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
NATS_SERVER="${STREETCOMB_NATS_SERVER:-$CACHE/venv-nats/bin/nats-server}"
MOTO_SERVER="${STREETCOMB_MOTO_SERVER:-$CACHE/venv-moto/bin/moto_server}"
STREETCOMB="${STREETCOMB:-./target/debug/streetcomb}"
CLUSTER_PIDS=()

cluster_cleanup() {
    local p
    for p in "${CLUSTER_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cluster_cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 what=$2 i
    for i in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$what did not start on port $port"
}

start_nats() {
    [ -x "$NATS_SERVER" ] || die "nats-server is missing ($NATS_SERVER): run 'make setup'"
    local dir=$1 port
    port=$(free_port)
    mkdir -p "$dir"
    "$NATS_SERVER" -js -sd "$dir" -a 127.0.0.1 -p "$port" >"$dir/nats-server.log" 2>&1 &
    CLUSTER_PIDS+=($!)
    wait_port "$port" nats-server
    NATS_URL="nats://127.0.0.1:$port"
}

start_s3() {
    [ -x "$MOTO_SERVER" ] || die "moto_server is missing ($MOTO_SERVER): run 'make setup'"
    local bucket=$1 port
    port=$(free_port)
    "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    CLUSTER_PIDS+=($!)
    wait_port "$port" moto_server
    python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$port/$bucket', method='PUT'))" \
        || die "cannot create bucket $bucket"
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true \
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    S3_URL="s3://$bucket"
}

start_worker() {
    local name=$1 log=$2
    shift 2
    "$STREETCOMB" --store "$S3_URL" worker --nats "$NATS_URL" --name "$name" "$@" >"$log" 2>&1 &
    WORKER_PID=$!
    CLUSTER_PIDS+=("$WORKER_PID")
}
