//! Small dense $n \times n$ complex matrices stored as row-major slices `&[C64]` of length $n^2$.
//!
//! The sizes that matter here are $n = 1, \dots, 8$: products are unrolled for those sizes, scratch
//! space lives on the stack, and every function that returns a new matrix has an `_into` variant
//! that writes into a caller's buffer.
//!
//! # Panics
//! The slice-level functions (`mul`, `trace`, `det`, ...) are the hot inner loops of this crate and
//! take `n` as a promise: they panic if a slice is shorter than $n^2$ (like slice indexing).
//! Functions that validate user data ([`polar_unitary`], [`check_unitary`]) return errors instead.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::C64;
use crate::error::{Error, Result};

const ZERO: C64 = C64::new(0.0, 0.0);
const ONE: C64 = C64::new(1.0, 0.0);

/// Default tolerance of unitarity checks on $\max_{ij} |(U^\dagger U - 1)_{ij}|$.
pub const UNITARITY_TOLERANCE: f64 = 1e-10;

/// Default relative threshold $\sigma_\min / \sigma_\max$ below which [`polar_unitary`] reports a
/// singular matrix.
pub const SINGULAR_RTOL: f64 = 1e-12;

/// Scratch space of $n^2$ entries, on the stack for $n \le 8$.
// Boxing the stack variant would defeat its purpose: no heap allocation in hot loops.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scratch {
    Small([C64; 16], usize),
    Stack([C64; 64], usize),
    Heap(Vec<C64>),
}

