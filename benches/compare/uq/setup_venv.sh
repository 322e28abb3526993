#!/usr/bin/env bash
# Builds the git-ignored venv benches/compare/uq/.venv with the anchor libraries (from PyPI only).
# Idempotent: a second run only checks the imports.
#
# Every Linux torch wheel on PyPI is a CUDA build: `pip install torch` pulls about 3 GB of nvidia wheels
# (venv ~5 GB). torchmetrics and netcal need torch, so we accept that; the script checks the free disk first.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import numpy, scipy, sklearn, torch, torchmetrics, netcal' 2>/dev/null; then
  exit 0
fi
avail=$(df -Pm "$HERE" | awk 'NR==2 {print $4}')
if [ "${avail:-0}" -lt 8000 ]; then
  echo "setup_venv: need about 8000 MB free in $HERE for torch's CUDA wheels, only ${avail} MB" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# Versions of the fixture's anchors where they still install (numpy 1.26 for netcal's use of np.float etc.).
"$VENV/bin/python" -m pip install --quiet \
  "numpy<2" scipy scikit-learn "torchmetrics==1.9.*" "netcal==1.3.*" torch
"$VENV/bin/python" -c 'import numpy, scipy, sklearn, torch, torchmetrics, netcal; print("setup_venv: numpy", numpy.__version__, "scipy", scipy.__version__, "sklearn", sklearn.__version__, "torch", torch.__version__, "torchmetrics", torchmetrics.__version__, "netcal", netcal.__version__)'
