"""numpy FHS vs PythTB vs `chern` on QWZ and Hofstadter models; prints per-case time ratios.

Run through run.sh (which builds the venv and the release binary). Timings are the best of
--repeat runs of the whole computation (Hamiltonian on the grid, eigenvectors, links, plaquette
sum), measured inside each program, so process start-up and imports are excluded everywhere.
Wall-clock ratios are the headline; CPU-time ratios (all threads of each process) are printed
too because they stay meaningful on a loaded machine.
"""
import argparse
import json
import os
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--chern", required=True, help="path of the release `chern` example binary")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--repeat", type=int, default=5)
parser.add_argument("--grids", default="50,100,200")
parser.add_argument("--pythtb-max-grid", type=int, default=100,
                    help="PythTB 1.8 is slow: skip it above this grid size (0 disables it)")
args = parser.parse_args()

# Thread counts must be fixed before numpy loads its BLAS.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
import numpy as np  # noqa: E402

TWO_PI = 2 * np.pi


def qwz_grid(L, m):
    k = TWO_PI * np.arange(L) / L
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    H = np.zeros((L, L, 2, 2), complex)
    dz = m + np.cos(k1) + np.cos(k2)
    H[..., 0, 0] = dz
    H[..., 1, 1] = -dz
    H[..., 0, 1] = np.sin(k1) - 1j * np.sin(k2)
    H[..., 1, 0] = np.sin(k1) + 1j * np.sin(k2)
    return H


def hofstadter_grid(L, p, q, t=1.0):
    k = TWO_PI * np.arange(L) / L
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    H = np.zeros((L, L, q, q), complex)
    for m in range(q):
        H[..., m, m] = -2 * t * np.cos(k2 + TWO_PI * p * m / q)
    for m in range(q - 1):
        H[..., m, m + 1] = -t
        H[..., m + 1, m] = -t
    H[..., q - 1, 0] += -t * np.exp(1j * k1)
    H[..., 0, q - 1] += -t * np.exp(-1j * k1)
    return H


def numpy_fhs(H, r):
    """Vectorised FHS: batched eigh, overlaps of neighbours, det, plaquette phases."""
    _, v = np.linalg.eigh(H)
    V = v[..., :r]
    Vd = np.conj(np.swapaxes(V, -1, -2))
    ux = np.linalg.det(Vd @ np.roll(V, -1, axis=0))
    uy = np.linalg.det(Vd @ np.roll(V, -1, axis=1))
    ux /= np.abs(ux)
    uy /= np.abs(uy)
    F = np.angle(ux * np.roll(uy, -1, axis=0) * np.conj(np.roll(ux, -1, axis=1)) * np.conj(uy))
    return F.sum() / TWO_PI


def pythtb_model(case):
    import pythtb
    if case["model"] == "qwz":
        m = case["m"]
        tb = pythtb.tb_model(2, 2, [[1, 0], [0, 1]], [[0, 0], [0, 0]])
        tb.set_onsite([m, -m])
        for R in ([1, 0], [0, 1]):
            tb.set_hop(0.5, 0, 0, R)   # cos k in sigma_z
            tb.set_hop(-0.5, 1, 1, R)
        tb.set_hop(-0.5j, 0, 1, [1, 0])  # sin k1 sigma_x: H01 = -i/2 e^{ik1} + i/2 e^{-ik1}
        tb.set_hop(-0.5j, 1, 0, [1, 0])
        tb.set_hop(-0.5, 0, 1, [0, 1])   # sin k2 sigma_y: H01 gets -i sin k2
        tb.set_hop(0.5, 1, 0, [0, 1])
        return tb
    p, q, t = case["p"], case["q"], 1.0
    tb = pythtb.tb_model(2, 2, [[1, 0], [0, 1]], [[0, 0]] * q)
    tb.set_onsite([0.0] * q)
    for m in range(q):
        tb.set_hop(-t * np.exp(1j * TWO_PI * p * m / q), m, m, [0, 1])
    for m in range(q - 1):
        tb.set_hop(-t, m, m + 1, [0, 0])
    tb.set_hop(-t, q - 1, 0, [1, 0])
    return tb


def pythtb_chern(tb, L, r):
    import pythtb
    wf = pythtb.wf_array(tb, [L + 1, L + 1])
    wf.solve_on_grid([0.0, 0.0])
    return wf.berry_flux(list(range(r))) / TWO_PI


def best_of(f, repeat):
    """Best wall time and best CPU time (all threads of the process) of `repeat` runs."""
    best, best_cpu, value = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        value = f()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, value


def run_chern(case, L):
    if case["model"] == "qwz":
        model = ["qwz", "--m", str(case["m"])]
    else:
        model = ["hofstadter", "--p", str(case["p"]), "--q", str(case["q"])]
    cmd = [args.chern, *model, "--grid", str(L), "--filled", str(case["r"]), "--json", "--repeat", str(args.repeat)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    obj = json.loads(out)
    return obj["elapsed_s"], obj.get("cpu_s") or float("nan"), obj["chern"]


cases = [
    {"name": "QWZ m=1", "model": "qwz", "m": 1.0, "r": 1},
    {"name": "Hofstadter 1/3 r=1", "model": "hof", "p": 1, "q": 3, "r": 1},
    {"name": "Hofstadter 1/5 r=2", "model": "hof", "p": 1, "q": 5, "r": 2},
    {"name": "Hofstadter 1/7 r=3", "model": "hof", "p": 1, "q": 7, "r": 3},
]

print(f"threads={args.threads}  repeat={args.repeat}  numpy {np.__version__}", end="")
try:
    import pythtb
    print(f"  PythTB {pythtb.__version__ if hasattr(pythtb, '__version__') else '?'}")
except ImportError:
    print("  (no PythTB)")
header = (f"{'case':<22}{'L':>5}{'C':>4}{'chern ms':>10}{'numpy ms':>10}{'PythTB ms':>11}{'numpy/chern':>13}"
          f"{'PythTB/chern':>14}{'cpu: chern':>12}{'numpy':>9}{'ratio':>8}")
print(header)
print("-" * len(header))
ok = True
for case in cases:
    for L in [int(x) for x in args.grids.split(",")]:
        if case["model"] == "qwz":
            build = lambda: qwz_grid(L, case["m"])  # noqa: E731
        else:
            build = lambda: hofstadter_grid(L, case["p"], case["q"])  # noqa: E731
        t_np, cpu_np, c_np = best_of(lambda: numpy_fhs(build(), case["r"]), args.repeat)
        t_ch, cpu_ch, c_ch = run_chern(case, L)
        t_py, c_py = float("nan"), None
        if 0 < L <= args.pythtb_max_grid:
            tb = pythtb_model(case)
            t_py, _, c_py = best_of(lambda: pythtb_chern(tb, L, case["r"]), max(1, min(args.repeat, 2)))
        agree = round(c_np) == c_ch and (c_py is None or round(-c_py) == c_ch)
        ok &= agree
        print(f"{case['name']:<22}{L:>5}{c_ch:>4}{t_ch * 1e3:>10.3f}{t_np * 1e3:>10.3f}{t_py * 1e3:>11.1f}"
              f"{t_np / t_ch:>12.1f}x{t_py / t_ch:>13.1f}x{cpu_ch * 1e3:>12.3f}{cpu_np * 1e3:>9.3f}{cpu_np / cpu_ch:>7.1f}x"
              + ("" if agree else f"  MISMATCH numpy {c_np:.3f} PythTB {c_py}"))
if not ok:
    sys.exit("Chern numbers disagree")
