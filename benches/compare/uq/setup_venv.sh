#!/usr/bin/env bash
# The git-ignored venv benches/compare/uq/.venv with the anchor libraries, via the shared
# benches/compare/venv.sh. Idempotent. torchmetrics and netcal need torch (a CUDA wheel on PyPI, ~5 GB
# venv); numpy < 2 for netcal's use of removed numpy aliases; versions of the fixture's anchors where
# they still install.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/../venv.sh" "$HERE" 'import numpy, scipy, sklearn, torch, torchmetrics, netcal' --disk-mb 8000 \
  "numpy<2" scipy scikit-learn "torchmetrics==1.9.*" "netcal==1.3.*" torch
