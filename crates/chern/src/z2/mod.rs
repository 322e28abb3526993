//! $\mathbb Z_2$ invariants of time-reversal-invariant insulators in 2D and 3D, by three
//! independent methods: Fukui–Hatsugai's lattice formula, the Wannier-charge-centre flow, and
//! Fu–Kane parities.
mod fukui_hatsugai;
mod parity;
mod points;
mod spec;
mod spin_chern;
mod wilson_loop;

pub use parity::TrimParity;
pub use spec::{
    Z2Details, Z2Model, Z2PhaseDiagram, Z2PhasePoint, Z2Report, Z2System, z2_of, z2_phase_diagram,
};
pub use spin_chern::{SpinChern, spin_chern_number};
pub use wilson_loop::WccFlow;

use crate::bands::{BandSet, GapTracker, GridSolver, check_grid};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::inversion::Inversion;
use crate::links::Tolerances;
use crate::models::combine::Plane;
use crate::time_reversal::TimeReversal;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// How a $\mathbb Z_2$ invariant is computed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Z2Method {
    /// Fukui and Hatsugai, J. Phys. Soc. Jpn. 76, 053702 (2007): vortices of the lattice Berry
    /// connection in half the Brillouin zone, in the gauge $u_{2p+1}(-k) = \Theta u_{2p}(k)$ on
    /// its time-reversal-invariant edges. An exact integer once the grid resolves the gap.
    #[default]
    FukuiHatsugai,
    /// Wannier-charge-centre flow over half the zone (Yu, Qi, Bernevig, Fang and Dai, Phys. Rev.
    /// B 84, 075119 (2011); Soluyanov and Vanderbilt, Phys. Rev. B 83, 235401 (2011)), counted
    /// with the largest gap as Z2Pack does, lines refined where the centres move fast.
    WilsonLoop,
    /// Fu and Kane, Phys. Rev. B 76, 045302 (2007): $(-1)^\nu = \prod_i \delta_i$ over the
    /// time-reversal-invariant momenta, $\delta_i$ the product of the parities of one state per
    /// occupied Kramers pair. Needs an inversion symmetry ([`Z2Config::inversion`]).
    Parity,
}

impl std::fmt::Display for Z2Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Z2Method::FukuiHatsugai => "fukui-hatsugai",
            Z2Method::WilsonLoop => "wilson-loop",
            Z2Method::Parity => "parity",
        })
    }
}

/// Settings of a $\mathbb Z_2$ computation.
#[derive(Clone, Debug, PartialEq)]
pub struct Z2Config {
    /// The method.
    pub method: Z2Method,
    /// Number of occupied bands (the lowest ones); `None` fills half the bands.
    pub occupied: Option<usize>,
    /// Gap and overlap tolerances (as for Chern numbers).
    pub tolerances: Tolerances,
    /// Largest admissible violation of $\Theta H(k)\Theta^{-1} = H(-k)$ (and of inversion for
    /// [`Z2Method::Parity`]) relative to $\max(1, \max|H|)$; `f64::INFINITY` skips the check of
    /// time reversal.
    pub symmetry_tolerance: f64,
    /// Inversion $P$, needed by [`Z2Method::Parity`].
    pub inversion: Option<Inversion>,
    /// [`Z2Method::WilsonLoop`]: a line is refined when a centre comes closer to its
    /// neighbour's largest gap than this fraction of the gap (Z2Pack's `move_tol`).
    pub move_tolerance: f64,
    /// [`Z2Method::WilsonLoop`]: how many times an interval between lines may be halved.
    pub max_refinements: u32,
    /// [`Z2Method::WilsonLoop`]: the largest admissible movement of a Wannier charge centre
    /// (units of the lattice constant, in $(0, 1)$) between a loop and the same loop on half as
    /// many points (Z2Pack's `pos_tol`); a loop that moves more has its points doubled.
    pub position_tolerance: f64,
    /// [`Z2Method::WilsonLoop`]: how many times the points of one loop may be doubled before
    /// [`Error::WccNotConverged`].
    pub max_loop_doublings: u32,
}

