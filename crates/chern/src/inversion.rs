//! Spatial inversion $P$ of Bloch Hamiltonians, for the Fu–Kane parity criterion.
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::time_reversal::{TimeReversal, check_unitary_operator, max_violation};
use num_complex::Complex64 as C64;

/// A unitary inversion $P$ with $P^2 = 1$ acting on the orbital basis:
/// $$P\,H(k)\,P^\dagger = H(-k).$$
/// At a time-reversal-invariant momentum $\Gamma_i$ it commutes with $H(\Gamma_i)$, so the
/// occupied states have parities $\xi = \pm1$; Kramers partners share theirs when $P$ commutes
/// with time reversal ($P\,U_T = U_T\,\overline P$).
#[derive(Clone, Debug, PartialEq)]
pub struct Inversion {
    n: usize,
    p: Vec<C64>,
}

impl Inversion {
    /// $P$ from the row-major $N\times N$ matrix `p`; errors unless it is unitary and squares to
    /// one to $10^{-10}$.
    pub fn new(p: Vec<C64>, n: usize) -> Result<Self> {
        check_unitary_operator("inversion P", "P", &p, n)?;
        let square = lattice_gauge::matrix::product(&p, &p, n);
        let worst = (0..n * n).fold(0.0f64, |m, x| {
            let target = if x / n == x % n { 1.0 } else { 0.0 };
            m.max((square[x] - C64::new(target, 0.0)).norm())
        });
        if worst > 1e-10 {
            return Err(Error::BadSymmetry {
                operator: "inversion P",
                reason: format!(
                    "P^2 is not 1 (max deviation {worst:.3e}): parities would not be +-1"
                ),
            });
        }
        Ok(Self { n, p })
    }

    /// The diagonal case $P = \mathrm{diag}(\xi_1, \ldots, \xi_N)$ with $\xi_i = \pm1$ the
    /// parities of the orbitals (even $s$-like, odd $p$-like); errors unless every $\xi_i^2 = 1$.
    pub fn diagonal(parities: &[f64]) -> Result<Self> {
        let n = parities.len();
        let mut p = vec![C64::new(0.0, 0.0); n * n];
        for (i, &x) in parities.iter().enumerate() {
            p[i * n + i] = C64::new(x, 0.0);
        }
        Self::new(p, n)
    }

    /// $P$ from a matrix known to be valid (built-in models).
    pub(crate) fn trusted(p: Vec<C64>, n: usize) -> Self {
        Self { n, p }
    }

    /// Size $N$ of the basis.
    pub fn n(&self) -> usize {
        self.n
    }

    /// $P$, row-major.
    pub fn matrix(&self) -> &[C64] {
        &self.p
    }

    /// Errors unless $P\,U_T = U_T\,\overline P$ to $10^{-10}$ (inversion commutes with time
    /// reversal, so Kramers partners have equal parity).
    pub fn check_commutes_with(&self, theta: &TimeReversal) -> Result<()> {
        let n = self.n;
        if theta.n() != n {
            return Err(Error::BadSymmetry {
                operator: "inversion P",
                reason: format!("{n} x {n}, time reversal is {} x {}", theta.n(), theta.n()),
            });
        }
        let u = theta.matrix();
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let a: C64 = (0..n).map(|l| self.p[i * n + l] * u[l * n + j]).sum();
                let b: C64 = (0..n)
                    .map(|l| u[i * n + l] * self.p[l * n + j].conj())
                    .sum();
                worst = worst.max((a - b).norm());
            }
        }
        if worst > 1e-10 {
            return Err(Error::BadSymmetry {
                operator: "inversion P",
                reason: format!(
                    "does not commute with time reversal: max |P U_T - U_T conj(P)| = {worst:.3e}"
                ),
            });
        }
        Ok(())
    }

    /// Checks $P H(k) P^\dagger = H(-k)$ on the grid `extents` as
    /// [`TimeReversal::check`] does; [`Error::InversionBroken`] names the k-point.
    pub fn check<H: BlochHamiltonian + Sync + ?Sized>(
        &self,
        h: &H,
        extents: &[usize],
        tolerance: f64,
    ) -> Result<f64> {
        let n = self.n;
        if h.n_bands() != n {
            return Err(Error::BadSymmetry {
                operator: "inversion P",
                reason: format!("{n} x {n} for a model with {} bands", h.n_bands()),
            });
        }
        let (violation, k) = max_violation(h, extents, |hk, out| {
            let t = lattice_gauge::matrix::product(&self.p, hk, n);
            lattice_gauge::matrix::mul_adj(&t, &self.p, out, n);
        })?;
        if violation.is_nan() || violation > tolerance {
            return Err(Error::InversionBroken {
                k,
                violation,
                tolerance,
            });
        }
        Ok(violation)
    }
}