impl Scratch {
    #[inline]
    pub(crate) fn new(n: usize) -> Scratch {
        let len = n * n;
        if len <= 16 {
            Scratch::Small([ZERO; 16], len)
        } else if len <= 64 {
            Scratch::Stack([ZERO; 64], len)
        } else {
            Scratch::Heap(vec![ZERO; len])
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [C64];
    #[inline]
    fn deref(&self) -> &[C64] {
        match self {
            Scratch::Small(a, len) => &a[..*len],
            Scratch::Stack(a, len) => &a[..*len],
            Scratch::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Scratch {
    #[inline]
    fn deref_mut(&mut self) -> &mut [C64] {
        match self {
            Scratch::Small(a, len) => &mut a[..*len],
            Scratch::Stack(a, len) => &mut a[..*len],
            Scratch::Heap(v) => v,
        }
    }
}

/// $|\operatorname{Re} z| + |\operatorname{Im} z|$: LAPACK's cheap modulus for pivoting and
/// deflation tests (within a factor $\sqrt 2$ of $|z|$, no `hypot`).
#[inline]
fn cabs1(z: C64) -> f64 {
    z.re.abs() + z.im.abs()
}

fn check_len(name: &str, len: usize, n: usize) {
    assert!(
        len >= n * n,
        "matrix::{name}: slice of length {len} is too short for an {n} x {n} matrix"
    );
}

/// The $n \times n$ identity matrix.
pub fn identity(n: usize) -> Vec<C64> {
    let mut out = vec![ZERO; n * n];
    identity_into(&mut out, n);
    out
}

/// Writes the identity into `out`.
pub fn identity_into(out: &mut [C64], n: usize) {
    check_len("identity_into", out.len(), n);
    out[..n * n].fill(ZERO);
    for i in 0..n {
        out[i * n + i] = ONE;
    }
}

macro_rules! dispatch_fixed {
    ($n:expr, $fixed:ident, $generic:ident, ($($arg:expr),*)) => {
        match $n {
            1 => $fixed::<1>($($arg),*),
            2 => $fixed::<2>($($arg),*),
            3 => $fixed::<3>($($arg),*),
            4 => $fixed::<4>($($arg),*),
            5 => $fixed::<5>($($arg),*),
            6 => $fixed::<6>($($arg),*),
            7 => $fixed::<7>($($arg),*),
            8 => $fixed::<8>($($arg),*),
            _ => $generic($($arg,)* $n),
        }
    };
}

fn rows<const N: usize>(a: &[C64]) -> &[[C64; N]] {
    a[..N * N].as_chunks::<N>().0
}

fn rows_mut<const N: usize>(a: &mut [C64]) -> &mut [[C64; N]] {
    a[..N * N].as_chunks_mut::<N>().0
}

/// $\text{out} = A B$.
#[inline]
pub fn mul(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    check_len("mul", a.len().min(b.len()).min(out.len()), n);
    dispatch_fixed!(n, mul_fixed, mul_generic, (a, b, out));
}

fn mul_fixed<const N: usize>(a: &[C64], b: &[C64], out: &mut [C64]) {
    let (a, b, out) = (rows::<N>(a), rows::<N>(b), rows_mut::<N>(out));
    for i in 0..N {
        let mut row = [ZERO; N];
        for k in 0..N {
            let aik = a[i][k];
            for j in 0..N {
                row[j] += aik * b[k][j];
            }
        }
        out[i] = row;
    }
}

fn mul_generic(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    for i in 0..n {
        let row = &mut out[i * n..(i + 1) * n];
        row.fill(ZERO);
        for k in 0..n {
            let aik = a[i * n + k];
            for (o, &bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *o += aik * bkj;
            }
        }
    }
}

/// $\text{out} = A B^\dagger$.
#[inline]
pub fn mul_adj(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    check_len("mul_adj", a.len().min(b.len()).min(out.len()), n);
    dispatch_fixed!(n, mul_adj_fixed, mul_adj_generic, (a, b, out));
}

fn mul_adj_fixed<const N: usize>(a: &[C64], b: &[C64], out: &mut [C64]) {
    let (a, b, out) = (rows::<N>(a), rows::<N>(b), rows_mut::<N>(out));
    for i in 0..N {
        for j in 0..N {
            let mut s = ZERO;
            for k in 0..N {
                s += a[i][k] * b[j][k].conj();
            }
            out[i][j] = s;
        }
    }
}

fn mul_adj_generic(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    for i in 0..n {
        let ai = &a[i * n..(i + 1) * n];
        for j in 0..n {
            let bj = &b[j * n..(j + 1) * n];
            out[i * n + j] = ai.iter().zip(bj).map(|(&x, &y)| x * y.conj()).sum();
        }
    }
}

/// $\text{out} = A^\dagger B$.
#[inline]
pub fn adj_mul(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    check_len("adj_mul", a.len().min(b.len()).min(out.len()), n);
    dispatch_fixed!(n, adj_mul_fixed, adj_mul_generic, (a, b, out));
}

fn adj_mul_fixed<const N: usize>(a: &[C64], b: &[C64], out: &mut [C64]) {
    let (a, b, out) = (rows::<N>(a), rows::<N>(b), rows_mut::<N>(out));
    let mut acc = [[ZERO; N]; N];
    for k in 0..N {
        for i in 0..N {
            let aki = a[k][i].conj();
            for j in 0..N {
                acc[i][j] += aki * b[k][j];
            }
        }
    }
    out.copy_from_slice(&acc);
}

fn adj_mul_generic(a: &[C64], b: &[C64], out: &mut [C64], n: usize) {
    out[..n * n].fill(ZERO);
    for k in 0..n {
        let bk = &b[k * n..(k + 1) * n];
        for i in 0..n {
            let aki = a[k * n + i].conj();
            for (o, &bkj) in out[i * n..(i + 1) * n].iter_mut().zip(bk) {
                *o += aki * bkj;
            }
        }
    }
}

/// $\text{out} = A^\dagger$.
#[inline]
pub fn adjoint(a: &[C64], out: &mut [C64], n: usize) {
    check_len("adjoint", a.len().min(out.len()), n);
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = a[j * n + i].conj();
        }
    }
}

/// $A^\dagger$ as a new matrix.
pub fn adjoint_of(a: &[C64], n: usize) -> Vec<C64> {
    let mut out = vec![ZERO; n * n];
    adjoint(a, &mut out, n);
    out
}

/// $A B$ as a new matrix.
pub fn product(a: &[C64], b: &[C64], n: usize) -> Vec<C64> {
    let mut out = vec![ZERO; n * n];
    mul(a, b, &mut out, n);
    out
}

/// $\operatorname{Tr} A$.
#[inline]
pub fn trace(a: &[C64], n: usize) -> C64 {
    check_len("trace", a.len(), n);
    (0..n).map(|i| a[i * n + i]).sum()
}

/// $\det A$: closed forms for $n \le 3$, LU with partial pivoting above.
#[inline]
pub fn det(a: &[C64], n: usize) -> C64 {
    check_len("det", a.len(), n);
    match n {
        0 => ONE,
        1 => a[0],
        2 => a[0] * a[3] - a[1] * a[2],
        3 => {
            a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6])
                + a[2] * (a[3] * a[7] - a[4] * a[6])
        }
        _ => {
            let mut lu = Scratch::new(n);
            lu.copy_from_slice(&a[..n * n]);
            let mut d = ONE;
            for k in 0..n {
                let p = (k..n)
                    .max_by(|&i, &j| cabs1(lu[i * n + k]).total_cmp(&cabs1(lu[j * n + k])))
                    .unwrap_or(k);
                if p != k {
                    for j in 0..n {
                        lu.swap(k * n + j, p * n + j);
                    }
                    d = -d;
                }
                let pivot = lu[k * n + k];
                if pivot == ZERO {
                    return ZERO;
                }
                d *= pivot;
                for i in k + 1..n {
                    let f = lu[i * n + k] / pivot;
                    if f != ZERO {
                        for j in k + 1..n {
                            let lkj = lu[k * n + j];
                            lu[i * n + j] -= f * lkj;
                        }
                    }
                }
            }
            d
        }
    }
}

/// The largest entry-wise distance $\max_i |a_i - b_i|$ between two matrices (or any two
/// equally long lists of entries, such as whole fields); $+\infty$ if the lengths differ, so
/// that a comparison against a tolerance fails.
pub fn max_abs_difference(a: &[C64], b: &[C64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}

/// [`max_abs_difference`] of real entries (Berry fluxes, eigenphases); NaN entries count as an
/// infinite difference.
pub fn max_abs_difference_real(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f64::INFINITY } else { d }
        })
        .fold(0.0, f64::max)
}

