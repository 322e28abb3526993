#!/usr/bin/env bash
# Side-by-side comparison of a LoRA ensemble's training step (M = 5 members, forward + backward, an
# MLP of 4 layers of 1024, batch 64): lora-ensemble's one batched pass against the same members
# one after another with adapter swapping, and against PyTorch + peft with set_adapter per member.
#   benches/compare/lora/run.sh [M] [REPS] [THREADS]     (defaults 5, 30, 1)
# Builds the git-ignored venv (.venv, PyPI only; torch's CUDA wheels are several GB) and the release
# bench example; prints time ratios and peak-memory ratios. Not run in CI.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
"$HERE/setup_venv.sh"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --quiet --release -p lora-ensemble --example ensemble_bench)
uptime
exec "$HERE/.venv/bin/python" "$HERE/compare.py" "$TARGET/release/examples/ensemble_bench" "${1:-5}" "${2:-30}" "${3:-1}"
