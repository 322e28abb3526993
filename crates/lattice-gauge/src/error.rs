//! The crate's error type.

/// Everything that can go wrong in `lattice-gauge`.
///
/// Each variant carries the offending values so that a caller can report them without parsing strings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A lattice needs at least one axis.
    #[error("a lattice needs at least one axis, got an empty list of extents")]
    EmptyShape,
    /// Every extent of a lattice must be at least 1.
    #[error("extent of axis {axis} is zero (extents {extents:?})")]
    ZeroExtent {
        /// The axis with extent zero.
        axis: usize,
        /// All extents that were given.
        extents: Vec<usize>,
    },
    /// The number of sites does not fit into `usize`.
    #[error("lattice volume overflows usize (extents {extents:?})")]
    VolumeOverflow {
        /// All extents that were given.
        extents: Vec<usize>,
    },
    /// A coordinate list has the wrong length.
    #[error("expected {expected} coordinates, got {found}")]
    CoordinateCount {
        /// The lattice dimension.
        expected: usize,
        /// The number of coordinates given.
        found: usize,
    },
    /// A coordinate lies outside `0..extent`.
    #[error("coordinate {coordinate} on axis {axis} is outside 0..{extent}")]
    CoordinateOutOfRange {
        /// The axis.
        axis: usize,
        /// The coordinate given.
        coordinate: usize,
        /// The extent of that axis.
        extent: usize,
    },
    /// A site index lies outside `0..volume`.
    #[error("site {site} is outside 0..{volume}")]
    SiteOutOfRange {
        /// The site index given.
        site: usize,
        /// The number of sites of the lattice.
        volume: usize,
    },
    /// A direction (axis) lies outside `0..dim`.
    #[error("direction {dir} is outside 0..{dim}")]
    DirOutOfRange {
        /// The direction given.
        dir: usize,
        /// The lattice dimension.
        dim: usize,
    },
    /// A plane needs two different directions.
    #[error("a plane needs two different directions, got mu = nu = {dir}")]
    SameDirection {
        /// The direction given twice.
        dir: usize,
    },
    /// Matrices must be at least 1 x 1.
    #[error("matrix size n must be at least 1, got 0")]
    ZeroMatrixSize,
    /// Array data do not have the shape the lattice and matrix size require.
    #[error("{what}: expected array shape {expected}, found {found}")]
    ShapeMismatch {
        /// What was being built.
        what: &'static str,
        /// The required shape, as text (`[2, 12, 3, 3]`).
        expected: String,
        /// The shape given, as text.
        found: String,
    },
    /// Two fields live on different lattices.
    #[error("fields live on different lattices: extents {expected:?} and {found:?}")]
    LatticeMismatch {
        /// Extents of the first lattice.
        expected: Vec<usize>,
        /// Extents of the second lattice.
        found: Vec<usize>,
    },
    /// Two fields have different matrix sizes.
    #[error("matrix sizes differ: {expected} and {found}")]
    MatrixSizeMismatch {
        /// Matrix size of the first field.
        expected: usize,
        /// Matrix size of the second field.
        found: usize,
    },
    /// A matrix required to be unitary is not (within the tolerance).
    #[error(
        "matrix at site {site}{} is not unitary: max |U^dagger U - 1| = {deviation:e} > tolerance {tolerance:e}",
        dir.map(|d| format!(", direction {d}")).unwrap_or_default()
    )]
    NotUnitary {
        /// The direction of the link, for link fields; `None` for fields of one matrix per site.
        dir: Option<usize>,
        /// The site of the matrix.
        site: usize,
        /// $\max_{ij} |(U^\dagger U - 1)_{ij}|$.
        deviation: f64,
        /// The tolerance it was checked against.
        tolerance: f64,
    },
    /// A matrix is (numerically) singular, so its unitary polar factor is not defined.
    #[error(
        "matrix is singular to working precision: smallest singular value {smallest_singular_value:e}, largest {largest_singular_value:e}"
    )]
    Singular {
        /// The smallest singular value.
        smallest_singular_value: f64,
        /// The largest singular value.
        largest_singular_value: f64,
    },
    /// Input contains NaN or infinite entries.
    #[error("input contains a non-finite entry at index {index}")]
    NonFinite {
        /// Flat (row-major) index of the first non-finite entry.
        index: usize,
    },
    /// A slice does not hold an `n x n` matrix.
    #[error("slice of length {len} does not hold an {n} x {n} matrix")]
    MatrixLength {
        /// The matrix size.
        n: usize,
        /// The slice length given.
        len: usize,
    },
    /// Wilson loops need extents of at least 1 in both directions.
    #[error("Wilson loop size must be at least 1 x 1, got {r} x {t}")]
    ZeroLoopSize {
        /// Extent along the first direction.
        r: usize,
        /// Extent along the second direction.
        t: usize,
    },
    /// An iterative algorithm did not converge.
    #[error("{algorithm} did not converge in {iterations} iterations")]
    NoConvergence {
        /// Which algorithm.
        algorithm: &'static str,
        /// How many iterations were done.
        iterations: usize,
    },
    /// No common eigenbasis of a unitary and its mixing Hermitian matrix was found (the matrix
    /// logarithm of a matrix that is not normal).
    #[error(
        "no eigenbasis of the unitary found: max off-diagonal |v_p^† W v_q| = {off_diagonal:.3e} (need < 1e-9)"
    )]
    NoEigenbasis {
        /// The largest off-diagonal element of the best basis tried (NaN for a non-finite $W$).
        off_diagonal: f64,
    },
    /// The spread of the eigenphases of random links near the identity is negative or not finite.
    #[error("invalid eigenphase spread {spread}: must be finite and at least 0")]
    InvalidSpread {
        /// The spread asked for (radians).
        spread: f64,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
