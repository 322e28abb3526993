#!/usr/bin/env bash
# Training throughput and peak memory of GEBLNet: gauge-nn (tch, native complex, weights contracted
# with one factor first) against PyTorch computing it the public GENet code's way (all pair
# products, real and imaginary parts as separate tensors). Same architecture, batch, grid, bands and
# thread count, run one after the other on this machine.
#
#   benches/compare/genet/run.sh [--bands 4] [--grid 5] [--batch 32] [--threads 2] [--steps 5] [--micro-batch 8]
#
# gauge-nn runs twice: the whole batch at once, and with gradients accumulated over micro-batches
# (identical gradients, lower peak memory). Both sides run with glibc's allocator keeping freed
# memory (`genet` sets it itself, see gauge_nn::allocator, and reports the settings in its JSON;
# PyTorch gets those through GLIBC_TUNABLES), so the ratio compares the computation, not the
# allocator's defaults.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BANDS=4 GRID=5 BATCH=32 THREADS=2 STEPS=5 MICRO=8
while [ $# -gt 0 ]; do
  case "$1" in
    --bands) BANDS=$2; shift 2 ;;
    --grid) GRID=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --micro-batch) MICRO=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bash "$HERE/setup_venv.sh"
(cd "$ROOT" && cargo build --release --example genet --quiet)
GENET="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/genet"
ours=$("$GENET" bench --bands "$BANDS" --grid "$GRID" --batch "$BATCH" --threads "$THREADS" --steps "$((STEPS * 4))" --json)
micro=$("$GENET" bench --bands "$BANDS" --grid "$GRID" --batch "$BATCH" --threads "$THREADS" --steps "$((STEPS * 4))" --micro-batch "$MICRO" --json)
# PyTorch allocates the way gauge-nn did: the settings gauge-nn reports it ran with (none when
# CHERNET_MALLOC=system kept glibc's defaults).
KEEP_FREED=$("$HERE/.venv/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get("glibc_tunables", ""))' "$ours")
theirs=$(GLIBC_TUNABLES="$KEEP_FREED" OMP_NUM_THREADS="$THREADS" "$HERE/.venv/bin/python" "$HERE/geblnet_torch.py" --bands "$BANDS" --grid "$GRID" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS")
echo "gauge-nn: $ours"
echo "gauge-nn (micro-batches): $micro"
echo "pytorch:  $theirs"
"$HERE/.venv/bin/python" - "$ours" "$theirs" "$micro" <<'PY'
import json, sys
o, t, m = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
gib = 1 << 30
print(f"n = {o['bands']}, {o['grid']}x{o['grid']}, batch {o['batch']}, {o['threads']} threads, allocator {o['allocator']} on both sides")
print(f"  gauge-nn: {o['samples_per_second']:8.1f} samples/s, {o['seconds_per_step']:.3f} s/step, peak RSS {o['peak_rss_bytes'] / gib:.2f} GiB")
print(f"  pytorch:  {t['samples_per_second']:8.1f} samples/s, {t['seconds_per_step']:.3f} s/step, peak RSS {t['peak_rss_bytes'] / gib:.2f} GiB")
print(f"  gauge-nn, micro-batches of {m['micro_batch']}: {m['samples_per_second']:8.1f} samples/s, {m['seconds_per_step']:.3f} s/step, peak RSS {m['peak_rss_bytes'] / gib:.2f} GiB")
print(f"  throughput ratio gauge-nn / pytorch: {o['samples_per_second'] / t['samples_per_second']:.2f}x (micro-batches: {m['samples_per_second'] / t['samples_per_second']:.2f}x)")
PY
