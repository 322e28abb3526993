//! Band structure on a periodic k-grid: one eigen-decomposition per k-point, in parallel.
use crate::error::{Error, Result};
use crate::hamiltonian::{BlochHamiltonian, KPoint};
use lattice_gauge::hermitian::{Eigensolver, eigen_2x2_pair_with};
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// A set of bands (0-based, ascending energy order at every k), validated against a model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BandSet(Vec<usize>);

impl BandSet {
    /// The `r` lowest bands $0..r$.
    pub fn lowest(r: usize) -> Self {
        Self((0..r).collect())
    }
    /// An explicit set (sorted here; checked against the model when used).
    pub fn new(mut bands: Vec<usize>) -> Self {
        bands.sort_unstable();
        Self(bands)
    }
    /// The bands, ascending.
    pub fn bands(&self) -> &[usize] {
        &self.0
    }
    /// Number of bands $r$.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the set is empty (never valid).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Errors if the set is empty, repeats a band, or names a band $\ge N$.
    pub fn check(&self, n_bands: usize) -> Result<()> {
        let bad = |reason| {
            Err(Error::BadBandSet {
                bands: self.0.clone(),
                n_bands,
                reason,
            })
        };
        if self.0.is_empty() {
            return bad("the set is empty");
        }
        if self.0.windows(2).any(|w| w[0] == w[1]) {
            return bad("a band is repeated");
        }
        if self.0.last().is_some_and(|&b| b >= n_bands) {
            return bad("a band index is out of range");
        }
        Ok(())
    }
    /// Pairs `(lower, upper)` of adjacent bands that the set separates from the rest: the gaps
    /// that must stay open for the set to be isolated.
    pub fn boundaries(&self, n_bands: usize) -> Vec<(usize, usize)> {
        let inside = |b: usize| self.0.binary_search(&b).is_ok();
        (0..n_bands.saturating_sub(1))
            .filter(|&b| inside(b) != inside(b + 1))
            .map(|b| (b, b + 1))
            .collect()
    }
}

/// Momentum (radians) of grid index `index` on a grid with `extents`: $k_j = 2\pi\,i_j/L_j$.
pub fn k_point(extents: &[usize], index: &[usize]) -> Vec<f64> {
    index
        .iter()
        .zip(extents)
        .map(|(&i, &l)| 2.0 * PI * i as f64 / l as f64)
        .collect()
}

/// Row-major multi-index of site `s` (last axis fastest).
pub(crate) fn unravel(extents: &[usize], mut s: usize) -> Vec<usize> {
    let mut idx = vec![0; extents.len()];
    for (c, &l) in idx.iter_mut().zip(extents).rev() {
        *c = s % l;
        s /= l;
    }
    idx
}

pub(crate) fn check_grid(extents: &[usize], dim: usize) -> Result<()> {
    if extents.len() != dim {
        return Err(Error::BadGrid {
            extents: extents.to_vec(),
            reason: "grid dimension differs from the model's k-space dimension",
        });
    }
    if extents.is_empty() || extents.contains(&0) {
        return Err(Error::BadGrid {
            extents: extents.to_vec(),
            reason: "every extent must be at least 1",
        });
    }
    if n_kpoints(extents).is_none() {
        return Err(Error::BadGrid {
            extents: extents.to_vec(),
            reason: "the number of k-points overflows",
        });
    }
    Ok(())
}

/// The number of k-points of a grid, `None` if it overflows.
pub(crate) fn n_kpoints(extents: &[usize]) -> Option<usize> {
    extents.iter().try_fold(1usize, |a, &l| a.checked_mul(l))
}

/// Asks the allocator for `bytes` and gives them back untouched: on Linux a request far beyond
/// memory and swap is refused here, as [`Error::OutOfMemory`] naming `what`, instead of
/// aborting the process later in a worker thread.
pub(crate) fn probe_allocation(bytes: u128, what: &str) -> Result<()> {
    let fail = || Error::OutOfMemory {
        what: what.to_string(),
        bytes,
    };
    let len = usize::try_from(bytes).map_err(|_| fail())?;
    Vec::<u8>::new().try_reserve_exact(len).map_err(|_| fail())
}

/// The smallest extent along which links between distinct k-points can resolve a Berry flux.
pub(crate) const MIN_RESOLVING_EXTENT: usize = 3;

