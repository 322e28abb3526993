//! $\mathbb Z_2$ from the flow of Wannier charge centres over half the Brillouin zone, followed
//! by the largest gap between them (Soluyanov and Vanderbilt; the way Z2Pack counts).
use super::points;
use crate::chern_number::MAX_RESOLVED_FLUX;
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
    /// Points on each line's loop after the convergence check ($L_1$ unless doubled).
    pub points: Vec<usize>,
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

/// The largest movement of one Wannier charge centre between neighbouring lines that counts as
/// resolved: the phase bound of the determinant route, [`MAX_RESOLVED_FLUX`] $= 3\pi/4$, as a
/// fraction of the cell ($3/8$).
const MAX_CENTRE_JUMP: f64 = MAX_RESOLVED_FLUX / (2.0 * PI);

/// One line's centres and largest gap.
struct Line {
    k2: f64,
    centres: Vec<f64>,
    gap_position: f64,
    gap_size: f64,
    points: usize,
}

/// The convergence check of the points per loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopCheck {
    /// Largest admissible movement of a centre when the points are doubled.
    pub position_tolerance: f64,
    /// How many times a loop's points may be doubled.
    pub max_doublings: u32,
}

/// The largest gap between neighbouring centres (`sorted`, ascending, in $[0, 1)$), the
/// wrap-around one included: its middle (in $[0, 1)$) and its size.
fn largest_gap(sorted: &[f64]) -> (f64, f64) {
    let r = sorted.len();
    let mut best = (sorted[0] + 1.0 - sorted[r - 1], sorted[r - 1]);
    for a in 0..r - 1 {
        let g = sorted[a + 1] - sorted[a];
        if g > best.0 {
            best = (g, sorted[a]);
        }
    }
    ((best.1 + best.0 / 2.0).rem_euclid(1.0), best.0)
}

/// The largest movement between two sets of centres, matched in order after cutting the circle
/// at the largest gap of both sets together (Z2Pack's `_get_max_move`).
fn max_move(a: &[f64], b: &[f64]) -> f64 {
    let mut all: Vec<f64> = a.iter().chain(b).copied().collect();
    all.sort_by(f64::total_cmp);
    let (cut, _) = largest_gap(&all);
    let unrolled = |v: &[f64]| {
        let mut u: Vec<f64> = v.iter().map(|x| (x + 1.0 - cut).rem_euclid(1.0)).collect();
        u.sort_by(f64::total_cmp);
        u
    };
    unrolled(a)
        .iter()
        .zip(&unrolled(b))
        .fold(0.0f64, |m, (x, y)| m.max(distance(*x, *y)))
}

/// Periodic distance on the unit circle.
fn distance(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(1.0);
    d.min(1.0 - d)
}

/// A line's smallest gap on the grid, and the line with the smallest gap on the points its
/// convergence check added (or the line's error).
type SolvedLine = (points::MinGap, Result<(Line, f64)>);

/// Wilson loops along $k_1$ ($L_1$ points, more where [`converged_line`] doubles them) at each
/// $k_2$ of `k2s`.
fn lines<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    k2s: &[f64],
    l1: usize,
    r: usize,
    tol: &Tolerances,
    check: LoopCheck,
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
    let solved: Vec<Result<SolvedLine>> = (0..k2s.len())
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
                let line = converged_line(h, ws, frames, j, k2s[j], (l1, n, r), pts, tol, check);
                Ok((gap, line))
            },
        )
        .collect();
    let solved = solved.into_iter().collect::<Result<Vec<_>>>()?;
    // The gap first, then the lines' own errors, as on a stored table.
    let mut gap = points::MinGap::default();
    for (g, _) in &solved {
        gap.merge(*g);
    }
    let mut min_gap = gap.check(pts, &index, r, tol.gap())?;
    let mut out = Vec::with_capacity(solved.len());
    for (_, line) in solved {
        let (line, gap) = line?;
        min_gap = min_gap.min(gap);
        out.push(line);
    }
    Ok((out, min_gap))
}

