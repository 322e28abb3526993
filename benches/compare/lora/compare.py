"""M = 5 LoRA ensemble, forward + backward of all members, on an MLP of 4 layers of 1024, batch 64.

Runs three implementations, each in its own process (so that peak RSS is per implementation):
  rust-onepass     lora-ensemble, all members in one batched pass (member axis)
  rust-sequential  lora-ensemble, one adapter slot, members swapped in one after another
  peft-sequential  PyTorch + peft, one adapter per member, `set_adapter` per member
and prints time ratios and peak-memory ratios. Usage (through run.sh):
  compare.py BENCH_BINARY [M] [REPS] [THREADS]
"""
import json
import os
import resource
import subprocess
import sys
import time

WIDTH, LAYERS, BATCH, RANK = 1024, 4, 64, 8


def peft_worker(members, reps):
    import torch
    import torch.nn as nn
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(LAYERS):
                setattr(self, f"l{i}", nn.Linear(WIDTH, WIDTH))

        def forward(self, x):
            for i in range(LAYERS):
                x = torch.relu(getattr(self, f"l{i}")(x))
            return x

    base = MLP()
    for p in base.parameters():
        p.requires_grad_(False)
    cfg = LoraConfig(r=RANK, lora_alpha=16, target_modules=[f"l{i}" for i in range(LAYERS)])
    model = get_peft_model(base, cfg, adapter_name="member-0")
    for m in range(1, members):
        model.add_adapter(f"member-{m}", cfg)
    for n, p in model.named_parameters():
        if "lora_B" in n:
            with torch.no_grad():
                p.normal_(0, 0.01)
    x = torch.randn(BATCH, WIDTH)
    target = torch.randn(BATCH, WIDTH)
    times, cpu = [], []
    for rep in range(reps + 3):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        for m in range(members):
            model.set_adapter(f"member-{m}")
            model.zero_grad(set_to_none=False)
            loss = ((model(x) - target) ** 2).mean()
            loss.backward()
        if rep >= 3:
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
    times.sort()
    cpu.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"impl": "peft-sequential", "members": members, "threads": torch.get_num_threads(),
                      "reps": reps, "median_ms": times[len(times) // 2], "min_ms": times[0],
                      "median_cpu_ms": cpu[len(cpu) // 2],
                      "peak_rss_kib": peak, "torch": torch.__version__,
                      "peft": __import__("peft").__version__}))


def run(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    if sys.argv[1] == "--peft-worker":
        peft_worker(int(sys.argv[2]), int(sys.argv[3]))
        return
    binary = sys.argv[1]
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    threads = sys.argv[4] if len(sys.argv) > 4 else "1"
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    print(f"load before: {os.getloadavg()}")
    results = {}
    for name, cmd in [
        ("rust-onepass", [binary, "onepass", str(members), str(reps)]),
        ("rust-sequential", [binary, "sequential", str(members), str(reps)]),
        ("peft-sequential", [sys.executable, __file__, "--peft-worker", str(members), str(reps)]),
        ("rust-onepass-M1", [binary, "onepass", "1", str(reps)]),
        ("rust-onepass-eval", [binary, "onepass-eval", str(members), str(reps)]),
        ("rust-sequential-eval", [binary, "sequential-eval", str(members), str(reps)]),
    ]:
        results[name] = run(cmd, env)
        print(json.dumps(results[name]))
    print(f"load after: {os.getloadavg()}")
    one = results["rust-onepass"]
    seq = results["rust-sequential"]
    peft = results["peft-sequential"]
    single = results["rust-onepass-M1"]
    print(f"M = {members}, {LAYERS} layers of {WIDTH}, batch {BATCH}, r = {RANK}, {threads} thread(s); "
          f"ms per step of all members, median (wall / CPU of the computing thread):")
    for label, r in (("one pass", one), ("sequential swap", seq), ("peft set_adapter", peft)):
        print(f"  {label:17s} wall {r['median_ms']:8.2f}  CPU {r['median_cpu_ms']:8.2f}  (fastest wall {r['min_ms']:.2f})")
    for label, r in (("sequential swapping", seq), ("PyTorch + peft", peft)):
        print(f"  speed-up vs {label}: CPU {r['median_cpu_ms'] / one['median_cpu_ms']:.2f}x, "
              f"wall {r['median_ms'] / one['median_ms']:.2f}x, fastest wall {r['min_ms'] / one['min_ms']:.2f}x "
              f"(goal >= 3x)")
    print(f"  peak RSS one pass / sequential (one base + all adapters, one member at a time): "
          f"{one['peak_rss_kib'] / seq['peak_rss_kib']:.3f} (goal <= 1.1)")
    print(f"  peak RSS one pass M={members} / one pass M=1: {one['peak_rss_kib'] / single['peak_rss_kib']:.3f}")
    print(f"  peak RSS peft / one pass: {peft['peak_rss_kib'] / one['peak_rss_kib']:.2f}")
    ev, sev = results["rust-onepass-eval"], results["rust-sequential-eval"]
    print(f"  evaluation only (no gradients), CPU: one pass {ev['median_cpu_ms']:.2f} | sequential swap "
          f"{sev['median_cpu_ms']:.2f} -> {sev['median_cpu_ms'] / ev['median_cpu_ms']:.2f}x")
    # Arithmetic bound: the frozen base's [64 x 1024] x [1024 x 1024] products dominate. The one
    # pass computes the first layer's once (shared input), every later layer's once per member
    # (the members' activations differ), and the backward pass needs the input gradients of
    # layers 2..L per member; the sequential passes need L forward and L - 1 backward products per
    # member. The adapters (r = 8) add about 3%.
    L, M = LAYERS, members
    train_bound = M * (2 * L - 1) / (1 + 2 * (L - 1) * M)
    eval_bound = M * L / (1 + (L - 1) * M)
    print(f"  bound from the base products alone (equal GEMM speed): training {train_bound:.2f}x, "
          f"evaluation {eval_bound:.2f}x")


if __name__ == "__main__":
    main()