/// Refuses grids on which an invariant computed from occupied eigenvectors cannot resolve the
/// answer: with 1 point along an axis every link there joins a k-point to itself ($U = 1$), with
/// 2 points the link back is the inverse of the link forth, and the plaquette fluxes cancel in
/// pairs. Either way the sum is 0 whatever the bands are.
pub(crate) fn check_resolves(extents: &[usize]) -> Result<()> {
    if extents.iter().any(|&l| l < MIN_RESOLVING_EXTENT) {
        return Err(Error::BadGrid {
            extents: extents.to_vec(),
            reason: "grid too coarse: every extent must be at least 3 (on 1 or 2 points per axis the Berry fluxes cancel and any invariant comes out 0), refine it",
        });
    }
    Ok(())
}

/// [`Error::GridTooCoarse`] if `extents` has fewer points along an axis than `h` says its bands
/// need ([`BlochHamiltonian::min_resolving_extents`]).
pub(crate) fn check_model_resolves<H: BlochHamiltonian + ?Sized>(
    h: &H,
    extents: &[usize],
) -> Result<()> {
    check_needed(extents, h.min_resolving_extents())
}

fn check_needed(extents: &[usize], needed: Option<Vec<usize>>) -> Result<()> {
    if let Some(needed) = needed
        && extents.iter().zip(&needed).any(|(l, n)| l < n)
    {
        return Err(Error::GridTooCoarse {
            extents: extents.to_vec(),
            needed,
        });
    }
    Ok(())
}

/// Energies of all bands and eigenvectors of a chosen set of bands at every point of a periodic
/// k-grid $k_j = 2\pi i_j / L_j$ (row-major sites, last axis fastest).
///
/// Each $H(k)$ is diagonalised exactly once. Eigenvectors of the stored bands lie contiguously:
/// for site $s$, `eigenvectors(s)` holds $r$ rows of length $N$, row $a$ the eigenvector of the
/// $a$-th stored band.
#[derive(Clone, Debug)]
pub struct BandStructure {
    extents: Vec<usize>,
    n_bands: usize,
    stored: BandSet,
    energies: Vec<f64>,
    vectors: Vec<C64>,
    /// The model's [`BlochHamiltonian::min_resolving_extents`], checked by the invariants.
    needed: Option<Vec<usize>>,
}

impl BandStructure {
    /// Diagonalises `h` on the grid, keeping the eigenvectors of every band.
    pub fn compute<H: BlochHamiltonian + Sync + ?Sized>(h: &H, extents: &[usize]) -> Result<Self> {
        Self::compute_for(h, extents, &BandSet::lowest(h.n_bands()))
    }

    /// The memory (bytes) that [`Self::compute_for`] needs for `n_bands` bands on `extents`,
    /// keeping `stored` eigenvectors, with `threads` worker threads: the energies and
    /// eigenvectors of the whole grid and each thread's eigen-solver and $H(k)$ buffers. `None`
    /// if the count overflows (which no machine could hold either).
    pub fn memory_estimate(
        n_bands: usize,
        extents: &[usize],
        stored: usize,
        threads: usize,
    ) -> Option<u128> {
        let (n, nk) = (n_bands as u128, n_kpoints(extents)? as u128);
        let grid = nk.checked_mul(
            n.checked_mul(8)?
                .checked_add(n.checked_mul(stored as u128)?.checked_mul(16)?)?,
        )?;
        let per_thread = Eigensolver::workspace_bytes(n_bands)?
            .checked_add(n.checked_mul(n)?.checked_mul(BATCH as u128 * 16)?)?;
        grid.checked_add(per_thread.checked_mul(threads.max(1) as u128)?)
    }