impl Default for Z2Config {
    fn default() -> Self {
        Self {
            method: Z2Method::default(),
            occupied: None,
            tolerances: Tolerances::default(),
            symmetry_tolerance: 1e-8,
            inversion: None,
            move_tolerance: 0.3,
            max_refinements: 8,
            position_tolerance: 0.01,
            max_loop_doublings: 3,
        }
    }
}

/// A 2D $\mathbb Z_2$ invariant with the data behind it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Z2Invariant {
    /// $\mathbb Z_2 \in \{0, 1\}$: 1 is the quantum spin Hall (topological) phase.
    pub z2: u8,
    /// The method.
    pub method: Z2Method,
    /// The grid $L_1\times L_2$.
    pub grid: [usize; 2],
    /// Number of occupied bands.
    pub occupied: usize,
    /// Smallest direct gap above the occupied bands on the points used.
    pub min_gap: f64,
    /// Largest violation of time reversal on the grid (relative).
    pub time_reversal_violation: f64,
    /// [`Z2Method::FukuiHatsugai`]: the number of vortices $\sum_{k\in B^-} n(k)$ (its parity
    /// is $\mathbb Z_2$).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vortices: Option<i64>,
    /// [`Z2Method::WilsonLoop`]: the number of lines after refinement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wcc_lines: Option<usize>,
    /// [`Z2Method::WilsonLoop`]: the centre flow.
    #[serde(skip)]
    pub wcc: Option<WccFlow>,
    /// [`Z2Method::Parity`]: $\delta_i$ at the four TRIMs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parities: Option<Vec<TrimParity>>,
}

/// Strong and weak indices $(\nu_0; \nu_1\nu_2\nu_3)$ of a 3D time-reversal-invariant insulator.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Z2Indices {
    /// $\nu_0$, the strong index (as `z2` in reports).
    pub z2: u8,
    /// $[\nu_0, \nu_1, \nu_2, \nu_3]$; $\nu_i = z_i(\pi)$, the weak indices, in units of the
    /// reciprocal lattice vectors of the model's reduced coordinates.
    pub indices: [u8; 4],
    /// $[z_i(0), z_i(\pi)]$: the 2D invariant of the planes $k_i = 0$ and $k_i = \pi$.
    pub planes: [[u8; 2]; 3],
    /// The method.
    pub method: Z2Method,
    /// The grid $L_1\times L_2\times L_3$.
    pub grid: [usize; 3],
    /// Number of occupied bands.
    pub occupied: usize,
    /// Smallest direct gap above the occupied bands.
    pub min_gap: f64,
    /// Largest violation of time reversal on the grid (relative).
    pub time_reversal_violation: f64,
    /// [`Z2Method::Parity`]: $\delta_i$ at the eight TRIMs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parities: Option<Vec<TrimParity>>,
}

