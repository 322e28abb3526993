//! First Chern numbers in 2D: the Fukui–Hatsugai–Suzuki determinant formula and the
//! eigenphase sum, with the Berry-flux field and per-band values.
use crate::bands::{
    BandSet, BandStructure, GapTracker, GridSolver, check_grid, check_model_resolves,
    check_resolves, k_point, probe_allocation, unravel,
};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::links::{Tolerances, occupied_links, overlap_into, singular};
use lattice_gauge::{Dir, LinkField, Site, matrix};
use ndarray::Array2;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Which plaquette formula turns links into a Chern number.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// FHS: $F(k) = \arg\det W(k)$, the standard. Computed as
    /// $\arg\det M_x(k)\det M_y(k+\hat x)\overline{\det M_x(k+\hat y)\det M_y(k)}$, which is
    /// exactly the same number: $\det U = \det M/|\det M|$ since the positive factor of the
    /// polar decomposition has a positive determinant.
    #[default]
    #[serde(rename = "det")]
    Determinant,
    /// GENet's label: $F(k) = \sum_i \arg\lambda_i(W(k))$, principal eigenphases of the plaquette.
    #[serde(rename = "eigenphase")]
    EigenphaseSum,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Determinant => "det",
            Method::EigenphaseSum => "eigenphase",
        })
    }
}

/// Settings of a Chern-number computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChernConfig {
    /// Plaquette formula.
    pub method: Method,
    /// Gap and overlap tolerances.
    pub tolerances: Tolerances,
}

/// A first Chern number with the data behind it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChernNumber {
    /// The integer $C$.
    pub chern: i64,
    /// The unrounded $\frac1{2\pi}\sum_k F(k)$ (an integer up to rounding error).
    pub raw: f64,
    /// Smallest gap isolating the bands on the grid ($+\infty$ when every band is included).
    pub min_gap: f64,
    /// Largest $|F(k)|$: close to $\pi$ means the grid barely resolves the curvature.
    pub max_abs_flux: f64,
    /// The grid.
    pub grid: [usize; 2],
    /// The bands.
    pub bands: Vec<usize>,
    /// The formula used.
    pub method: Method,
    /// Berry flux $F(k)$ through the plaquette with lower-left corner $k$, in $(-\pi, \pi]$.
    #[serde(skip)]
    pub flux: Array2<f64>,
}

impl ChernNumber {
    /// Berry curvature $\Omega(k) = F(k)/(\Delta k_1 \Delta k_2)$, so that
    /// $C = \frac{1}{2\pi}\int \Omega\, d^2k$.
    pub fn curvature(&self) -> Array2<f64> {
        let area = (2.0 * PI / self.grid[0] as f64) * (2.0 * PI / self.grid[1] as f64);
        self.flux.mapv(|f| f / area)
    }
}

fn grid_2d(bands: &BandStructure) -> Result<[usize; 2]> {
    match *bands.extents() {
        [l1, l2] => {
            check_resolves(bands.extents())?;
            Ok([l1, l2])
        }
        _ => Err(Error::BadGrid {
            extents: bands.extents().to_vec(),
            reason: "a first Chern number needs a 2D grid",
        }),
    }
}