    /// Diagonalises `h` on the grid, keeping the eigenvectors of the bands in `keep` only.
    ///
    /// # Errors
    /// [`Error::BadGrid`], [`Error::BadBandSet`], [`Error::NonHermitian`], [`Error::NonFinite`],
    /// [`Error::Eigensolver`], and [`Error::OutOfMemory`] where the allocator refuses the
    /// memory ([`Self::memory_estimate`]).
    pub fn compute_for<H: BlochHamiltonian + Sync + ?Sized>(
        h: &H,
        extents: &[usize],
        keep: &BandSet,
    ) -> Result<Self> {
        check_grid(extents, h.dim())?;
        let n = h.n_bands();
        keep.check(n)?;
        let r = keep.len();
        let nk = n_kpoints(extents).expect("checked by check_grid");
        let row: usize = extents[1..].iter().product();
        let threads = rayon::current_num_threads();
        let estimate = Self::memory_estimate(n, extents, r, threads).unwrap_or(u128::MAX);
        probe_allocation(estimate, "the band structure")?;
        // The probe above asked the allocator for all of it; `vec!` then takes zeroed pages
        // (calloc) without writing them, as before the probe existed. The products cannot
        // overflow: the estimate that bounds them was representable.
        let mut energies = vec![0.0; nk * n];
        let mut vectors = vec![C64::new(0.0, 0.0); nk * r * n];
        let solver = GridSolver::new(h, extents, keep);
        energies
            .par_chunks_mut(row * n)
            .zip(vectors.par_chunks_mut(row * r * n))
            .enumerate()
            .try_for_each_init(
                || solver.workspace(),
                |ws, (i0, (e_row, v_row))| solver.solve_chunk(ws, i0, e_row, v_row),
            )?;
        Ok(Self {
            extents: extents.to_vec(),
            n_bands: n,
            stored: keep.clone(),
            energies,
            vectors,
            needed: h.min_resolving_extents(),
        })
    }

    /// [`Error::GridTooCoarse`] if the grid has fewer points along an axis than the model said
    /// its bands need ([`BlochHamiltonian::min_resolving_extents`]).
    pub(crate) fn check_model_resolves(&self) -> Result<()> {
        check_needed(&self.extents, self.needed.clone())
    }

    /// Grid extents $L_j$.
    pub fn extents(&self) -> &[usize] {
        &self.extents
    }
    /// Number of bands $N$.
    pub fn n_bands(&self) -> usize {
        self.n_bands
    }
    /// Number of k-points.
    pub fn n_kpoints(&self) -> usize {
        self.energies.len() / self.n_bands
    }
    /// The bands whose eigenvectors are stored.
    pub fn stored_bands(&self) -> &BandSet {
        &self.stored
    }
    /// Momentum of site `s`.
    pub fn k_point(&self, s: usize) -> Vec<f64> {
        k_point(&self.extents, &unravel(&self.extents, s))
    }
    /// All $N$ energies at site `s`, ascending.
    pub fn energies(&self, s: usize) -> &[f64] {
        &self.energies[s * self.n_bands..(s + 1) * self.n_bands]
    }
    /// Stored eigenvectors at site `s`: $r$ rows of length $N$.
    pub fn eigenvectors(&self, s: usize) -> &[C64] {
        let w = self.stored.len() * self.n_bands;
        &self.vectors[s * w..(s + 1) * w]
    }
    /// All stored eigenvectors, site after site.
    pub fn eigenvector_data(&self) -> &[C64] {
        &self.vectors
    }

    /// Changes the gauge of the stored eigenvectors, $V(k) \to V(k)\,g(k)$, with `g(s)` the
    /// row-major $r\times r$ matrix for site `s`. Mixing bands of different energy is only
    /// meaningful within a degenerate or jointly occupied set; every Chern number of the full
    /// stored set is unchanged for unitary $g$. Errors if `g` returns a matrix of the wrong size.
    pub fn apply_gauge(&mut self, mut g: impl FnMut(usize) -> Vec<C64>) -> Result<()> {
        let (n, r) = (self.n_bands, self.stored.len());
        let mut tmp = vec![C64::new(0.0, 0.0); r * n];
        for s in 0..self.n_kpoints() {
            let gs = g(s);
            if gs.len() != r * r {
                return Err(Error::ShapeMismatch {
                    what: format!("gauge matrix g(k) at grid point {s}"),
                    expected: format!("{} entries (r x r)", r * r),
                    found: gs.len().to_string(),
                });
            }
            let v = &mut self.vectors[s * r * n..(s + 1) * r * n];
            // Column b of V g is sum_a V_{:,a} g_{ab}: row b of ours is sum_a g_{ab} row a.
            for b in 0..r {
                for i in 0..n {
                    tmp[b * n + i] = (0..r).map(|a| gs[a * r + b] * v[a * n + i]).sum();
                }
            }
            v.copy_from_slice(&tmp);
        }
        Ok(())
    }

