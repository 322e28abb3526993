//! Occupied eigenvectors at an arbitrary table of k-points (half Brillouin zones, Wilson-loop
//! lines, time-reversal-invariant momenta), solved in parallel by the band-structure solver.
use crate::bands::{BandSet, BandStructure, ChunkWorkspace, GridSolver};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use num_complex::Complex64 as C64;
use std::f64::consts::PI;

/// A list of k-points of one dimension, stored flat.
pub(crate) struct Points {
    dim: usize,
    data: Vec<f64>,
}

impl Points {
    /// An empty list of `dim`-component points with room for `capacity` of them.
    pub fn with_capacity(dim: usize, capacity: usize) -> Self {
        Self {
            dim,
            data: Vec::with_capacity(dim * capacity),
        }
    }
    /// Appends a point.
    pub fn push(&mut self, k: &[f64]) {
        self.data.extend_from_slice(&k[..self.dim]);
    }
    /// Point `s`.
    pub fn get(&self, s: usize) -> &[f64] {
        &self.data[s * self.dim..(s + 1) * self.dim]
    }
    /// Point `s` as an owned vector (for errors).
    pub fn k(&self, s: usize) -> Vec<f64> {
        self.get(s).to_vec()
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }
}

/// A `rows x cols` table of k-points presented to [`BandStructure`] as a 2D model: the solver's
/// grid point $(2\pi a/\text{rows}, 2\pi b/\text{cols})$ stands for `points[a * cols + b]`.
struct Table<'a, H: ?Sized> {
    inner: &'a H,
    points: &'a Points,
    rows: usize,
    cols: usize,
}

impl<H: ?Sized> Table<'_, H> {
    fn index(&self, k: &[f64]) -> usize {
        let at = |x: f64, l: usize| ((x * l as f64 / (2.0 * PI)).round() as usize).min(l - 1);
        at(k[0], self.rows) * self.cols + at(k[1], self.cols)
    }
}

impl<H: BlochHamiltonian + ?Sized> BlochHamiltonian for Table<'_, H> {
    fn dim(&self) -> usize {
        2
    }
    fn n_bands(&self) -> usize {
        self.inner.n_bands()
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        self.inner
            .write_hamiltonian(self.points.get(self.index(k)), h)
    }
}

/// Energies and the eigenvectors of the `r` lowest bands at a table of k-points.
pub(crate) struct PointBands {
    /// Number of bands $N$.
    pub n: usize,
    /// Number of occupied bands $r$.
    pub r: usize,
    /// All energies, $N$ per point.
    pub energies: Vec<f64>,
    /// $r$ rows of length $N$ per point.
    pub frames: Vec<C64>,
}

impl PointBands {
    /// The $r$ occupied eigenvectors at point `s`.
    pub fn frame(&self, s: usize) -> &[C64] {
        &self.frames[s * self.r * self.n..(s + 1) * self.r * self.n]
    }
    /// Smallest direct gap $E_r - E_{r-1}$ and the point where it occurs.
    pub fn min_gap(&self) -> (f64, usize) {
        let (n, r) = (self.n, self.r);
        let mut best = (f64::INFINITY, 0);
        if r >= n {
            return best;
        }
        for s in 0..self.energies.len() / n {
            let g = self.energies[s * n + r] - self.energies[s * n + r - 1];
            if g < best.0 || g.is_nan() {
                best = (g, s);
                if g.is_nan() {
                    break;
                }
            }
        }
        best
    }
}

/// The rows of a `rows x cols` table of k-points solved one row at a time, each bit for bit as
/// [`solve`] solves it within the whole table: computations that need a row or two at a time
/// stream the table instead of holding it.
pub(crate) struct RowSolver<'a, H: ?Sized> {
    grid: GridSolver<Table<'a, H>>,
    points: &'a Points,
}

impl<'a, H: BlochHamiltonian + ?Sized> RowSolver<'a, H> {
    /// A solver of the rows of `points` (a `rows x cols` table, row-major) keeping the `r`
    /// lowest eigenvectors.
    pub fn new(h: &'a H, points: &'a Points, rows: usize, cols: usize, r: usize) -> Self {
        debug_assert_eq!(points.len(), rows * cols);
        let table = Table {
            inner: h,
            points,
            rows,
            cols,
        };
        Self {
            grid: GridSolver::new(table, &[rows, cols], &BandSet::lowest(r)),
            points,
        }
    }
    /// Fresh scratch for one thread.
    pub fn workspace(&self) -> ChunkWorkspace {
        self.grid.workspace()
    }
    /// All energies ($N$ per point) and the $r$ lowest eigenvectors ($r$ rows of $N$ per point)
    /// of row `row`; errors name the real k-point.
    pub fn solve_row(
        &self,
        ws: &mut ChunkWorkspace,
        row: usize,
        energies: &mut [f64],
        frames: &mut [C64],
    ) -> Result<()> {
        self.grid
            .solve_chunk(ws, row, energies, frames)
            .map_err(|e| real_k(e, self.grid.model(), self.points))
    }
}

/// An error of the table's solver with the table's k replaced by the real one.
fn real_k<H: ?Sized>(mut e: Error, table: &Table<'_, H>, points: &Points) -> Error {
    if let Error::NonHermitian { k, .. }
    | Error::NonFinite { k, .. }
    | Error::Eigensolver { k, .. } = &mut e
    {
        *k = points.k(table.index(k));
    }
    e
}

/// The smallest direct gap $E_r - E_{r-1}$ (or the first NaN) and the point where it occurs,
/// gathered row by row as [`PointBands::min_gap`] finds it on a whole table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MinGap {
    /// The gap and its point.
    pub best: (f64, usize),
}

