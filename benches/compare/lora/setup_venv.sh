#!/usr/bin/env bash
# Builds the git-ignored venv benches/compare/lora/.venv with torch and peft (from PyPI only), used by
# this comparison and by crates/lora-ensemble/tests/golden/run.sh. Idempotent: a second run only checks.
#
# Every Linux torch wheel on PyPI is a CUDA build: `pip install torch` pulls about 3 GB of nvidia wheels
# (venv ~5 GB, a few minutes). The script checks the free disk first.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
# Exact versions the golden files and the recorded comparison were made with.
PINS=(torch==2.13.0 peft==0.21.2 transformers==5.25.0 accelerate==1.16.0 safetensors==0.8.0 numpy==2.4.6)
CHECK='import torch, peft, safetensors, numpy; assert torch.__version__.startswith("2.13.0") and peft.__version__ == "0.21.2"'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  exit 0
fi
avail=$(df -Pm "$HERE" | awk 'NR==2 {print $4}')
if [ "${avail:-0}" -lt 8000 ]; then
  echo "setup_venv: need about 8000 MB free in $HERE for torch's CUDA wheels, only ${avail} MB" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "${PINS[@]}"
"$VENV/bin/python" -c "$CHECK; print('setup_venv: torch', torch.__version__, 'peft', peft.__version__, 'safetensors', safetensors.__version__, 'numpy', numpy.__version__)"