    /// Smallest gap $E_{b+1}(k) - E_b(k)$ over the grid and the site where it occurs.
    pub fn min_gap_above(&self, b: usize) -> (f64, usize) {
        let n = self.n_bands;
        let mut best = (f64::INFINITY, 0);
        if b + 1 >= n {
            return best;
        }
        for s in 0..self.n_kpoints() {
            let g = self.energies[s * n + b + 1] - self.energies[s * n + b];
            if g < best.0 {
                best = (g, s);
            }
        }
        best
    }

    /// Smallest gap that isolates `set` from the other bands ($+\infty$ if it holds every band);
    /// an error naming the k-point and the gap if it is below `tolerance`.
    ///
    /// # Errors
    /// [`Error::GapClosed`]; [`Error::BadBandSet`]; [`Error::InvalidParameter`] if `tolerance`
    /// is not a finite positive number.
    pub fn check_isolated(&self, set: &BandSet, tolerance: f64) -> Result<f64> {
        crate::links::check_gap_tolerance(tolerance)?;
        set.check(self.n_bands)?;
        let mut min_gap = f64::INFINITY;
        for (lower, upper) in set.boundaries(self.n_bands) {
            let (gap, s) = self.min_gap_above(lower);
            if gap.is_nan() || gap < tolerance {
                let index = unravel(&self.extents, s);
                return Err(Error::GapClosed {
                    k: k_point(&self.extents, &index),
                    index,
                    lower_band: lower,
                    upper_band: upper,
                    gap,
                    tolerance,
                });
            }
            min_gap = min_gap.min(gap);
        }
        Ok(min_gap)
    }

    /// Contiguous eigenvectors of `set` ($r$ rows per site): borrowed when `set` is what is
    /// stored, gathered otherwise; errors if a band of `set` is not stored.
    pub(crate) fn frame(&self, set: &BandSet) -> Result<std::borrow::Cow<'_, [C64]>> {
        set.check(self.n_bands)?;
        if *set == self.stored {
            return Ok(std::borrow::Cow::Borrowed(&self.vectors));
        }
        let pos: Vec<usize> =
            set.bands()
                .iter()
                .map(|b| {
                    self.stored.bands().binary_search(b).map_err(|_| Error::BadBandSet {
                    bands: set.bands().to_vec(),
                    n_bands: self.n_bands,
                    reason: "the band structure does not store the eigenvectors of these bands",
                })
                })
                .collect::<Result<_>>()?;
        let (n, r_st, r) = (self.n_bands, self.stored.len(), set.len());
        let mut out = vec![C64::new(0.0, 0.0); self.n_kpoints() * r * n];
        out.par_chunks_mut(r * n).enumerate().for_each(|(s, o)| {
            let src = &self.vectors[s * r_st * n..(s + 1) * r_st * n];
            for (a, &p) in pos.iter().enumerate() {
                o[a * n..(a + 1) * n].copy_from_slice(&src[p * n..(p + 1) * n]);
            }
        });
        Ok(std::borrow::Cow::Owned(out))
    }
}

/// The per-chunk solver behind [`BandStructure::compute_for`]: a chunk is the set of k-points
/// that share the first grid index (a row of a 2D grid). Solving a chunk on its own gives bit for
/// bit the energies and eigenvectors that [`BandStructure`] stores for it, so that computations
/// can stream the grid chunk by chunk instead of holding it whole.
pub(crate) struct GridSolver<H> {
    h: H,
    extents: Vec<usize>,
    kept: Vec<usize>,
    n: usize,
    /// $k$, $\sin k$, $\cos k$ per axis and grid index.
    tables: [Vec<Vec<f64>>; 3],
}

/// One thread's scratch for [`GridSolver::solve_chunk`].
pub(crate) struct ChunkWorkspace {
    solver: Eigensolver,
    hbuf: [Vec<C64>; BATCH],
    kk: [Vec<f64>; 3],
    idx: Vec<usize>,
}

impl<H: BlochHamiltonian> GridSolver<H> {
    /// A solver for `h` on `extents` (checked by the caller) keeping the bands `keep` (checked).
    pub(crate) fn new(h: H, extents: &[usize], keep: &BandSet) -> Self {
        let axes: Vec<Vec<f64>> = extents
            .iter()
            .map(|&l| (0..l).map(|i| 2.0 * PI * i as f64 / l as f64).collect())
            .collect();
        let tables = [
            axes.clone(),
            axes.iter()
                .map(|a| a.iter().map(|k| k.sin()).collect())
                .collect(),
            axes.iter()
                .map(|a| a.iter().map(|k| k.cos()).collect())
                .collect(),
        ];
        let n = h.n_bands();
        Self {
            h,
            extents: extents.to_vec(),
            kept: keep.bands().to_vec(),
            n,
            tables,
        }
    }

