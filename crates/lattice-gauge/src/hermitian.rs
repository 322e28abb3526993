//! Dense Hermitian eigen-solver for the small matrices of Bloch Hamiltonians and plaquettes:
//! closed form for $2\times 2$, Householder tridiagonalisation and QL above, with work memory
//! allocated once per solver (one per thread) and none per call.
//!
//! ```
//! use lattice_gauge::{hermitian::Eigensolver, C64};
//! // H = sigma_x has eigenvalues -1 and +1.
//! let h = [C64::new(0.0, 0.0), C64::new(1.0, 0.0), C64::new(1.0, 0.0), C64::new(0.0, 0.0)];
//! let mut solver = Eigensolver::new(2);
//! let (mut energies, mut vectors) = ([0.0; 2], [C64::new(0.0, 0.0); 4]);
//! solver.solve(&h, &mut energies, &mut vectors)?;
//! assert!((energies[0] + 1.0).abs() < 1e-15 && (energies[1] - 1.0).abs() < 1e-15);
//! // Row a of `vectors` is the eigenvector of energies[a]: (1, -1)/sqrt 2 up to a phase.
//! assert!((vectors[0] + vectors[1]).norm() < 1e-15);
//! # Ok::<(), lattice_gauge::Error>(())
//! ```
use crate::error::{Error, Result};
use num_complex::Complex64 as C64;

/// Calls `$call` with the const generic `N` set to `$n` for the sizes $3..8$ of typical Bloch
/// Hamiltonians (their loops unroll) and to 0 (run-time size) otherwise.
macro_rules! sized {
    ($n:expr, $self:ident . $f:ident :: <N $(, $g:ident)*> ( $($arg:expr),* )) => {
        match $n {
            3 => $self.$f::<3 $(, $g)*>($($arg),*),
            4 => $self.$f::<4 $(, $g)*>($($arg),*),
            5 => $self.$f::<5 $(, $g)*>($($arg),*),
            6 => $self.$f::<6 $(, $g)*>($($arg),*),
            7 => $self.$f::<7 $(, $g)*>($($arg),*),
            8 => $self.$f::<8 $(, $g)*>($($arg),*),
            _ => $self.$f::<0 $(, $g)*>($($arg),*),
        }
    };
}

/// Reusable solver for $N\times N$ Hermitian matrices. Eigenvalues come out ascending, eigenvector
/// $a$ as row $a$ of the output (`vectors[a * n + i]` is component $i$).
///
/// $N = 2$ uses the closed form; $N \ge 3$ a Householder reduction to a real symmetric
/// tridiagonal matrix $T$ (the first step of LAPACK's `zheev`, written for the small matrices of
/// Bloch Hamiltonians: no allocation per call, no BLAS call overhead). Then, where the wanted
/// eigenvalues are separated from the others, the fast path: all eigenvalues by root-free QL
/// and only the wanted eigenvectors of $T$ by one twisted factorisation each, $O(N)$ per vector;
/// elsewhere (degenerate or clustered bands) implicit QL with the rotations applied to the wanted
/// rows only. Either way only the wanted vectors are transformed back. Two matrices can be
/// solved together ([`Eigensolver::solve_selected_batch`]) so that the latency-bound QL sweeps of
/// both overlap. The tests check every path against LAPACK's `zheev`.
pub struct Eigensolver {
    n: usize,
    /// Reduction state of up to four matrices solved together.
    lanes: [Reduction; 4],
    /// Givens rotations $(i, c, s)$ of the QL sweeps, in order: the eigenvectors of the
    /// tridiagonal matrix are the rows of their product, and only the wanted rows are formed.
    rotations: Vec<(usize, f64, f64)>,
    /// The wanted eigenvectors of $T'$, one row each.
    x: Vec<f64>,
    order: Vec<usize>,
    /// Reciprocal pivots of the forward and backward factorisations of $T - \lambda$, band
    /// fastest.
    dp: Vec<f64>,
    dm: Vec<f64>,
    /// The wanted eigenvalues.
    shifts: Vec<f64>,
    /// Whether the last solve of each lane took the fast path (for tests).
    fast: [bool; 4],
}

/// One matrix's Householder reduction $H = Q\,D\,T'\,D^\dagger Q^\dagger$ and the copies the
/// root-free QL consumes.
struct Reduction {
    /// Working copy of $H$, reduced in place.
    a: Vec<C64>,
    /// Householder vectors $v_k$, row $k$ (entries $0..N-k-1$ act on components $k+1..N$).
    hv: Vec<C64>,
    /// The complex sub-diagonal $T_{k+1,k}$ before the phase change.
    sub: Vec<C64>,
    beta: Vec<f64>,
    /// Diagonal and (real, non-negative) sub-diagonal of $T'$; `e[n - 1] = 0`.
    d: Vec<f64>,
    e: Vec<f64>,
    phase: Vec<C64>,
    /// Eigenvalues of the root-free QL, ascending.
    lambda: Vec<f64>,
    /// Squared sub-diagonal, consumed by the root-free QL.
    e2: Vec<f64>,
    /// Scratch vector of the Householder steps.
    p: Vec<C64>,
}

impl Reduction {
    fn new(n: usize) -> Self {
        Self {
            a: vec![C64::new(0.0, 0.0); n * n],
            hv: vec![C64::new(0.0, 0.0); n * n],
            sub: vec![C64::new(0.0, 0.0); n],
            beta: vec![0.0; n],
            d: vec![0.0; n],
            e: vec![0.0; n],
            phase: vec![C64::new(1.0, 0.0); n],
            lambda: vec![0.0; n],
            e2: vec![0.0; n],
            p: vec![C64::new(0.0, 0.0); n],
        }
    }

