"""Z2 invariants: `chern z2` vs Z2Pack 2.2.1 (tbmodels 1.4.3) vs PythTB 1.8.0's Wannier-flow recipe.

Run through run.sh (which builds the venv and the release binary). Same models in all three:
Kane-Mele and BHZ as written in `chern` (the Bloch matrices below are transcriptions of
crates/chern/src/models/{kane_mele,bhz}.rs, turned into hopping lists by an exact Fourier
transform), then N copies of BHZ for the cost in the number of bands. Every tool must give the
known Z2; timings are the best of --repeat runs measured inside each program (process start-up
and imports excluded), one thread everywhere unless --threads says otherwise.
"""
import argparse
import json
import logging
import os
import subprocess
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--chern", required=True, help="path of the release `chern` example binary")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--grid", type=int, default=30, help="our grid (points per loop and 2x lines)")
parser.add_argument("--grids", default="30,60,120,240", help="grids for the cost-vs-grid table")
parser.add_argument("--copies", default="1,2,4,8", help="BHZ copies for the cost-vs-bands table")
args = parser.parse_args()

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
import numpy as np  # noqa: E402
import pythtb  # noqa: E402
import tbmodels  # noqa: E402
import z2pack  # noqa: E402

logging.getLogger("z2pack").setLevel(logging.WARNING)

SQ3 = np.sqrt(3.0)


def kane_mele(k, t=1.0, so=0.06, r=0.05, v=0.1):
    """chern::KaneMele, basis (A up, A down, B up, B down)."""
    k1, k2 = k
    ph = np.array([1.0, np.exp(-1j * k1), np.exp(-1j * k2)])
    f = t * ph.sum()
    g = np.sin(k1) + np.sin(k2 - k1) + np.sin(-k2)
    d = [(SQ3 / 2, 0.5), (-SQ3 / 2, 0.5), (0.0, -1.0)]
    ud = 1j * r * sum(p * (dy + 1j * dx) for p, (dx, dy) in zip(ph, d))
    du = 1j * r * sum(p * (dy - 1j * dx) for p, (dx, dy) in zip(ph, d))
    h = np.zeros((4, 4), complex)
    for s, sign in ((0, 1.0), (1, -1.0)):
        h[s, s] = v - 2 * so * g * sign
        h[2 + s, 2 + s] = -v + 2 * so * g * sign
        h[s, 2 + s] = f
    h[0, 3] = ud
    h[1, 2] = du
    h[2:, :2] = h[:2, 2:].conj().T
    return h


def bhz(k, a=1.0, b=0.5, m=1.0):
    """chern::Bhz, basis (E1 up, H1 up, E1 down, H1 down)."""
    s1, s2 = np.sin(k)
    dz = m - 2 * b * (2 - np.cos(k[0]) - np.cos(k[1]))
    dx, dy = a * s1, a * s2
    h = np.zeros((4, 4), complex)
    h[0, 0], h[0, 1], h[1, 0], h[1, 1] = dz, dx - 1j * dy, dx + 1j * dy, -dz
    h[2, 2], h[2, 3], h[3, 2], h[3, 3] = dz, -dx - 1j * dy, -dx + 1j * dy, -dz
    return h


def bhz_copies(ms):
    """Copies of BHZ at masses `ms`, interleaved spin order: index 2 * (2 c + orbital) + spin."""
    n = 4 * len(ms)

    def h(k):
        out = np.zeros((n, n), complex)
        for c, m in enumerate(ms):
            blk = bhz(k, m=m)
            idx = [2 * (2 * c + o) + s for s in (0, 1) for o in (0, 1)]  # blocks order -> ours
            out[np.ix_(idx, idx)] = blk
        return out
    return h


def fourier(h, n):
    """H(R) for R in {-1, 0, 1}^2 from a 4 x 4 grid (exact for nearest-cell models)."""
    ks = 2 * np.pi * np.arange(4) / 4
    out = {}
    for r1 in (-1, 0, 1):
        for r2 in (-1, 0, 1):
            blk = np.zeros((n, n), complex)
            for a in ks:
                for b in ks:
                    blk += h((a, b)) * np.exp(-1j * (a * r1 + b * r2)) / 16
            if np.abs(blk).max() > 1e-12:
                out[(r1, r2)] = blk
    return out