    /// The model.
    pub(crate) fn model(&self) -> &H {
        &self.h
    }

    /// Number of k-points of a chunk.
    pub(crate) fn chunk_len(&self) -> usize {
        self.extents[1..].iter().product()
    }

    /// Fresh scratch for one thread.
    pub(crate) fn workspace(&self) -> ChunkWorkspace {
        let (n, d) = (self.n, self.extents.len());
        ChunkWorkspace {
            solver: Eigensolver::new(n),
            hbuf: std::array::from_fn(|_| vec![C64::new(0.0, 0.0); n * n]),
            kk: [vec![0.0; d], vec![0.0; d], vec![0.0; d]],
            idx: vec![0; d],
        }
    }

    /// Diagonalises the k-points of chunk `i0` (first grid index `i0`): all energies into
    /// `e_row` ($N$ per point) and the kept eigenvectors into `v_row` ($r$ rows of $N$ per
    /// point).
    pub(crate) fn solve_chunk(
        &self,
        ws: &mut ChunkWorkspace,
        i0: usize,
        e_row: &mut [f64],
        v_row: &mut [C64],
    ) -> Result<()> {
        let (h, extents, kept, n, tables) = (
            &self.h,
            &self.extents[..],
            &self.kept[..],
            self.n,
            &self.tables,
        );
        let r = kept.len();
        let row = self.chunk_len();
        let ChunkWorkspace {
            solver,
            hbuf,
            kk,
            idx,
        } = ws;
        let d = extents.len();
        let last = d - 1;
        // Momenta from per-axis tables: axis 0 is this chunk's, an odometer runs
        // over the middle axes, and the last axis is the inner loop.
        idx.fill(0);
        for a in 0..d {
            set_axis(kk, tables, a, 0);
        }
        set_axis(kk, tables, 0, i0);
        let inner = if d == 1 { 1 } else { extents[last] };
        let [tk, ts, tc] = [&tables[0][last], &tables[1][last], &tables[2][last]];
        // The k-point of point j of this chunk, for error messages.
        let k_of = |j: usize| k_point(extents, &unravel(extents, i0 * row + j));
        let eigen_error = |j: usize, source: lattice_gauge::Error| Error::Eigensolver {
            k: k_of(j),
            source: Box::new(source),
        };
        // For N >= 2 the k-points go in batches of four, whose square roots
        // (N = 2, two pairs) or QL sweeps (N >= 3) the solvers interleave; the first
        // `pending` points of a batch wait with their H in `hbuf`. The checks of H
        // run once the batch is written: read right after the model's stores, H
        // would stall on store forwarding.
        let check = |hb: &[C64], j: usize| check_hermitian(hb, n, || k_of(j));
        let mut pending = 0;
        for outer in 0..row / inner {
            if outer > 0 {
                let mut a = last - 1;
                loop {
                    idx[a] += 1;
                    if idx[a] < extents[a] {
                        set_axis(kk, tables, a, idx[a]);
                        break;
                    }
                    idx[a] = 0;
                    set_axis(kk, tables, a, 0);
                    a -= 1;
                }
            }
            for jl in 0..inner {
                let j = outer * inner + jl;
                if d > 1 {
                    kk[0][last] = tk[jl];
                    kk[1][last] = ts[jl];
                    kk[2][last] = tc[jl];
                }
                let [k, sin, cos] = &*kk;
                h.write_hamiltonian_at(&KPoint { k, sin, cos }, &mut hbuf[pending]);
                pending += 1;
                if n == 1 {
                    check(&hbuf[0], j)?;
                    solver
                        .solve_selected(
                            &hbuf[0],
                            &mut e_row[j..j + 1],
                            kept,
                            &mut v_row[j * r..(j + 1) * r],
                        )
                        .map_err(|m| eigen_error(j, m))?;
                    pending = 0;
                    continue;
                }
                if pending < BATCH {
                    continue;
                }
                pending = 0;
                let j0 = j + 1 - BATCH;
                for (b, hb) in hbuf.iter().enumerate() {
                    check(hb, j0 + b)?;
                }
                if n == 2 {
                    // The closed form, written straight into place.
                    for p in 0..BATCH / 2 {
                        let pair = [&hbuf[2 * p][..], &hbuf[2 * p + 1][..]];
                        eigen_2x2_pair_with(pair, |b, e, v| {
                            let jj = j0 + 2 * p + b;
                            e_row[jj * 2..jj * 2 + 2].copy_from_slice(&e);
                            let out = &mut v_row[jj * r * 2..(jj + 1) * r * 2];
                            for (o, &b) in out.chunks_exact_mut(2).zip(kept) {
                                // A select, not an index: v stays in registers.
                                let [lower, upper] = v;
                                let row = if b == 0 { lower } else { upper };
                                o[0] = row[0];
                                o[1] = row[1];
                            }
                        });
                    }
                } else {
                    let mut es = e_row[j0 * n..(j + 1) * n].chunks_exact_mut(n);
                    let mut vs = v_row[j0 * r * n..(j + 1) * r * n].chunks_exact_mut(r * n);
                    let results = solver.solve_selected_batch::<BATCH>(
                        std::array::from_fn(|b| &hbuf[b][..]),
                        std::array::from_fn(|_| es.next().expect("BATCH rows")),
                        kept,
                        std::array::from_fn(|_| vs.next().expect("BATCH rows")),
                    );
                    for (b, result) in results.into_iter().enumerate() {
                        result.map_err(|m| eigen_error(j0 + b, m))?;
                    }
                }
            }
        }
        // The rest of an incomplete batch, one by one.
        for (b, hb) in hbuf[..pending].iter().enumerate() {
            let j = row - pending + b;
            check(hb, j)?;
            solver
                .solve_selected(
                    hb,
                    &mut e_row[j * n..(j + 1) * n],
                    kept,
                    &mut v_row[j * r * n..(j + 1) * r * n],
                )
                .map_err(|m| eigen_error(j, m))?;
        }
        Ok(())
    }
}