/// The principal argument $\arg w \in (-\pi, \pi]$ (as [`matrix::principal_arg`]) by fdlibm's
/// `atan2` from the `libm` crate: under 1 ulp, and much faster per plaquette than glibc's
/// correctly rounded one, which saves and restores the rounding mode on every call.
///
/// The usual plaquette is close to 1: for $\mathrm{Re}\,w > 0$ and
/// $2^{-27} \le |\mathrm{Im}\,w/\mathrm{Re}\,w| < 7/16$ fdlibm evaluates its odd polynomial on
/// $t = \mathrm{Im}\,w/\mathrm{Re}\,w$ without range reduction; that branch is inlined here
/// (same coefficients and operations, so bit for bit the same value).
#[inline]
pub(crate) fn principal_arg(w: C64) -> f64 {
    /// fdlibm's `atan` coefficients (`aT`, by their bit patterns), as in `libm::atan`.
    const AT: [f64; 11] = [
        f64::from_bits(0x3fd55555_5555550d),
        f64::from_bits(0xbfc99999_9998ebc4),
        f64::from_bits(0x3fc24924_920083ff),
        f64::from_bits(0xbfbc71c6_fe231671),
        f64::from_bits(0x3fb745cd_c54c206e),
        f64::from_bits(0xbfb3b0f2_af749a6d),
        f64::from_bits(0x3fb10d66_a0d03d51),
        f64::from_bits(0xbfadde2d_52defd9a),
        f64::from_bits(0x3fa97b4b_24760deb),
        f64::from_bits(0xbfa2b444_2c6a6c2f),
        f64::from_bits(0x3f90ad3a_e322da11),
    ];
    let t = w.im / w.re;
    let a = t.abs();
    if w.re > 0.0 && a < 0.4375 && a >= f64::from_bits(0x3e40_0000_0000_0000) {
        let z = t * t;
        let q = z * z;
        let s1 = z * (AT[0] + q * (AT[2] + q * (AT[4] + q * (AT[6] + q * (AT[8] + q * AT[10])))));
        let s2 = q * (AT[1] + q * (AT[3] + q * (AT[5] + q * (AT[7] + q * AT[9]))));
        return t - t * (s1 + s2);
    }
    let t = libm::atan2(w.im, w.re);
    if t <= -PI { PI } else { t }
}

/// Link determinants $\det M_\mu(k) = \det V(k)^\dagger V(k+\hat\mu)$ on a 2D grid.
struct LinkDeterminants<'a> {
    /// Rows of `r` eigenvectors of length `n`, site after site.
    frame: &'a [C64],
    n: usize,
    r: usize,
    extents: &'a [usize],
    /// Smallest admissible $|\det M|$.
    tolerance: f64,
}

impl LinkDeterminants<'_> {
    /// $\det V(s)^\dagger V(t)$ for the link from site `s` along `mu` to site `t` (`m` is
    /// $r\times r$ scratch), an error if its modulus is below the tolerance.
    #[inline(always)]
    fn link(&self, m: &mut [C64], s: usize, t: usize, mu: usize) -> Result<C64> {
        let w = self.r * self.n;
        let (v, u) = (
            &self.frame[s * w..(s + 1) * w],
            &self.frame[t * w..(t + 1) * w],
        );
        let d = link_determinant(m, v, u, self.n, self.r);
        let m2 = d.norm_sqr();
        if m2.is_nan() || m2 < self.tolerance * self.tolerance {
            return Err(singular(self.extents, s, mu, m2.sqrt(), self.tolerance));
        }
        Ok(d)
    }

    /// $[\det M_x, \det M_y]$ of every site of row `i` into `out` ($M_x$ only if `both`).
    #[inline(always)]
    fn row(&self, m: &mut [C64], i: usize, both: bool, out: &mut [[C64; 2]]) -> Result<()> {
        let (l1, l2) = (self.extents[0], self.extents[1]);
        let i1 = if i + 1 == l1 { 0 } else { i + 1 };
        for (j, u) in out.iter_mut().enumerate() {
            let j1 = if j + 1 == l2 { 0 } else { j + 1 };
            let s = i * l2 + j;
            if both {
                u[0] = self.link(m, s, i1 * l2 + j, 0)?;
            }
            u[1] = self.link(m, s, i * l2 + j1, 1)?;
        }
        Ok(())
    }
}

/// $\det V^\dagger U$ for the $r$ eigenvector rows `v`, `u` of length `n` (`m` is $r\times r$
/// scratch): the link determinant, computed the same way by every route through the grid.
#[inline(always)]
fn link_determinant(m: &mut [C64], v: &[C64], u: &[C64], n: usize, r: usize) -> C64 {
    if r == 1 {
        v.iter().zip(u).map(|(a, b)| a.conj() * b).sum::<C64>()
    } else {
        overlap_into(v, u, m, n, r);
        matrix::det(m, r)
    }
}

