//! Time reversal $\Theta = U_T K$ of spinful Bloch Hamiltonians and the check that a model has it.
use crate::bands::{check_grid, k_point, unravel};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// How the spin index is laid out in a spinful basis of `orbitals` orbitals.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SpinOrdering {
    /// Spin fastest: $(1\!\uparrow, 1\!\downarrow, 2\!\uparrow, 2\!\downarrow, \ldots)$, basis
    /// index $2o + s$. Wannier90's spinor order since version 3 and the order of every built-in
    /// spinful model.
    #[default]
    Interleaved,
    /// Spin blocks: all spin-up orbitals, then all spin-down ones, basis index $s\,N_o + o$
    /// (the BHZ paper's order, older Wannier90 spinor files).
    Blocks,
}

/// An antiunitary time reversal $\Theta = U_T K$ ($K$ complex conjugation) with
/// $\Theta^2 = U_T \overline{U_T} = -1$ (fermions with spin one half).
///
/// A Bloch Hamiltonian is time-reversal symmetric if
/// $$\Theta H(k)\Theta^{-1} = U_T\,\overline{H(k)}\,U_T^\dagger = H(-k)$$
/// for every $k$. Then the bands come in Kramers pairs, degenerate at the time-reversal-invariant
/// momenta ($-k \equiv k$), and an insulator with an even number of occupied bands has a
/// $\mathbb Z_2$ invariant ([`crate::z2_invariant`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TimeReversal {
    n: usize,
    u: Vec<C64>,
}

impl TimeReversal {
    /// $\Theta = U_T K$ with the row-major $N\times N$ matrix `u`. Errors unless $U_T$ is unitary
    /// and $U_T\overline{U_T} = -1$ to $10^{-10}$ (which needs an even $N$).
    pub fn new(u: Vec<C64>, n: usize) -> Result<Self> {
        let bad = |reason: String| Error::BadSymmetry {
            operator: "time reversal U_T",
            reason,
        };
        if n == 0 || u.len() != n * n {
            return Err(bad(format!(
                "{} entries for a {n} x {n} matrix (N must be at least 1)",
                u.len()
            )));
        }
        if let Some(p) = u
            .iter()
            .position(|z| !(z.re.is_finite() && z.im.is_finite()))
        {
            return Err(bad(format!(
                "entry [{}][{}] = {} is not finite",
                p / n,
                p % n,
                u[p]
            )));
        }
        let dev = lattice_gauge::matrix::unitarity_deviation(&u, n);
        if dev.is_nan() || dev > 1e-10 {
            return Err(bad(format!("not unitary: max |U U^† - 1| = {dev:.3e}")));
        }
        // (U conj(U))_ij + delta_ij must vanish.
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let s: C64 = (0..n).map(|l| u[i * n + l] * u[l * n + j].conj()).sum();
                let target = if i == j { -1.0 } else { 0.0 };
                worst = worst.max((s - C64::new(target, 0.0)).norm());
            }
        }
        if worst > 1e-10 {
            return Err(bad(format!(
                "Theta^2 = U conj(U) is not -1 (max deviation {worst:.3e}): a bosonic or broken time reversal has no Kramers pairs"
            )));
        }
        Ok(Self { n, u })
    }

    /// $U_T = \mathbb 1_{\text{orbitals}}\otimes i s_y$ (spin one half on every orbital, $i s_y =
    /// \left(\begin{smallmatrix}0&1\\-1&0\end{smallmatrix}\right)$ on $(\uparrow,\downarrow)$), in
    /// the basis order `ordering`. Errors if `orbitals` is 0.
    pub fn spinful(orbitals: usize, ordering: SpinOrdering) -> Result<Self> {
        if orbitals == 0 {
            return Err(Error::BadSymmetry {
                operator: "time reversal U_T",
                reason: "a spinful model needs at least one orbital".into(),
            });
        }
        Ok(Self::spin_half(orbitals, ordering))
    }

    /// [`TimeReversal::spinful`] for `orbitals` $\ge 1$.
    pub(crate) fn spin_half(orbitals: usize, ordering: SpinOrdering) -> Self {
        let n = 2 * orbitals;
        let mut u = vec![C64::new(0.0, 0.0); n * n];
        for o in 0..orbitals {
            let (up, down) = match ordering {
                SpinOrdering::Interleaved => (2 * o, 2 * o + 1),
                SpinOrdering::Blocks => (o, orbitals + o),
            };
            u[up * n + down] = C64::new(1.0, 0.0);
            u[down * n + up] = C64::new(-1.0, 0.0);
        }
        Self { n, u }
    }

    /// Size $N$ of the basis.
    pub fn n(&self) -> usize {
        self.n
    }

    /// $U_T$, row-major.
    pub fn matrix(&self) -> &[C64] {
        &self.u
    }

    /// $\Theta v = U_T \bar v$ of a vector of length $N$ into `out`.
    pub fn apply(&self, v: &[C64], out: &mut [C64]) {
        let n = self.n;
        for (i, o) in out.iter_mut().enumerate().take(n) {
            *o = (0..n).map(|j| self.u[i * n + j] * v[j].conj()).sum();
        }
    }

    /// $U_T\,\overline{H}\,U_T^\dagger$ of a row-major $N\times N$ matrix into `out`.
    pub(crate) fn conjugate(&self, h: &[C64], out: &mut [C64]) {
        let n = self.n;
        let mut tmp = vec![C64::new(0.0, 0.0); n * n];
        // tmp = U conj(H)
        for i in 0..n {
            for j in 0..n {
                tmp[i * n + j] = (0..n)
                    .map(|l| self.u[i * n + l] * h[l * n + j].conj())
                    .sum();
            }
        }
        // out = tmp U^†
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n)
                    .map(|l| tmp[i * n + l] * self.u[j * n + l].conj())
                    .sum();
            }
        }
    }

    /// Checks $U_T\overline{H(k)}U_T^\dagger = H(-k)$ at every point $k_j = 2\pi i_j/L_j$ of the
    /// grid `extents`: returns the largest violation
    /// $\max_{ij}|(U_T\overline{H(k)}U_T^\dagger - H(-k))_{ij}|$ relative to $\max(1, \max|H|)$,
    /// or [`Error::TimeReversalBroken`] naming the first k-point where it exceeds `tolerance`.
    pub fn check<H: BlochHamiltonian + Sync + ?Sized>(
        &self,
        h: &H,
        extents: &[usize],
        tolerance: f64,
    ) -> Result<f64> {
        if h.n_bands() != self.n {
            return Err(Error::BadSymmetry {
                operator: "time reversal U_T",
                reason: format!("{} x {0} for a model with {} bands", self.n, h.n_bands()),
            });
        }
        let (violation, k) = max_violation(h, extents, |hk, out| self.conjugate(hk, out))?;
        if violation.is_nan() || violation > tolerance {
            return Err(Error::TimeReversalBroken {
                k,
                violation,
                tolerance,
            });
        }
        Ok(violation)
    }
}