/// Smallest gaps $E_{b+1}(k) - E_b(k)$ above the bands `lower` of each boundary of a band set,
/// gathered chunk by chunk as a grid streams by, with the site of the first smallest one:
/// what [`BandStructure::check_isolated`] finds on a stored grid.
#[derive(Clone, Debug)]
pub(crate) struct GapTracker {
    lowers: Vec<usize>,
    best: Vec<(f64, usize)>,
}

impl GapTracker {
    /// A tracker for the boundaries of `set` among `n_bands` bands.
    pub(crate) fn new(set: &BandSet, n_bands: usize) -> Self {
        let lowers: Vec<usize> = set.boundaries(n_bands).iter().map(|b| b.0).collect();
        let best = vec![(f64::INFINITY, 0); lowers.len()];
        Self { lowers, best }
    }

    /// Takes in the energies ($N$ per point) of the points `first_site, first_site + 1, ...`.
    pub(crate) fn observe(&mut self, energies: &[f64], n: usize, first_site: usize) {
        for (best, &b) in self.best.iter_mut().zip(&self.lowers) {
            for (j, e) in energies.chunks_exact(n).enumerate() {
                let g = e[b + 1] - e[b];
                if g < best.0 {
                    *best = (g, first_site + j);
                }
            }
        }
    }

    /// Merges the tracker of sites that all come after this one's.
    pub(crate) fn merge(&mut self, later: &GapTracker) {
        for (best, other) in self.best.iter_mut().zip(&later.best) {
            if other.0 < best.0 {
                *best = *other;
            }
        }
    }

    /// The smallest gap isolating the set ($+\infty$ if it holds every band), or
    /// [`Error::GapClosed`] for the first boundary whose gap is below `tolerance`, as
    /// [`BandStructure::check_isolated`].
    pub(crate) fn check(&self, extents: &[usize], tolerance: f64) -> Result<f64> {
        let mut min_gap = f64::INFINITY;
        for (&(gap, s), &lower) in self.best.iter().zip(&self.lowers) {
            if gap.is_nan() || gap < tolerance {
                let index = unravel(extents, s);
                return Err(Error::GapClosed {
                    k: k_point(extents, &index),
                    index,
                    lower_band: lower,
                    upper_band: lower + 1,
                    gap,
                    tolerance,
                });
            }
            min_gap = min_gap.min(gap);
        }
        Ok(min_gap)
    }
}

