#!/usr/bin/env bash
# Builds the git-ignored venv benches/compare/genet/.venv with PyTorch from PyPI.
# Idempotent: a second run only checks the import.
#
# Every Linux torch wheel on PyPI is a CUDA build: `pip install torch` pulls about 3 GB of nvidia
# wheels (venv ~5 GB). The comparison runs on the CPU only; we check the free disk first.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  exit 0
fi
avail=$(df -Pm "$HERE" | awk 'NR==2 {print $4}')
if [ "${avail:-0}" -lt 8000 ]; then
  echo "setup_venv: need about 8000 MB free in $HERE for torch's CUDA wheels, only ${avail} MB" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet numpy torch
"$VENV/bin/python" -c 'import torch, numpy; print("setup_venv: torch", torch.__version__, "numpy", numpy.__version__)'
