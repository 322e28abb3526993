#!/usr/bin/env bash
# Compares lattice-gauge's plaquette and Wilson-loop fields (criterion bench `lattice_gauge`) with
# a vectorised numpy implementation (batched matmul over the whole lattice) on the same shapes and
# n, single-threaded on both sides. Prints time ratios. Not run in CI.
#   bash benches/compare/lattice_gauge/run.sh [--repeat N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
bash "$here/../venv.sh" "$here" "import numpy" numpy
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo bench --bench lattice_gauge -- 'plaquettes/lattice_gauge|wilson_loops/field_plane01'
"$venv/bin/python" "$here/compare.py" --criterion "$target/criterion" "$@"