def hopping_list(parts, n):
    """`chern::TightBinding` JSON: on-site diagonal, R = 0 upper triangle, one of each R, -R."""
    hops = []
    onsite = [float(parts[(0, 0)][i, i].real) for i in range(n)]
    for R, blk in parts.items():
        if R < (0, 0):
            continue
        for i in range(n):
            for j in range(n):
                t = blk[i, j]
                if abs(t) < 1e-12 or (R == (0, 0) and i >= j):
                    continue
                hops.append({"i": i, "j": j, "R": list(R), "t": [t.real, t.imag]})
    return {"dim": 2, "orbitals": n, "onsite": onsite, "hoppings": hops}


def tbmodels_model(parts, n):
    model = tbmodels.Model(on_site=[parts[(0, 0)][i, i].real for i in range(n)], dim=2,
                           occ=n // 2, pos=[[0.0, 0.0]] * n)
    for R, blk in parts.items():
        if R < (0, 0):
            continue
        for i in range(n):
            for j in range(n):
                t = blk[i, j]
                if abs(t) < 1e-12 or (R == (0, 0) and i >= j):
                    continue
                model.add_hop(t, i, j, list(R))
    return model


def best_of(f, repeat):
    """Best wall time of `repeat` runs; the best CPU time of this process is kept in CPU[0]."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = f()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    CPU[0] = best_cpu
    return best, out


CPU = [float("nan")]


def run_z2pack(parts, n):
    model = tbmodels_model(parts, n)

    def go():
        system = z2pack.tb.System(model)
        result = z2pack.surface.run(system=system, surface=lambda t1, t2: [t1 / 2, t2])
        return z2pack.invariant.z2(result), len(result.t)
    return best_of(go, args.repeat)


def largest_gap_z2(centres):
    """Z2Pack's rule on lines of centres in [0, 1) (k2 from 0 to pi)."""
    gaps = []
    for c in centres:
        c = np.sort(np.mod(c, 1.0))
        g = np.append(np.diff(c), c[0] + 1 - c[-1])
        a = int(np.argmax(g))
        gaps.append((c[a] + g[a] / 2) % 1.0)
    sign = 1
    for j in range(len(centres) - 1):
        lo, hi = sorted((gaps[j], gaps[j + 1]))
        for x in np.mod(centres[j + 1], 1.0):
            if lo < x < hi:
                sign = -sign
    return int(sign < 0)


def run_pythtb(parts, n, lines, nk):
    model = pythtb.tb_model(2, 2, [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0]] * n)
    model.set_onsite([parts[(0, 0)][i, i].real for i in range(n)])
    for R, blk in parts.items():
        if R < (0, 0):
            continue
        for i in range(n):
            for j in range(n):
                t = blk[i, j]
                if abs(t) < 1e-12 or (R == (0, 0) and i >= j):
                    continue
                model.set_hop(t, i, j, list(R), mode="add", allow_conjugate_pair=True)

    def go():
        wf = pythtb.wf_array(model, [lines, nk + 1])
        for a in range(lines):
            for b in range(nk):
                k = [b / nk, 0.5 * a / (lines - 1)]
                _, evec = model.solve_one(k, eig_vectors=True)
                wf[a, b] = evec
            # The loop closes on the same states (orbitals at the origin: no phase factor),
            # which matters where the occupied bands are degenerate at k1 = 0.
            wf[a, nk] = wf[a, 0]
        phases = wf.berry_phase(list(range(n // 2)), dir=1, contin=False, berry_evals=True)
        return largest_gap_z2(-np.asarray(phases) / (2 * np.pi))
    return best_of(go, args.repeat)


def run_ours(cmd):
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    full = [args.chern, "z2", *cmd, "--json", "--repeat", str(args.repeat)]
    out = subprocess.run(full, env=env, check=True, capture_output=True, text=True).stdout
    obj = json.loads(out)
    return obj["elapsed_s"], obj


cases = [
    ("Kane-Mele QSH (0.06, 0.05, 0.1)", lambda k: kane_mele(k, v=0.1),
     ["kane-mele", "--lambda-so", "0.06", "--lambda-r", "0.05", "--lambda-v", "0.1"], 1),
    ("Kane-Mele trivial (lambda_v 0.4)", lambda k: kane_mele(k, v=0.4),
     ["kane-mele", "--lambda-so", "0.06", "--lambda-r", "0.05", "--lambda-v", "0.4"], 0),
    ("BHZ M=1 B=0.5", lambda k: bhz(k, m=1.0), ["bhz", "--a", "1", "--b", "0.5", "--m", "1"], 1),
    ("BHZ M=5 B=0.5", lambda k: bhz(k, m=5.0), ["bhz", "--a", "1", "--b", "0.5", "--m", "5"], 0),
]
print(f"threads {args.threads}, repeat {args.repeat}, our grid {args.grid}")
print(f"{'case':36s} {'ours':>8s} {'Z2Pack':>8s} {'PythTB':>8s} {'ours ms':>9s} {'Z2Pack ms':>10s}"
      f" {'PythTB ms':>10s} {'Z2Pack/ours':>12s} {'PythTB/ours':>12s}")
for name, h, cmd, expected in cases:
    parts = fourier(h, 4)
    ours_t, obj = run_ours([*cmd, "--grid", str(args.grid)])
    zp_t, (zp, zp_lines) = run_z2pack(parts, 4)
    zp_cpu = CPU[0]
    py_t, py = run_pythtb(parts, 4, args.grid // 2 + 1, args.grid)
    assert obj["z2"] == expected and zp == expected and py == expected, (name, obj["z2"], zp, py)
    print(f"{name:36s} {obj['z2']:8d} {zp:8d} {py:8d} {ours_t * 1e3:9.3f} {zp_t * 1e3:10.1f}"
          f" {py_t * 1e3:10.1f} {zp_t / ours_t:12.1f} {py_t / ours_t:12.1f}   (Z2Pack lines {zp_lines})")
    print(f"{'':36s} cpu: ours {obj['cpu_s'] * 1e3:.3f} ms, Z2Pack {zp_cpu * 1e3:.1f} ms,"
          f" Z2Pack/ours {zp_cpu / obj['cpu_s']:.1f}")

print("\ncost vs grid (ours, Kane-Mele QSH, fukui-hatsugai and wilson-loop):")
for L in [int(x) for x in args.grids.split(",")]:
    row = []
    for method in ("fukui-hatsugai", "wilson-loop"):
        t, obj = run_ours([*cases[0][2], "--grid", str(L), "--method", method])
        assert obj["z2"] == 1
        row.append(t)
    print(f"  L = {L:4d}: fukui-hatsugai {row[0] * 1e3:9.3f} ms, wilson-loop {row[1] * 1e3:9.3f} ms")

print("\ncost vs bands (N copies of BHZ at M = 1, 3, 1, 3, ...; Z2 = N mod 2):")
with tempfile.TemporaryDirectory() as tmp:
    for copies in [int(x) for x in args.copies.split(",")]:
        ms = [1.0 if c % 2 == 0 else 3.0 for c in range(copies)]
        n = 4 * copies
        parts = fourier(bhz_copies(ms), n)
        path = os.path.join(tmp, f"bhz{copies}.json")
        with open(path, "w") as f:
            json.dump(hopping_list(parts, n), f)
        ours_t, obj = run_ours(["tb", "--file", path, "--spin", "interleaved", "--grid", str(args.grid)])
        zp_t, (zp, _) = run_z2pack(parts, n)
        zp_cpu = CPU[0]
        assert obj["z2"] == copies % 2 == zp, (copies, obj["z2"], zp)
        print(f"  {n:3d} bands: ours {ours_t * 1e3:9.3f} ms, Z2Pack {zp_t * 1e3:9.1f} ms,"
              f" ratio {zp_t / ours_t:8.1f}; cpu: ours {obj['cpu_s'] * 1e3:.3f} ms,"
              f" Z2Pack {zp_cpu * 1e3:.1f} ms, ratio {zp_cpu / obj['cpu_s']:.1f}")