/// The FHS Berry flux $F(k) = \arg\,\det M_x(k)\det M_y(k+\hat x)\overline{\det M_x(k+\hat y)
/// \det M_y(k)}$ of every plaquette, row by row in parallel blocks of rows: each block keeps the
/// link determinants of two rows (the row and the next) and computes each link once, plus one
/// row of $M_y$ per block, so no field of links is stored. The determinants are unnormalised:
/// the plaquette's argument ignores positive factors, and $|\det M|$ is only compared with
/// `tol.overlap()` (on orthonormal eigenvectors $|\det M| \le 1$).
fn determinant_flux(bands: &BandStructure, set: &BandSet, tol: &Tolerances) -> Result<Vec<f64>> {
    let frame = bands.frame(set)?;
    let extents = bands.extents();
    let (l1, l2) = (extents[0], extents[1]);
    let links = LinkDeterminants {
        frame: &frame,
        n: bands.n_bands(),
        r: set.len(),
        extents,
        tolerance: tol.overlap(),
    };
    let r = set.len();
    // Blocks of rows: enough blocks to balance the threads, few enough that the extra row of
    // M_y per block stays cheap.
    let block = l1.div_ceil(8 * rayon::current_num_threads()).max(1);
    let mut flux = vec![0.0; l1 * l2];
    let zero = [C64::new(0.0, 0.0); 2];
    flux.par_chunks_mut(block * l2)
        .enumerate()
        .try_for_each_init(
            || {
                (
                    vec![C64::new(0.0, 0.0); r * r],
                    vec![zero; l2],
                    vec![zero; l2],
                )
            },
            |(m, here, next), (b, rows)| -> Result<()> {
                let first = b * block;
                let count = rows.len() / l2;
                links.row(m, first, true, here)?;
                for (di, out) in rows.chunks_exact_mut(l2).enumerate() {
                    let i = first + di;
                    let i1 = if i + 1 == l1 { 0 } else { i + 1 };
                    links.row(m, i1, di + 1 < count, next)?;
                    for (j, f) in out.iter_mut().enumerate() {
                        let j1 = if j + 1 == l2 { 0 } else { j + 1 };
                        let p = here[j][0] * next[j][1] * (here[j1][0] * here[j][1]).conj();
                        *f = principal_arg(p);
                    }
                    std::mem::swap(here, next);
                }
                Ok(())
            },
        )?;
    Ok(flux)
}

/// The largest plaquette flux $|F(k)|$ a grid may show and still count as resolving the Berry
/// curvature: $3\pi/4$. A flux $F$ stands for any $F + 2\pi n$; on a grid fine enough for the
/// curvature to vary little from one plaquette to the next the fluxes are well below $\pi$ and
/// $n = 0$ is the right choice, while a flux near $\pi$ is as likely to be $F \mp 2\pi$ and the
/// rounded sum can be off by an integer: there the computation stops with
/// [`Error::Unresolved`]. (Fluxes up to about 2.1 occur on grids that give the right answer,
/// such as PythTB's $32\times32$ fixtures; grids coarser than a model's magnetic cell can be
/// wrong with small fluxes and are refused separately, see
/// [`BlochHamiltonian::min_resolving_extents`](crate::BlochHamiltonian::min_resolving_extents).)
pub const MAX_RESOLVED_FLUX: f64 = 0.75 * PI;

/// [`Error::Unresolved`] naming the plaquette of largest $|F|$ if it exceeds
/// [`MAX_RESOLVED_FLUX`].
pub(crate) fn check_resolved(flux: &[f64], extents: &[usize]) -> Result<()> {
    let (s, f) = flux.iter().enumerate().fold((0, 0.0f64), |(s, m), (t, f)| {
        if f.abs() > m.abs() { (t, *f) } else { (s, m) }
    });
    if f.abs() <= MAX_RESOLVED_FLUX {
        return Ok(());
    }
    let index = unravel(extents, s);
    Err(Error::Unresolved {
        k: k_point(extents, &index),
        index,
        flux: f,
        limit: MAX_RESOLVED_FLUX,
    })
}

/// [`Error::PlaquetteFlux`] for the first plaquette whose flux is not finite.
fn check_flux(flux: &[f64], extents: &[usize], method: Method) -> Result<()> {
    match flux.iter().position(|f| !f.is_finite()) {
        None => Ok(()),
        Some(s) => {
            let index = unravel(extents, s);
            Err(Error::PlaquetteFlux {
                k: k_point(extents, &index),
                index,
                method,
                flux: flux[s],
                reason: match method {
                    Method::EigenphaseSum => {
                        "the eigenvalues of the plaquette matrix W(k) could not be computed (no convergence, or non-finite entries)"
                    }
                    Method::Determinant => "det W(k) is not finite",
                },
            })
        }
    }
}

