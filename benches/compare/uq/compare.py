"""ensemble-uq against torchmetrics + netcal + scikit-learn + scipy on M=5, N=10^6, K=10.

Usage: benches/compare/uq/run.sh [N]   (builds the venv and the release `uq` example first)

Prints each reference step's time, the sum, our end-to-end wall time (reading the .npy file
included; the reference times exclude loading), the ratio, both processes' peak RSS, our peak RSS
over the size of the input array, and the values side by side.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
M, K, BINS = 5, 10, 15
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
uq = Path(sys.argv[1])
OUT.mkdir(exist_ok=True)
logits_path, labels_path = OUT / f"logits_{M}x{N}x{K}.npy", OUT / f"labels_{N}.npy"
if not logits_path.exists():
    rng = np.random.default_rng(0)                       # the fixture's generator, scaled up
    base = rng.normal(0.0, 2.0, size=(N, K))
    logits = (base[None] + rng.normal(0.0, 1.0, size=(M, N, K))).astype(np.float32)
    p = np.exp(base - base.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    labels = np.minimum((np.cumsum(p, 1) < rng.random(N)[:, None]).sum(1), K - 1).astype(np.int64)
    np.save(logits_path, logits)
    np.save(labels_path, labels)
    del logits, base, p, labels
input_bytes = M * N * K * 4
threads = os.cpu_count()
print(f"M={M} N={N} K={K}, float32 logits {input_bytes / 2**20:.0f} MiB, {threads} CPU threads, {BINS} bins; "
      f"load average at the start {os.getloadavg()[0]:.1f}")

ref = json.loads(subprocess.run(
    [sys.executable, str(HERE / "reference.py"), str(logits_path), str(labels_path), str(BINS), str(threads)],
    check=True, capture_output=True, text=True).stdout)
ref_total = sum(ref["times"].values())
ref_cpu = sum(ref["cpu_times"].values())
print("\nreference libraries (times exclude np.load):   wall      CPU (all threads)")
for k, v in ref["times"].items():
    print(f"  {v:8.3f} s {ref['cpu_times'][k]:8.3f} s  {k}")
print(f"  {ref_total:8.3f} s {ref_cpu:8.3f} s  TOTAL; peak RSS {ref['peak_rss_bytes'] / 2**20:.0f} MiB")


def run_uq():
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", str(uq), "--logits", str(logits_path), "--labels",
                        str(labels_path), "--bins", str(BINS), "--json", "--timings"],
                       check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = p.stderr.strip().splitlines()
    rss_kib, user, sys_ = lines[-1].split()
    phases = json.loads(next(l for l in lines if l.startswith("{")))
    return wall, int(rss_kib) * 1024, float(user) + float(sys_), phases, json.loads(p.stdout)


runs = [run_uq() for _ in range(3)]
best = min(runs, key=lambda r: r[0])
wall, rss, cpu_s, phases, ours = best[0], max(r[1] for r in runs), min(r[2] for r in runs), best[3], best[4]
print(f"\nensemble-uq `uq --json`, best of 3: wall {wall:.3f} s end to end (file read included), "
      f"CPU {cpu_s:.3f} s; peak RSS {rss / 2**20:.0f} MiB")
streamed = bool(phases.pop("streamed", False))
print("  phases (wall): " + ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())
      + ("; the .npy is streamed through the pass (read and validated block by block inside compute_s)"
         if streamed else ""))
compute = phases["compute_s"]
print(f"\nRATIO wall, reference total / ensemble-uq end to end:     {ref_total / wall:.1f}x   (goal >= 20x)")
if streamed:
    print(f"RATIO wall, reference total / ensemble-uq pass + metrics: {ref_total / compute:.1f}x   "
          f"(reference excluding np.load; ours including the streamed read)")
else:
    print(f"RATIO wall, reference total / ensemble-uq metrics only:   {ref_total / compute:.1f}x   "
          f"(both excluding the file read)")
print(f"RATIO CPU time, reference / ensemble-uq end to end:       {ref_cpu / cpu_s:.1f}x   "
      f"(less load-dependent than wall; load average {os.getloadavg()[0]:.1f} at the end, {threads} CPUs)")
print(f"PEAK MEMORY ensemble-uq / input array: {rss / input_bytes:.2f}x   (goal <= 1.5x); "
      f"reference: {ref['peak_rss_bytes'] / input_bytes:.2f}x")
print("\nvalues (reference | ensemble-uq):")
for k, v in ref["values"].items():
    mine = ours.get(k)
    if k.startswith("netcal_"):
        mine = {"netcal_ece": ours["ece"], "netcal_mce": ours["mce"], "netcal_ace": ours["netcal_ace"]}[k]
    elif mine is None:
        mine = ours["error_detection"].get(k)
    if isinstance(mine, str):                      # "inf", "-inf", "nan": non-finite values
        mine = float(mine)
    print(f"  {k:26s} {v:.12g} | {mine:.12g}")