    /// Householder step `k` of the reduction $T = Q^\dagger H Q$, $Q = H_0 H_1\cdots$, with
    /// $H_k = 1 - \beta_k v_k v_k^\dagger$ (vector $v_k$ stored in row $k$ of `hv`), reading and
    /// updating the lower triangle of `a` only.
    #[inline(always)]
    fn householder_step<const N: usize>(&mut self, n: usize, k: usize) {
        let n = if N > 0 { N } else { n };
        let (a, hv, sub, p) = (&mut self.a, &mut self.hv, &mut self.sub, &mut self.p);
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
            return;
        }
        let sigma = sigma2.sqrt();
        // |x0| without libm's slow hypot: no overflow at these magnitudes.
        let x0_abs = x0.norm_sqr().sqrt();
        let unit = if x0_abs > 0.0 {
            x0 / x0_abs
        } else {
            C64::new(1.0, 0.0)
        };
        let alpha = -unit * sigma;
        // v = x - alpha e1; |v|^2 = 2 sigma (sigma + |x0|).
        v[0] = x0 - alpha;
        let beta = 1.0 / (sigma * (sigma + x0_abs));
        self.beta[k] = beta;
        sub[k] = alpha;
        let v = &hv[k * n..k * n + len];
        // p = beta A22 v from the lower triangle of the Hermitian A22 (the only part kept
        // up to date): each strictly lower entry serves its row and, conjugated, its column.
        let q = &mut p[..len];
        q.fill(C64::new(0.0, 0.0));
        for (r, i) in (m0..n).enumerate() {
            let vi = v[r];
            let row = &a[i * n + m0..i * n + i];
            let (q_before, q_rest) = q.split_at_mut(r);
            let mut acc = vi * a[i * n + i].re;
            for ((x, vj), qj) in row.iter().zip(&v[..r]).zip(q_before.iter_mut()) {
                acc += x * vj;
                *qj += x.conj() * vi;
            }
            q_rest[0] += acc;
        }
        for qi in q.iter_mut() {
            *qi *= beta;
        }
        let vp: C64 = v.iter().zip(q.iter()).map(|(x, y)| x.conj() * y).sum();
        let half = 0.5 * beta * vp.re;
        for (qi, vi) in q.iter_mut().zip(v) {
            *qi -= vi * half;
        }
        // A22 -= v q^† + q v^†, lower triangle.
        for (r, i) in (m0..n).enumerate() {
            let (vi, qi) = (v[r], q[r]);
            let row = &mut a[i * n + m0..i * n + i + 1];
            for ((x, vj), qj) in row.iter_mut().zip(v).zip(q.iter()) {
                *x -= vi * qj.conj() + qi * vj.conj();
            }
        }
    }

    /// After the Householder steps: $T$'s diagonal, and the phases $D$ that make it real,
    /// $T = D\,T'\,D^\dagger$, stored in `d`, `e`, `phase`.
    #[inline(always)]
    fn finish_reduction<const N: usize>(&mut self, n: usize) {
        let n = if N > 0 { N } else { n };
        let t = self;
        t.sub[n - 2] = t.a[(n - 1) * n + n - 2];
        // Diagonal, and the phases that make the sub-diagonal real.
        t.phase[0] = C64::new(1.0, 0.0);
        for k in 0..n {
            t.d[k] = t.a[k * n + k].re;
        }
        for (k, z) in t.sub[..n - 1].iter().enumerate() {
            let m = z.norm_sqr().sqrt();
            t.e[k] = m;
            t.phase[k + 1] = if m > 0.0 {
                t.phase[k] * (z / m)
            } else {
                t.phase[k]
            };
        }
        t.e[n - 1] = 0.0;
    }

    /// Loads $T'$ into the buffers of the root-free QL.
    fn prepare_root_free(&mut self) {
        self.lambda.copy_from_slice(&self.d);
        for (x, y) in self.e2.iter_mut().zip(&self.e) {
            *x = y * y;
        }
    }
}

impl Eigensolver {
    /// The bytes of work memory a solver for $n \times n$ matrices holds (`None` if the count
    /// overflows), for estimates before allocating one per thread.
    pub fn workspace_bytes(n: usize) -> Option<u128> {
        // Four lanes of two n x n complex matrices, up to 4 n^2 rotations (24 bytes each), the
        // wanted vectors and two n x n pivot tables, and O(n) vectors.
        let n2 = (n as u128).checked_mul(n as u128)?;
        n2.checked_mul(4 * 2 * 16 + 4 * 24 + 8 + 2 * 8)?
            .checked_add((n as u128).checked_mul(4 * 10 * 16 + 8 + 8)?)
    }

    /// A solver for $n \times n$ matrices ($n \ge 1$), with all work memory allocated here
    /// ([`Self::workspace_bytes`]).
    pub fn new(n: usize) -> Self {
        Self {
            n,
            lanes: std::array::from_fn(|_| Reduction::new(n)),
            rotations: Vec::with_capacity(4 * n * n),
            x: Vec::with_capacity(n * n),
            order: (0..n).collect(),
            dp: vec![0.0; n * n],
            dm: vec![0.0; n * n],
            shifts: vec![0.0; n],
            fast: [false; 4],
        }
    }

    /// Diagonalises the row-major Hermitian `h`: all eigenvalues into `energies`, all
    /// eigenvectors into `vectors` (row per band).
    ///
    /// Only the lower triangle's information is assumed consistent; `h` is not checked for
    /// Hermiticity or finiteness (the caller does that once per matrix).
    ///
    /// # Panics
    /// If `h` or `vectors` is shorter than $n^2$ or `energies` shorter than $n$.
    ///
    /// # Errors
    /// [`Error::NoConvergence`] if the QL iteration does not converge (not observed for finite
    /// input).
    #[inline]
    pub fn solve(&mut self, h: &[C64], energies: &mut [f64], vectors: &mut [C64]) -> Result<()> {
        let all: Vec<usize> = (0..self.n).collect();
        self.solve_selected(h, energies, &all, vectors)
    }