/// How many k-points the band-structure loop diagonalises at once ($N \ge 2$).
const BATCH: usize = 4;

/// Sets axis `a` of the momentum `kk` = ($k$, $\sin k$, $\cos k$) to grid index `i`.
#[inline]
fn set_axis(kk: &mut [Vec<f64>; 3], tables: &[Vec<Vec<f64>>; 3], a: usize, i: usize) {
    for (x, t) in kk.iter_mut().zip(tables) {
        x[a] = t[a][i];
    }
}

/// Errors on a non-finite entry or a deviation from Hermiticity above $10^{-10}\max(1, \max|H|)$,
/// naming the k-point `k()`.
#[inline]
fn check_hermitian(h: &[C64], n: usize, k: impl FnOnce() -> Vec<f64>) -> Result<()> {
    if looks_hermitian(h, n) {
        Ok(())
    } else {
        hermitian_error(h, n, &k())
    }
}

/// Branch-free sufficient test for [`check_hermitian`]: every entry finite ($x \cdot 0 = 0$
/// exactly for finite $x$, NaN otherwise) and $\sum_{i\le j}|H_{ij} - \overline{H_{ji}}|^2 \le
/// 10^{-20}$ (which bounds the maximum, and $\max(1, \max|H_{ij}|^2) \ge 1$). `false` sends the
/// matrix to the exact check.
#[inline]
fn looks_hermitian(h: &[C64], n: usize) -> bool {
    let h = &h[..n * n];
    let zero = |z: C64| z.re * 0.0 + z.im * 0.0;
    let (probe, dev) = if n == 2 {
        let (a, b, c, d) = (h[0], h[1], h[2], h[3]);
        (
            (zero(a) + zero(b)) + (zero(c) + zero(d)),
            (b - c.conj()).norm_sqr() + 4.0 * (a.im * a.im + d.im * d.im),
        )
    } else {
        let (mut probe, mut dev) = (0.0f64, 0.0f64);
        for i in 0..n {
            for j in i..n {
                let (a, b) = (h[i * n + j], h[j * n + i]);
                probe += zero(a) + zero(b);
                dev += (a - b.conj()).norm_sqr();
            }
        }
        (probe, dev)
    };
    probe == 0.0 && dev <= 1e-20
}