/// The Chern number of the bands `set` from a band structure on a 2D grid (which must store
/// their eigenvectors). Errors if the set is not isolated by `config.tolerances.gap()`, an
/// overlap determinant falls below `config.tolerances.overlap()`, or a plaquette's flux exceeds
/// [`MAX_RESOLVED_FLUX`] ([`Error::Unresolved`]: the grid does not resolve the curvature), or
/// the grid is coarser than the model said its bands need ([`Error::GridTooCoarse`]).
pub fn chern_number(
    bands: &BandStructure,
    set: &BandSet,
    config: &ChernConfig,
) -> Result<ChernNumber> {
    let grid = grid_2d(bands)?;
    bands.check_model_resolves()?;
    let min_gap = bands.check_isolated(set, config.tolerances.gap())?;
    let flux: Vec<f64> = match config.method {
        Method::Determinant => determinant_flux(bands, set, &config.tolerances)?,
        Method::EigenphaseSum => {
            let links = occupied_links(bands, set, &config.tolerances)?;
            let plaquettes = links.plaquette_field(Dir(0), Dir(1))?;
            let r = set.len();
            (0..bands.n_kpoints())
                .into_par_iter()
                .map_init(
                    || vec![0.0; r],
                    |phases, s| {
                        matrix::eigenphases_into(plaquettes.matrix(Site(s)), phases, r);
                        phases.iter().sum::<f64>()
                    },
                )
                .collect()
        }
    };
    finish(flux, grid, min_gap, set, config.method)
}

/// The Chern number from the flux of every plaquette (checked finite).
fn finish(
    flux: Vec<f64>,
    grid: [usize; 2],
    min_gap: f64,
    set: &BandSet,
    method: Method,
) -> Result<ChernNumber> {
    check_flux(&flux, &grid, method)?;
    check_resolved(&flux, &grid)?;
    let raw = flux.iter().sum::<f64>() / (2.0 * PI);
    let max_abs_flux = flux.iter().fold(0.0f64, |m, f| m.max(f.abs()));
    Ok(ChernNumber {
        chern: raw.round() as i64,
        raw,
        min_gap,
        max_abs_flux,
        grid,
        bands: set.bands().to_vec(),
        method,
        flux: Array2::from_shape_vec((grid[0], grid[1]), flux).expect("one flux per site"),
    })
}

/// The Chern number of the bands `set` of model `h` on an `L1 x L2` grid: diagonalises once per
/// k-point and keeps only the eigenvectors of `set`. With [`Method::Determinant`] the grid is
/// streamed by rows (two rows of eigenvectors per thread, memory
/// [`chern_memory_estimate`], $O(L_2 N r)$ per thread plus the $L_1L_2$ flux field), with bit for bit
/// the numbers and errors of [`chern_number`] on a stored [`BandStructure`]; with
/// [`Method::EigenphaseSum`] the whole grid is stored.
/// A grid coarser than the model says its bands need is refused first
/// ([`Error::GridTooCoarse`]).
pub fn chern_number_of<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    grid: &[usize],
    set: &BandSet,
    config: &ChernConfig,
) -> Result<ChernNumber> {
    check_grid(grid, h.dim())?;
    if grid.len() != 2 {
        return Err(Error::BadGrid {
            extents: grid.to_vec(),
            reason: "a first Chern number needs a 2D grid",
        });
    }
    check_model_resolves(h, grid)?;
    if config.method == Method::Determinant {
        return streamed_chern_number(h, [grid[0], grid[1]], set, config);
    }
    let bands = BandStructure::compute_for(h, grid, set)?;
    chern_number(&bands, set, config)
}

