#!/usr/bin/env bash
# The git-ignored venv benches/compare/genet/.venv with PyPI's PyTorch (CPU use only), via the shared
# benches/compare/venv.sh. Idempotent. Pinned to the versions the ratios in RESULTS.md were
# measured with (PyPI's Linux wheel of torch 2.15.0 is a CUDA build; only its CPU side is used).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/../venv.sh" "$HERE" \
  'import torch, numpy; assert torch.__version__.startswith("2.15.0") and numpy.__version__ == "2.4.6"' \
  --disk-mb 8000 torch==2.15.0 numpy==2.4.6