/// $\max_{ij} |(A^\dagger A - 1)_{ij}|$: zero exactly for unitary $A$.
pub fn unitarity_deviation(a: &[C64], n: usize) -> f64 {
    check_len("unitarity_deviation", a.len(), n);
    let mut dev: f64 = 0.0;
    for i in 0..n {
        for j in i..n {
            let mut s: C64 = (0..n).map(|k| a[k * n + i].conj() * a[k * n + j]).sum();
            if i == j {
                s -= ONE;
            }
            // NaN must not hide behind `max`.
            if s.norm().is_nan() {
                return f64::NAN;
            }
            dev = dev.max(s.norm());
        }
    }
    dev
}

/// Checks that `a` holds an $n \times n$ matrix with finite entries that is unitary within
/// `tolerance`, and returns its deviation $\max_{ij} |(A^\dagger A - 1)_{ij}|$.
///
/// # Errors
/// [`Error::ZeroMatrixSize`], [`Error::MatrixLength`], [`Error::NonFinite`],
/// [`Error::NotUnitary`] (with `dir: None, site: 0`).
pub fn check_unitary(a: &[C64], n: usize, tolerance: f64) -> Result<f64> {
    check_square(a, n)?;
    let deviation = unitarity_deviation(a, n);
    if deviation <= tolerance {
        Ok(deviation)
    } else {
        Err(Error::NotUnitary {
            dir: None,
            site: 0,
            deviation,
            tolerance,
        })
    }
}

fn check_square(a: &[C64], n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::ZeroMatrixSize);
    }
    if a.len() != n * n {
        return Err(Error::MatrixLength { n, len: a.len() });
    }
    if let Some(index) = a
        .iter()
        .position(|z| !(z.re.is_finite() && z.im.is_finite()))
    {
        return Err(Error::NonFinite { index });
    }
    Ok(())
}

/// The eigenvalues of a general complex matrix, unordered, by Householder reduction to
/// Hessenberg form and the shifted QR algorithm (Wilkinson shifts, deflation).
///
/// # Errors
/// [`Error::ZeroMatrixSize`], [`Error::MatrixLength`], [`Error::NonFinite`],
/// [`Error::NoConvergence`] (not observed for finite input, but QR iteration has no guarantee).
pub fn eigenvalues(a: &[C64], n: usize) -> Result<Vec<C64>> {
    check_square(a, n)?;
    let mut out = vec![ZERO; n];
    eigenvalues_into(a, &mut out, n)?;
    Ok(out)
}

/// [`eigenvalues`] written into `out[..n]`, without heap allocation for $n \le 8$.
///
/// # Errors
/// As [`eigenvalues`].
pub fn eigenvalues_into(a: &[C64], out: &mut [C64], n: usize) -> Result<()> {
    check_square(&a[..(n * n).min(a.len())], n)?;
    if out.len() < n {
        return Err(Error::MatrixLength { n, len: out.len() });
    }
    match n {
        1 => out[0] = a[0],
        2 => {
            let (l1, l2) = eigenvalues_2x2(a[0], a[1], a[2], a[3]);
            out[0] = l1;
            out[1] = l2;
        }
        _ => {
            let mut h = Scratch::new(n);
            h.copy_from_slice(&a[..n * n]);
            hessenberg(&mut h, n);
            hessenberg_qr(&mut h, &mut out[..n], n)?;
        }
    }
    Ok(())
}

/// Eigenvalues of $\begin{pmatrix} a & b \\ c & d \end{pmatrix}$ in a form that stays accurate for
/// (nearly) degenerate normal matrices.
fn eigenvalues_2x2(a: C64, b: C64, c: C64, d: C64) -> (C64, C64) {
    let m = (a + d) * 0.5;
    let h = (a - d) * 0.5;
    let r = (h * h + b * c).sqrt();
    (m + r, m - r)
}

/// Householder reduction to upper Hessenberg form, in place (a similarity transformation).
fn hessenberg(h: &mut [C64], n: usize) {
    let mut v = [ZERO; 64];
    let mut v_heap;
    let v: &mut [C64] = if n <= 64 {
        &mut v[..n]
    } else {
        v_heap = vec![ZERO; n];
        &mut v_heap
    };
    for k in 0..n.saturating_sub(2) {
        let norm: f64 = (k + 1..n)
            .map(|i| h[i * n + k].norm_sqr())
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let x0 = h[(k + 1) * n + k];
        let phase = if x0.norm() > 0.0 { x0 / x0.norm() } else { ONE };
        let alpha = -phase * norm;
        for i in k + 1..n {
            v[i] = h[i * n + k];
        }
        v[k + 1] -= alpha;
        let vnorm: f64 = (k + 1..n).map(|i| v[i].norm_sqr()).sum::<f64>().sqrt();
        if vnorm == 0.0 {
            continue;
        }
        for vi in &mut v[k + 1..n] {
            *vi /= vnorm;
        }
        // H <- (1 - 2 v v^H) H on rows k+1..n.
        for j in k..n {
            let s: C64 = (k + 1..n).map(|i| v[i].conj() * h[i * n + j]).sum::<C64>() * 2.0;
            for i in k + 1..n {
                h[i * n + j] -= v[i] * s;
            }
        }
        // H <- H (1 - 2 v v^H) on columns k+1..n.
        for i in 0..n {
            let s: C64 = (k + 1..n).map(|j| h[i * n + j] * v[j]).sum::<C64>() * 2.0;
            for j in k + 1..n {
                h[i * n + j] -= s * v[j].conj();
            }
        }
        for i in k + 2..n {
            h[i * n + k] = ZERO;
        }
    }
}