/// Checks shared by 2D and 3D: even grid, time reversal, the occupation.
fn prepare<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    theta: &TimeReversal,
    grid: &[usize],
    config: &Z2Config,
) -> Result<(usize, f64)> {
    check_grid(grid, h.dim())?;
    if grid.iter().any(|&l| l < 2 || l % 2 == 1) {
        return Err(Error::BadGrid {
            extents: grid.to_vec(),
            reason: "a Z2 invariant needs even extents of at least 2, so that k = 0 and k = pi are grid points",
        });
    }
    // The two methods that follow the Berry connection across the grid need it to resolve the
    // bands; the parity method reads only the time-reversal-invariant momenta (exact once the
    // gap is open) and uses the grid for the gap check alone.
    if config.method != Z2Method::Parity {
        if grid.iter().any(|&l| l < crate::bands::MIN_RESOLVING_EXTENT) {
            return Err(Error::BadGrid {
                extents: grid.to_vec(),
                reason: "grid too coarse: the Fukui-Hatsugai and Wilson-loop methods need even extents of at least 4 (on 2 points per axis every link back is the inverse of the link forth and the invariant comes out 0 whatever the bands), refine it",
            });
        }
        crate::bands::check_model_resolves(h, grid)?;
    }
    if config.symmetry_tolerance.is_nan() || config.symmetry_tolerance < 0.0 {
        return Err(Error::invalid(
            "symmetry_tolerance",
            config.symmetry_tolerance,
            "must be a non-negative number",
        ));
    }
    if config.move_tolerance.is_nan()
        || config.move_tolerance <= 0.0
        || config.move_tolerance >= 0.5
    {
        return Err(Error::invalid(
            "move_tolerance",
            config.move_tolerance,
            "must lie in (0, 0.5)",
        ));
    }
    if !(config.position_tolerance > 0.0 && config.position_tolerance < 1.0) {
        return Err(Error::invalid(
            "position_tolerance",
            config.position_tolerance,
            "must lie in (0, 1)",
        ));
    }
    // An infinite tolerance skips the check (the planes of a 3D model checked as a whole).
    let violation = if config.symmetry_tolerance == f64::INFINITY {
        0.0
    } else {
        theta.check(h, grid, config.symmetry_tolerance)?
    };
    let n = h.n_bands();
    let occupied = config.occupied.unwrap_or(n / 2);
    check_kramers_occupation(occupied, n)?;
    if config.method == Z2Method::Parity {
        let p = config.inversion.as_ref().ok_or(Error::BadSymmetry {
            operator: "inversion P",
            reason: "the parity method needs an inversion operator (Z2Config::inversion)".into(),
        })?;
        p.check_commutes_with(theta)?;
        p.check(h, grid, config.symmetry_tolerance)?;
    }
    Ok((occupied, violation))
}

