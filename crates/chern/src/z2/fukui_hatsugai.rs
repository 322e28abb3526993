//! Fukui and Hatsugai's lattice $\mathbb Z_2$: vortices of the Berry connection in half the
//! Brillouin zone, in a gauge constrained by time reversal.
use super::points::{self, PointBands};
use crate::chern_number::principal_arg;
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::links::{Tolerances, overlap_into};
use crate::time_reversal::TimeReversal;
use lattice_gauge::matrix;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// What the lattice computation found.
pub(crate) struct Vortices {
    /// $\sum_k n(k)$ over the half zone.
    pub count: i64,
    /// Smallest direct gap above the occupied bands on the half zone.
    pub min_gap: f64,
}

/// Fukui and Hatsugai, J. Phys. Soc. Jpn. 76, 053702 (2007), on the grid $L_1\times L_2$
/// (both even): the half zone $B^- = \{k_2\in[0,\pi]\}$, eigenvectors in the time-reversal
/// gauge on its two edges $k_2 = 0, \pi$ (see [`crate::z2_invariant`]), and
/// $$\mathbb Z_2 = \frac1{2\pi}\Bigl[\sum_{k\in B^-}F(k) - \sum_{k\in\partial B^-}A(k)\Bigr] =
/// \sum_{k\in B^-} n(k) \bmod 2.$$
pub(crate) fn vortices<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    theta: &TimeReversal,
    grid: [usize; 2],
    r: usize,
    tol: &Tolerances,
) -> Result<Vortices> {
    let [l1, l2] = grid;
    let half = l2 / 2;
    let rows = half + 1;
    let mut pts = points::Points::with_capacity(2, rows * l1);
    for j in 0..rows {
        for i in 0..l1 {
            pts.push(&[
                2.0 * PI * i as f64 / l1 as f64,
                2.0 * PI * j as f64 / l2 as f64,
            ]);
        }
    }
    let index = |s: usize| vec![s % l1, s / l1];
    let mut bands = points::solve(h, &pts, rows, l1, r, Some((tol.gap(), &index)))?;
    let (min_gap, _) = bands.min_gap();
    let n = bands.n;
    for j in [0, half] {
        time_reversal_gauge(&mut bands, theta, j * l1, l1, n, r)?;
    }
    let bands = &bands;
    // Link determinant from point s to point t (direction dir), checked against the tolerance.
    let link = |m: &mut [C64], s: usize, t: usize, dir: usize| -> Result<C64> {
        overlap_into(bands.frame(s), bands.frame(t), m, n, r);
        let d = matrix::det(m, r);
        let modulus = d.norm();
        if modulus.is_nan() || modulus < tol.overlap() {
            return Err(Error::SingularOverlap {
                k: pts.k(s),
                index: index(s),
                dir,
                modulus,
                tolerance: tol.overlap(),
            });
        }
        Ok(d)
    };
    // Every link once: x-links on rows 0..=half, y-links on rows 0..half.
    let mut ux = vec![C64::new(0.0, 0.0); rows * l1];
    let mut uy = vec![C64::new(0.0, 0.0); half * l1];
    ux.par_chunks_mut(l1)
        .enumerate()
        .map(|(j, row)| (j, row, 0))
        .chain(
            uy.par_chunks_mut(l1)
                .enumerate()
                .map(|(j, row)| (j, row, 1)),
        )
        .try_for_each_init(
            || vec![C64::new(0.0, 0.0); r * r],
            |m, (j, row, dir)| -> Result<()> {
                for (i, u) in row.iter_mut().enumerate() {
                    let s = j * l1 + i;
                    let t = if dir == 0 {
                        j * l1 + (i + 1) % l1
                    } else {
                        s + l1
                    };
                    *u = link(m, s, t, dir)?;
                }
                Ok(())
            },
        )?;
    // The connection A = arg U of every link, once.
    let ax: Vec<f64> = ux.par_iter().map(|&u| principal_arg(u)).collect();
    let ay: Vec<f64> = uy.par_iter().map(|&u| principal_arg(u)).collect();
    let count: i64 = (0..half)
        .into_par_iter()
        .map(|j| {
            let mut total = 0i64;
            for i in 0..l1 {
                let i1 = (i + 1) % l1;
                let (a, b, c, d) = (
                    ux[j * l1 + i],
                    uy[j * l1 + i1],
                    ux[(j + 1) * l1 + i],
                    uy[j * l1 + i],
                );
                let f = principal_arg(a * b * (c * d).conj());
                let circulation =
                    ax[j * l1 + i] + ay[j * l1 + i1] - ax[(j + 1) * l1 + i] - ay[j * l1 + i];
                total += ((f - circulation) / (2.0 * PI)).round() as i64;
            }
            total
        })
        .sum();
    Ok(Vortices { count, min_gap })
}

/// Imposes the time-reversal constraint on the line of `l1` points starting at point `start`
/// (a line $k_2 \in \{0, \pi\}$, mapped to itself by $k\to-k$): Kramers-pair bases at
/// $k_1 = 0, \pi$, and for $0 < k_1 < \pi$ the frame at $-k$ rebuilt from the one at $k$ as
/// $u_{2p+1}(-k) = \Theta u_{2p}(k)$, $u_{2p}(-k) = -\Theta u_{2p+1}(k)$.
fn time_reversal_gauge(
    bands: &mut PointBands,
    theta: &TimeReversal,
    start: usize,
    l1: usize,
    n: usize,
    r: usize,
) -> Result<()> {
    for i in [0, l1 / 2] {
        points::kramers_basis(bands.frame_mut(start + i), n, r, theta)?;
    }
    let mut partner = vec![C64::new(0.0, 0.0); r * n];
    for i in 1..l1 / 2 {
        let v = bands.frame(start + i);
        for p in 0..r / 2 {
            let (even, odd) = (
                &v[2 * p * n..(2 * p + 1) * n],
                &v[(2 * p + 1) * n..(2 * p + 2) * n],
            );
            theta.apply(even, &mut partner[(2 * p + 1) * n..(2 * p + 2) * n]);
            theta.apply(odd, &mut partner[2 * p * n..(2 * p + 1) * n]);
            partner[2 * p * n..(2 * p + 1) * n]
                .iter_mut()
                .for_each(|z| *z = -*z);
        }
        bands.frame_mut(start + l1 - i).copy_from_slice(&partner);
    }
    Ok(())
}
