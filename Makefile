# chernet: the two commands a new user needs are `make demo` and `make test`.
# Both run the idempotent set-up first (OpenBLAS from Debian, libtorch 2.13.0 from the PyPI wheel).
.DEFAULT_GOAL := help
CARGO ?= cargo
# Property tests draw from a fixed seed in `make test`, so that a run is reproducible and CI cannot
# fail by chance; plain `cargo test` keeps proptest's random seeds to keep exploring new cases
# (failures found there are saved under proptest-regressions/ and replayed by every run).
PROPTEST_SEED ?= 20261127
# CHERNET_TORCH=cuda selects the CUDA build of the same libtorch 2.13.0 (installed into .libtorch-cuda/
# by `CHERNET_TORCH=cuda make setup`; built in target-cuda/); the default, cpu, is the CPU-only one.
# The variables match what the set-up writes to .libtorch-cuda/env.sh for plain cargo use.
CHERNET_TORCH ?= cpu
export CHERNET_TORCH
ifeq ($(CHERNET_TORCH),cuda)
export LIBTORCH := $(CURDIR)/.libtorch-cuda/torch
export CARGO_TARGET_DIR ?= $(CURDIR)/target-cuda
export RUSTFLAGS := -C link-arg=-Wl,-rpath,$(LIBTORCH)/lib
endif

.PHONY: help setup demo test lint fmt doc bench clean-libtorch

help:
	@echo "make demo   - train a small gauge-equivariant network on trivial samples and evaluate it"
	@echo "make test   - run every check (format, clippy, tests, docs)"
	@echo "make setup  - install the native libraries only (done automatically by demo and test)"
	@echo "              (CHERNET_TORCH=cuda make ...: the CUDA libtorch in .libtorch-cuda/, see README)"
	@echo "make bench  - criterion benches"

setup:
	@bash scripts/setup.sh

demo: setup
	$(CARGO) run --release --example genet -- demo

test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	PROPTEST_RNG_SEED=$(PROPTEST_SEED) $(CARGO) test --workspace --all-features
	RUSTDOCFLAGS="-D warnings --html-in-header $(CURDIR)/katex-header.html" $(CARGO) doc --workspace --no-deps --all-features

bench: setup
	$(CARGO) bench --workspace

fmt:
	$(CARGO) fmt --all

clean-libtorch:
	rm -rf .libtorch .libtorch-cuda