    /// Diagonalises `h`: all eigenvalues into `energies`, and the eigenvectors of the bands
    /// `bands` (ascending-energy indices, at most $N$) into consecutive rows of `vectors`.
    ///
    /// # Panics
    /// If a slice is too short for its contents or a band index is not below $n$.
    ///
    /// # Errors
    /// As [`Self::solve`].
    #[inline]
    pub fn solve_selected(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        bands: &[usize],
        vectors: &mut [C64],
    ) -> Result<()> {
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
                let (e, v) = eigen_2x2(h);
                energies[..2].copy_from_slice(&e);
                for (out, &b) in vectors.chunks_exact_mut(2).zip(bands) {
                    out.copy_from_slice(&v[b]);
                }
                Ok(())
            }
            _ => sized!(n, self.single::<N>(h, energies, bands, vectors)),
        }
    }

    /// [`Self::solve_selected`] on `L` (at most 4) matrices at once (the same bands of each),
    /// with one result per matrix: their QL sweeps are interleaved, which divides the time of
    /// the latency-bound eigenvalue iteration by up to `L`. Bit for bit the results of
    /// [`Self::solve_selected`] on each matrix alone.
    ///
    /// # Panics
    /// As [`Self::solve_selected`], and if `L > 4`.
    pub fn solve_selected_batch<const L: usize>(
        &mut self,
        h: [&[C64]; L],
        energies: [&mut [f64]; L],
        bands: &[usize],
        vectors: [&mut [C64]; L],
    ) -> [Result<()>; L] {
        if self.n < 3 {
            let mut out = energies.into_iter().zip(vectors).zip(h);
            return std::array::from_fn(|_| {
                let ((e, v), h) = out.next().expect("L items");
                self.solve_selected(h, e, bands, v)
            });
        }
        sized!(self.n, self.batch::<N, L>(h, energies, bands, vectors))
    }

    /// [`Self::solve_selected`] for $N \ge 3$; `N` is $N$ at compile time (0: only at run
    /// time), so that the loops of the small sizes unroll.
    fn single<const N: usize>(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        bands: &[usize],
        vectors: &mut [C64],
    ) -> Result<()> {
        self.tridiagonalise::<N>(0, h);
        let t = &mut self.lanes[0];
        t.prepare_root_free();
        let converged = eigenvalues_root_free(&mut t.lambda, &mut t.e2);
        self.finish::<N>(0, converged, energies, bands, vectors)
    }

    /// [`Self::solve_selected_batch`] for $N \ge 3$, `N` as in [`Self::single`].
    fn batch<const N: usize, const L: usize>(
        &mut self,
        h: [&[C64]; L],
        energies: [&mut [f64]; L],
        bands: &[usize],
        vectors: [&mut [C64]; L],
    ) -> [Result<()>; L] {
        for (lane, h) in h.into_iter().enumerate() {
            self.tridiagonalise::<N>(lane, h);
        }
        let mut reductions = self.lanes.iter_mut();
        let converged = eigenvalues_root_free_lanes::<L>(std::array::from_fn(|_| {
            let t = reductions.next().expect("at most 4 lanes");
            t.prepare_root_free();
            (&mut t.lambda[..], &mut t.e2[..])
        }));
        let mut out = energies.into_iter().zip(vectors).enumerate();
        std::array::from_fn(|_| {
            let (lane, (e, v)) = out.next().expect("L items");
            self.finish::<N>(lane, converged[lane], e, bands, v)
        })
    }

    /// Eigenvectors of lane `lane` after its root-free eigenvalues (`converged`): by the fast
    /// path where it applies, by QL with rotations otherwise, then transformed back.
    fn finish<const N: usize>(
        &mut self,
        lane: usize,
        converged: bool,
        energies: &mut [f64],
        bands: &[usize],
        vectors: &mut [C64],
    ) -> Result<()> {
        self.fast[lane] =
            converged && self.selected_by_inverse_iteration::<N>(lane, energies, bands);
        if !self.fast[lane] {
            self.ql(lane)?;
            self.selected_by_rotations(lane, energies, bands);
        }
        self.back_transform::<N>(lane, bands.len(), vectors);
        Ok(())
    }

    /// The fast path, after the root-free QL: the wanted eigenvectors of $T'$ one by one from a
    /// twisted factorisation of $T' - \lambda$ (one $O(N)$ solve each) into the rows of `x`,
    /// all eigenvalues into `energies`.
    ///
    /// Returns `false`, leaving `energies` and `x` to be overwritten, wherever that is not
    /// provably accurate: a wanted eigenvalue closer than $10^{-3}\lVert T\rVert_\infty$ to
    /// another one (degenerate or clustered bands, whose individual eigenvectors inverse
    /// iteration cannot keep orthogonal), or a residual $\lVert (T - \lambda) z\rVert_\infty$
    /// above $256 N \epsilon \lVert T\rVert_\infty$.
    fn selected_by_inverse_iteration<const N: usize>(
        &mut self,
        lane: usize,
        energies: &mut [f64],
        bands: &[usize],
    ) -> bool {
        let n = if N > 0 { N } else { self.n };
        let t = &self.lanes[lane];
        let (d, e, lambda) = (&t.d, &t.e, &t.lambda);
        let mut norm = 0.0f64;
        for i in 0..n {
            let left = if i > 0 { e[i - 1] } else { 0.0 };
            norm = norm.max(d[i].abs() + e[i] + left);
        }
        if norm == 0.0 || !norm.is_finite() {
            return false;
        }
        let separation = 1e-3 * norm;
        for &b in bands {
            let below = b > 0 && lambda[b] - lambda[b - 1] < separation;
            let above = b + 1 < n && lambda[b + 1] - lambda[b] < separation;
            if below || above {
                return false;
            }
        }
        let r = bands.len();
        self.x.clear();
        self.x.resize(r * n, 0.0);
        let tiny = f64::EPSILON * norm;
        let shifts = &mut self.shifts[..r];
        for (x, &b) in shifts.iter_mut().zip(bands) {
            *x = lambda[b];
        }
        twisted_eigenvectors::<N>(d, e, shifts, tiny, &mut self.dp, &mut self.dm, &mut self.x);
        let tolerance = 256.0 * n as f64 * f64::EPSILON * norm;
        for (row, &l) in shifts.iter().enumerate() {
            // Separated eigenvalues give nearly orthogonal vectors; Gram-Schmidt against the
            // rows before makes them orthonormal to rounding.
            let (done, z) = self.x.split_at_mut(row * n);
            let z = &mut z[..n];
            for prev in done.chunks_exact(n) {
                let s: f64 = prev.iter().zip(z.iter()).map(|(a, b)| a * b).sum();
                for (zi, pi) in z.iter_mut().zip(prev) {
                    *zi -= s * pi;
                }
            }
            let scale = 1.0 / z.iter().map(|v| v * v).sum::<f64>().sqrt();
            z.iter_mut().for_each(|v| *v *= scale);
            let mut residual = ((d[0] - l) * z[0] + e[0] * z[1]).abs();
            for i in 1..n - 1 {
                let t = e[i - 1] * z[i - 1] + (d[i] - l) * z[i] + e[i] * z[i + 1];
                residual = residual.max(t.abs());
            }
            residual = residual.max((e[n - 2] * z[n - 2] + (d[n - 1] - l) * z[n - 1]).abs());
            // Also rejects NaN.
            if residual.is_nan() || residual > tolerance {
                return false;
            }
        }
        energies.copy_from_slice(lambda);
        true
    }

    /// The robust path after [`Self::ql`]: all eigenvalues ascending into `energies`, rows
    /// `order[b]` of the product of the QL rotations for the wanted bands into `x`.
    fn selected_by_rotations(&mut self, lane: usize, energies: &mut [f64], bands: &[usize]) {
        let n = self.n;
        let d = &self.lanes[lane].d;
        self.order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
        for (out, &i) in energies.iter_mut().zip(&self.order) {
            *out = d[i];
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
    }

    /// Eigenvectors of $H$ from those of $T'$ in the rows of `x`: $v = Q D x$, all rows
    /// reflector by reflector (the rows are independent work for the CPU).
    fn back_transform<const N: usize>(&mut self, lane: usize, r: usize, vectors: &mut [C64]) {
        let n = if N > 0 { N } else { self.n };
        let t = &self.lanes[lane];
        let vectors = &mut vectors[..r * n];
        for (out, xr) in vectors.chunks_exact_mut(n).zip(self.x.chunks_exact(n)) {
            for ((y, ph), x) in out.iter_mut().zip(&t.phase).zip(xr) {
                *y = ph * x;
            }
        }
        for k in (0..n.saturating_sub(2)).rev() {
            let beta = t.beta[k];
            if beta == 0.0 {
                continue;
            }
            let v = &t.hv[k * n..(k + 1) * n - k - 1];
            for out in vectors.chunks_exact_mut(n) {
                let y = &mut out[k + 1..];
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
        }
    }

    /// Householder reduction $T = Q^\dagger H Q$ of `h` into lane `lane` (see [`Reduction`]).
    fn tridiagonalise<const N: usize>(&mut self, lane: usize, h: &[C64]) {
        let n = if N > 0 { N } else { self.n };
        let t = &mut self.lanes[lane];
        t.a.copy_from_slice(&h[..n * n]);
        for k in 0..n - 2 {
            t.householder_step::<N>(n, k);
        }
        t.finish_reduction::<N>(n);
    }

    /// Implicit QL with Wilkinson-type shifts on the real tridiagonal $(d, e)$, recording the
    /// rotations (row $i$ of the eigenvector matrix $Z^T$ becomes $c z_i - s z_{i+1}$, row $i+1$
    /// becomes $s z_i + c z_{i+1}$).
    fn ql(&mut self, lane: usize) -> Result<()> {
        let n = self.n;
        let t = &mut self.lanes[lane];
        let (d, e) = (&mut t.d, &mut t.e);
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
                    return Err(Error::NoConvergence {
                        algorithm: "implicit QL of a Hermitian eigen-decomposition",
                        iterations: 60,
                    });
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
}

/// All eigenvalues of the real symmetric tridiagonal matrix with diagonal `d` and squared
/// sub-diagonal `e2` (`e2[i]` couples `d[i]` and `d[i + 1]`, `e2[n - 1]` ignored), ascending,
/// into `d`, by the rational (root-free) QL algorithm of Reinsch (EISPACK `tqlrat`): no square
/// root and no rotation on the latency-bound chain. `e2` is destroyed. `false` if an eigenvalue
/// needs more than 30 iterations.
fn eigenvalues_root_free(d: &mut [f64], e2: &mut [f64]) -> bool {
    let n = d.len();
    e2[n - 1] = 0.0;
    let (mut f, mut t, mut b, mut c) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for l in 0..n {
        let h = d[l].abs() + e2[l].sqrt();
        if t < h {
            t = h;
            b = f64::EPSILON * t;
            c = b * b;
        }
        // Smallest m >= l with a negligible squared sub-diagonal; e2[n - 1] = 0 ends the search.
        let mut m = l;
        while e2[m] > c {
            m += 1;
        }
        let mut iter = 0;
        let mut active = m != l;
        while active {
            if iter == 30 {
                return false;
            }
            iter += 1;
            // Shift: the eigenvalue of the leading 2 x 2 block closer to d[l].
            let s = e2[l].sqrt();
            let g = d[l];
            let p = (d[l + 1] - g) / (2.0 * s);
            let r = (p * p + 1.0).sqrt();
            d[l] = s / (p + r.copysign(p));
            let h = g - d[l];
            for x in &mut d[l + 1..] {
                *x -= h;
            }
            f += h;
            let mut g = d[m];
            if g == 0.0 {
                g = b;
            }
            let mut h = g;
            let mut s = 0.0;
            for i in (l..m).rev() {
                let p = g * h;
                let r = p + e2[i];
                let inv = 1.0 / r;
                e2[i + 1] = s * r;
                s = e2[i] * inv;
                d[i + 1] = h + s * (h + d[i]);
                g = d[i] - e2[i] / g;
                if g == 0.0 {
                    g = b;
                }
                h = g * p * inv;
            }
            e2[l] = s * g;
            d[l] = h;
            // Converged (or underflow, which guards the test itself)?
            if h == 0.0 || e2[l].abs() <= (c / h).abs() {
                active = false;
            } else {
                e2[l] *= h;
                active = e2[l] != 0.0;
            }
        }
        // Insert d[l] + f into the ascending d[0..l].
        let p = d[l] + f;
        let mut i = l;
        while i > 0 && p < d[i - 1] {
            d[i] = d[i - 1];
            i -= 1;
        }
        d[i] = p;
    }
    true
}

/// [`eigenvalues_root_free`] on `L` independent matrices (diagonal, squared sub-diagonal) at once: the QL sweeps of all matrices
/// that are still iterating and sweep the same range run in one loop, so their chains of
/// dependent divisions overlap. The same operations in the same order as one at a time, so the
/// eigenvalues are bit for bit the same. Per-matrix success flags.
fn eigenvalues_root_free_lanes<const L: usize>(mut x: [(&mut [f64], &mut [f64]); L]) -> [bool; L] {
    let n = x[0].0.len();
    assert!(x.iter().all(|(d, e)| d.len() == n && e.len() == n));
    let mut ok = [true; L];
    let mut f = [0.0f64; L];
    let mut t = [0.0f64; L];
    let mut b = [0.0f64; L];
    let mut c = [0.0f64; L];
    for (_, e) in x.iter_mut() {
        e[n - 1] = 0.0;
    }
    for l in 0..n {
        let mut m = [l; L];
        let mut iter = [0; L];
        let mut active = [false; L];
        for lane in 0..L {
            let (dd, ee) = (&*x[lane].0, &*x[lane].1);
            let h = dd[l].abs() + ee[l].sqrt();
            if t[lane] < h {
                t[lane] = h;
                b[lane] = f64::EPSILON * h;
                c[lane] = b[lane] * b[lane];
            }
            while ee[m[lane]] > c[lane] {
                m[lane] += 1;
            }
            active[lane] = ok[lane] && m[lane] != l;
        }
        let mut g = [0.0f64; L];
        let mut h = [0.0f64; L];
        let mut s = [0.0f64; L];
        let mut lanes = [0usize; L];
        while active.iter().any(|&a| a) {
            for lane in 0..L {
                if active[lane] && iter[lane] == 30 {
                    ok[lane] = false;
                    active[lane] = false;
                }
                iter[lane] += 1;
            }
            // Shifts, and the rational QL sweeps: jointly for the active lanes that sweep
            // the same range as the first active one, then one by one for any others.
            let mut count = 0;
            let mut first_m = None;
            for lane in 0..L {
                if !active[lane] {
                    continue;
                }
                let (dd, ee) = &mut x[lane];
                let ee = &**ee;
                let sq = ee[l].sqrt();
                let g0 = dd[l];
                let p = (dd[l + 1] - g0) / (2.0 * sq);
                let r = (p * p + 1.0).sqrt();
                dd[l] = sq / (p + r.copysign(p));
                let shift = g0 - dd[l];
                for x in &mut dd[l + 1..] {
                    *x -= shift;
                }
                f[lane] += shift;
                g[lane] = if dd[m[lane]] == 0.0 {
                    b[lane]
                } else {
                    dd[m[lane]]
                };
                h[lane] = g[lane];
                s[lane] = 0.0;
                if *first_m.get_or_insert(m[lane]) == m[lane] {
                    lanes[count] = lane;
                    count += 1;
                }
            }
            if let Some(mm) = first_m {
                for i in (l..mm).rev() {
                    for &lane in &lanes[..count] {
                        let (dd, ee) = &mut x[lane];
                        let p = g[lane] * h[lane];
                        let r = p + ee[i];
                        let inv = 1.0 / r;
                        ee[i + 1] = s[lane] * r;
                        s[lane] = ee[i] * inv;
                        dd[i + 1] = h[lane] + s[lane] * (h[lane] + dd[i]);
                        g[lane] = dd[i] - ee[i] / g[lane];
                        if g[lane] == 0.0 {
                            g[lane] = b[lane];
                        }
                        h[lane] = g[lane] * p * inv;
                    }
                }
            }
            for lane in 0..L {
                if !active[lane] || lanes[..count].contains(&lane) {
                    continue;
                }
                let (dd, ee) = &mut x[lane];
                let (mut gg, mut hh, mut ss) = (g[lane], h[lane], s[lane]);
                for i in (l..m[lane]).rev() {
                    let p = gg * hh;
                    let r = p + ee[i];
                    let inv = 1.0 / r;
                    ee[i + 1] = ss * r;
                    ss = ee[i] * inv;
                    dd[i + 1] = hh + ss * (hh + dd[i]);
                    gg = dd[i] - ee[i] / gg;
                    if gg == 0.0 {
                        gg = b[lane];
                    }
                    hh = gg * p * inv;
                }
                (g[lane], h[lane], s[lane]) = (gg, hh, ss);
            }
            // Converged (or underflow, which guards the test itself)?
            for lane in 0..L {
                if !active[lane] {
                    continue;
                }
                let (dd, ee) = &mut x[lane];
                ee[l] = s[lane] * g[lane];
                dd[l] = h[lane];
                if h[lane] == 0.0 || ee[l].abs() <= (c[lane] / h[lane]).abs() {
                    active[lane] = false;
                } else {
                    ee[l] *= h[lane];
                    active[lane] = ee[l] != 0.0;
                }
            }
        }
        for lane in 0..L {
            let dd = &mut *x[lane].0;
            let p = dd[l] + f[lane];
            let mut i = l;
            while i > 0 && p < dd[i - 1] {
                dd[i] = dd[i - 1];
                i -= 1;
            }
            dd[i] = p;
        }
    }
    ok
}

/// Eigenvectors of the real symmetric tridiagonal $T$ (diagonal `d`, sub-diagonal `e`) for the
/// eigenvalue approximations `lambda`, unnormalised, into the rows of `z`: from the
/// factorisations $T - \lambda = L_+ D_+ L_+^T = U_- D_- U_-^T$, the twist index $k$ minimising
/// $|\gamma_k|$, $\gamma_k = d_k - \lambda - e_{k-1}^2/D_{+,k-1} - e_k^2/D_{-,k+1}$, gives
/// $(T - \lambda) z = \gamma_k e_k$ with $z_k = 1$ (Fernando; Parlett and Dhillon). Zero pivots
/// are replaced by `tiny`. `ip`, `im` receive the reciprocal pivots $1/D_\pm$ of all bands,
/// band fastest: the bands are factorised side by side because each factorisation is a chain
/// of dependent divisions, and interleaved they overlap.
fn twisted_eigenvectors<const N: usize>(
    d: &[f64],
    e: &[f64],
    lambda: &[f64],
    tiny: f64,
    ip: &mut [f64],
    im: &mut [f64],
    z: &mut [f64],
) {
    let n = if N > 0 { N } else { d.len() };
    let r = lambda.len();
    let reciprocal = |x: f64| 1.0 / if x == 0.0 { tiny } else { x };
    for (p, l) in ip[..r].iter_mut().zip(lambda) {
        *p = reciprocal(d[0] - l);
    }
    for i in 1..n {
        let e2 = e[i - 1] * e[i - 1];
        let (before, now) = ip.split_at_mut(i * r);
        let before = &before[(i - 1) * r..];
        for ((p, q), l) in now[..r].iter_mut().zip(before).zip(lambda) {
            *p = reciprocal(d[i] - l - e2 * q);
        }
    }
    for (p, l) in im[(n - 1) * r..n * r].iter_mut().zip(lambda) {
        *p = reciprocal(d[n - 1] - l);
    }
    for i in (0..n - 1).rev() {
        let e2 = e[i] * e[i];
        let (now, after) = im.split_at_mut((i + 1) * r);
        let now = &mut now[i * r..];
        for ((p, q), l) in now.iter_mut().zip(&after[..r]).zip(lambda) {
            *p = reciprocal(d[i] - l - e2 * q);
        }
    }
    for (j, (zr, l)) in z.chunks_exact_mut(n).zip(lambda).enumerate() {
        let mut k = 0;
        let mut best = f64::INFINITY;
        for i in 0..n {
            let mut gamma = d[i] - l;
            if i > 0 {
                gamma -= e[i - 1] * e[i - 1] * ip[(i - 1) * r + j];
            }
            if i + 1 < n {
                gamma -= e[i] * e[i] * im[(i + 1) * r + j];
            }
            if gamma.abs() < best {
                best = gamma.abs();
                k = i;
            }
        }
        zr[k] = 1.0;
        for i in (0..k).rev() {
            zr[i] = -(e[i] * ip[i * r + j]) * zr[i + 1];
        }
        for i in k + 1..n {
            zr[i] = -(e[i - 1] * im[i * r + j]) * zr[i - 1];
        }
    }
}

/// Closed-form eigen-decomposition of $H = d_0 + \vec d\cdot\vec\sigma$: the eigenvalues
/// ascending and the eigenvectors (lower, upper), with the eigenvector formula chosen by the sign
/// of $d_z$ so that it never divides by a small number.
#[inline]
pub fn eigen_2x2(h: &[C64]) -> ([f64; 2], [[C64; 2]; 2]) {
    let a = h[0].re;
    let b = h[3].re;
    let c = h[1]; // d_x - i d_y
    let d0 = 0.5 * (a + b);
    let dz = 0.5 * (a - b);
    let r = (dz * dz + c.norm_sqr()).sqrt();
    let energies = [d0 - r, d0 + r];
    if r == 0.0 {
        let (one, zero) = (C64::new(1.0, 0.0), C64::new(0.0, 0.0));
        return (energies, [[one, zero], [zero, one]]);
    }
    // lower (c, -(r + dz)), upper (r + dz, c*) for dz >= 0;
    // lower (r - dz, -c*), upper (c, r - dz) otherwise.
    let s = r + dz.abs();
    let norm = 1.0 / (s * s + c.norm_sqr()).sqrt();
    let (cn, sn) = (c * norm, C64::new(s * norm, 0.0));
    let vectors = if dz >= 0.0 {
        [[cn, -sn], [sn, cn.conj()]]
    } else {
        [[sn, -cn.conj()], [cn, sn]]
    };
    (energies, vectors)
}

/// [`eigen_2x2`] of two matrices at once, lane by lane in arrays so that the square roots and
/// the division run as two-lane vector instructions.
#[cfg(test)]
fn eigen_2x2_pair(h: [&[C64]; 2]) -> [([f64; 2], [[C64; 2]; 2]); 2] {
    let mut out = [([0.0; 2], [[C64::new(0.0, 0.0); 2]; 2]); 2];
    eigen_2x2_pair_with(h, |lane, e, v| out[lane] = (e, v));
    out
}

/// [`eigen_2x2`] of two matrices at once, handing lane, energies and eigenvectors (lower,
/// upper) to `sink`: inlined, the results go from registers straight to their destination
/// (written to a buffer in 8-byte halves and read back whole, they would stall on store
/// forwarding).
#[inline(always)]
pub fn eigen_2x2_pair_with(h: [&[C64]; 2], mut sink: impl FnMut(usize, [f64; 2], [[C64; 2]; 2])) {
    let a = [h[0][0].re, h[1][0].re];
    let b = [h[0][3].re, h[1][3].re];
    let c = [h[0][1], h[1][1]];
    let d0 = [0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1])];
    let dz = [0.5 * (a[0] - b[0]), 0.5 * (a[1] - b[1])];
    let c2 = [c[0].norm_sqr(), c[1].norm_sqr()];
    let r = [
        (dz[0] * dz[0] + c2[0]).sqrt(),
        (dz[1] * dz[1] + c2[1]).sqrt(),
    ];
    let s = [r[0] + dz[0].abs(), r[1] + dz[1].abs()];
    let v2 = [s[0] * s[0] + c2[0], s[1] * s[1] + c2[1]];
    let q = [v2[0].sqrt(), v2[1].sqrt()];
    let norm = [1.0 / q[0], 1.0 / q[1]];
    for l in 0..2 {
        let vectors = if r[l] == 0.0 {
            let (one, zero) = (C64::new(1.0, 0.0), C64::new(0.0, 0.0));
            [[one, zero], [zero, one]]
        } else {
            let (cn, sn) = (c[l] * norm[l], C64::new(s[l] * norm[l], 0.0));
            if dz[l] >= 0.0 {
                [[cn, -sn], [sn, cn.conj()]]
            } else {
                [[sn, -cn.conj()], [cn, sn]]
            }
        };
        sink(l, [d0[l] - r[l], d0[l] + r[l]], vectors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// LAPACK `zheev` on the row-major Hermitian `h`: the reference for every path.
    fn solve_lapack(h: &[C64], energies: &mut [f64], vectors: &mut [C64]) -> Result<()> {
        use lax::eigh::{EighWork, EighWorkImpl};
        let n = energies.len();
        let layout = lax::layout::MatrixLayout::F {
            col: n as i32,
            lda: n as i32,
        };
        let mut work = EighWork::<C64>::new(true, layout).expect("zheev workspace");
        // The row-major buffer read column-major by LAPACK is H^T = conj(H): its eigenvectors
        // are the conjugates of ours, stored column by column, which is exactly our
        // row-per-eigenvector layout once conjugated.
        let mut a = h[..n * n].to_vec();
        let eigs = work.calc(lax::UPLO::Lower, &mut a).expect("zheev");
        energies.copy_from_slice(eigs);
        for (v, b) in vectors.iter_mut().zip(a.iter()) {
            *v = b.conj();
        }
        Ok(())
    }

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

    /// $U\,\mathrm{diag}(\text{spectrum})\,U^\dagger$ for a Haar-random $U$.
    fn with_spectrum(rng: &mut impl Rng, spectrum: &[f64]) -> Vec<C64> {
        let n = spectrum.len();
        let u = crate::matrix::haar_unitary(rng, n);
        let mut h = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] = (0..n)
                    .map(|a| u[i * n + a] * spectrum[a] * u[j * n + a].conj())
                    .sum();
            }
        }
        h
    }

    /// $\sum_a v_a v_a^\dagger$ over the rows `rows` of `v`.
    fn projector(v: &[C64], rows: std::ops::Range<usize>, n: usize) -> Vec<C64> {
        let mut p = vec![C64::new(0.0, 0.0); n * n];
        for a in rows {
            for i in 0..n {
                for j in 0..n {
                    p[i * n + j] += v[a * n + i] * v[a * n + j].conj();
                }
            }
        }
        p
    }

    #[test]
    fn eigenvectors_have_small_residuals_and_match_lapack() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut paths = [0usize; 2];
        for n in 1..=9 {
            let mut solver = Eigensolver::new(n);
            for trial in 0..40 {
                let mut h = random_hermitian(&mut rng, n);
                if trial % 4 == 1 {
                    // Degenerate spectrum: U diag(-1,..,-1,1,..,1) U^dagger.
                    let spectrum: Vec<f64> =
                        (0..n).map(|a| if a < n / 2 { -1.0 } else { 1.0 }).collect();
                    h = with_spectrum(&mut rng, &spectrum);
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
                if n >= 3 {
                    paths[usize::from(solver.fast[0])] += 1;
                }
                check_decomposition(&h, n, &e, &v, 1e-12);
                let mut el = vec![0.0; n];
                let mut vl = vec![C64::new(0.0, 0.0); n * n];
                solve_lapack(&h, &mut el, &mut vl).unwrap();
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
        // Both the fast path (inverse iteration) and the fallback (QL with rotations) ran.
        assert!(paths[0] >= 40 && paths[1] >= 100, "{paths:?}");
    }

    #[test]
    fn selected_eigenvectors_span_the_same_lines_as_the_full_ones() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let n = 6;
        let mut solver = Eigensolver::new(n);
        for _ in 0..20 {
            let h = random_hermitian(&mut rng, n);
            let mut e = vec![0.0; n];
            let mut v = vec![C64::new(0.0, 0.0); n * n];
            solve_lapack(&h, &mut e, &mut v).unwrap();
            let mut sel = vec![C64::new(0.0, 0.0); 2 * n];
            solver
                .solve_selected(&h, &mut e, &[1, 4], &mut sel)
                .unwrap();
            assert!(solver.fast[0]);
            for (row, band) in [(0, 1), (1, 4)] {
                // Same eigenvector up to a phase: |<v_full, v_sel>| = 1.
                let overlap: C64 = (0..n)
                    .map(|i| v[band * n + i].conj() * sel[row * n + i])
                    .sum();
                assert!((overlap.norm() - 1.0).abs() < 1e-12, "{overlap}");
            }
        }
    }

    /// The occupied projector of the fast and the fallback paths agrees with `zheev`'s where
    /// the occupied bands are separated from the others by a gap, including degenerate and
    /// clustered occupied bands (direct sums of equal blocks, near-degenerate pairs), matrices
    /// whose tridiagonal form splits, and Hofstadter Hamiltonians at high-symmetry momenta.
    #[test]
    fn occupied_projector_matches_lapack() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
        let mut cases: Vec<(Vec<C64>, usize, usize)> = Vec::new();
        for n in 3..=8 {
            // Direct sum of two equal blocks: every level doubly degenerate; fill two levels.
            let m = n / 2;
            let block = random_hermitian(&mut rng, m);
            let mut h = vec![C64::new(0.0, 0.0); n * n];
            for i in 0..m {
                for j in 0..m {
                    h[i * n + j] = block[i * m + j];
                    h[(i + m) * n + j + m] = block[i * m + j];
                }
            }
            if n % 2 == 1 {
                h[n * n - 1] = C64::new(5.0, 0.0);
            }
            cases.push((h, n, 2));
            // The same, rotated so that the tridiagonal form does not split.
            let mut spectrum: Vec<f64> = (0..n).map(|a| (a / 2) as f64).collect();
            spectrum[n - 1] = 7.0;
            cases.push((with_spectrum(&mut rng, &spectrum), n, 2));
            // A cluster 1e-9 wide inside the occupied set, and a generic spectrum.
            let mut spectrum: Vec<f64> = (0..n).map(|a| a as f64).collect();
            spectrum[1] = spectrum[0] + 1e-9;
            cases.push((with_spectrum(&mut rng, &spectrum), n, 2));
            cases.push((random_hermitian(&mut rng, n), n, n / 2));
        }
        for q in [3usize, 4, 5, 6, 7] {
            // The Hofstadter model at flux 1/q in the Landau gauge (t = 1).
            let hofstadter = |k: [f64; 2]| {
                let mut h = vec![C64::new(0.0, 0.0); q * q];
                for m in 0..q {
                    let phase = 2.0 * std::f64::consts::PI * m as f64 / q as f64;
                    h[m * q + m] = C64::new(-2.0 * (k[1] + phase).cos(), 0.0);
                }
                for m in 0..q - 1 {
                    h[m * q + m + 1] = C64::new(-1.0, 0.0);
                    h[(m + 1) * q + m] = C64::new(-1.0, 0.0);
                }
                let e = C64::from_polar(1.0, k[0]);
                h[(q - 1) * q] -= e;
                h[q - 1] -= e.conj();
                h
            };
            let pi = std::f64::consts::PI;
            for k in [
                [0.0, 0.0],
                [pi, 0.0],
                [0.0, pi],
                [pi, pi],
                [pi / q as f64, 0.5],
            ] {
                cases.push((hofstadter(k), q, 1));
            }
        }
        let mut paths = [0usize; 2];
        for (h, n, r) in &cases {
            let (n, r) = (*n, *r);
            let mut solver = Eigensolver::new(n);
            let mut el = vec![0.0; n];
            let mut vl = vec![C64::new(0.0, 0.0); n * n];
            solve_lapack(h, &mut el, &mut vl).unwrap();
            assert!(el[r] - el[r - 1] > 1e-3, "test case without a gap: {el:?}");
            let bands: Vec<usize> = (0..r).collect();
            let mut e = vec![0.0; n];
            let mut v = vec![C64::new(0.0, 0.0); r * n];
            solver.solve_selected(h, &mut e, &bands, &mut v).unwrap();
            paths[usize::from(solver.fast[0])] += 1;
            for (x, y) in e.iter().zip(&el) {
                assert!((x - y).abs() < 1e-12, "{e:?} vs {el:?}");
            }
            let d = crate::matrix::max_abs_difference(
                &projector(&v, 0..r, n),
                &projector(&vl, 0..r, n),
            );
            assert!(d < 1e-11, "projector differs by {d} (n = {n}, r = {r})");
            // Orthonormal, with small residuals.
            for a in 0..r {
                for b in 0..r {
                    let s: C64 = (0..n).map(|i| v[a * n + i].conj() * v[b * n + i]).sum();
                    let target = if a == b { 1.0 } else { 0.0 };
                    assert!((s - target).norm() < 1e-12);
                }
                for i in 0..n {
                    let hv: C64 = (0..n).map(|j| h[i * n + j] * v[a * n + j]).sum();
                    assert!((hv - e[a] * v[a * n + i]).norm() < 1e-11);
                }
            }
        }
        assert!(paths[0] >= 10 && paths[1] >= 10, "{paths:?}");
    }

    /// The two-lane closed form is the one-lane one, bit for bit, including the degenerate
    /// $H \propto 1$ and both signs of $d_z$; and it diagonalises.
    #[test]
    fn closed_form_pairs_equal_single_closed_forms() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        let mut hs: Vec<Vec<C64>> = (0..200).map(|_| random_hermitian(&mut rng, 2)).collect();
        hs.push(vec![
            C64::new(0.5, 0.0),
            C64::new(0.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new(0.5, 0.0),
        ]);
        hs.push(vec![
            C64::new(-1.0, 0.0),
            C64::new(0.0, 1e-300),
            C64::new(0.0, -1e-300),
            C64::new(1.0, 0.0),
        ]);
        for pair in hs.chunks_exact(2).chain(hs.windows(2).skip(199)) {
            let both = eigen_2x2_pair([&pair[0], &pair[1]]);
            for (h, got) in pair.iter().zip(both) {
                let (e, v) = eigen_2x2(h);
                assert_eq!(got, (e, v));
                let flat: Vec<C64> = v.iter().flatten().copied().collect();
                check_decomposition(h, 2, &e, &flat, 1e-12);
            }
        }
    }

    /// Matrices solved together give bit for bit what each gives alone, whichever path each
    /// takes (degenerate and generic; split and unsplit tridiagonal forms; equal matrices).
    #[test]
    fn batch_solves_equal_single_solves() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for n in 3..=9 {
            let mut solver = Eigensolver::new(n);
            let r = n.div_ceil(2);
            let bands: Vec<usize> = (0..r).collect();
            for trial in 0..12 {
                let mut hs: Vec<Vec<C64>> = (0..4).map(|_| random_hermitian(&mut rng, n)).collect();
                match trial % 4 {
                    1 => {
                        let spectrum: Vec<f64> = (0..n).map(|a| (a / 2) as f64).collect();
                        hs[1] = with_spectrum(&mut rng, &spectrum);
                    }
                    2 => {
                        // Block diagonal: the tridiagonal form splits in some lanes only.
                        for h in &mut hs[..2] {
                            for i in 0..n {
                                for j in 0..n {
                                    if (i < n / 2) != (j < n / 2) {
                                        h[i * n + j] = C64::new(0.0, 0.0);
                                    }
                                }
                            }
                        }
                    }
                    3 => hs[3] = hs[0].clone(),
                    _ => {}
                }
                let mut single_e = vec![vec![0.0; n]; 4];
                let mut single_v = vec![vec![C64::new(0.0, 0.0); r * n]; 4];
                for lane in 0..4 {
                    solver
                        .solve_selected(&hs[lane], &mut single_e[lane], &bands, &mut single_v[lane])
                        .unwrap();
                }
                let mut e = vec![vec![0.0; n]; 4];
                let mut v = vec![vec![C64::new(0.0, 0.0); r * n]; 4];
                let [e0, e1, e2, e3] = &mut e[..] else {
                    unreachable!()
                };
                let [v0, v1, v2, v3] = &mut v[..] else {
                    unreachable!()
                };
                let results = solver.solve_selected_batch::<4>(
                    [&hs[0], &hs[1], &hs[2], &hs[3]],
                    [e0, e1, e2, e3],
                    &bands,
                    [v0, v1, v2, v3],
                );
                assert!(results.iter().all(Result::is_ok));
                assert_eq!(e, single_e);
                assert_eq!(v, single_v);
                let [e0, e1, ..] = &mut e[..] else {
                    unreachable!()
                };
                let [v0, v1, ..] = &mut v[..] else {
                    unreachable!()
                };
                let [a, b] =
                    solver.solve_selected_batch::<2>([&hs[2], &hs[1]], [e0, e1], &bands, [v0, v1]);
                a.unwrap();
                b.unwrap();
                assert_eq!((&e[0], &e[1]), (&single_e[2], &single_e[1]));
                assert_eq!((&v[0], &v[1]), (&single_v[2], &single_v[1]));
            }
        }
    }
}
