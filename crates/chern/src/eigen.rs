//! Dense Hermitian eigen-solver for one $H(k)$: closed form for $2\times 2$, LAPACK `zheev` with
//! work memory allocated once per thread for larger matrices.
use lax::eigh::{EighWork, EighWorkImpl};
use lax::layout::MatrixLayout;
use num_complex::Complex64 as C64;

/// Reusable solver for $N\times N$ Hermitian matrices. Eigenvalues come out ascending, eigenvector
/// $a$ as row $a$ of the output (`vectors[a * n + i]` is component $i$).
///
/// $N = 2$ uses the closed form; $N \ge 3$ a Householder reduction to a real symmetric
/// tridiagonal matrix followed by implicit QL (the algorithm of LAPACK's `zheev`, written for the
/// small matrices of Bloch Hamiltonians: no allocation per call, no BLAS call overhead, and only
/// the requested eigenvectors are transformed back). [`Eigensolver::solve_lapack`] runs `zheev`
/// itself, as a reference.
pub(crate) struct Eigensolver {
    n: usize,
    /// Working copy of $H$, reduced in place.
    a: Vec<C64>,
    /// Householder vectors $v_k$, row $k$ (entries $0..N-k-1$ act on components $k+1..N$).
    hv: Vec<C64>,
    /// The complex sub-diagonal $T_{k+1,k}$ before the phase change.
    sub: Vec<C64>,
    beta: Vec<f64>,
    d: Vec<f64>,
    e: Vec<f64>,
    phase: Vec<C64>,
    /// Givens rotations $(i, c, s)$ of the QL sweeps, in order: the eigenvectors of the
    /// tridiagonal matrix are the rows of their product, and only the wanted rows are formed.
    rotations: Vec<(usize, f64, f64)>,
    x: Vec<f64>,
    order: Vec<usize>,
    y: Vec<C64>,
    p: Vec<C64>,
    lapack: Option<EighWork<C64>>,
}