/// Shifted QR iteration on an upper Hessenberg matrix; eigenvalues into `eig`.
fn hessenberg_qr(h: &mut [C64], eig: &mut [C64], n: usize) -> Result<()> {
    let norm = h.iter().map(|&z| cabs1(z)).fold(0.0, f64::max);
    if norm == 0.0 {
        eig.fill(ZERO);
        return Ok(());
    }
    let max_iterations = 60 * n;
    let mut rot = [(ZERO, ZERO); 64];
    let mut rot_heap;
    let rot: &mut [(C64, C64)] = if n <= 64 {
        &mut rot[..n]
    } else {
        rot_heap = vec![(ZERO, ZERO); n];
        &mut rot_heap
    };
    let mut hi = n - 1;
    let mut iterations = 0;
    let mut total = 0;
    loop {
        if hi == 0 {
            eig[0] = h[0];
            return Ok(());
        }
        // Find the start `lo` of the unreduced block ending at `hi`.
        let mut lo = hi;
        while lo > 0 {
            let s = cabs1(h[lo * n + lo]) + cabs1(h[(lo - 1) * n + lo - 1]);
            let s = if s == 0.0 { norm } else { s };
            if cabs1(h[lo * n + lo - 1]) <= f64::EPSILON * s {
                h[lo * n + lo - 1] = ZERO;
                break;
            }
            lo -= 1;
        }
        if lo == hi {
            eig[hi] = h[hi * n + hi];
            hi -= 1;
            iterations = 0;
            continue;
        }
        if lo + 1 == hi {
            let (l1, l2) = eigenvalues_2x2(
                h[lo * n + lo],
                h[lo * n + hi],
                h[hi * n + lo],
                h[hi * n + hi],
            );
            eig[lo] = l1;
            eig[hi] = l2;
            if lo == 0 {
                return Ok(());
            }
            hi = lo - 1;
            iterations = 0;
            continue;
        }
        iterations += 1;
        total += 1;
        if total > max_iterations {
            return Err(Error::NoConvergence {
                algorithm: "Hessenberg QR eigenvalues",
                iterations: total,
            });
        }
        let d = h[hi * n + hi];
        let shift = if iterations % 10 == 0 {
            // Exceptional shift: breaks the cycles that Wilkinson shifts can fall into
            // (e.g. for cyclic permutation matrices).
            let c = h[hi * n + hi - 1].norm() + h[(hi - 1) * n + hi - 2].norm();
            d + C64::from_polar(c, 0.7 * iterations as f64)
        } else {
            let (l1, l2) = eigenvalues_2x2(
                h[(hi - 1) * n + hi - 1],
                h[(hi - 1) * n + hi],
                h[hi * n + hi - 1],
                d,
            );
            if (l1 - d).norm() <= (l2 - d).norm() {
                l1
            } else {
                l2
            }
        };
        for k in lo..=hi {
            h[k * n + k] -= shift;
        }
        // H - shift = Q R with Givens rotations G_k = [[c*, s*], [-s, c]] from the left ...
        for k in lo..hi {
            let x = h[k * n + k];
            let y = h[(k + 1) * n + k];
            let r = (x.norm_sqr() + y.norm_sqr()).sqrt();
            let (c, s) = if r == 0.0 {
                (ONE, ZERO)
            } else {
                (x / r, y / r)
            };
            rot[k] = (c, s);
            for j in k..=hi {
                let p = h[k * n + j];
                let q = h[(k + 1) * n + j];
                h[k * n + j] = c.conj() * p + s.conj() * q;
                h[(k + 1) * n + j] = -s * p + c * q;
            }
        }
        // ... then R Q = R G_lo^H G_{lo+1}^H ... from the right.
        for k in lo..hi {
            let (c, s) = rot[k];
            for i in lo..=(k + 2).min(hi) {
                let p = h[i * n + k];
                let q = h[i * n + k + 1];
                h[i * n + k] = c * p + s * q;
                h[i * n + k + 1] = -s.conj() * p + c.conj() * q;
            }
        }
        for k in lo..=hi {
            h[k * n + k] += shift;
        }
    }
}

