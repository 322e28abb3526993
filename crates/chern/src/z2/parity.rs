//! The Fu–Kane parity criterion for inversion-symmetric insulators.
use super::points;
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::inversion::Inversion;
use crate::links::Tolerances;
use num_complex::Complex64 as C64;
use std::f64::consts::PI;

/// Parities of the occupied Kramers pairs at one time-reversal-invariant momentum $\Gamma_i$.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TrimParity {
    /// $\Gamma_i$ (radians, each component 0 or $\pi$).
    pub k: Vec<f64>,
    /// Number of occupied states with parity $-1$ (even: Kramers partners share parity).
    pub odd_states: usize,
    /// $\delta_i = \prod_{m} \xi_{2m}(\Gamma_i) = (-1)^{\text{odd\_states}/2}$, one parity per
    /// Kramers pair.
    pub delta: i8,
}

/// The $2^d$ time-reversal-invariant momenta $\{0, \pi\}^d$, row-major (last axis fastest).
pub(crate) fn trims(dim: usize) -> Vec<Vec<f64>> {
    (0..1usize << dim)
        .map(|c| {
            (0..dim)
                .map(|a| {
                    if (c >> (dim - 1 - a)) & 1 == 1 {
                        PI
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

/// $\delta_i$ at every TRIM of `h` with occupied bands $0..r$: the eigenvalues of $P$ restricted
/// to the occupied states, $Q = V^\dagger P V$ (Hermitian, $Q^2 = 1$ when $P$ commutes with
/// $H(\Gamma_i)$), counted through $\operatorname{tr} Q = r - 2\,n_-$.
pub(crate) fn trim_parities<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    p: &Inversion,
    r: usize,
    tol: &Tolerances,
) -> Result<Vec<TrimParity>> {
    let pts = trims(h.dim());
    let index = |s: usize| {
        pts[s]
            .iter()
            .map(|&x| usize::from(x > 0.0))
            .collect::<Vec<usize>>()
    };
    let mut flat = points::Points::with_capacity(h.dim(), pts.len());
    for k in &pts {
        flat.push(k);
    }
    let bands = points::solve(h, &flat, 1, pts.len(), r, Some((tol.gap(), &index)))?;
    let n = bands.n;
    let pm = p.matrix();
    let mut out = Vec::with_capacity(pts.len());
    for (s, k) in pts.iter().enumerate() {
        let v = bands.frame(s);
        // Pv for every occupied row.
        let pv: Vec<C64> = v
            .chunks_exact(n)
            .flat_map(|row| (0..n).map(move |i| (0..n).map(|j| pm[i * n + j] * row[j]).sum()))
            .collect();
        let q = |a: usize, b: usize| -> C64 {
            (0..n).map(|i| v[a * n + i].conj() * pv[b * n + i]).sum()
        };
        // P must map the occupied subspace to itself: |Pv_b|^2 = sum_a |Q_ab|^2 = 1.
        let mut leak = 0.0f64;
        let mut trace = 0.0;
        for b in 0..r {
            let inside: f64 = (0..r).map(|a| q(a, b).norm_sqr()).sum();
            leak = leak.max((1.0 - inside).abs());
            trace += q(b, b).re;
        }
        if leak > 1e-6 {
            return Err(Error::ParityUndefined {
                k: k.clone(),
                reason: format!(
                    "inversion mixes occupied and empty states (leak {leak:.3e}); is P a symmetry of H?"
                ),
            });
        }
        let minus = (r as f64 - trace) / 2.0;
        let odd_states = minus.round();
        if (minus - odd_states).abs() > 1e-6 || odd_states < 0.0 {
            return Err(Error::ParityUndefined {
                k: k.clone(),
                reason: format!(
                    "tr(V^† P V) = {trace:.6} is not an integer of the parity of r = {r}"
                ),
            });
        }
        let odd_states = odd_states as usize;
        if odd_states % 2 == 1 {
            return Err(Error::ParityUndefined {
                k: k.clone(),
                reason: format!(
                    "{odd_states} occupied states of parity -1: Kramers partners must share their parity (does P commute with time reversal?)"
                ),
            });
        }
        out.push(TrimParity {
            k: k.clone(),
            odd_states,
            delta: if (odd_states / 2).is_multiple_of(2) {
                1
            } else {
                -1
            },
        });
    }
    Ok(out)
}

/// $\nu$ with $(-1)^\nu = \prod_i \delta_i$ over the TRIMs selected by `keep`.
pub(crate) fn product(parities: &[TrimParity], keep: impl Fn(&[f64]) -> bool) -> u8 {
    let minus = parities
        .iter()
        .filter(|t| keep(&t.k) && t.delta < 0)
        .count();
    (minus % 2) as u8
}
