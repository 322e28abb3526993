//! $\mathbb Z_2$ from the flow of Wannier charge centres over half the Brillouin zone, followed
//! by the largest gap between them (Soluyanov and Vanderbilt; the way Z2Pack counts).
use super::points;
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::links::{Tolerances, overlap_into};
use lattice_gauge::matrix;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Wannier charge centres of the occupied bands on lines $k_2 = $ const, $k_2\in[0,\pi]$.
///
/// On each line the Wilson loop $\mathcal W(k_2) = \prod_{i=0}^{L_1-1} U_1(k_{1,i}, k_2)$ of the
/// polar-factor links along $k_1$ has eigenphases $\theta_a$; the centres are $\bar x_a =
/// -\theta_a/2\pi \bmod 1 \in [0, 1)$ (units of the lattice constant along $a_1$; the sign as in
/// [`crate::WilsonLoops::wannier_centres`]). The $\mathbb Z_2$ invariant does not depend on that
/// sign or on the direction of the loops: it is the parity of the number of centres that the
/// largest gap passes over from $k_2 = 0$ to $k_2 = \pi$.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WccFlow {
    /// $k_2$ of each line (radians, ascending from 0 to $\pi$; refined where centres move fast).
    pub k_perp: Vec<f64>,
    /// Centres $\bar x_a \in [0, 1)$ of each line, ascending.
    pub centres: Vec<Vec<f64>>,
    /// Middle of the largest gap between neighbouring centres of each line (periodic, in
    /// $[0, 1)$).
    pub gap_position: Vec<f64>,
    /// Size of that gap.
    pub gap_size: Vec<f64>,
}

impl WccFlow {
    /// $\mathbb Z_2 = \sum_j \#\{\bar x \in \text{line } j+1 : \bar x \text{ between the gap
    /// positions of lines } j \text{ and } j+1\} \bmod 2$ (Z2Pack's rule; the count of centres is
    /// even, so the wrap-around of the gap across $0 \equiv 1$ does not change the parity).
    pub fn z2(&self) -> u8 {
        let mut odd = false;
        for j in 0..self.k_perp.len().saturating_sub(1) {
            let (g0, g1) = (self.gap_position[j], self.gap_position[j + 1]);
            let (lo, hi) = (g0.min(g1), g0.max(g1));
            for &x in &self.centres[j + 1] {
                if lo < x && x < hi {
                    odd = !odd;
                }
            }
        }
        u8::from(odd)
    }
}

/// One line's centres and largest gap.
struct Line {
    k2: f64,
    centres: Vec<f64>,
    gap_position: f64,
    gap_size: f64,
}

/// Periodic distance on the unit circle.
fn distance(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(1.0);
    d.min(1.0 - d)
}

/// Wilson loops along $k_1$ ($L_1$ points) at each $k_2$ of `k2s`.
fn lines<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    k2s: &[f64],
    l1: usize,
    r: usize,
    tol: &Tolerances,
) -> Result<(Vec<Line>, f64)> {
    let mut pts = points::Points::with_capacity(2, k2s.len() * l1);
    for &k2 in k2s {
        for i in 0..l1 {
            pts.push(&[2.0 * PI * i as f64 / l1 as f64, k2]);
        }
    }
    let index = |s: usize| vec![s % l1, s / l1];
    let pts = &pts;
    let solver = points::RowSolver::new(h, pts, k2s.len(), l1, r);
    let n = h.n_bands();
    let w = r * n;
    // One line at a time per thread: its energies and eigenvectors only.
    let solved: Vec<Result<(points::MinGap, Result<Line>)>> = (0..k2s.len())
        .into_par_iter()
        .map_init(
            || {
                (
                    solver.workspace(),
                    vec![0.0; l1 * n],
                    vec![C64::new(0.0, 0.0); l1 * w],
                )
            },
            |(ws, energies, frames), j| {
                solver.solve_row(ws, j, energies, frames)?;
                let mut gap = points::MinGap::default();
                gap.observe(energies, n, r, j * l1);
                Ok((gap, wilson_line(frames, j, k2s[j], (l1, n, r), pts, tol)))
            },
        )
        .collect();
    let solved = solved.into_iter().collect::<Result<Vec<_>>>()?;
    // The gap first, then the lines' own errors, as on a stored table.
    let mut gap = points::MinGap::default();
    for (g, _) in &solved {
        gap.merge(*g);
    }
    let min_gap = gap.check(pts, &index, r, tol.gap())?;
    let out = solved
        .into_iter()
        .map(|(_, line)| line)
        .collect::<Result<Vec<Line>>>()?;
    Ok((out, min_gap))
}