/// The eigenvalues of a unitary matrix, sorted by ascending eigenphase in $(-\pi, \pi]$ (as
/// [`eigenphases`]).
///
/// Works for any square matrix (unitarity is not checked); for unitary input the eigenvalues lie on
/// the unit circle up to rounding. Non-finite input gives NaN eigenvalues.
pub fn eigenvalues_unitary(a: &[C64], n: usize) -> Vec<C64> {
    check_len("eigenvalues_unitary", a.len(), n);
    let mut out = vec![ZERO; n];
    if eigenvalues_into(&a[..n * n], &mut out, n).is_err() {
        out.fill(C64::new(f64::NAN, f64::NAN));
    }
    let snap = -std::f64::consts::PI + 32.0 * n as f64 * f64::EPSILON;
    let key = |z: &C64| {
        let t = principal_arg(*z);
        if t < snap { std::f64::consts::PI } else { t }
    };
    out.sort_by(|x, y| key(x).total_cmp(&key(y)));
    out
}

/// The eigenphases $\theta_i = \arg\lambda_i \in (-\pi, \pi]$ of a unitary matrix, ascending.
///
/// An eigenvalue within rounding of $-1$ ($\theta < -\pi + 32 n \epsilon$) is reported as
/// $+\pi$, so that an exact $-1$ lands on the principal branch whatever the sign of the rounding
/// error in its imaginary part. Non-finite input gives NaN phases.
pub fn eigenphases(a: &[C64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    eigenphases_into(a, &mut out, n);
    out
}

/// [`eigenphases`] written into `out[..n]`, without heap allocation for $n \le 8$.
pub fn eigenphases_into(a: &[C64], out: &mut [f64], n: usize) {
    check_len("eigenphases_into", a.len(), n);
    let mut ev = [ZERO; 8];
    let mut ev_heap;
    let ev: &mut [C64] = if n <= 8 {
        &mut ev[..n]
    } else {
        ev_heap = vec![ZERO; n];
        &mut ev_heap
    };
    if eigenvalues_into(&a[..n * n], ev, n).is_err() {
        out[..n].fill(f64::NAN);
        return;
    }
    let snap = -std::f64::consts::PI + 32.0 * n as f64 * f64::EPSILON;
    for (o, z) in out[..n].iter_mut().zip(ev.iter()) {
        let t = principal_arg(*z);
        *o = if t < snap { std::f64::consts::PI } else { t };
    }
    out[..n].sort_by(f64::total_cmp);
}

/// $\arg z$ on the principal branch $(-\pi, \pi]$ (so $-\pi$ never occurs, unlike `atan2`
/// on $-1 - 0i$).
pub fn principal_arg(z: C64) -> f64 {
    let t = z.im.atan2(z.re);
    if t <= -std::f64::consts::PI {
        std::f64::consts::PI
    } else {
        t
    }
}

/// The matrix logarithm $F = -i\log W$ of a unitary $W$ on the principal branch: the Hermitian
/// $F$ with $e^{iF} = W$ whose eigenvalues lie in $(-\pi, \pi]$ (an eigenvalue $-1$ of $W$ gives
/// $+\pi$, as [`principal_arg`]). For a plaquette $W_{\mu\nu}(x)$ this is the lattice field
/// strength $F_{\mu\nu}(x)$, covariant under gauge transformations
/// ($F \mapsto \Omega F \Omega^\dagger$ when $W \mapsto \Omega W \Omega^\dagger$).
///
/// Validates its input; [`log_unitary_into`] is the allocation-light kernel behind it.
///
/// ```
/// use lattice_gauge::{matrix, C64};
/// let (a, b) = (0.3_f64, -2.9_f64);
/// let w = [C64::from_polar(1.0, a), C64::new(0.0, 0.0), C64::new(0.0, 0.0), C64::from_polar(1.0, b)];
/// let f = matrix::log_unitary(&w, 2)?;
/// assert!((f[0].re - a).abs() < 1e-14 && (f[3].re - b).abs() < 1e-14);
/// assert!(f[1].norm() < 1e-14 && f[2].norm() < 1e-14);
/// # Ok::<(), lattice_gauge::Error>(())
/// ```
///
/// # Errors
/// [`Error::ZeroMatrixSize`], [`Error::MatrixLength`], [`Error::NonFinite`],
/// [`Error::NotUnitary`] (deviation above [`UNITARITY_TOLERANCE`]), and the failures of
/// [`log_unitary_into`].
pub fn log_unitary(w: &[C64], n: usize) -> Result<Vec<C64>> {
    check_unitary(w, n, UNITARITY_TOLERANCE)?;
    let mut f = vec![ZERO; n * n];
    log_unitary_into(w, &mut f, n, &mut crate::hermitian::Eigensolver::new(n))?;
    Ok(f)
}

/// [`log_unitary`] written into `f[..n * n]`, with the caller's eigen-solver (one per thread) and
/// no validation of $W$ (the caller knows it is unitary, as a product of link variables).
///
/// $W$ is normal, so it shares its eigenvectors with the Hermitian
/// $A = \tfrac12(W + W^\dagger) + \tfrac{\alpha}{2i}(W - W^\dagger)$, whose eigenvalue for the
/// eigenphase $\theta$ is $\cos\theta + \alpha\sin\theta$. A generic $\alpha$ separates distinct
/// eigenphases (degenerate eigenphases stay degenerate, which is harmless: $W$ is a multiple of
/// the identity on that eigenspace). The eigenbasis $V$ of $A$ is accepted once the off-diagonal
/// elements of $V^\dagger W V$ are below $10^{-9}$; otherwise two more values of $\alpha$ are tried.
/// Then $F = \sum_a \theta_a\, v_a v_a^\dagger$ with $\theta_a = \arg(v_a^\dagger W v_a)$.
///
/// # Panics
/// If `w` or `f` is shorter than $n^2$ or `solver` is not for $n \times n$ matrices.
///
/// # Errors
/// [`Error::NoEigenbasis`] if none of the three $\alpha$ diagonalises $W$ (a $W$ that is not
/// normal, such as a non-unitary or non-finite one); [`Error::NoConvergence`] from the eigen-solver.
pub fn log_unitary_into(
    w: &[C64],
    f: &mut [C64],
    n: usize,
    solver: &mut crate::hermitian::Eigensolver,
) -> Result<()> {
    check_len("w", w.len(), n);
    check_len("f", f.len(), n);
    let r = n;
    let mut a = vec![ZERO; r * r];
    let mut e = vec![0.0; r];
    let mut v = vec![ZERO; r * r];
    let mut best = f64::INFINITY;
    for alpha in [
        0.618_033_988_749_895,
        -1.324_717_957_244_746,
        2.414_213_562_373_095,
    ] {
        for i in 0..r {
            for j in 0..r {
                let wij = w[i * r + j];
                let wji = w[j * r + i].conj();
                a[i * r + j] = (wij + wji) * 0.5 + (wij - wji) * C64::new(0.0, -0.5 * alpha);
            }
        }
        solver.solve(&a, &mut e, &mut v)?;
        // theta_a = arg(v_a^† W v_a); the off-diagonal elements must vanish.
        let mut theta = vec![0.0; r];
        let mut off = 0.0f64;
        for p in 0..r {
            for q in 0..r {
                let mut s = ZERO;
                for i in 0..r {
                    let wv: C64 = (0..r).map(|j| w[i * r + j] * v[q * r + j]).sum();
                    s += v[p * r + i].conj() * wv;
                }
                if p == q {
                    theta[p] = principal_arg(s);
                } else {
                    off = off.max(s.norm());
                }
            }
        }
        if theta.iter().any(|t| !t.is_finite()) {
            // A non-finite W (f64::max above skips NaN).
            return Err(Error::NoEigenbasis {
                off_diagonal: f64::NAN,
            });
        }
        if off < 1e-9 {
            for i in 0..r {
                for j in 0..r {
                    f[i * r + j] = (0..r)
                        .map(|a| v[a * r + i] * theta[a] * v[a * r + j].conj())
                        .sum();
                }
            }
            return Ok(());
        }
        best = best.min(off);
    }
    Err(Error::NoEigenbasis { off_diagonal: best })
}

/// The singular values of $M$, descending, by one-sided Jacobi (accurate to high relative
/// precision).
///
/// # Errors
/// [`Error::ZeroMatrixSize`], [`Error::MatrixLength`], [`Error::NonFinite`],
/// [`Error::NoConvergence`].
pub fn singular_values(m: &[C64], n: usize) -> Result<Vec<f64>> {
    check_square(m, n)?;
    let mut a = Scratch::new(n);
    let mut v = Scratch::new(n);
    let mut sigma = vec![0.0; n];
    one_sided_jacobi(m, &mut a, &mut v, &mut sigma, n)?;
    sigma.sort_by(|x, y| y.total_cmp(x));
    Ok(sigma)
}

/// One-sided (Hestenes) Jacobi: finds a unitary $V$ such that the columns of $A = M V$ are
/// orthogonal. Then $\sigma_j = \|a_j\|$ and $M = W \Sigma V^\dagger$ with $W = A \Sigma^{-1}$.
/// `a` and `v` are row-major $n \times n$ outputs; `sigma[j]` the column norms.
fn one_sided_jacobi(
    m: &[C64],
    a: &mut [C64],
    v: &mut [C64],
    sigma: &mut [f64],
    n: usize,
) -> Result<()> {
    a.copy_from_slice(&m[..n * n]);
    identity_into(v, n);
    const MAX_SWEEPS: usize = 60;
    // Columns count as orthogonal once |a_p^† a_q| <= tol |a_p| |a_q|. A bound of one machine
    // epsilon is below what rounding of the n-term inner product can guarantee, and sweeps then
    // cycle forever on some inputs; n eps (as in LAPACK's zgesvj, sqrt(n) eps) still leaves the
    // polar factor unitary to ~n eps.
    let tol = n as f64 * f64::EPSILON;
    for _sweep in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let mut alpha = 0.0;
                let mut beta = 0.0;
                let mut gamma = ZERO;
                for i in 0..n {
                    let ap = a[i * n + p];
                    let aq = a[i * n + q];
                    alpha += ap.norm_sqr();
                    beta += aq.norm_sqr();
                    gamma += ap.conj() * aq;
                }
                let g = gamma.norm();
                if g == 0.0 || g <= tol * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let phase = gamma / g;
                let zeta = (beta - alpha) / (2.0 * g);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                // Columns (p, q e^{-i phi}) have a real Gram matrix; rotate them by [[c, s], [-s, c]].
                let rotate = |x: &mut [C64]| {
                    for i in 0..n {
                        let xp = x[i * n + p];
                        let xq = x[i * n + q] * phase.conj();
                        x[i * n + p] = xp * c - xq * s;
                        x[i * n + q] = xp * s + xq * c;
                    }
                };
                rotate(a);
                rotate(v);
            }
        }
        if !rotated {
            for (j, s) in sigma.iter_mut().enumerate().take(n) {
                *s = (0..n).map(|i| a[i * n + j].norm_sqr()).sum::<f64>().sqrt();
            }
            return Ok(());
        }
    }
    Err(Error::NoConvergence {
        algorithm: "one-sided Jacobi SVD",
        iterations: MAX_SWEEPS,
    })
}

