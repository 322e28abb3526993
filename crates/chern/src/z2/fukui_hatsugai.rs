//! Fukui and Hatsugai's lattice $\mathbb Z_2$: vortices of the Berry connection in half the
//! Brillouin zone, in a gauge constrained by time reversal.
use super::points;
use crate::chern_number::{MAX_RESOLVED_FLUX, principal_arg};
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
    let pts = &pts;
    let index = |s: usize| vec![s % l1, s / l1];
    let solver = points::RowSolver::new(h, pts, rows, l1, r);
    let n = h.n_bands();
    let w = r * n;
    // Link determinant from point s to point t (direction dir), checked against the tolerance.
    let link = |m: &mut [C64], v: &[C64], u: &[C64], s: usize, dir: usize| -> Result<C64> {
        overlap_into(v, u, m, n, r);
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
    // The x-links of row j, whose eigenvectors are v.
    let row_x = |m: &mut [C64], v: &[C64], j: usize, out: &mut [C64]| -> Result<()> {
        for (i, u) in out.iter_mut().enumerate() {
            let i1 = (i + 1) % l1;
            *u = link(
                m,
                &v[i * w..(i + 1) * w],
                &v[i1 * w..(i1 + 1) * w],
                j * l1 + i,
                0,
            )?;
        }
        Ok(())
    };
    // Blocks of plaquette rows in parallel, each streaming its rows of eigenvectors (the row
    // and the next) with the time-reversal gauge on the rows k2 = 0 and pi.
    let threads = rayon::current_num_threads();
    let blocks = if threads == 1 { 1 } else { 4 * threads };
    let block = half.div_ceil(blocks).max(1);
    let starts: Vec<usize> = (0..half).step_by(block).collect();
    let zero = C64::new(0.0, 0.0);
    let outcomes: Vec<Result<Block>> = starts
        .par_iter()
        .map_init(
            || {
                (
                    solver.workspace(),
                    vec![0.0; l1 * n],
                    [vec![zero; l1 * w], vec![zero; l1 * w]],
                    [vec![zero; l1], vec![zero; l1], vec![zero; l1]],
                    vec![zero; r * r],
                    [Vec::new(), Vec::new(), Vec::new()],
                )
            },
            |(ws, energies, [va, vb], [ux, ux_next, uy], m, args), &first| -> Result<Block> {
                let count = block.min(half - first);
                let mut out = Block::default();
                solver.solve_row(ws, first, energies, va)?;
                out.gap.observe(energies, n, r, first * l1);
                if first == 0
                    && let Err(e) = time_reversal_gauge(va, theta, l1, n, r)
                {
                    out.gauge_error = Some(e);
                }
                let mut links_ok = out.gauge_error.is_none();
                if links_ok && let Err(e) = row_x(m, va, first, ux) {
                    out.link_error = Some(e);
                    links_ok = false;
                }
                for j in first..first + count {
                    solver.solve_row(ws, j + 1, energies, vb)?;
                    if j + 1 < first + count || j + 1 == half {
                        out.gap.observe(energies, n, r, (j + 1) * l1);
                    }
                    if j + 1 == half
                        && let Err(e) = time_reversal_gauge(vb, theta, l1, n, r)
                    {
                        // Row 0's error first, as on the stored half zone.
                        out.gauge_error.get_or_insert(e);
                        links_ok = false;
                    }
                    if links_ok {
                        let mut links = || -> Result<()> {
                            for (i, u) in uy.iter_mut().enumerate() {
                                let s = j * l1 + i;
                                *u = link(
                                    m,
                                    &va[i * w..(i + 1) * w],
                                    &vb[i * w..(i + 1) * w],
                                    s,
                                    1,
                                )?;
                            }
                            row_x(m, vb, j + 1, ux_next)
                        };
                        match links() {
                            Ok(()) => {
                                let (count, (i, f)) = row_vortices(ux, ux_next, uy, args);
                                out.count += count;
                                if f.abs() > out.max_flux.1.abs() {
                                    out.max_flux = (j * l1 + i, f);
                                }
                            }
                            Err(e) => {
                                out.link_error = Some(e);
                                links_ok = false;
                            }
                        }
                    }
                    std::mem::swap(va, vb);
                    std::mem::swap(ux, ux_next);
                }
                Ok(out)
            },
        )
        .collect();
    let outcomes = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
    // Errors in the order of a computation on the stored half zone: the gap, the gauge, the
    // links.
    let mut gap = points::MinGap::default();
    for o in &outcomes {
        gap.merge(o.gap);
    }
    let min_gap = gap.check(pts, &index, r, tol.gap())?;
    let mut count = 0;
    let mut link_error = None;
    let mut max_flux = (0, 0.0f64);
    for o in outcomes {
        if let Some(e) = o.gauge_error {
            return Err(e);
        }
        link_error = link_error.or(o.link_error);
        count += o.count;
        if o.max_flux.1.abs() > max_flux.1.abs() {
            max_flux = o.max_flux;
        }
    }
    if let Some(e) = link_error {
        return Err(e);
    }
    // A plaquette flux near pi could as well be F -+ 2 pi: the vortex there is not resolved
    // (the determinant route's bound).
    let (s, flux) = max_flux;
    if flux.abs() > MAX_RESOLVED_FLUX {
        return Err(Error::Unresolved {
            k: pts.k(s),
            index: index(s),
            flux,
            limit: MAX_RESOLVED_FLUX,
        });
    }
    Ok(Vortices { count, min_gap })
}

