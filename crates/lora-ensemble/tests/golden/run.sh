#!/usr/bin/env bash
# Regenerates the golden files of lora-ensemble from real peft and checks the reverse direction
# (adapters saved by Rust, loaded by peft). Not needed for `cargo test`: the fixtures are committed.
#   crates/lora-ensemble/tests/golden/run.sh
# Uses the git-ignored venv of benches/compare/lora (torch 2.13.0, peft 0.21.2, pinned there; built
# from PyPI on first use, ~5 GB because every Linux torch wheel is a CUDA build).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
"$ROOT/benches/compare/lora/setup_venv.sh"
PY="$ROOT/benches/compare/lora/.venv/bin/python"
"$PY" "$HERE/make_golden.py"
# Reverse direction: Rust trains and saves 3-member ensembles on the golden bases (f32 and f64) ...
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
(cd "$ROOT" && cargo run --quiet --release -p lora-ensemble --example peft_reverse -- "$HERE" "$OUT")
# ... and peft loads every member and reproduces Rust's outputs.
"$PY" "$HERE/make_golden.py" --check-reverse "$OUT/f32"
"$PY" "$HERE/make_golden.py" --check-reverse "$OUT/f64"