/// The unitary polar factor $U = M (M^\dagger M)^{-1/2}$ of $M = U P$.
///
/// It is gauge covariant, $g^\dagger M h \mapsto g^\dagger U h$ for unitary $g, h$, and the
/// closest unitary matrix to $M$ in the Frobenius norm. Closed forms for $n = 1, 2$, one-sided
/// Jacobi SVD above.
///
/// # Errors
/// [`Error::Singular`] if $\sigma_\min \le$ [`SINGULAR_RTOL`]$\,\sigma_\max$, with the smallest
/// and largest singular values; [`Error::ZeroMatrixSize`], [`Error::MatrixLength`],
/// [`Error::NonFinite`], [`Error::NoConvergence`].
pub fn polar_unitary(m: &[C64], n: usize) -> Result<Vec<C64>> {
    let mut out = vec![ZERO; n * n];
    polar_unitary_into(m, &mut out, n, SINGULAR_RTOL)?;
    Ok(out)
}

/// [`polar_unitary`] written into `out`, with a chosen relative singularity threshold `rtol`.
///
/// # Errors
/// As [`polar_unitary`]; [`Error::MatrixLength`] if `out` is too short.
pub fn polar_unitary_into(m: &[C64], out: &mut [C64], n: usize, rtol: f64) -> Result<()> {
    check_square(m, n)?;
    if out.len() != n * n {
        return Err(Error::MatrixLength { n, len: out.len() });
    }
    let singular = |smallest: f64, largest: f64| {
        if largest == 0.0 || smallest <= rtol * largest {
            Err(Error::Singular {
                smallest_singular_value: smallest,
                largest_singular_value: largest,
            })
        } else {
            Ok(())
        }
    };
    match n {
        1 => {
            let r = m[0].norm();
            singular(r, r)?;
            out[0] = m[0] / r;
        }
        2 => {
            // U = (M + e^{i arg det M} adj(M)^dagger) / sqrt(|M|_F^2 + 2 |det M|), from
            // Cayley-Hamilton for P = sqrt(M^dagger M).
            let (a, b, c, d) = (m[0], m[1], m[2], m[3]);
            let det = a * d - b * c;
            let abs_det = det.norm();
            let frob2 = a.norm_sqr() + b.norm_sqr() + c.norm_sqr() + d.norm_sqr();
            let disc = (frob2 * frob2 - 4.0 * abs_det * abs_det).max(0.0).sqrt();
            let largest = ((frob2 + disc) * 0.5).sqrt();
            let smallest = if largest > 0.0 {
                abs_det / largest
            } else {
                0.0
            };
            singular(smallest, largest)?;
            let phase = det / abs_det;
            let scale = 1.0 / (frob2 + 2.0 * abs_det).sqrt();
            out[0] = (a + phase * d.conj()) * scale;
            out[1] = (b - phase * c.conj()) * scale;
            out[2] = (c - phase * b.conj()) * scale;
            out[3] = (d + phase * a.conj()) * scale;
        }
        _ => {
            let mut a = Scratch::new(n);
            let mut v = Scratch::new(n);
            let mut sigma = [0.0; 64];
            let mut sigma_heap;
            let sigma: &mut [f64] = if n <= 64 {
                &mut sigma[..n]
            } else {
                sigma_heap = vec![0.0; n];
                &mut sigma_heap
            };
            one_sided_jacobi(m, &mut a, &mut v, sigma, n)?;
            let largest = sigma.iter().copied().fold(0.0, f64::max);
            let smallest = sigma.iter().copied().fold(f64::INFINITY, f64::min);
            singular(smallest, largest)?;
            // W = A Sigma^{-1}, U = W V^dagger.
            for i in 0..n {
                for j in 0..n {
                    a[i * n + j] /= sigma[j];
                }
            }
            mul_adj(&a, &v, out, n);
        }
    }
    Ok(())
}