impl Default for MinGap {
    fn default() -> Self {
        Self {
            best: (f64::INFINITY, 0),
        }
    }
}

impl MinGap {
    /// Takes in the energies ($N$ per point) of the points `first, first + 1, ...`.
    pub fn observe(&mut self, energies: &[f64], n: usize, r: usize, first: usize) {
        if r >= n {
            return;
        }
        for (j, e) in energies.chunks_exact(n).enumerate() {
            self.take(e[r] - e[r - 1], first + j);
        }
    }
    /// Takes in the result of later points.
    pub fn merge(&mut self, later: MinGap) {
        self.take(later.best.0, later.best.1);
    }
    fn take(&mut self, g: f64, s: usize) {
        if !self.best.0.is_nan() && (g < self.best.0 || g.is_nan()) {
            self.best = (g, s);
        }
    }
    /// [`Error::GapClosed`] if the gap is NaN or below `tolerance`.
    pub fn check(
        &self,
        points: &Points,
        index: GridIndex<'_>,
        r: usize,
        tolerance: f64,
    ) -> Result<f64> {
        let (g, s) = self.best;
        if g.is_nan() || g < tolerance {
            return Err(Error::GapClosed {
                k: points.k(s),
                index: index(s),
                lower_band: r - 1,
                upper_band: r,
                gap: g,
                tolerance,
            });
        }
        Ok(g)
    }
}

/// Grid index of a point of a table, for error messages.
pub(crate) type GridIndex<'a> = &'a dyn Fn(usize) -> Vec<usize>;

/// Diagonalises `h` at `points` (a `rows x cols` table, row-major) keeping the `r` lowest
/// eigenvectors; errors name the real k-point. With `gap` given, also errors with
/// [`Error::GapClosed`] (the k-point and `index(s)`) where $E_r - E_{r-1}$ falls below it.
pub(crate) fn solve<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    points: &Points,
    rows: usize,
    cols: usize,
    r: usize,
    gap: Option<(f64, GridIndex<'_>)>,
) -> Result<PointBands> {
    debug_assert_eq!(points.len(), rows * cols);
    let table = Table {
        inner: h,
        points,
        rows,
        cols,
    };
    let bands = BandStructure::compute_for(&table, &[rows, cols], &BandSet::lowest(r))
        .map_err(|e| real_k(e, &table, points))?;
    let n = h.n_bands();
    let nk = rows * cols;
    let mut energies = Vec::with_capacity(nk * n);
    for s in 0..nk {
        energies.extend_from_slice(bands.energies(s));
    }
    let out = PointBands {
        n,
        r,
        energies,
        frames: bands.eigenvector_data().to_vec(),
    };
    if let Some((tolerance, index)) = gap {
        let (g, s) = out.min_gap();
        if g.is_nan() || g < tolerance {
            return Err(Error::GapClosed {
                k: points.k(s),
                index: index(s),
                lower_band: r - 1,
                upper_band: r,
                gap: g,
                tolerance,
            });
        }
    }
    Ok(out)
}

/// Replaces the occupied `frame` ($r$ rows of length $N$) at a time-reversal-invariant momentum
/// by an orthonormal basis of Kramers pairs of the same subspace: rows $(u_1, \Theta u_1, u_3,
/// \Theta u_3, \ldots)$, built by Gram–Schmidt, taking each time the input vector with the
/// largest remainder. The subspace is $\Theta$-invariant when $H$ is time-reversal symmetric.
pub(crate) fn kramers_basis(
    frame: &mut [C64],
    n: usize,
    r: usize,
    theta: &crate::TimeReversal,
) -> Result<()> {
    let input: Vec<Vec<C64>> = frame.chunks_exact(n).map(<[C64]>::to_vec).collect();
    let mut basis: Vec<Vec<C64>> = Vec::with_capacity(r);
    let project_out = |v: &mut Vec<C64>, basis: &[Vec<C64>]| {
        for b in basis {
            let c: C64 = b.iter().zip(v.iter()).map(|(x, y)| x.conj() * y).sum();
            for (y, x) in v.iter_mut().zip(b) {
                *y -= c * x;
            }
        }
    };
    let norm = |v: &[C64]| v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
    while basis.len() < r {
        let mut best: Option<(f64, Vec<C64>)> = None;
        for v in &input {
            let mut w = v.clone();
            project_out(&mut w, &basis);
            project_out(&mut w, &basis);
            let m = norm(&w);
            if best.as_ref().is_none_or(|(b, _)| m > *b) {
                best = Some((m, w));
            }
        }
        let (m, mut a) = best.expect("r >= 1 input vectors");
        if m.is_nan() || m <= 1e-3 {
            return Err(Error::BadSymmetry {
                operator: "time reversal U_T",
                reason: format!(
                    "the occupied states at a time-reversal-invariant momentum do not form Kramers pairs (remainder {m:.3e})"
                ),
            });
        }
        a.iter_mut().for_each(|z| *z /= m);
        let mut b = vec![C64::new(0.0, 0.0); n];
        theta.apply(&a, &mut b);
        basis.push(a);
        project_out(&mut b, &basis);
        let mb = norm(&b);
        if mb.is_nan() || mb <= 0.5 {
            return Err(Error::BadSymmetry {
                operator: "time reversal U_T",
                reason: format!(
                    "the Kramers partner of an occupied state leaves the occupied subspace (norm {mb:.3e} after projection)"
                ),
            });
        }
        b.iter_mut().for_each(|z| *z /= mb);
        basis.push(b);
    }
    for (row, b) in frame.chunks_exact_mut(n).zip(&basis) {
        row.copy_from_slice(b);
    }
    Ok(())
}