/// The largest relative violation of $T[H(k)] = H(-k)$ on the grid and the k-point where it
/// occurs (the first one, scanning row-major, where it exceeds all before it).
pub(crate) fn max_violation<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    extents: &[usize],
    transform: impl Fn(&[C64], &mut [C64]) + Sync,
) -> Result<(f64, Vec<f64>)> {
    check_grid(extents, h.dim())?;
    let n = h.n_bands();
    let count: usize = extents.iter().product();
    let best = (0..count)
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![C64::new(0.0, 0.0); n * n],
                    vec![C64::new(0.0, 0.0); n * n],
                    vec![C64::new(0.0, 0.0); n * n],
                )
            },
            |(hk, hm, t), s| {
                let index = unravel(extents, s);
                let k = k_point(extents, &index);
                let minus: Vec<usize> = index
                    .iter()
                    .zip(extents)
                    .map(|(&i, &l)| (l - i) % l)
                    .collect();
                h.write_hamiltonian(&k, hk);
                h.write_hamiltonian(&k_point(extents, &minus), hm);
                transform(hk, t);
                let scale = hk.iter().fold(1.0f64, |m, z| m.max(z.norm()));
                let dev = t
                    .iter()
                    .zip(hm.iter())
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).norm()));
                // NaN (a non-finite H) ranks above everything.
                let v = if dev.is_nan() {
                    f64::INFINITY
                } else {
                    dev / scale
                };
                (v, s)
            },
        )
        .reduce(
            || (0.0, 0),
            |a, b| {
                if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
                    b
                } else {
                    a
                }
            },
        );
    Ok((best.0, k_point(extents, &unravel(extents, best.1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinful_operators_square_to_minus_one() {
        for ordering in [SpinOrdering::Interleaved, SpinOrdering::Blocks] {
            let t = TimeReversal::spinful(3, ordering).unwrap();
            assert!(TimeReversal::new(t.matrix().to_vec(), 6).is_ok());
        }
        // Bosonic K alone (U = 1) is refused.
        let one = lattice_gauge::matrix::identity(2);
        assert!(matches!(
            TimeReversal::new(one, 2),
            Err(Error::BadSymmetry { .. })
        ));
        assert!(TimeReversal::spinful(0, SpinOrdering::Blocks).is_err());
    }
}
