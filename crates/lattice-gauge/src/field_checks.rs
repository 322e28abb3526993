//! What the per-site matrix fields ([`crate::LinkField`], [`crate::MatrixField`],
//! [`crate::PlaquetteField`]) share: validating their data, their serialised form
//! `{ lattice, n, data }`, and comparisons.
use ndarray::{Array, Dimension};
use serde::{Deserialize, Serialize};

use crate::{C64, Error, Lattice, Result};

/// Checks `data` against the shape `expected` of a field of $n \times n$ matrices named `what`
/// and returns it in standard (row-major) layout.
pub(crate) fn standard_data<D: Dimension>(
    what: &'static str,
    n: usize,
    expected: &[usize],
    data: Array<C64, D>,
) -> Result<Array<C64, D>> {
    if n == 0 {
        return Err(Error::ZeroMatrixSize);
    }
    if data.shape() != expected {
        return Err(Error::ShapeMismatch {
            what,
            expected: format!("{expected:?}"),
            found: format!("{:?}", data.shape()),
        });
    }
    Ok(if data.is_standard_layout() {
        data
    } else {
        data.as_standard_layout().into_owned()
    })
}

/// The serialised form of every field: `{ lattice, n, data }`.
#[derive(Serialize)]
struct FieldRef<'a, A> {
    lattice: &'a Lattice,
    n: usize,
    data: &'a A,
}

#[derive(Deserialize)]
struct FieldRepr<A> {
    lattice: Lattice,
    n: usize,
    data: A,
}

/// Serialises a field as `{ lattice, n, data }`.
pub(crate) fn serialize<S: serde::Serializer, A: Serialize>(
    lattice: &Lattice,
    n: usize,
    data: &A,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    FieldRef { lattice, n, data }.serialize(serializer)
}

/// Reads `{ lattice, n, data }` and builds the field with `build` (which validates it).
pub(crate) fn deserialize<'de, D, A, F>(
    deserializer: D,
    build: impl FnOnce(Lattice, usize, A) -> Result<F>,
) -> std::result::Result<F, D::Error>
where
    D: serde::Deserializer<'de>,
    A: Deserialize<'de>,
{
    let repr = FieldRepr::<A>::deserialize(deserializer)?;
    build(repr.lattice, repr.n, repr.data).map_err(serde::de::Error::custom)
}

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
    crate::matrix::max_abs_difference(a, b)
}

/// `Serialize` as `{ lattice, n, data }` and a validating `Deserialize` for a field type with
/// fields `lattice`, `n`, `data` of array type `$array`, built back by `$build(lattice, n, data)`.
macro_rules! field_serde {
    ($field:ty, $array:ty, $build:path) => {
        impl serde::Serialize for $field {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                $crate::field_checks::serialize(&self.lattice, self.n, &self.data, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $field {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                $crate::field_checks::deserialize(deserializer, |l, n, data: $array| {
                    $build(l, n, data)
                })
            }
        }
    };
}
pub(crate) use field_serde;