/// The memory (bytes) that [`chern_number_of`] needs with [`Method::Determinant`] for
/// `n_bands` bands on an `L1 x L2` grid, `r` occupied bands, `threads` worker threads: the flux
/// field ($L_1L_2$ numbers) and, per thread, two rows of eigenvectors, one row of energies and
/// link determinants, and the eigen-solver's scratch. Grows with the area only by the flux
/// field; `None` on overflow.
pub fn chern_memory_estimate(
    n_bands: usize,
    grid: [usize; 2],
    r: usize,
    threads: usize,
) -> Option<u128> {
    let (n, r) = (n_bands as u128, r as u128);
    let (l1, l2) = (grid[0] as u128, grid[1] as u128);
    let flux = l1.checked_mul(l2)?.checked_mul(8)?;
    // Two rows of eigenvectors (plus the wrapped-around first row), energies, three rows of
    // determinants.
    let rows = l2.checked_mul(
        r.checked_mul(n)?
            .checked_mul(3 * 16)?
            .checked_add(n.checked_mul(8)?)?
            .checked_add(3 * 16)?,
    )?;
    let per_thread = rows
        .checked_add(lattice_gauge::hermitian::Eigensolver::workspace_bytes(
            n_bands,
        )?)?
        .checked_add(n.checked_mul(n)?.checked_mul(4 * 16)?)?;
    flux.checked_add(per_thread.checked_mul(threads.max(1) as u128)?)
}

/// What one block of rows of the streamed grid found besides its fluxes.
struct BlockOutcome {
    gaps: GapTracker,
    /// The first singular link, reported only if every gap is open (as on a stored grid).
    link_error: Option<Error>,
}