impl Eigensolver {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n,
            a: vec![C64::new(0.0, 0.0); n * n],
            hv: vec![C64::new(0.0, 0.0); n * n],
            sub: vec![C64::new(0.0, 0.0); n],
            beta: vec![0.0; n],
            d: vec![0.0; n],
            e: vec![0.0; n],
            phase: vec![C64::new(1.0, 0.0); n],
            rotations: Vec::with_capacity(4 * n * n),
            x: Vec::with_capacity(n * n),
            order: (0..n).collect(),
            y: vec![C64::new(0.0, 0.0); n],
            p: vec![C64::new(0.0, 0.0); n],
            lapack: None,
        }
    }

    /// Diagonalises the row-major Hermitian `h`: all eigenvalues into `energies`, all
    /// eigenvectors into `vectors` (row per band).
    pub(crate) fn solve(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        vectors: &mut [C64],
    ) -> Result<(), String> {
        let all: Vec<usize> = (0..self.n).collect();
        self.solve_selected(h, energies, &all, vectors)
    }

    /// Diagonalises `h`: all eigenvalues into `energies`, and the eigenvectors of the bands
    /// `bands` (ascending-energy indices) into consecutive rows of `vectors`.
    pub(crate) fn solve_selected(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        bands: &[usize],
        vectors: &mut [C64],
    ) -> Result<(), String> {
        let n = self.n;
        match n {
            1 => {
                energies[0] = h[0].re;
                if !bands.is_empty() {
                    vectors[0] = C64::new(1.0, 0.0);
                }
                Ok(())
            }
            2 => {
                let mut v = [C64::new(0.0, 0.0); 4];
                solve_2x2(h, energies, &mut v);
                for (row, &b) in bands.iter().enumerate() {
                    vectors[row * 2..row * 2 + 2].copy_from_slice(&v[b * 2..b * 2 + 2]);
                }
                Ok(())
            }
            _ => {
                self.tridiagonalise(h);
                self.ql()?;
                // Ascending order of the eigenvalues.
                let d = &self.d;
                self.order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
                for (out, &i) in energies.iter_mut().zip(&self.order) {
                    *out = self.d[i];
                }
                // Rows order[b] of G_K ... G_1 for all wanted b at once: e^T G_K ... G_1,
                // applying the rotations backwards (independent rows give the CPU parallel work).
                let r = bands.len();
                self.x.clear();
                self.x.resize(r * n, 0.0);
                for (row, &b) in bands.iter().enumerate() {
                    self.x[row * n + self.order[b]] = 1.0;
                }
                for &(i, c, s) in self.rotations.iter().rev() {
                    for xr in self.x.chunks_exact_mut(n) {
                        let (xi, xi1) = (xr[i], xr[i + 1]);
                        xr[i] = c * xi + s * xi1;
                        xr[i + 1] = c * xi1 - s * xi;
                    }
                }
                for (row, out) in vectors.chunks_exact_mut(n).take(r).enumerate() {
                    // y = D x, then H_0 H_1 ... y.
                    let xr = &self.x[row * n..(row + 1) * n];
                    for ((y, ph), x) in self.y.iter_mut().zip(&self.phase).zip(xr) {
                        *y = ph * x;
                    }
                    for k in (0..n.saturating_sub(2)).rev() {
                        let beta = self.beta[k];
                        if beta == 0.0 {
                            continue;
                        }
                        let v = &self.hv[k * n..(k + 1) * n - k - 1];
                        let y = &mut self.y[k + 1..];
                        let s = v
                            .iter()
                            .zip(y.iter())
                            .map(|(x, z)| x.conj() * z)
                            .sum::<C64>()
                            * beta;
                        for (z, x) in y.iter_mut().zip(v) {
                            *z -= x * s;
                        }
                    }
                    out.copy_from_slice(&self.y);
                }
                Ok(())
            }
        }
    }

    /// Householder reduction $T = Q^\dagger H Q$, $Q = H_0 H_1\cdots$, with
    /// $H_k = 1 - \beta_k v_k v_k^\dagger$ (vector $v_k$ stored in row $k$ of `hv`),
    /// then the phases $D$ that make $T$ real: $T = D\,T'\,D^\dagger$, stored in `d`, `e`, `phase`.
    fn tridiagonalise(&mut self, h: &[C64]) {
        let n = self.n;
        let (a, hv, p, sub) = (&mut self.a, &mut self.hv, &mut self.p, &mut self.sub);
        a.copy_from_slice(&h[..n * n]);
        for k in 0..n - 2 {
            let m0 = k + 1;
            let len = n - m0;
            // v_k, contiguous in row k of `hv` (positions 0..len).
            let v = &mut hv[k * n..k * n + len];
            for (vi, i) in v.iter_mut().zip(m0..n) {
                *vi = a[i * n + k];
            }
            let sigma2: f64 = v.iter().map(|z| z.norm_sqr()).sum();
            let x0 = v[0];
            if sigma2 - x0.norm_sqr() <= f64::MIN_POSITIVE {
                // Already tridiagonal in this column.
                self.beta[k] = 0.0;
                sub[k] = x0;
                continue;
            }
            let sigma = sigma2.sqrt();
            let unit = if x0.norm() > 0.0 {
                x0 / x0.norm()
            } else {
                C64::new(1.0, 0.0)
            };
            let alpha = -unit * sigma;
            // v = x - alpha e1; |v|^2 = 2 sigma (sigma + |x0|).
            v[0] = x0 - alpha;
            let beta = 1.0 / (sigma * (sigma + x0.norm()));
            self.beta[k] = beta;
            sub[k] = alpha;
            let v = &hv[k * n..k * n + len];
            // p = beta A22 v (A22 Hermitian, stored in full).
            let q = &mut p[..len];
            for (qi, i) in q.iter_mut().zip(m0..n) {
                let row = &a[i * n + m0..(i + 1) * n];
                *qi = row.iter().zip(v).map(|(x, y)| x * y).sum::<C64>() * beta;
            }
            let vp: C64 = v.iter().zip(q.iter()).map(|(x, y)| x.conj() * y).sum();
            let half = 0.5 * beta * vp.re;
            for (qi, vi) in q.iter_mut().zip(v) {
                *qi -= vi * half;
            }
            // A22 -= v q^† + q v^†.
            for (r, i) in (m0..n).enumerate() {
                let (vi, qi) = (v[r], q[r]);
                let row = &mut a[i * n + m0..(i + 1) * n];
                for ((x, vj), qj) in row.iter_mut().zip(v).zip(q.iter()) {
                    *x -= vi * qj.conj() + qi * vj.conj();
                }
            }
        }
        sub[n - 2] = a[(n - 1) * n + n - 2];
        // Diagonal, and the phases that make the sub-diagonal real.
        self.phase[0] = C64::new(1.0, 0.0);
        for k in 0..n {
            self.d[k] = a[k * n + k].re;
        }
        for (k, z) in sub[..n - 1].iter().enumerate() {
            let m = z.norm();
            self.e[k] = m;
            self.phase[k + 1] = if m > 0.0 {
                self.phase[k] * (z / m)
            } else {
                self.phase[k]
            };
        }
        self.e[n - 1] = 0.0;
    }

    /// Implicit QL with Wilkinson-type shifts on the real tridiagonal $(d, e)$, recording the
    /// rotations (row $i$ of the eigenvector matrix $Z^T$ becomes $c z_i - s z_{i+1}$, row $i+1$
    /// becomes $s z_i + c z_{i+1}$).
    fn ql(&mut self) -> Result<(), String> {
        let n = self.n;
        let (d, e) = (&mut self.d, &mut self.e);
        let rotations = &mut self.rotations;
        rotations.clear();
        self.order.clear();
        self.order.extend(0..n);
        for l in 0..n {
            let mut iter = 0;
            loop {
                let mut m = l;
                while m < n - 1 {
                    let dd = d[m].abs() + d[m + 1].abs();
                    if e[m].abs() <= f64::EPSILON * dd {
                        break;
                    }
                    m += 1;
                }
                if m == l {
                    break;
                }
                iter += 1;
                if iter > 60 {
                    return Err(format!(
                        "implicit QL did not converge for eigenvalue {l} in 60 iterations"
                    ));
                }
                let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
                // libm's hypot is slow and overflow is impossible at these magnitudes.
                let mut r = (g * g + 1.0).sqrt();
                g = d[m] - d[l] + e[l] / (g + r.copysign(g));
                let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
                let mut underflow = false;
                let mut i = m;
                while i > l {
                    i -= 1;
                    let f = s * e[i];
                    let b = c * e[i];
                    let r2 = f * f + g * g;
                    if r2 == 0.0 {
                        e[i + 1] = 0.0;
                        d[i + 1] -= p;
                        e[m] = 0.0;
                        underflow = true;
                        break;
                    }
                    // One division instead of two on the latency-bound chain.
                    let inv = 1.0 / r2.sqrt();
                    r = r2 * inv;
                    e[i + 1] = r;
                    s = f * inv;
                    c = g * inv;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * s + 2.0 * c * b;
                    p = s * r;
                    d[i + 1] = g + p;
                    g = c * r - b;
                    rotations.push((i, c, s));
                }
                if underflow {
                    continue;
                }
                d[l] -= p;
                e[l] = g;
                e[m] = 0.0;
            }
        }
        Ok(())
    }

    /// LAPACK `zheev` on `h`, for reference and cross-checks.
    #[allow(dead_code)]
    pub(crate) fn solve_lapack(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        vectors: &mut [C64],
    ) -> Result<(), String> {
        let n = self.n;
        if self.lapack.is_none() {
            let layout = MatrixLayout::F {
                col: n as i32,
                lda: n as i32,
            };
            self.lapack = Some(EighWork::<C64>::new(true, layout).map_err(|e| e.to_string())?);
        }
        // The row-major buffer read column-major by LAPACK is H^T = conj(H): its eigenvectors
        // are the conjugates of ours, stored column by column, which is exactly our
        // row-per-eigenvector layout once conjugated.
        self.a.copy_from_slice(&h[..n * n]);
        let work = self.lapack.as_mut().expect("set above");
        let eigs = work
            .calc(lax::UPLO::Lower, &mut self.a)
            .map_err(|e| e.to_string())?;
        energies.copy_from_slice(eigs);
        for (v, b) in vectors.iter_mut().zip(&self.a) {
            *v = b.conj();
        }
        Ok(())
    }
}

