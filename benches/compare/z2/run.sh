#!/usr/bin/env bash
# Compares `chern z2` (our example binary, release build) with Z2Pack (tbmodels) and PythTB's
# Wannier-flow recipe on Kane-Mele and BHZ, one thread. Not run in CI.
#   bash benches/compare/z2/run.sh [--repeat N] [--grid L]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
bash "$here/../venv.sh" "$here" "import numpy, pythtb, z2pack, tbmodels" numpy==1.26.4 pythtb==1.8.0 z2pack==2.2.1 tbmodels==1.4.3
cd "$root"
cargo build --release --example chern
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/chern"
"$venv/bin/python" "$here/compare.py" --chern "$bin" --threads 1 "$@"
