# Shared by benches/scripts/tiles-build.sh and vision-bench.sh (sourced after
# `set -euo pipefail`, as `. "$(dirname "$0")/lib.sh" NAME`): moves to the repository
# root and defines CACHE (streetcomb's cache: ONNX Runtime, models, venvs), RUNS (runs
# of each tool, default 3), `say` and `die` (messages to stderr, prefixed with NAME),
# `now` (seconds since the epoch, for wall times) and `pinned_venv` (makes or keeps a
# venv of hash-pinned wheels: scripts/pinned-venv.sh).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BENCH_NAME=$1
CACHE="${STREETCOMB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streetcomb}"
RUNS="${RUNS:-3}"
say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
now() { date +%s.%N; }
. scripts/pinned-venv.sh
