"""numpy vs lattice-gauge: plaquette fields (all planes) and R x T Wilson-loop fields.

Run through run.sh, which builds the venv and runs the criterion bench first. The Rust times are
criterion's mean estimates (ns per call) from <criterion>/<group>/<function>/<id>/new/estimates.json;
the numpy times are the best of --repeat calls of the equivalent vectorised computation (np.roll
for the shifts, batched np.matmul for the products), single-threaded. Inputs are Haar-random U(n)
links in both cases (different draws; the cost does not depend on the values).
"""
import argparse
import json
import os
import pathlib
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import numpy as np  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--criterion", required=True, help="criterion output folder (target/criterion)")
parser.add_argument("--repeat", type=int, default=5)
args = parser.parse_args()

SHAPES = [(32, 32), (8, 8, 8, 8)]
NS = [1, 2, 4, 8]
LOOPS = [(2, 2), (4, 3)]


def haar(rng, size, n):
    a = (rng.standard_normal(size + (n, n)) + 1j * rng.standard_normal(size + (n, n)))
    q, r = np.linalg.qr(a)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    return q * (d.conj() / np.abs(d))[..., None, :]


def adj(m):
    return np.conj(np.swapaxes(m, -1, -2))


def plaquettes(u):
    """u: (dim, L_0, ..., L_{d-1}, n, n). W = U_mu(x) U_nu(x+mu) [U_nu(x) U_mu(x+nu)]^dagger."""
    d = u.shape[0]
    out = []
    for mu in range(d):
        for nu in range(mu + 1, d):
            a = u[mu] @ np.roll(u[nu], -1, axis=mu)
            b = u[nu] @ np.roll(u[mu], -1, axis=nu)
            out.append(a @ adj(b))
    return np.stack(out)


def line(u, mu, length):
    m = u[mu]
    for k in range(1, length):
        m = m @ np.roll(u[mu], -k, axis=mu)
    return m


def wilson(u, mu, nu, r, t):
    lm, ln = line(u, mu, r), line(u, nu, t)
    a = lm @ np.roll(ln, -r, axis=mu)
    b = ln @ np.roll(lm, -t, axis=nu)
    return a @ adj(b)


def best(f):
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times) * 1e9


def criterion_ns(group, function, ident):
    path = pathlib.Path(args.criterion) / group / function / ident / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["mean"]["point_estimate"]


def fmt(ns):
    return f"{ns / 1e6:9.3f} ms"


rng = np.random.default_rng(1)
print(f"{'case':<34} {'lattice-gauge':>13} {'numpy':>13} {'numpy / ours':>13}")
for shape in SHAPES:
    label_shape = "x".join(map(str, shape))
    for n in NS:
        u = haar(rng, (len(shape),) + shape, n)
        cases = [("plaquettes", "lattice_gauge", f"{label_shape}_n{n}", lambda: plaquettes(u))]
        for r, t in LOOPS:
            cases.append(("wilson_loops", "field_plane01", f"{label_shape}_n{n}_{r}x{t}",
                          lambda r=r, t=t: wilson(u, 0, 1, r, t)))
        for group, function, ident, f in cases:
            ours = criterion_ns(group, function, ident)
            theirs = best(f)
            case = f"{group} {ident}"
            if ours is None:
                print(f"{case:<34} {'(no bench)':>13} {fmt(theirs)}")
            else:
                print(f"{case:<34} {fmt(ours)} {fmt(theirs)} {theirs / ours:12.1f}x")