/// The $\mathbb Z_2$ invariant of the `occupied` lowest bands of a time-reversal-symmetric 2D
/// model `h`, $\Theta$ = `theta`, on an even grid $L_1 \times L_2$.
///
/// Every method first checks $\Theta H(k)\Theta^{-1} = H(-k)$ on the whole grid
/// ([`Error::TimeReversalBroken`] names the k-point and the violation) and refuses an odd number
/// of occupied bands ([`Error::OddOccupation`]); a gap below the tolerance on the points used is
/// [`Error::GapClosed`], as for Chern numbers.
///
/// - [`Z2Method::FukuiHatsugai`]: links $U_\mu(k) = \det V(k)^\dagger V(k+\hat\mu)$ on the half
///   zone $k_2\in[0,\pi]$ ($L_1(L_2/2+1)$ diagonalisations), the frames on the lines $k_2 = 0,
///   \pi$ rebuilt so that $u_{2p+1}(-k) = \Theta u_{2p}(k)$, $u_{2p}(-k) = -\Theta u_{2p+1}(k)$
///   (Kramers-pair bases at $k_1 = 0, \pi$), and
///   $\mathbb Z_2 = \sum_{k\in B^-} n(k) \bmod 2$ with
///   $2\pi n(k) = F(k) - [A_1(k) + A_2(k+\hat1) - A_1(k+\hat2) - A_2(k)]$, $A = \arg U$ and
///   $F = \arg U_1U_2U_1^{-1}U_2^{-1}$ on the principal branch.
/// - [`Z2Method::WilsonLoop`]: [`WccFlow`] on the lines $k_2 = 2\pi j/L_2 \in [0, \pi]$, each a
///   loop of $L_1$ points, checked against the same loop on $L_1/2$ points and doubled where a
///   centre moves by [`Z2Config::position_tolerance`] or more ([`Error::WccNotConverged`] names
///   the loop that does not converge), lines added where the centres move fast along $k_2$
///   ([`Error::WccUnresolved`]).
/// - [`Z2Method::Parity`]: the parities at $(0,0), (0,\pi), (\pi,0), (\pi,\pi)$; the gap is
///   still checked on the whole grid.
///
/// The first two follow the Berry connection across the grid, so they refuse grids that do not
/// resolve it, as the Chern number does: extents below 4 and grids coarser than the model says
/// its bands need ([`Error::BadGrid`], [`Error::GridTooCoarse`]); for Fukui–Hatsugai a
/// plaquette flux above [`MAX_RESOLVED_FLUX`](crate::MAX_RESOLVED_FLUX) in modulus
/// ([`Error::Unresolved`] naming the plaquette); for the Wilson loop a centre that moves by more
/// than $3/8$ of the cell (that bound as a phase) between neighbouring lines even after the
/// lines are refined ([`Error::WilsonLoopUnresolved`]). The parity method is exact at the
/// time-reversal-invariant momenta once the gap is open and needs no more than the gap check.
///
/// ```
/// use chern::{KaneMele, Z2Config, Z2Method, z2_invariant};
/// // Kane and Mele's quantum spin Hall point, and their trivial one.
/// let qsh = KaneMele::new(1.0, 0.06, 0.05, 0.1);
/// let z = z2_invariant(&qsh, &qsh.time_reversal(), [24, 24], &Z2Config::default())?;
/// assert_eq!(z.z2, 1);
/// let trivial = KaneMele::new(1.0, 0.06, 0.05, 0.4);
/// let config = Z2Config { method: Z2Method::WilsonLoop, ..Default::default() };
/// assert_eq!(z2_invariant(&trivial, &trivial.time_reversal(), [24, 24], &config)?.z2, 0);
/// # Ok::<(), chern::Error>(())
/// ```
pub fn z2_invariant<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    theta: &TimeReversal,
    grid: [usize; 2],
    config: &Z2Config,
) -> Result<Z2Invariant> {
    let (occupied, violation) = prepare(h, theta, &grid, config)?;
    let tol = &config.tolerances;
    let mut out = Z2Invariant {
        z2: 0,
        method: config.method,
        grid,
        occupied,
        min_gap: f64::NAN,
        time_reversal_violation: violation,
        vortices: None,
        wcc_lines: None,
        wcc: None,
        parities: None,
    };
    match config.method {
        Z2Method::FukuiHatsugai => {
            let v = fukui_hatsugai::vortices(h, theta, grid, occupied, tol)?;
            out.z2 = v.count.rem_euclid(2) as u8;
            out.min_gap = v.min_gap;
            out.vortices = Some(v.count);
        }
        Z2Method::WilsonLoop => {
            let (flow, min_gap) = wilson_loop::wcc_flow(
                h,
                grid,
                occupied,
                tol,
                config.move_tolerance,
                config.max_refinements,
                wilson_loop::LoopCheck {
                    position_tolerance: config.position_tolerance,
                    max_doublings: config.max_loop_doublings,
                },
            )?;
            out.z2 = flow.z2();
            out.min_gap = min_gap;
            out.wcc_lines = Some(flow.k_perp.len());
            out.wcc = Some(flow);
        }
        Z2Method::Parity => {
            out.min_gap = grid_gap(h, &grid, occupied, tol)?;
            let p = config.inversion.as_ref().expect("checked in prepare");
            let parities = parity::trim_parities(h, p, occupied, tol)?;
            out.z2 = parity::product(&parities, |_| true);
            out.parities = Some(parities);
        }
    }
    Ok(out)
}

/// An upper bound in bytes on the memory of [`z2_invariant`] / [`z2_indices`] for a model with
/// `n_bands` bands in `dim` dimensions on `grid` points per axis (every method), with the
/// current thread pool: every method streams the grid, so per thread a few lines of $L$ points
/// (eigenvectors and energies: Fukui–Hatsugai's rows, a Wilson loop's line) and one chunk of
/// the gap check ($L^{d-1}$ points), plus the centres of the refined Wilson-loop lines.
/// `None` on overflow.
pub fn z2_memory_estimate(dim: usize, n_bands: usize, grid: usize) -> Option<u64> {
    let n = n_bands as u64;
    let l = grid as u64;
    let threads = rayon::current_num_threads().max(1) as u64;
    let per_point = n
        .checked_mul(8)?
        .checked_add(n.checked_mul(n)?.checked_mul(16)?)?;
    // Three lines of eigenvectors and energies, a chunk of the gap check, the solver.
    let lines = l.checked_mul(per_point)?.checked_mul(3)?;
    let chunk = l
        .checked_pow(dim.saturating_sub(1) as u32)?
        .checked_mul(n.checked_mul(24)?)?;
    let solver = u64::try_from(lattice_gauge::hermitian::Eigensolver::workspace_bytes(
        n_bands,
    )?)
    .ok()?;
    let per_thread = lines.checked_add(chunk)?.checked_add(solver)?;
    // At most 2 L + 4 lines of centres (n each) after refinement.
    let centres =
        (l.checked_mul(2)?.checked_add(4)?).checked_mul(n.checked_mul(8)?.checked_add(64)?)?;
    per_thread
        .checked_mul(threads)?
        .checked_add(centres)?
        .checked_add(1 << 20)
}