/// Line `j`'s Wilson loop from its eigenvectors `frames` on $L_1$ points, checked against the
/// loop on every other point; where a centre moves by `check.position_tolerance` or more, the
/// loop is solved again on twice as many points and compared with the last one, at most
/// `check.max_doublings` times. Returns the line and the smallest gap on the added points
/// ($+\infty$ if none).
#[allow(clippy::too_many_arguments)]
fn converged_line<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    ws: &mut crate::bands::ChunkWorkspace,
    frames: &[C64],
    j: usize,
    k2: f64,
    (l1, n, r): (usize, usize, usize),
    pts: &points::Points,
    tol: &Tolerances,
    check: LoopCheck,
) -> Result<(Line, f64)> {
    let fine = wilson_line(frames, j, k2, (l1, n, r), 1, pts, tol)?;
    let coarse = wilson_line(frames, j, k2, (l1, n, r), 2, pts, tol)?;
    let mut moved = max_move(&coarse.centres, &fine.centres);
    if moved < check.position_tolerance {
        return Ok((fine, f64::INFINITY));
    }
    let mut last = fine;
    let mut min_gap = f64::INFINITY;
    let mut m = l1;
    for _ in 0..check.max_doublings {
        m *= 2;
        let mut loop_pts = points::Points::with_capacity(2, m);
        for i in 0..m {
            loop_pts.push(&[2.0 * PI * i as f64 / m as f64, k2]);
        }
        let solver = points::RowSolver::new(h, &loop_pts, 1, m, r);
        let mut energies = vec![0.0; m * n];
        let mut frames = vec![C64::new(0.0, 0.0); m * r * n];
        solver.solve_row(ws, 0, &mut energies, &mut frames)?;
        let mut gap = points::MinGap::default();
        gap.observe(&energies, n, r, 0);
        // Points of a refined loop have no index on the grid: the error names the point of
        // the loop and the line.
        min_gap = min_gap.min(gap.check(&loop_pts, &|s| vec![s, j], r, tol.gap())?);
        let line = wilson_line(&frames, 0, k2, (m, n, r), 1, &loop_pts, tol)?;
        moved = max_move(&last.centres, &line.centres);
        last = line;
        if moved < check.position_tolerance {
            return Ok((last, min_gap));
        }
    }
    Err(Error::WccNotConverged {
        k_perp: k2,
        points: m,
        max_move: moved,
        tolerance: check.position_tolerance,
    })
}