/// The exact check behind [`check_hermitian`], naming the first offending entry.
#[cold]
#[inline(never)]
fn hermitian_error(h: &[C64], n: usize, k: &[f64]) -> Result<()> {
    let mut dev = 0.0f64;
    let mut scale = 1.0f64;
    for i in 0..n {
        for j in i..n {
            let a = h[i * n + j];
            if !(a.re.is_finite() && a.im.is_finite()) {
                return Err(Error::NonFinite {
                    k: k.to_vec(),
                    row: i,
                    col: j,
                    value: a,
                });
            }
            let b = h[j * n + i];
            if !(b.re.is_finite() && b.im.is_finite()) {
                return Err(Error::NonFinite {
                    k: k.to_vec(),
                    row: j,
                    col: i,
                    value: b,
                });
            }
            dev = dev.max((a - b.conj()).norm_sqr());
            scale = scale.max(a.norm_sqr());
        }
    }
    if dev > 1e-20 * scale {
        return Err(Error::NonHermitian {
            k: k.to_vec(),
            deviation: dev.sqrt(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The branch-free pre-check never accepts what the exact check rejects, and the combined
    /// check reports what the exact one reports.
    #[test]
    fn fast_hermiticity_check_agrees_with_the_exact_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let k = [0.1, 0.2];
        for trial in 0..4000 {
            let n = 1 + trial % 5;
            let scale = 10f64.powi(rng.random_range(-4..7));
            let mut h = vec![C64::new(0.0, 0.0); n * n];
            for i in 0..n {
                for j in i..n {
                    let im = if i == j {
                        0.0
                    } else {
                        rng.random_range(-1.0..1.0)
                    };
                    let z = C64::new(rng.random_range(-1.0..1.0), im) * scale;
                    h[i * n + j] = z;
                    h[j * n + i] = z.conj();
                }
            }
            let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
            match trial % 7 {
                0 => {}
                1 => h[i * n + j] += C64::new(0.0, 1e-12 * scale),
                2 => h[i * n + j] += C64::new(1e-9 * scale, 0.0),
                3 => h[i * n + j] += C64::new(0.0, 1e-5),
                4 => h[i * n + j] = C64::new(f64::NAN, 0.0),
                5 => h[i * n + j] = C64::new(0.0, f64::INFINITY),
                _ => h[i * n + j] = C64::new(f64::MAX, 0.0),
            }
            let exact = hermitian_error(&h, n, &k);
            if looks_hermitian(&h, n) {
                assert!(exact.is_ok(), "fast check accepted {h:?}: {exact:?}");
            }
            assert_eq!(
                format!("{:?}", check_hermitian(&h, n, || k.to_vec())),
                format!("{exact:?}")
            );
        }
    }

    /// Every k-point of grids with odd and even rows (k-points solved in pairs and the one
    /// left over), for 1, 2 and 5 bands, against a direct diagonalisation of $H(k)$ by `zheev`.
    #[test]
    fn grid_solutions_match_pointwise_lapack() {
        let models: Vec<(crate::DynHamiltonian, BandSet)> = vec![
            (
                Box::new(crate::FnHamiltonian::new(
                    2,
                    1,
                    |k: &[f64], h: &mut [C64]| h[0] = C64::new(k[0].cos() + k[1], 0.0),
                )),
                BandSet::lowest(1),
            ),
            (Box::new(crate::Qwz::new(1.3)), BandSet::lowest(1)),
            (Box::new(crate::Qwz::new(-0.7)), BandSet::new(vec![1])),
            (
                Box::new(crate::Hofstadter::new(2, 5, 1.0).unwrap()),
                BandSet::new(vec![0, 1, 3]),
            ),
        ];
        let three_d: crate::DynHamiltonian = Box::new(crate::FnHamiltonian::new(
            3,
            3,
            |k: &[f64], h: &mut [C64]| {
                let a = C64::from_polar(0.3, k[1]);
                let b = C64::from_polar(0.2, -k[0]);
                let c = C64::new(0.1, 0.0);
                h.copy_from_slice(&[
                    C64::new(k[0].cos(), 0.0),
                    a,
                    c,
                    a.conj(),
                    C64::new(2.0 + k[2].sin(), 0.0),
                    b,
                    c,
                    b.conj(),
                    C64::new(4.0 + k[1].cos(), 0.0),
                ]);
            },
        ));
        let grids = |d: usize| -> Vec<Vec<usize>> {
            if d == 2 {
                vec![vec![5, 7], vec![4, 6], vec![3, 1]]
            } else {
                vec![vec![3, 4, 5], vec![2, 1, 3], vec![1, 3, 2]]
            }
        };
        let models: Vec<_> = models
            .into_iter()
            .chain([(three_d, BandSet::new(vec![0, 2]))])
            .collect();
        // LAPACK's zheev through ndarray-linalg: eigenvalues ascending, eigenvectors as rows.
        let zheev = |h: &[C64], n: usize| -> (Vec<f64>, Vec<C64>) {
            use ndarray_linalg::{Eigh, UPLO};
            let a = ndarray::Array2::from_shape_vec((n, n), h.to_vec()).unwrap();
            let (e, v) = a.eigh(UPLO::Lower).unwrap();
            // ndarray-linalg hands the row-major buffer to LAPACK, which reads it as
            // H^T = conj(H): its eigenvectors are the conjugates of H's.
            let rows = (0..n * n).map(|x| v[[x % n, x / n]].conj()).collect();
            (e.to_vec(), rows)
        };
        for (h, set) in &models {
            let n = h.n_bands();
            for extents in grids(h.dim()) {
                let bands = BandStructure::compute_for(h, &extents, set).unwrap();
                for s in 0..bands.n_kpoints() {
                    let hk = h.hamiltonian(&bands.k_point(s));
                    let (e, v) = zheev(&hk, n);
                    for (x, y) in bands.energies(s).iter().zip(&e) {
                        assert!((x - y).abs() < 1e-12, "{extents:?} site {s}");
                    }
                    let got = bands.eigenvectors(s);
                    for (row, &b) in set.bands().iter().enumerate() {
                        let overlap: C64 =
                            (0..n).map(|i| v[b * n + i].conj() * got[row * n + i]).sum();
                        assert!((overlap.norm() - 1.0).abs() < 1e-11, "{extents:?} site {s}");
                    }
                }
            }
        }
    }
}