/// A random $U(n)$ matrix near the identity: $U = V\,\operatorname{diag}(e^{i\varphi_1}, \dots,
/// e^{i\varphi_n})\,V^\dagger$ with $V$ Haar-random ([`haar_unitary`]) and the eigenphases
/// $\varphi_j = \sigma g_j$, $g_j$ i.i.d. standard normal (wrapped to $(-\pi, \pi]$ by the
/// exponential). The law is invariant under conjugation $U \to W U W^\dagger$, like Haar's;
/// $\sigma = 0$ gives the identity, and for $\sigma \gg \pi$ the eigenphases become uniform but
/// uncorrelated (Haar eigenphases repel each other). The eigenphases are drawn after $V$.
///
/// # Errors
/// [`Error::InvalidSpread`] for a negative or non-finite `spread`.
pub fn unitary_near_identity<R: Rng + ?Sized>(
    rng: &mut R,
    n: usize,
    spread: f64,
) -> Result<Vec<C64>> {
    let mut out = vec![ZERO; n * n];
    unitary_near_identity_into(rng, &mut out, n, spread)?;
    Ok(out)
}

/// [`unitary_near_identity`] written into `out`, without heap allocation for $n \le 8$.
///
/// # Errors
/// [`Error::InvalidSpread`] for a negative or non-finite `spread` (`out` is left unchanged).
pub fn unitary_near_identity_into<R: Rng + ?Sized>(
    rng: &mut R,
    out: &mut [C64],
    n: usize,
    spread: f64,
) -> Result<()> {
    check_len("unitary_near_identity_into", out.len(), n);
    if !(spread.is_finite() && spread >= 0.0) {
        return Err(Error::InvalidSpread { spread });
    }
    let mut v = Scratch::new(n);
    haar_unitary_into(rng, &mut v, n);
    // out[i][k] = sum_j V[i][j] e^{i phi_j} conj(V[k][j]); V scaled column by column first.
    let mut scaled = Scratch::new(n);
    for j in 0..n {
        let g: f64 = StandardNormal.sample(rng);
        let phase = C64::from_polar(1.0, spread * g);
        for i in 0..n {
            scaled[i * n + j] = v[i * n + j] * phase;
        }
    }
    mul_adj(&scaled, &v, out, n);
    Ok(())
}