/// The Wilson loop along $k_1$ of line `j` of the table from its eigenvectors `frames` ($L_1$
/// points) taking every `step`-th point, and the centres and largest gap of its spectrum.
fn wilson_line(
    frames: &[C64],
    j: usize,
    k2: f64,
    (l1, n, r): (usize, usize, usize),
    step: usize,
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
    for i in (0..l1).step_by(step) {
        let s = j * l1 + i;
        overlap_into(frame(i), frame((i + step) % l1), &mut m, n, r);
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
    let (gap_position, gap_size) = largest_gap(&centres);
    Ok(Line {
        k2,
        centres,
        gap_position,
        gap_size,
        points: l1 / step,
    })
}

/// Why the centres cannot be followed from line `a` to its neighbour `b` (`None` if they can):
/// a centre of one line closer to the other line's largest gap than `move_tolerance` times that
/// gap ([`Error::WccUnresolved`]; checked first), or a centre that moves by more than
/// [`MAX_CENTRE_JUMP`] ([`Error::WilsonLoopUnresolved`]). `lines` is the number of lines so far.
fn unfollowed(a: &Line, b: &Line, move_tolerance: f64, lines: usize) -> Option<Error> {
    let close = |from: &Line, to: &Line| {
        to.centres
            .iter()
            .map(|&x| distance(from.gap_position, x))
            .fold(f64::INFINITY, f64::min)
    };
    let (dab, dba) = (close(a, b), close(b, a));
    if dab < move_tolerance * a.gap_size || dba < move_tolerance * b.gap_size {
        let (distance, gap) = if dab < move_tolerance * a.gap_size {
            (dab, a.gap_size)
        } else {
            (dba, b.gap_size)
        };
        return Some(Error::WccUnresolved {
            k_from: a.k2,
            k_to: b.k2,
            distance,
            gap,
            lines,
        });
    }
    // Each centre followed from one line to the next (matched across the largest gap, as
    // Z2Pack does) must move by less than the determinant route's flux bound allows a phase to.
    let jump = max_move(&a.centres, &b.centres);
    (jump > MAX_CENTRE_JUMP).then_some(Error::WilsonLoopUnresolved {
        what: "a Wannier charge centre",
        k_from: a.k2,
        k_to: b.k2,
        phase: 2.0 * PI * jump,
        limit: MAX_RESOLVED_FLUX,
    })
}

/// The centre flow on $L_2/2 + 1$ lines $k_2 = 2\pi j/L_2$, $j = 0..L_2/2$, each a loop of $L_1$
/// points, with lines added half-way wherever a centre of one line comes closer than
/// `move_tolerance` times the largest gap to the gap of its neighbour (the check Z2Pack calls
/// `gap_tol`), or wherever a centre moves by more than $3/8$ of the cell from one line to the
/// next (the plaquette-flux bound [`MAX_RESOLVED_FLUX`] as a phase; Z2Pack's `move_tol` check
/// bounds the same movement relative to the gap), at most `max_refinements` halvings deep and
/// four times the initial number of lines in all; beyond that [`Error::WccUnresolved`] (a
/// centre too close to the gap) or [`Error::WilsonLoopUnresolved`] (a centre jumps).
pub(crate) fn wcc_flow<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    grid: [usize; 2],
    r: usize,
    tol: &Tolerances,
    move_tolerance: f64,
    max_refinements: u32,
    check: LoopCheck,
) -> Result<(WccFlow, f64)> {
    let [l1, l2] = grid;
    let half = l2 / 2;
    let k2s: Vec<f64> = (0..=half)
        .map(|j| 2.0 * PI * j as f64 / l2 as f64)
        .collect();
    let (mut all, mut min_gap) = lines(h, &k2s, l1, r, tol, check)?;
    let finest = 2.0 * PI / l2 as f64 / 2f64.powi(max_refinements as i32);
    loop {
        let mut fresh = Vec::new();
        let mut first_failure = None;
        for pair in all.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let Some(failure) = unfollowed(a, b, move_tolerance, all.len()) else {
                continue;
            };
            if b.k2 - a.k2 <= finest * (1.0 + 1e-9) {
                return Err(failure);
            }
            first_failure.get_or_insert(failure);
            fresh.push(0.5 * (a.k2 + b.k2));
        }
        if fresh.is_empty() {
            break;
        }
        // At most four times the initial lines in all: bounded memory and time where the
        // centres jump everywhere (a nearly closed gap).
        if all.len() + fresh.len() > 4 * (half + 1)
            && let Some(failure) = first_failure
        {
            return Err(failure);
        }
        let (more, gap) = lines(h, &fresh, l1, r, tol, check)?;
        min_gap = min_gap.min(gap);
        all.extend(more);
        all.sort_by(|a, b| a.k2.total_cmp(&b.k2));
    }
    let flow = WccFlow {
        k_perp: all.iter().map(|l| l.k2).collect(),
        gap_position: all.iter().map(|l| l.gap_position).collect(),
        gap_size: all.iter().map(|l| l.gap_size).collect(),
        points: all.iter().map(|l| l.points).collect(),
        centres: all.into_iter().map(|l| l.centres).collect(),
    };
    Ok((flow, min_gap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_move_by_their_periodic_distance_matched_across_the_largest_gap() {
        // The same centres: no movement, whatever their order.
        assert_eq!(max_move(&[0.1, 0.6], &[0.6, 0.1]), 0.0);
        // Across 0 = 1: 0.98 -> 0.01 moves by 0.03, not 0.97.
        let m = max_move(&[0.98, 0.5], &[0.01, 0.52]);
        assert!((m - 0.03).abs() < 1e-12, "{m}");
        // Matched in order from the common largest gap (0.6 .. 0.1 here): 0.15 -> 0.2 and
        // 0.55 -> 0.45.
        let m = max_move(&[0.15, 0.55], &[0.2, 0.45]);
        assert!((m - 0.1).abs() < 1e-12, "{m}");
    }

    fn line(k2: f64, centres: &[f64]) -> Line {
        let (gap_position, gap_size) = largest_gap(centres);
        Line {
            k2,
            centres: centres.to_vec(),
            gap_position,
            gap_size,
            points: 8,
        }
    }

    /// Neighbouring lines are followed only if every centre stays clear of the other line's
    /// largest gap and moves by at most 3/8 of the cell (the plaquette-flux bound as a phase).
    #[test]
    fn a_centre_that_jumps_between_lines_is_not_followed() {
        // The largest gap (0.5, 1) stays put and no centre comes near it, but the second centre
        // jumps from 0.05 to 0.45: the gap check alone would pass this pair.
        let (a, b) = (
            line(0.0, &[0.0, 0.05, 0.45, 0.5]),
            line(0.1, &[0.0, 0.45, 0.46, 0.5]),
        );
        match unfollowed(&a, &b, 0.3, 2) {
            Some(Error::WilsonLoopUnresolved {
                phase,
                limit,
                k_from,
                k_to,
                ..
            }) => {
                assert!((phase - 2.0 * PI * 0.4).abs() < 1e-12, "{phase}");
                assert_eq!(limit, MAX_RESOLVED_FLUX);
                assert_eq!((k_from, k_to), (0.0, 0.1));
            }
            other => panic!("{other:?}"),
        }
        // Just below the bound: followed.
        let c = line(0.1, &[0.0, 0.05 + 0.37, 0.46, 0.5]);
        assert!(unfollowed(&a, &c, 0.3, 2).is_none());
        // A centre next to the neighbour's gap is the gap check's error, reported first.
        let d = line(0.1, &[0.0, 0.05, 0.45, 0.7]);
        assert!(matches!(
            unfollowed(&a, &d, 0.3, 2),
            Some(Error::WccUnresolved { .. })
        ));
    }

    #[test]
    fn the_largest_gap_includes_the_wrap_around() {
        let (position, size) = largest_gap(&[0.3, 0.4, 0.5]);
        assert!((size - 0.8).abs() < 1e-12 && (position - 0.9).abs() < 1e-12);
        let (position, size) = largest_gap(&[0.1, 0.2, 0.9]);
        assert!((size - 0.7).abs() < 1e-12 && (position - 0.55).abs() < 1e-12);
    }
}
