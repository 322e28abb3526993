#!/usr/bin/env bash
# The git-ignored venv benches/compare/lora/.venv with torch and peft, via the shared
# benches/compare/venv.sh; used by this comparison and by crates/lora-ensemble/tests/golden/run.sh.
# Idempotent. The pins are the exact versions the golden files and the recorded comparison were made with.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/../venv.sh" "$HERE" \
  'import torch, peft, safetensors, numpy; assert torch.__version__.startswith("2.13.0") and peft.__version__ == "0.21.2"' \
  --disk-mb 8000 \
  torch==2.13.0 peft==0.21.2 transformers==5.25.0 accelerate==1.16.0 safetensors==0.8.0 numpy==2.4.6
