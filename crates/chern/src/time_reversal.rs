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
    /// index $2o + s$: the order of every built-in spinful model, and of Wannier functions made
    /// from spinor projections that give an up and a down function in turn. Check the order of
    /// your own files: a wrong order shows up as [`crate::Error::TimeReversalBroken`].
    #[default]
    Interleaved,
    /// Spin blocks: all spin-up orbitals, then all spin-down ones, basis index $s\,N_o + o$
    /// (the BHZ paper's order).
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
    /// Where $U_T$ has one non-zero entry per row (every spinful $\mathbb 1\otimes is_y$):
    /// its column and value, which make $U_T\overline H U_T^\dagger$ an $O(N^2)$ relabelling.
    monomial: Option<Vec<(usize, C64)>>,
}

/// Column and value of the single non-zero entry of each row of `u`, if every row has one.
fn monomial(u: &[C64], n: usize) -> Option<Vec<(usize, C64)>> {
    (0..n)
        .map(|i| {
            let row = &u[i * n..(i + 1) * n];
            let mut it = row
                .iter()
                .enumerate()
                .filter(|(_, z)| **z != C64::new(0.0, 0.0));
            let (j, z) = it.next()?;
            it.next().is_none().then_some((j, *z))
        })
        .collect()
}

impl TimeReversal {
    /// $\Theta = U_T K$ with the row-major $N\times N$ matrix `u`. Errors unless $U_T$ is unitary
    /// and $U_T\overline{U_T} = -1$ to $10^{-10}$ (which needs an even $N$).
    pub fn new(u: Vec<C64>, n: usize) -> Result<Self> {
        check_unitary_operator("time reversal U_T", "U", &u, n)?;
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
            return Err(Error::BadSymmetry {
                operator: "time reversal U_T",
                reason: format!(
                    "Theta^2 = U conj(U) is not -1 (max deviation {worst:.3e}): a bosonic or broken time reversal has no Kramers pairs"
                ),
            });
        }
        let monomial = monomial(&u, n);
        Ok(Self { n, u, monomial })
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
        let monomial = monomial(&u, n);
        Self { n, u, monomial }
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
        if let Some(m) = &self.monomial {
            // (U conj(H) U^dagger)_ab = u_a conj(H_{p(a) p(b)}) conj(u_b).
            for (a, &(pa, ua)) in m.iter().enumerate() {
                for (b, &(pb, ub)) in m.iter().enumerate() {
                    out[a * n + b] = ua * h[pa * n + pb].conj() * ub.conj();
                }
            }
            return;
        }
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

/// Errors ([`Error::BadSymmetry`] naming `operator`) unless `m` is a row-major $N\times N$
/// matrix ($N \ge 1$) of finite entries, unitary to $10^{-10}$ (`symbol` names it in the message).
pub(crate) fn check_unitary_operator(
    operator: &'static str,
    symbol: &str,
    m: &[C64],
    n: usize,
) -> Result<()> {
    let bad = |reason: String| Error::BadSymmetry { operator, reason };
    if n == 0 || m.len() != n * n {
        return Err(bad(format!(
            "{} entries for a {n} x {n} matrix (N must be at least 1)",
            m.len()
        )));
    }
    if let Some(q) = m
        .iter()
        .position(|z| !(z.re.is_finite() && z.im.is_finite()))
    {
        return Err(bad(format!(
            "entry [{}][{}] = {} is not finite",
            q / n,
            q % n,
            m[q]
        )));
    }
    let dev = lattice_gauge::matrix::unitarity_deviation(m, n);
    if dev.is_nan() || dev > 1e-10 {
        return Err(bad(format!(
            "not unitary: max |{symbol} {symbol}^† - 1| = {dev:.3e}"
        )));
    }
    Ok(())
}

/// The largest relative violation of $T[H(k)] = H(-k)$ on the grid and the k-point where it
/// occurs (the first one, scanning row-major, where it exceeds all before it). Each pair
/// $\{k, -k\}$ is checked once, at its first point: for the symmetries here ($\Theta^2 = -1$,
/// $P^2 = 1$) the violation at $-k$ is the one at $k$ conjugated by the operator.
pub(crate) fn max_violation<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    extents: &[usize],
    transform: impl Fn(&[C64], &mut [C64]) + Sync,
) -> Result<(f64, Vec<f64>)> {
    check_grid(extents, h.dim())?;
    let n = h.n_bands();
    let d = extents.len();
    let count: usize = extents.iter().product();
    // Momenta per axis, as k_point computes them.
    let axes: Vec<Vec<f64>> = extents
        .iter()
        .map(|&l| (0..l).map(|i| k_point(&[l], &[i])[0]).collect())
        .collect();
    let best = (0..count)
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![C64::new(0.0, 0.0); 3 * n * n],
                    vec![0usize; 2 * d],
                    vec![0.0; 2 * d],
                )
            },
            |(buf, idx, ks), s| {
                let (index, minus) = idx.split_at_mut(d);
                let mut rest = s;
                for a in (0..d).rev() {
                    index[a] = rest % extents[a];
                    rest /= extents[a];
                    minus[a] = (extents[a] - index[a]) % extents[a];
                }
                if ravel(extents, minus) < s {
                    return (0.0, s);
                }
                let (k, km) = ks.split_at_mut(d);
                for a in 0..d {
                    k[a] = axes[a][index[a]];
                    km[a] = axes[a][minus[a]];
                }
                let (hk, rest) = buf.split_at_mut(n * n);
                let (hm, t) = rest.split_at_mut(n * n);
                h.write_hamiltonian(k, hk);
                h.write_hamiltonian(km, hm);
                transform(hk, t);
                // Squared moduli: one square root per k-point.
                let scale = hk.iter().fold(1.0f64, |m, z| m.max(z.norm_sqr()));
                let dev = t.iter().zip(hm.iter()).fold(0.0f64, |m, (a, b)| {
                    let x = (a - b).norm_sqr();
                    if x.is_nan() || x > m { x } else { m }
                });
                // NaN (a non-finite H) ranks above everything.
                let v = if dev.is_nan() {
                    f64::INFINITY
                } else {
                    (dev / scale).sqrt()
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

/// Row-major site of a multi-index.
fn ravel(extents: &[usize], index: &[usize]) -> usize {
    index.iter().zip(extents).fold(0, |s, (&i, &l)| s * l + i)
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

    /// The relabelling of spinful operators is the triple product $U\overline H U^\dagger$.
    #[test]
    fn monomial_conjugation_is_the_triple_product() {
        let n = 6;
        let h: Vec<C64> = (0..n * n)
            .map(|x| C64::new((x as f64 * 0.37).sin(), (x as f64 * 1.3).cos()))
            .collect();
        for ordering in [SpinOrdering::Interleaved, SpinOrdering::Blocks] {
            let t = TimeReversal::spinful(3, ordering).unwrap();
            assert!(t.monomial.is_some());
            let mut fast = vec![C64::new(0.0, 0.0); n * n];
            t.conjugate(&h, &mut fast);
            let slow = TimeReversal {
                monomial: None,
                ..t.clone()
            };
            let mut general = vec![C64::new(0.0, 0.0); n * n];
            slow.conjugate(&h, &mut general);
            for (a, b) in fast.iter().zip(&general) {
                assert!((a - b).norm() < 1e-14);
            }
        }
    }
}