/// A Haar-random $U(n)$ matrix: $A = X + iY$ with $X, Y$ i.i.d. $N(0, 1)$ entries, $A = QR$,
/// $U = Q\,\operatorname{diag}(\bar R_{ii} / |R_{ii}|)$.
///
/// The QR factorisation is Gram–Schmidt with re-orthogonalisation, which produces $R_{ii} > 0$
/// directly, i.e. the phase-fixed $Q$ (Mezzadri, Notices AMS 54, 592 (2007)).
/// For $n = 0$ the result is empty.
pub fn haar_unitary<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<C64> {
    let mut out = vec![ZERO; n * n];
    haar_unitary_into(rng, &mut out, n);
    out
}

/// [`haar_unitary`] written into `out`, without heap allocation for $n \le 8$.
pub fn haar_unitary_into<R: Rng + ?Sized>(rng: &mut R, out: &mut [C64], n: usize) {
    check_len("haar_unitary_into", out.len(), n);
    if n == 1 {
        // The phase of a complex Gaussian is uniform.
        loop {
            let z = C64::new(StandardNormal.sample(rng), StandardNormal.sample(rng));
            let r = z.norm();
            if r > 0.0 {
                out[0] = z / r;
                return;
            }
        }
    }
    // Columns of A stored contiguously (column-major) while orthogonalising.
    let mut q = Scratch::new(n);
    for z in q.iter_mut() {
        *z = C64::new(StandardNormal.sample(rng), StandardNormal.sample(rng));
    }
    let mut j = 0;
    while j < n {
        let (done, rest) = q.split_at_mut(j * n);
        let col = &mut rest[..n];
        // Classical Gram-Schmidt twice ("twice is enough", Giraud et al. 2005).
        for _ in 0..2 {
            for k in 0..j {
                let qk = &done[k * n..(k + 1) * n];
                let r: C64 = qk.iter().zip(col.iter()).map(|(a, b)| a.conj() * b).sum();
                for (c, &a) in col.iter_mut().zip(qk) {
                    *c -= r * a;
                }
            }
        }
        let norm = col.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        if norm > 1e-8 {
            for c in col.iter_mut() {
                *c /= norm;
            }
            j += 1;
        } else {
            // A (probability-zero) degenerate draw: redraw this column.
            for c in col.iter_mut() {
                *c = C64::new(StandardNormal.sample(rng), StandardNormal.sample(rng));
            }
        }
    }
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = q[j * n + i];
        }
    }
}