/// [`chern_number_of`] with [`Method::Determinant`], streaming the grid by rows: blocks of rows
/// in parallel, each diagonalising its rows one after the other and keeping the eigenvectors of
/// two rows (the row and the next) and the link determinants of the row. The numbers are bit for
/// bit those of [`chern_number`] on a stored [`BandStructure`]: the same solver per row, the same
/// link and plaquette arithmetic, the same order of the sum, and the errors in the same order of
/// precedence (eigen-solver, coarse grid, closed gap, singular link, non-finite flux).
fn streamed_chern_number<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    grid: [usize; 2],
    set: &BandSet,
    config: &ChernConfig,
) -> Result<ChernNumber> {
    let n = h.n_bands();
    set.check(n)?;
    let r = set.len();
    let [l1, l2] = grid;
    let extents = &grid[..];
    let threads = rayon::current_num_threads();
    let estimate = chern_memory_estimate(n, grid, r, threads).unwrap_or(u128::MAX);
    probe_allocation(
        estimate,
        "the Berry-flux field and the rows of eigenvectors",
    )?;
    let tolerance = config.tolerances.overlap();
    let solver = GridSolver::new(h, extents, set);
    // One block per thread would leave a thread idle at the end; more blocks cost one extra
    // row of diagonalisations each (the row after the block).
    let blocks = if threads == 1 { 1 } else { 4 * threads };
    let block = l1.div_ceil(blocks).max(1);
    let w = r * n;
    let mut flux = vec![0.0; l1 * l2];
    let zero = C64::new(0.0, 0.0);
    let outcomes: Vec<Result<BlockOutcome>> = flux
        .par_chunks_mut(block * l2)
        .enumerate()
        .map_init(
            || {
                (
                    solver.workspace(),
                    vec![0.0; l2 * n],
                    [vec![zero; l2 * w], vec![zero; l2 * w]],
                    [vec![zero; l2], vec![zero; l2], vec![zero; l2]],
                    vec![zero; r * r],
                )
            },
            |(ws, energies, [va, vb], [my_here, my_next, mx], m), (b, rows)| {
                let first = b * block;
                let count = rows.len() / l2;
                let mut gaps = GapTracker::new(set, n);
                let mut link_error = None;
                // The determinant of a link of site s along mu, or the singular-link error.
                let link = |m: &mut [C64], v: &[C64], u: &[C64], s: usize, mu: usize| {
                    let d = link_determinant(m, v, u, n, r);
                    let m2 = d.norm_sqr();
                    if m2.is_nan() || m2 < tolerance * tolerance {
                        return Err(singular(extents, s, mu, m2.sqrt(), tolerance));
                    }
                    Ok(d)
                };
                // M_y along row i from its eigenvectors v.
                let row_y = |m: &mut [C64], v: &[C64], i: usize, out: &mut [C64]| -> Result<()> {
                    for (j, o) in out.iter_mut().enumerate() {
                        let j1 = if j + 1 == l2 { 0 } else { j + 1 };
                        *o = link(
                            m,
                            &v[j * w..(j + 1) * w],
                            &v[j1 * w..(j1 + 1) * w],
                            i * l2 + j,
                            1,
                        )?;
                    }
                    Ok(())
                };
                solver.solve_chunk(ws, first, energies, va)?;
                gaps.observe(energies, n, first * l2);
                // A block that spans the whole grid comes back to its first row.
                let first_row = (count == l1).then(|| va.clone());
                if let Err(e) = row_y(m, va, first, my_here) {
                    link_error = Some(e);
                }
                for (di, out) in rows.chunks_exact_mut(l2).enumerate() {
                    let i = first + di;
                    let i1 = if i + 1 == l1 { 0 } else { i + 1 };
                    match (&first_row, di + 1 < count) {
                        (Some(v0), false) => vb.copy_from_slice(v0),
                        _ => {
                            solver.solve_chunk(ws, i1, energies, vb)?;
                            if di + 1 < count {
                                gaps.observe(energies, n, i1 * l2);
                            }
                        }
                    }
                    if link_error.is_none() {
                        let mut links = || -> Result<()> {
                            for (j, x) in mx.iter_mut().enumerate() {
                                let s = i * l2 + j;
                                *x = link(
                                    m,
                                    &va[j * w..(j + 1) * w],
                                    &vb[j * w..(j + 1) * w],
                                    s,
                                    0,
                                )?;
                            }
                            row_y(m, vb, i1, my_next)
                        };
                        match links() {
                            Ok(()) => {
                                for (j, f) in out.iter_mut().enumerate() {
                                    let j1 = if j + 1 == l2 { 0 } else { j + 1 };
                                    let p = mx[j] * my_next[j] * (mx[j1] * my_here[j]).conj();
                                    *f = principal_arg(p);
                                }
                            }
                            Err(e) => link_error = Some(e),
                        }
                    }
                    std::mem::swap(va, vb);
                    std::mem::swap(my_here, my_next);
                }
                Ok(BlockOutcome { gaps, link_error })
            },
        )
        .collect();
    let outcomes = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
    check_resolves(extents)?;
    let mut gaps = GapTracker::new(set, n);
    for o in &outcomes {
        gaps.merge(&o.gaps);
    }
    let min_gap = gaps.check(extents, config.tolerances.gap())?;
    if let Some(e) = outcomes.into_iter().find_map(|o| o.link_error) {
        return Err(e);
    }
    finish(flux, grid, min_gap, set, config.method)
}

/// Chern number of one group of bands isolated from the rest by gaps.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BandGroupChern {
    /// The bands of the group (consecutive).
    pub bands: Vec<usize>,
    /// Its Chern number.
    pub chern: i64,
    /// The unrounded sum.
    pub raw: f64,
}

/// Chern numbers of every group of bands separated from its neighbours by gaps of at least
/// `config.tolerances.gap()` on the grid (single bands where they are isolated). They sum to 0.
/// `bands` must store every band's eigenvectors ([`BandStructure::compute`]).
pub fn band_chern_numbers(
    bands: &BandStructure,
    config: &ChernConfig,
) -> Result<Vec<BandGroupChern>> {
    grid_2d(bands)?;
    let n = bands.n_bands();
    let mut groups = Vec::new();
    let mut start = 0;
    for b in 0..n {
        let closes_group = b + 1 == n || bands.min_gap_above(b).0 >= config.tolerances.gap();
        if closes_group {
            let set = BandSet::new((start..=b).collect());
            let c = chern_number(bands, &set, config)?;
            groups.push(BandGroupChern {
                bands: c.bands,
                chern: c.chern,
                raw: c.raw,
            });
            start = b + 1;
        }
    }
    Ok(groups)
}