/// Smallest gap above the `occupied` bands on the whole grid ([`Error::GapClosed`] below the
/// tolerance), streamed: one chunk of the grid (a line in 2D, a plane in 3D) per thread at a
/// time.
fn grid_gap<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    grid: &[usize],
    occupied: usize,
    tol: &Tolerances,
) -> Result<f64> {
    let n = h.n_bands();
    let set = BandSet::lowest(occupied);
    let solver = GridSolver::new(h, grid, &BandSet::lowest(1));
    let chunk = solver.chunk_len();
    let gaps: Vec<Result<GapTracker>> = (0..grid[0])
        .into_par_iter()
        .map_init(
            || {
                (
                    solver.workspace(),
                    vec![0.0; chunk * n],
                    vec![C64::new(0.0, 0.0); chunk * n],
                )
            },
            |(ws, energies, vectors), i0| {
                solver.solve_chunk(ws, i0, energies, vectors)?;
                let mut gaps = GapTracker::new(&set, n);
                gaps.observe(energies, n, i0 * chunk);
                Ok(gaps)
            },
        )
        .collect();
    let mut all = GapTracker::new(&set, n);
    for g in gaps {
        all.merge(&g?);
    }
    all.check(grid, tol.gap())
}

/// An error of the plane $k_i = $ `fixed` with the plane's k-point and grid index written as
/// the 3D ones.
fn in_3d(mut e: Error, axes: (usize, usize), fixed: f64, extent: usize) -> Error {
    let lift_k = |k: &mut Vec<f64>| {
        if k.len() == 2 {
            let mut k3 = vec![fixed; 3];
            k3[axes.0] = k[0];
            k3[axes.1] = k[1];
            *k = k3;
        }
    };
    let lift_index = |index: &mut Vec<usize>| {
        if index.len() == 2 {
            let mut i3 = vec![if fixed == 0.0 { 0 } else { extent / 2 }; 3];
            i3[axes.0] = index[0];
            i3[axes.1] = index[1];
            *index = i3;
        }
    };
    match &mut e {
        Error::GapClosed { k, index, .. }
        | Error::SingularOverlap { k, index, .. }
        | Error::Unresolved { k, index, .. } => {
            lift_k(k);
            lift_index(index);
        }
        Error::NonHermitian { k, .. }
        | Error::NonFinite { k, .. }
        | Error::Eigensolver { k, .. }
        | Error::ParityUndefined { k, .. } => lift_k(k),
        _ => {}
    }
    e
}

