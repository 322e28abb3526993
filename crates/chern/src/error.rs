//! The crate's error type: every undefined answer is an error that names what went wrong and where.
use std::path::PathBuf;

/// Errors of the `chern` crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gap between an occupied and an empty band closes or falls below the tolerance on the grid.
    #[error(
        "gap between bands {lower_band} and {upper_band} is {gap:.3e} (tolerance {tolerance:.1e}) at k = {k:?} (grid index {index:?}): the occupied subspace is ill defined"
    )]
    GapClosed {
        /// The k-point (radians per axis) where the gap is smallest.
        k: Vec<f64>,
        /// Its grid index per axis.
        index: Vec<usize>,
        /// The lower of the two bands.
        lower_band: usize,
        /// The upper of the two bands.
        upper_band: usize,
        /// The smallest gap found.
        gap: f64,
        /// The tolerance it fell below.
        tolerance: f64,
    },
    /// An overlap determinant $|\det V(k)^\dagger V(k+\hat\mu)|$ nearly vanishes: the grid is too coarse.
    #[error(
        "overlap |det V(k)^† V(k+{dir})| = {modulus:.3e} below {tolerance:.1e} at k = {k:?} (grid index {index:?}): grid too coarse, refine it"
    )]
    SingularOverlap {
        /// The k-point (radians) at the start of the link.
        k: Vec<f64>,
        /// Its grid index.
        index: Vec<usize>,
        /// Direction of the link.
        dir: usize,
        /// The modulus of the overlap determinant.
        modulus: f64,
        /// The tolerance it fell below.
        tolerance: f64,
    },
    /// The grid does not resolve the Berry curvature: a plaquette's flux is so large that the
    /// flux through it could as well be $F \pm 2\pi$, and the integer could be wrong (a grid
    /// coarser than the scale on which the bands change: the magnetic cell of
    /// [`Hofstadter`](crate::Hofstadter), the $k$-range of a small gap).
    #[error(
        "grid too coarse: Berry flux {flux:.3} through the plaquette at k = {k:?} (grid index {index:?}) exceeds {limit:.3} in modulus, so the invariant is not resolved (it may be off by an integer); refine the grid"
    )]
    Unresolved {
        /// The k-point (radians) at the plaquette's lower-left corner.
        k: Vec<f64>,
        /// Its grid index.
        index: Vec<usize>,
        /// The flux found (the largest in modulus on the grid).
        flux: f64,
        /// The largest modulus a resolved grid may show.
        limit: f64,
    },
    /// The Wilson loops of neighbouring momenta $k_\perp$ differ too much to be followed from one
    /// to the next: the Berry flux through the strip between two loops (the change of their
    /// total phase, for a Chern number) or the movement of one Wannier charge centre (for the
    /// $\mathbb Z_2$ flow) exceeds [`MAX_RESOLVED_FLUX`](crate::MAX_RESOLVED_FLUX) as a phase
    /// (a centre moving by $3/8$ of the cell). A phase change near $\pi$ is as likely to be
    /// $\mp 2\pi$ away, so the winding (or the count of centres passing the gap) could be off by
    /// an integer.
    #[error(
        "grid too coarse: {what} changes by {phase:.3} (a Berry phase, radians) between the Wilson loops at k = {k_from:.6} and k = {k_to:.6} (momentum across the loops), more than {limit:.3} in modulus, so the loops are not followed from one to the next and the invariant may be off by an integer; refine the grid across the loops"
    )]
    WilsonLoopUnresolved {
        /// What jumps: the total phase of the loops, or one Wannier charge centre.
        what: &'static str,
        /// Momentum across the loops of the first loop (radians).
        k_from: f64,
        /// Momentum across the loops of the second loop (radians).
        k_to: f64,
        /// The change of phase found (the largest in modulus).
        phase: f64,
        /// The largest modulus a resolved grid may show.
        limit: f64,
    },
    /// The grid has fewer points along an axis than the model needs to resolve its bands
    /// ([`BlochHamiltonian::min_resolving_extents`](crate::BlochHamiltonian::min_resolving_extents):
    /// the magnetic cell of [`Hofstadter`](crate::Hofstadter)); on such a grid the bands alias and
    /// the integer can be wrong with small fluxes.
    #[error(
        "grid too coarse: {extents:?} has fewer points than the model's bands need ({needed:?}, the period on which they repeat); refine the grid"
    )]
    GridTooCoarse {
        /// The extents asked for.
        extents: Vec<usize>,
        /// The fewest points per axis the model needs.
        needed: Vec<usize>,
    },
    /// The lattice second Chern number is too far from converged on this grid for its rounding
    /// to be trusted ([`SecondChern::resolved`](crate::SecondChern::resolved)).
    #[error(
        "grid too coarse for the second Chern number: on {grid:?} the raw sum is {raw:.4} and the largest plaquette phase {max_abs_phase:.3} (rounding is trusted within {limit} of an integer and with phases up to {limit}); the sum converges like 1/L^2: refine the grid"
    )]
    SecondChernUnresolved {
        /// The grid.
        grid: Vec<usize>,
        /// The raw sum.
        raw: f64,
        /// The largest plaquette eigenphase.
        max_abs_phase: f64,
        /// The bound on both.
        limit: f64,
    },
    /// The Berry flux of a plaquette is not a finite number: for the eigenphase sum, the
    /// eigenvalues of the plaquette matrix $W(k)$ could not be computed (the unitary eigenvalue
    /// iteration did not converge, or $W$ has non-finite entries); for the determinant formula,
    /// $\det W(k)$ is not finite.
    #[error(
        "the {method} Berry flux of the plaquette at k = {k:?} (grid index {index:?}) is {flux}: {reason}"
    )]
    PlaquetteFlux {
        /// The plaquette's lower-left corner (radians; grid momenta for a link field).
        k: Vec<f64>,
        /// Its grid index.
        index: Vec<usize>,
        /// The formula whose evaluation failed.
        method: crate::Method,
        /// The value obtained.
        flux: f64,
        /// What failed.
        reason: &'static str,
    },
    /// $H(k)$ is not Hermitian.
    #[error("H(k) is not Hermitian at k = {k:?}: max |H - H^†| = {deviation:.3e}")]
    NonHermitian {
        /// The k-point.
        k: Vec<f64>,
        /// $\max_{ij} |H_{ij} - \overline{H_{ji}}|$.
        deviation: f64,
    },
    /// $H(k)$ has a NaN or infinite entry.
    #[error("H(k) has a non-finite entry H[{row}][{col}] = {value} at k = {k:?}")]
    NonFinite {
        /// The k-point.
        k: Vec<f64>,
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
        /// The entry.
        value: num_complex::Complex64,
    },
    /// A set of bands that is empty, out of range, repeated, or not what the operation needs.
    #[error("bad band set {bands:?} for a model with {n_bands} bands: {reason}")]
    BadBandSet {
        /// The bands asked for.
        bands: Vec<usize>,
        /// The number of bands of the model.
        n_bands: usize,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A grid that is empty, has a zero extent, or has the wrong dimension for the operation.
    #[error("bad k-grid {extents:?}: {reason}")]
    BadGrid {
        /// The extents asked for.
        extents: Vec<usize>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A parameter out of its domain (a model parameter, a tolerance, a size).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Name of the parameter.
        name: String,
        /// Its value, as text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An array or matrix of the wrong size.
    #[error("{what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What has the wrong shape.
        what: String,
        /// The shape it must have.
        expected: String,
        /// The shape it has.
        found: String,
    },
    /// An input that must not be empty is.
    #[error("{what} is empty")]
    EmptyInput {
        /// What is empty.
        what: String,
    },
    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The allocator refused the memory a computation needs (reported instead of aborting).
    #[error("{what} needs {}, which cannot be allocated: use a smaller grid, fewer bands or a larger machine", bytes_text(*bytes))]
    OutOfMemory {
        /// What would be allocated.
        what: String,
        /// The size asked for, in bytes (`u128::MAX` where the count itself overflows).
        bytes: u128,
    },
    /// A malformed model file.
    #[error("malformed model file {file}, line {line}{}: field `{field}`: {reason}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    ModelFile {
        /// The file (or `<string>` when parsed from memory).
        file: PathBuf,
        /// The 1-based line of the problem (0 when unknown).
        line: usize,
        /// The 1-based column, where known.
        column: Option<usize>,
        /// The field that is wrong.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The eigen-solver failed (no convergence, which needs a pathological matrix).
    #[error("eigen-decomposition of H(k) failed at k = {k:?}: {source}")]
    Eigensolver {
        /// The k-point.
        k: Vec<f64>,
        /// What failed.
        source: Box<lattice_gauge::Error>,
    },
    /// The field strength $F_{\mu\nu}(x) = -i\log W_{\mu\nu}(x)$ of a plaquette could not be
    /// computed (no eigenbasis of $W$ found, or the eigen-solver failed).
    #[error(
        "the logarithm of the plaquette W_{mu}{nu} at k = {k:?} (grid index {index:?}) failed: {source}"
    )]
    PlaquetteLogarithm {
        /// The plaquette's corner (radians).
        k: Vec<f64>,
        /// Its grid index.
        index: Vec<usize>,
        /// First direction of the plane.
        mu: usize,
        /// Second direction of the plane.
        nu: usize,
        /// What failed.
        source: Box<lattice_gauge::Error>,
    },
    /// A symmetry operator (time reversal $U_T$, inversion $P$) that is malformed: wrong size,
    /// not unitary, or not squaring to what it must.
    #[error("bad {operator}: {reason}")]
    BadSymmetry {
        /// Which operator.
        operator: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The model is not time-reversal symmetric: $U_T\overline{H(k)}U_T^\dagger \ne H(-k)$.
    #[error(
        "time reversal is broken at k = {k:?}: max |U_T conj(H(k)) U_T^† - H(-k)| = {violation:.3e} (relative to max(1, |H|); tolerance {tolerance:.1e}); a Z2 invariant needs Theta H(k) Theta^-1 = H(-k)"
    )]
    TimeReversalBroken {
        /// The k-point (radians) of the largest violation.
        k: Vec<f64>,
        /// The violation there.
        violation: f64,
        /// The tolerance it exceeds.
        tolerance: f64,
    },
    /// The model is not inversion symmetric: $P H(k) P^\dagger \ne H(-k)$.
    #[error(
        "inversion is broken at k = {k:?}: max |P H(k) P^† - H(-k)| = {violation:.3e} (relative to max(1, |H|); tolerance {tolerance:.1e}); the parity criterion needs P H(k) P^† = H(-k)"
    )]
    InversionBroken {
        /// The k-point (radians) of the largest violation.
        k: Vec<f64>,
        /// The violation there.
        violation: f64,
        /// The tolerance it exceeds.
        tolerance: f64,
    },
    /// $S_z$ is not conserved: $H(k)$ couples opposite spins.
    #[error(
        "S_z is not conserved at k = {k:?}: H(k) couples opposite spins with max |H_ij| = {violation:.3e} (tolerance {tolerance:.1e}); the spin Chern number needs [H, S_z] = 0"
    )]
    SpinNotConserved {
        /// The k-point.
        k: Vec<f64>,
        /// The largest spin-flip amplitude.
        violation: f64,
        /// The tolerance it exceeds.
        tolerance: f64,
    },
    /// Kramers pairs need an even number of occupied bands.
    #[error(
        "{occupied} occupied bands of {n_bands}: a time-reversal-invariant insulator (Theta^2 = -1) fills whole Kramers pairs, so the number must be even"
    )]
    OddOccupation {
        /// The number of occupied bands asked for.
        occupied: usize,
        /// The number of bands of the model.
        n_bands: usize,
    },
    /// Wannier charge centres move too far between neighbouring lines to follow the largest gap,
    /// even after refining the lines.
    #[error(
        "Wannier charge centres jump between k = {k_from:.6} and k = {k_to:.6} (perpendicular momentum): a centre lies {distance:.3e} from the largest gap (size {gap:.3e}) of the neighbouring line after {lines} lines; refine the grid along the loops or use the Fukui-Hatsugai method"
    )]
    WccUnresolved {
        /// Perpendicular momentum of the first line (radians).
        k_from: f64,
        /// Perpendicular momentum of the second line.
        k_to: f64,
        /// Smallest distance between a centre and the other line's gap (in units of the lattice
        /// constant).
        distance: f64,
        /// Size of the largest gap.
        gap: f64,
        /// Number of lines used.
        lines: usize,
    },
    /// The Wannier charge centres of one Wilson loop still move by more than the tolerance when
    /// the number of points on the loop is doubled (Z2Pack's `pos_tol` check), after the most
    /// doublings allowed.
    #[error(
        "Wannier charge centres of the Wilson loop at k = {k_perp:.6} (perpendicular momentum) still move by {max_move:.3e} (tolerance {tolerance:.1e}) between loops of {} and {points} points; refine the grid along the loops or use the Fukui-Hatsugai method",
        points / 2
    )]
    WccNotConverged {
        /// Perpendicular momentum of the loop (radians).
        k_perp: f64,
        /// Points on the finest loop tried.
        points: usize,
        /// Largest movement of a centre between the two finest loops (units of the lattice
        /// constant).
        max_move: f64,
        /// The tolerance ([`crate::Z2Config::position_tolerance`]).
        tolerance: f64,
    },
    /// The six time-reversal-invariant planes of a 3D model disagree about the strong index
    /// ($\nu_0 = z_i(0) + z_i(\pi) \bmod 2$ must be the same for $i = 1, 2, 3$): the grid does
    /// not resolve the bands.
    #[error(
        "inconsistent Z2 of the time-reversal-invariant planes (k_i = 0, k_i = pi) = {planes:?}: z(0) + z(pi) must agree for every axis; refine the grid"
    )]
    InconsistentPlanes {
        /// $[z_i(0), z_i(\pi)]$ for $i = 1, 2, 3$.
        planes: [[u8; 2]; 3],
    },
    /// The parities of the occupied states at a time-reversal-invariant momentum are not a set
    /// of Kramers pairs of $\pm1$.
    #[error("parity eigenvalues undefined at k = {k:?}: {reason}")]
    ParityUndefined {
        /// The time-reversal-invariant momentum.
        k: Vec<f64>,
        /// What failed.
        reason: String,
    },
    /// A figure could not be drawn (feature `plots`).
    #[error("cannot draw the figure: {message}")]
    Plot {
        /// What the plotting library reported.
        message: String,
    },
    /// An error of the lattice-gauge crate (building link fields).
    #[error(transparent)]
    Gauge(#[from] lattice_gauge::Error),
}

impl Error {
    /// An [`Error::InvalidParameter`] from a name, the value (anything printable) and a reason.
    pub fn invalid(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// A byte count for people: `1.5 GB`, `320 MB`, `12 kB`, `512 B`.
fn bytes_text(bytes: u128) -> String {
    let b = bytes as f64;
    match bytes {
        u128::MAX => "more bytes than can be counted".to_string(),
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.0} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.0} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