/// The Chern number of an arbitrary 2D field of unitary links (for example Haar-random links, as
/// in GENet's training data): $C = \frac1{2\pi}\sum_x F(x)$ with $F(x) = \arg\det W(x)$
/// ([`Method::Determinant`]) or $\sum_i \arg\lambda_i(W(x))$ ([`Method::EigenphaseSum`]), $W$ the
/// plaquette $U_0(x)U_1(x+\hat 0)U_0(x+\hat 1)^\dagger U_1(x)^\dagger$. Both sums are exact
/// integers on a torus; for random links they generally differ. `min_gap` is `NaN` (links
/// carry no energies) and `bands` lists $0..n$.
pub fn chern_number_of_links(links: &LinkField, method: Method) -> Result<ChernNumber> {
    let extents = links.lattice().extents().to_vec();
    let [l1, l2] = extents[..] else {
        return Err(Error::BadGrid {
            extents,
            reason: "a first Chern number needs a 2D grid",
        });
    };
    let n = links.n();
    let plaquettes = links.plaquette_field(Dir(0), Dir(1))?;
    let flux: Vec<f64> = (0..l1 * l2)
        .into_par_iter()
        .map_init(
            || vec![0.0; n],
            |phases, s| {
                let w = plaquettes.matrix(Site(s));
                match method {
                    Method::Determinant => principal_arg(matrix::det(w, n)),
                    Method::EigenphaseSum => {
                        matrix::eigenphases_into(w, phases, n);
                        phases.iter().sum::<f64>()
                    }
                }
            },
        )
        .collect();
    check_flux(&flux, &extents, method)?;
    let raw = flux.iter().sum::<f64>() / (2.0 * PI);
    Ok(ChernNumber {
        chern: raw.round() as i64,
        raw,
        min_gap: f64::NAN,
        max_abs_flux: flux.iter().fold(0.0f64, |m, f| m.max(f.abs())),
        grid: [l1, l2],
        bands: (0..n).collect(),
        method,
        flux: Array2::from_shape_vec((l1, l2), flux).expect("one flux per site"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A failed plaquette evaluation is reported as what it is, naming the plaquette and the
    /// method, not as a singular overlap.
    #[test]
    fn non_finite_flux_is_a_plaquette_error() {
        let mut flux = vec![0.1; 12];
        flux[7] = f64::NAN;
        for method in [Method::EigenphaseSum, Method::Determinant] {
            let err = check_flux(&flux, &[3, 4], method).unwrap_err();
            match &err {
                Error::PlaquetteFlux {
                    index,
                    k,
                    method: m,
                    flux,
                    ..
                } => {
                    assert_eq!(index, &[1, 3]);
                    assert_eq!(k, &[2.0 * PI / 3.0, 2.0 * PI * 3.0 / 4.0]);
                    assert_eq!(*m, method);
                    assert!(flux.is_nan());
                }
                e => panic!("wrong error {e:?}"),
            }
            let message = err.to_string();
            assert!(
                message.contains(&method.to_string()) && message.contains("[1, 3]"),
                "{message}"
            );
        }
        assert!(check_flux(&[0.1, -3.0, PI], &[1, 3], Method::EigenphaseSum).is_ok());
    }

    #[test]
    fn principal_arg_agrees_with_the_reference_to_rounding() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100_000 {
            let scale = 10f64.powi(rng.random_range(-8..8));
            let w = C64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)) * scale;
            let (a, b) = (principal_arg(w), matrix::principal_arg(w));
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1e-300),
                "{w}: {a} vs {b}"
            );
        }
        // The inlined polynomial branch is libm's, bit for bit.
        for _ in 0..100_000 {
            let w = C64::new(rng.random_range(0.0..1.0), rng.random_range(-0.45..0.45));
            assert_eq!(
                principal_arg(w).to_bits(),
                libm::atan2(w.im, w.re).to_bits(),
                "{w}"
            );
        }
        // The branch cut: the negative real axis maps to +pi from either side.
        assert_eq!(principal_arg(C64::new(-1.0, 0.0)), PI);
        assert_eq!(principal_arg(C64::new(-1.0, -0.0)), PI);
        assert_eq!(principal_arg(C64::new(1.0, 0.0)), 0.0);
        assert!(principal_arg(C64::new(f64::NAN, 1.0)).is_nan());
    }
}
