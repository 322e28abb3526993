#!/usr/bin/env bash
# Side-by-side comparison of ensemble-uq with torchmetrics, netcal, scikit-learn and scipy.
#   benches/compare/uq/run.sh [N]      (default N = 1000000; M = 5, K = 10)
# Builds the git-ignored venv (.venv, PyPI only; torch's CUDA wheels are several GB) and the
# release `uq` example, generates the input into out/ (git-ignored), and prints time ratios and
# peak memory. Not run in CI.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
"$HERE/setup_venv.sh"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release --example uq)
exec "$HERE/.venv/bin/python" "$HERE/compare.py" "$TARGET/release/examples/uq" "${1:-1000000}"
