#!/usr/bin/env bash
# Serving tiles from cache under load: `streetcomb serve` on loopback over a store of
# 200,000 features and 5,000 drives (server/examples/tiles_serve_store.rs), driven by Debian's `wrk -t2 -c64 -d10s` with
# Accept-Encoding: gzip through every non-empty tile of zooms 0-16 (a warm-up pass
# fills the cache first). Client and server share the machine, as in the peer figure.
# PROFILE=release (default) or dev picks the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "tiles-serve: wrk is missing: apt-get install wrk" >&2; exit 1; }
PROFILE="${PROFILE:-release}"
OUT="target/tiles-bench"
PORT="${PORT:-18089}"
mkdir -p "$OUT"
if [ "$PROFILE" = release ]; then
    cargo build --quiet --release -p streetcomb --bin streetcomb
    cargo build --quiet --release -p streetcomb-server --example tiles_serve_store
    DIR=target/release
else
    cargo build --quiet -p streetcomb --bin streetcomb
    cargo build --quiet -p streetcomb-server --example tiles_serve_store
    DIR=target/debug
fi
STORE="$OUT/serve-store"
if [ ! -s "$OUT/paths.txt" ] || [ ! -d "$STORE" ]; then
    rm -rf "$STORE"
    "$DIR/examples/tiles_serve_store" "$STORE" "$OUT/paths.txt"
fi
"$DIR/streetcomb" --quiet --store "$STORE" serve --addr "127.0.0.1:$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/tiles.json" >/dev/null && break; sleep 0.2; done
export PATHS="$OUT/paths.txt"
echo "$(wc -l <"$PATHS") tile paths; cutting each once to fill the cache" >&2
sed "s|^|url = \"http://127.0.0.1:$PORT|; s|\$|\"\noutput = /dev/null|" "$PATHS" >"$OUT/warm.curl"
curl -s --parallel --parallel-max 4 -H 'Accept-Encoding: gzip' -K "$OUT/warm.curl"
wrk -t2 -c64 -d10s --latency -s benches/scripts/tiles-serve.lua "http://127.0.0.1:$PORT"