/// The Wilson loop along $k_1$ of line `j` of the table from its eigenvectors `frames`, and the
/// centres and largest gap of its spectrum.
fn wilson_line(
    frames: &[C64],
    j: usize,
    k2: f64,
    (l1, n, r): (usize, usize, usize),
    pts: &points::Points,
    tol: &Tolerances,
) -> Result<Line> {
    let index = |s: usize| vec![s % l1, s / l1];
    let stride = r * n;
    let frame = |i: usize| &frames[i * stride..(i + 1) * stride];
    let mut m = vec![C64::new(0.0, 0.0); r * r];
    let mut u = vec![C64::new(0.0, 0.0); r * r];
    let mut w = matrix::identity(r);
    let mut tmp = vec![C64::new(0.0, 0.0); r * r];
    for i in 0..l1 {
        let s = j * l1 + i;
        overlap_into(frame(i), frame((i + 1) % l1), &mut m, n, r);
        let modulus = matrix::det(&m, r).norm();
        let singular = |modulus: f64| Error::SingularOverlap {
            k: pts.k(s),
            index: index(s),
            dir: 0,
            modulus,
            tolerance: tol.overlap(),
        };
        if modulus.is_nan() || modulus < tol.overlap() {
            return Err(singular(modulus));
        }
        matrix::polar_unitary_into(&m, &mut u, r, 1e-12).map_err(|_| singular(modulus))?;
        matrix::mul(&w, &u, &mut tmp, r);
        std::mem::swap(&mut w, &mut tmp);
    }
    let mut centres: Vec<f64> = matrix::eigenphases(&w, r)
        .into_iter()
        .map(|t| (-t / (2.0 * PI)).rem_euclid(1.0))
        .collect();
    if centres.iter().any(|x| !x.is_finite()) {
        return Err(Error::PlaquetteFlux {
            k: pts.k(j * l1),
            index: index(j * l1),
            method: crate::Method::EigenphaseSum,
            flux: f64::NAN,
            reason: "the eigenvalues of the Wilson loop along k1 could not be computed",
        });
    }
    centres.sort_by(f64::total_cmp);
    // Largest gap, the wrap-around one included.
    let mut best = (centres[0] + 1.0 - centres[r - 1], centres[r - 1]);
    for a in 0..r - 1 {
        let g = centres[a + 1] - centres[a];
        if g > best.0 {
            best = (g, centres[a]);
        }
    }
    Ok(Line {
        k2,
        centres,
        gap_position: (best.1 + best.0 / 2.0).rem_euclid(1.0),
        gap_size: best.0,
    })
}

/// The centre flow on $L_2/2 + 1$ lines $k_2 = 2\pi j/L_2$, $j = 0..L_2/2$, each a loop of $L_1$
/// points, with lines added half-way wherever a centre of one line comes closer than
/// `move_tolerance` times the largest gap to the gap of its neighbour (Z2Pack's `move_tol`), at
/// most `max_refinements` halvings deep and four times the initial number of lines in all;
/// [`Error::WccUnresolved`] beyond that.
pub(crate) fn wcc_flow<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    grid: [usize; 2],
    r: usize,
    tol: &Tolerances,
    move_tolerance: f64,
    max_refinements: u32,
) -> Result<(WccFlow, f64)> {
    let [l1, l2] = grid;
    let half = l2 / 2;
    let k2s: Vec<f64> = (0..=half)
        .map(|j| 2.0 * PI * j as f64 / l2 as f64)
        .collect();
    let (mut all, mut min_gap) = lines(h, &k2s, l1, r, tol)?;
    let finest = 2.0 * PI / l2 as f64 / 2f64.powi(max_refinements as i32);
    loop {
        let mut fresh = Vec::new();
        let mut first_failure = None;
        for pair in all.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let close = |from: &Line, to: &Line| {
                to.centres
                    .iter()
                    .map(|&x| distance(from.gap_position, x))
                    .fold(f64::INFINITY, f64::min)
            };
            let (dab, dba) = (close(a, b), close(b, a));
            let ok = dab >= move_tolerance * a.gap_size && dba >= move_tolerance * b.gap_size;
            if !ok {
                if b.k2 - a.k2 <= finest * (1.0 + 1e-9) {
                    let (distance, gap) = if dab < move_tolerance * a.gap_size {
                        (dab, a.gap_size)
                    } else {
                        (dba, b.gap_size)
                    };
                    return Err(Error::WccUnresolved {
                        k_from: a.k2,
                        k_to: b.k2,
                        distance,
                        gap,
                        lines: all.len(),
                    });
                }
                if first_failure.is_none() {
                    first_failure = Some(if dab < move_tolerance * a.gap_size {
                        (a.k2, b.k2, dab, a.gap_size)
                    } else {
                        (a.k2, b.k2, dba, b.gap_size)
                    });
                }
                fresh.push(0.5 * (a.k2 + b.k2));
            }
        }
        if fresh.is_empty() {
            break;
        }
        // At most four times the initial lines in all: bounded memory and time where the
        // centres jump everywhere (a nearly closed gap).
        if all.len() + fresh.len() > 4 * (half + 1) {
            let (k_from, k_to, distance, gap) = first_failure.unwrap_or_default();
            return Err(Error::WccUnresolved {
                k_from,
                k_to,
                distance,
                gap,
                lines: all.len(),
            });
        }
        let (more, gap) = lines(h, &fresh, l1, r, tol)?;
        min_gap = min_gap.min(gap);
        all.extend(more);
        all.sort_by(|a, b| a.k2.total_cmp(&b.k2));
    }
    let flow = WccFlow {
        k_perp: all.iter().map(|l| l.k2).collect(),
        gap_position: all.iter().map(|l| l.gap_position).collect(),
        gap_size: all.iter().map(|l| l.gap_size).collect(),
        centres: all.into_iter().map(|l| l.centres).collect(),
    };
    Ok((flow, min_gap))
}
