#!/usr/bin/env bash
# Compares `chern` (our example binary, release build) with a vectorised numpy FHS and PythTB on
# the same models and grids, one thread and all threads. Not run in CI.
#   bash benches/compare/chern/run.sh [--pythtb-max-grid L] [--repeat N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
bash "$here/../venv.sh" "$here" "import numpy, pythtb" numpy pythtb
cd "$root"
cargo build --release --example chern
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/chern"
threads="$(nproc)"
echo "== one thread (RAYON_NUM_THREADS=1, OPENBLAS/OMP/MKL_NUM_THREADS=1)"
"$venv/bin/python" "$here/compare.py" --chern "$bin" --threads 1 "$@"
echo
echo "== all threads ($threads)"
"$venv/bin/python" "$here/compare.py" --chern "$bin" --threads "$threads" "$@"