/// Closed-form eigen-decomposition of $H = d_0 + \vec d\cdot\vec\sigma$, with the eigenvector
/// formula chosen by the sign of $d_z$ so that it never divides by a small number.
#[inline]
pub(crate) fn solve_2x2(h: &[C64], energies: &mut [f64], vectors: &mut [C64]) {
    let a = h[0].re;
    let b = h[3].re;
    let c = h[1]; // d_x - i d_y
    let d0 = 0.5 * (a + b);
    let dz = 0.5 * (a - b);
    let r = (dz * dz + c.norm_sqr()).sqrt();
    energies[0] = d0 - r;
    energies[1] = d0 + r;
    if r == 0.0 {
        vectors[0] = C64::new(1.0, 0.0);
        vectors[1] = C64::new(0.0, 0.0);
        vectors[2] = C64::new(0.0, 0.0);
        vectors[3] = C64::new(1.0, 0.0);
        return;
    }
    if dz >= 0.0 {
        // lower (c, -(r + dz)), upper (r + dz, c*)
        let s = r + dz;
        let norm = 1.0 / (s * s + c.norm_sqr()).sqrt();
        vectors[0] = c * norm;
        vectors[1] = C64::new(-s * norm, 0.0);
        vectors[2] = C64::new(s * norm, 0.0);
        vectors[3] = c.conj() * norm;
    } else {
        // lower (r - dz, -c*), upper (c, r - dz)
        let s = r - dz;
        let norm = 1.0 / (s * s + c.norm_sqr()).sqrt();
        vectors[0] = C64::new(s * norm, 0.0);
        vectors[1] = -c.conj() * norm;
        vectors[2] = c * norm;
        vectors[3] = C64::new(s * norm, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_hermitian(rng: &mut impl Rng, n: usize) -> Vec<C64> {
        let mut h = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in i..n {
                let z = C64::new(
                    rng.random_range(-1.0..1.0),
                    if i == j {
                        0.0
                    } else {
                        rng.random_range(-1.0..1.0)
                    },
                );
                h[i * n + j] = z;
                h[j * n + i] = z.conj();
            }
        }
        h
    }

    fn check_decomposition(h: &[C64], n: usize, e: &[f64], v: &[C64], tol: f64) {
        let scale = h.iter().map(|x| x.norm()).fold(1.0, f64::max);
        for a in 0..n {
            if a > 0 {
                assert!(e[a] >= e[a - 1], "eigenvalues not ascending: {e:?}");
            }
            for i in 0..n {
                let hv: C64 = (0..n).map(|j| h[i * n + j] * v[a * n + j]).sum();
                assert!(
                    (hv - e[a] * v[a * n + i]).norm() < tol * scale,
                    "residual n={n} band {a}: {}",
                    (hv - e[a] * v[a * n + i]).norm()
                );
            }
            for b in 0..n {
                let s: C64 = (0..n).map(|i| v[a * n + i].conj() * v[b * n + i]).sum();
                let target = if a == b { 1.0 } else { 0.0 };
                assert!(
                    (s - target).norm() < tol,
                    "not orthonormal n={n} ({a},{b}): {s}"
                );
            }
        }
    }

    #[test]
    fn eigenvectors_have_small_residuals_and_match_lapack() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 1..=9 {
            let mut solver = Eigensolver::new(n);
            for trial in 0..40 {
                let mut h = random_hermitian(&mut rng, n);
                if trial % 4 == 1 {
                    // Degenerate spectrum: U diag(1,1,..,-1,-1) U^dagger built as a projector.
                    let u = lattice_gauge::matrix::haar_unitary(&mut rng, n);
                    for i in 0..n {
                        for j in 0..n {
                            h[i * n + j] = (0..n)
                                .map(|a| {
                                    u[i * n + a]
                                        * if a < n / 2 { -1.0 } else { 1.0 }
                                        * u[j * n + a].conj()
                                })
                                .sum();
                        }
                    }
                } else if trial % 4 == 2 {
                    // Already tridiagonal or diagonal (Householder steps must be skipped).
                    for i in 0..n {
                        for j in 0..n {
                            if i.abs_diff(j) > 1 + trial % 3 / 2 {
                                h[i * n + j] = C64::new(0.0, 0.0);
                            }
                        }
                    }
                } else if trial % 4 == 3 {
                    h.iter_mut().for_each(|x| *x *= 1e-3);
                }
                let mut e = vec![0.0; n];
                let mut v = vec![C64::new(0.0, 0.0); n * n];
                solver.solve(&h, &mut e, &mut v).unwrap();
                check_decomposition(&h, n, &e, &v, 1e-12);
                let mut el = vec![0.0; n];
                let mut vl = vec![C64::new(0.0, 0.0); n * n];
                solver.solve_lapack(&h, &mut el, &mut vl).unwrap();
                check_decomposition(&h, n, &el, &vl, 1e-12);
                for (x, y) in e.iter().zip(&el) {
                    assert!(
                        (x - y).abs() < 1e-12,
                        "eigenvalues differ from zheev: {e:?} vs {el:?}"
                    );
                }
            }
            // The zero matrix.
            let h = vec![C64::new(0.0, 0.0); n * n];
            let mut e = vec![1.0; n];
            let mut v = vec![C64::new(0.0, 0.0); n * n];
            solver.solve(&h, &mut e, &mut v).unwrap();
            check_decomposition(&h, n, &e, &v, 1e-12);
        }
    }

    #[test]
    fn selected_eigenvectors_are_the_full_ones() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let n = 6;
        let mut solver = Eigensolver::new(n);
        let h = random_hermitian(&mut rng, n);
        let mut e = vec![0.0; n];
        let mut v = vec![C64::new(0.0, 0.0); n * n];
        solver.solve(&h, &mut e, &mut v).unwrap();
        let mut sel = vec![C64::new(0.0, 0.0); 2 * n];
        solver
            .solve_selected(&h, &mut e, &[1, 4], &mut sel)
            .unwrap();
        assert_eq!(&sel[..n], &v[n..2 * n]);
        assert_eq!(&sel[n..], &v[4 * n..5 * n]);
    }
}