/// What a block of rows of the half zone found.
#[derive(Default)]
struct Block {
    count: i64,
    /// The plaquette of largest $|F|$ (its point on the half zone) and its flux.
    max_flux: (usize, f64),
    gap: points::MinGap,
    gauge_error: Option<Error>,
    link_error: Option<Error>,
}

/// $\sum_i n(k_i)$ along a row of plaquettes from the x-links of its lower (`ux`) and upper
/// (`ux_next`) edge and its y-links `uy`: $2\pi n = F - (A_1(k) + A_2(k+\hat1) - A_1(k+\hat2) -
/// A_2(k))$ with $A = \arg U$ and $F = \arg U_1U_2U_1^{-1}U_2^{-1}$; with the plaquette of the
/// row of largest $|F|$ and its flux.
fn row_vortices(
    ux: &[C64],
    ux_next: &[C64],
    uy: &[C64],
    args: &mut [Vec<f64>; 3],
) -> (i64, (usize, f64)) {
    let l1 = ux.len();
    // The connection A = arg U of every link of the row, once.
    for (a, u) in args.iter_mut().zip([ux, ux_next, uy]) {
        a.clear();
        a.extend(u.iter().map(|&u| principal_arg(u)));
    }
    let [ax, ax_next, ay] = &*args;
    let mut total = 0i64;
    let mut max_flux = (0, 0.0f64);
    for i in 0..l1 {
        let i1 = (i + 1) % l1;
        let (a, b, c, d) = (ux[i], uy[i1], ux_next[i], uy[i]);
        let f = principal_arg(a * b * (c * d).conj());
        let circulation = ax[i] + ay[i1] - ax_next[i] - ay[i];
        total += ((f - circulation) / (2.0 * PI)).round() as i64;
        if f.abs() > max_flux.1.abs() {
            max_flux = (i, f);
        }
    }
    (total, max_flux)
}

/// Imposes the time-reversal constraint on the eigenvectors `frames` ($r$ rows of $N$ per point)
/// of a line of `l1` points (a line $k_2 \in \{0, \pi\}$, mapped to itself by $k\to-k$): Kramers-pair bases at
/// $k_1 = 0, \pi$, and for $0 < k_1 < \pi$ the frame at $-k$ rebuilt from the one at $k$ as
/// $u_{2p+1}(-k) = \Theta u_{2p}(k)$, $u_{2p}(-k) = -\Theta u_{2p+1}(k)$.
fn time_reversal_gauge(
    frames: &mut [C64],
    theta: &TimeReversal,
    l1: usize,
    n: usize,
    r: usize,
) -> Result<()> {
    let w = r * n;
    for i in [0, l1 / 2] {
        points::kramers_basis(&mut frames[i * w..(i + 1) * w], n, r, theta)?;
    }
    let mut partner = vec![C64::new(0.0, 0.0); r * n];
    for i in 1..l1 / 2 {
        let v = &frames[i * w..(i + 1) * w];
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
        let j = l1 - i;
        frames[j * w..(j + 1) * w].copy_from_slice(&partner);
    }
    Ok(())
}
