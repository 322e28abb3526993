#!/usr/bin/env bash
# The git-ignored venv benches/compare/genet/.venv with PyPI's PyTorch (CPU use only), via the shared
# benches/compare/venv.sh. Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/../venv.sh" "$HERE" 'import torch, numpy' --disk-mb 8000 numpy torch
