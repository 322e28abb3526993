//! Checks and comparisons shared by the per-site matrix fields ([`crate::LinkField`],
//! [`crate::MatrixField`], [`crate::PlaquetteField`]).
use crate::{C64, Error, Lattice, Result};

/// Both fields live on the same lattice and carry matrices of the same size `n`.
pub(crate) fn check_same_shape(
    lattice: &Lattice,
    n: usize,
    other_lattice: &Lattice,
    other_n: usize,
) -> Result<()> {
    lattice.check_same(other_lattice)?;
    if n != other_n {
        return Err(Error::MatrixSizeMismatch {
            expected: n,
            found: other_n,
        });
    }
    Ok(())
}

/// The largest entry-wise distance between two equally long flat fields.
pub(crate) fn max_abs_diff(a: &[C64], b: &[C64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}