/// Strong and weak $\mathbb Z_2$ indices $(\nu_0;\nu_1\nu_2\nu_3)$ of a time-reversal-symmetric
/// 3D model on an even grid $L_1\times L_2\times L_3$ (Fu, Kane and Mele, Phys. Rev. Lett. 98,
/// 106803 (2007); Moore and Balents).
///
/// Every method first checks the gap on the whole 3D grid ([`Error::GapClosed`] names the
/// k-point). With [`Z2Method::FukuiHatsugai`] or [`Z2Method::WilsonLoop`]: the 2D invariants $z_i(0)$,
/// $z_i(\pi)$ of the six time-reversal-invariant planes $k_i = 0, \pi$ (each on the grid of its
/// two free axes), $\nu_i = z_i(\pi)$ and $\nu_0 = z_i(0) + z_i(\pi) \bmod 2$, which must agree
/// for $i = 1, 2, 3$ ([`Error::InconsistentPlanes`] otherwise: the grid is too coarse). With
/// [`Z2Method::Parity`]: $(-1)^{\nu_0} = \prod_{i=1}^8\delta_i$ and $(-1)^{\nu_j} =
/// \prod_{\Gamma_i: k_j = \pi}\delta_i$.
///
/// ```
/// use chern::{FuKaneMele, Z2Config, z2_indices};
/// let strong = FuKaneMele::new(1.0, 0.125, 0.4);
/// let z = z2_indices(&strong, &strong.time_reversal(), [8, 8, 8], &Z2Config::default())?;
/// assert_eq!(z.indices, [1, 1, 1, 1]);
/// # Ok::<(), chern::Error>(())
/// ```
pub fn z2_indices<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    theta: &TimeReversal,
    grid: [usize; 3],
    config: &Z2Config,
) -> Result<Z2Indices> {
    let (occupied, violation) = prepare(h, theta, &grid, config)?;
    let tol = &config.tolerances;
    let mut out = Z2Indices {
        z2: 0,
        indices: [0; 4],
        planes: [[0; 2]; 3],
        method: config.method,
        grid,
        occupied,
        min_gap: f64::INFINITY,
        time_reversal_violation: violation,
        parities: None,
    };
    if config.method == Z2Method::Parity {
        out.min_gap = grid_gap(h, &grid, occupied, tol)?;
        let p = config.inversion.as_ref().expect("checked in prepare");
        let parities = parity::trim_parities(h, p, occupied, tol)?;
        for i in 0..3 {
            out.planes[i] = [
                parity::product(&parities, |k| k[i] == 0.0),
                parity::product(&parities, |k| k[i] != 0.0),
            ];
        }
        out.parities = Some(parities);
    } else {
        // A 3D insulator needs the gap open everywhere, not only on the six planes.
        out.min_gap = grid_gap(h, &grid, occupied, tol)?;
        // The plane config: time reversal was checked on the whole 3D grid already.
        let plane_config = Z2Config {
            occupied: Some(occupied),
            symmetry_tolerance: f64::INFINITY,
            ..config.clone()
        };
        for i in 0..3 {
            let axes = match i {
                0 => (1, 2),
                1 => (0, 2),
                _ => (0, 1),
            };
            for (slot, fixed) in [0.0, PI].into_iter().enumerate() {
                let plane = Plane::new(h, axes, fixed)?;
                let z = z2_invariant(&plane, theta, [grid[axes.0], grid[axes.1]], &plane_config)
                    .map_err(|e| in_3d(e, axes, fixed, grid[i]))?;
                out.planes[i][slot] = z.z2;
                out.min_gap = out.min_gap.min(z.min_gap);
            }
        }
    }
    let strong: Vec<u8> = out.planes.iter().map(|[a, b]| (a + b) % 2).collect();
    if strong.iter().any(|&s| s != strong[0]) {
        return Err(Error::InconsistentPlanes { planes: out.planes });
    }
    out.z2 = strong[0];
    out.indices = [
        strong[0],
        out.planes[0][1],
        out.planes[1][1],
        out.planes[2][1],
    ];
    Ok(out)
}

/// An occupation a time-reversal-invariant insulator can have: at least one Kramers pair below the gap,
/// empty bands above it, and whole Kramers pairs (an even number of occupied bands).
pub(crate) fn check_kramers_occupation(occupied: usize, n: usize) -> Result<()> {
    if occupied == 0 || occupied >= n {
        return Err(Error::invalid(
            "occupied bands",
            occupied,
            format!(
                "an insulator of {n} bands needs between 2 and {} occupied bands (empty bands above the gap)",
                n.saturating_sub(2).max(2)
            ),
        ));
    }
    if occupied % 2 == 1 {
        return Err(Error::OddOccupation {
            occupied,
            n_bands: n,
        });
    }
    Ok(())
}
