//! Conversion between `lattice-gauge` fields and libtorch tensors of native complex kind.
//!
//! Layouts, for a $d$-dimensional lattice with extents $(L_1, \dots, L_d)$ and $n \times n$ matrices
//! (all matrices row-major, the last two axes):
//!
//! | field                 | tensor shape                          | element                      |
//! |-----------------------|---------------------------------------|------------------------------|
//! | [`LinkField`]         | $(d, L_1, \dots, L_d, n, n)$          | `[mu, x.., i, j]` $= U_\mu(x)_{ij}$ |
//! | [`PlaquetteField`]    | $(P, L_1, \dots, L_d, n, n)$          | `[p, x.., i, j]` $= W_p(x)_{ij}$, planes in [`Lattice::planes`] order, $P = d(d-1)/2$ |
//! | [`MatrixField`]       | $(L_1, \dots, L_d, n, n)$             | `[x.., i, j]` $= Y(x)_{ij}$   |
//! | [`GaugeTransform`]    | $(L_1, \dots, L_d, n, n)$             | `[x.., i, j]` $= \Omega(x)_{ij}$ |
//!
//! A batch of $B$ fields (a slice) becomes one tensor with a leading axis of size $B$
//! ([`TensorField::batch_to_tensor`], [`TensorField::batch_from_tensor`]). Sites are row-major
//! (last axis fastest), exactly as [`Lattice::site`] numbers them, so the lattice axes of the tensor
//! are the site axis of the `lattice-gauge` arrays reshaped.
//!
//! [`Precision::Double`] (`Kind::ComplexDouble`) is exact in both directions;
//! [`Precision::Single`] (`Kind::ComplexFloat`, the networks' default) rounds every entry to
//! single precision, so unitary fields read back from such tensors are checked with the looser
//! [`SINGLE_PRECISION_UNITARITY_TOLERANCE`].
//!
//! ```
//! use gauge_nn::convert::{Precision, TensorField};
//! use lattice_gauge::{Lattice, LinkField};
//! use rand::SeedableRng;
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let lattice = Lattice::new(&[4, 3])?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let links = LinkField::haar_random(&lattice, 2, &mut rng)?;
//! let t = links.to_tensor(Precision::Double)?;
//! assert_eq!(t.size(), [2, 4, 3, 2, 2]);
//! assert_eq!(t.kind(), tch::Kind::ComplexDouble);
//! let back = LinkField::from_tensor(&t, &lattice)?;
//! assert_eq!(back.as_array(), links.as_array());
//! # Ok(())
//! # }
//! ```
use std::borrow::Cow;

use lattice_gauge::matrix::{self, UNITARITY_TOLERANCE};
use lattice_gauge::{C64, GaugeTransform, Lattice, LinkField, MatrixField, PlaquetteField};
use ndarray::{Array3, Array4};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// The complex kind of the tensors this crate builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Precision {
    /// `Kind::ComplexFloat` (two `f32`): what the networks train on.
    #[default]
    Single,
    /// `Kind::ComplexDouble` (two `f64`): exact.
    Double,
}

impl Precision {
    /// The complex tensor kind.
    pub fn complex_kind(self) -> Kind {
        match self {
            Precision::Single => Kind::ComplexFloat,
            Precision::Double => Kind::ComplexDouble,
        }
    }

    /// The real kind of the same precision (`Float` or `Double`).
    pub fn real_kind(self) -> Kind {
        match self {
            Precision::Single => Kind::Float,
            Precision::Double => Kind::Double,
        }
    }

    /// The precision of a complex tensor kind; an error for any other kind.
    pub fn of_kind(kind: Kind, what: &'static str) -> Result<Precision> {
        match kind {
            Kind::ComplexFloat => Ok(Precision::Single),
            Kind::ComplexDouble => Ok(Precision::Double),
            found => Err(Error::Kind {
                what,
                expected: vec![Kind::ComplexFloat, Kind::ComplexDouble],
                found,
            }),
        }
    }
}

/// Builds a complex tensor of the given shape from row-major data (on the CPU).
///
/// Errors if the number of elements of `shape` differs from `data.len()` or `shape` has a
/// negative entry.
pub fn complex_tensor(data: &[C64], shape: &[i64], precision: Precision) -> Result<Tensor> {
    stack_complex(&[data], shape, precision)
}

/// One complex tensor of the given shape from the concatenation of `parts` (row-major), written
/// straight into a pre-sized buffer of real and imaginary parts (no intermediate complex copy): a
/// batch stacked from the field slices of its samples.
///
/// Errors if the number of elements of `shape` differs from the total length of the parts or
/// `shape` has a negative entry.
pub fn stack_complex(parts: &[&[C64]], shape: &[i64], precision: Precision) -> Result<Tensor> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let numel = shape.iter().try_fold(1usize, |acc, &s| {
        usize::try_from(s).ok().and_then(|s| acc.checked_mul(s))
    });
    if numel != Some(len) {
        return Err(Error::ShapeMismatch {
            what: "complex tensor data",
            expected: format!("{:?}", shape.to_vec()),
            found: format!("{:?}", vec![len as i64]),
        });
    }
    let mut real_shape = shape.to_vec();
    real_shape.push(2);
    let real = match precision {
        Precision::Double => {
            let mut flat = Vec::with_capacity(2 * len);
            for part in parts {
                flat.extend(part.iter().flat_map(|z| [z.re, z.im]));
            }
            Tensor::f_from_slice(&flat)?
        }
        Precision::Single => {
            let mut flat = Vec::with_capacity(2 * len);
            for part in parts {
                flat.extend(part.iter().flat_map(|z| [z.re as f32, z.im as f32]));
            }
            Tensor::f_from_slice(&flat)?
        }
    };
    Ok(real.f_view(real_shape.as_slice())?.f_view_as_complex()?)
}

/// Copies a complex tensor (any device, any strides, `ComplexFloat` or `ComplexDouble`) into
/// row-major `C64` data; returns the data and the shape.
pub fn complex_data(t: &Tensor) -> Result<(Vec<C64>, Vec<i64>)> {
    Precision::of_kind(t.f_kind()?, "complex tensor")?;
    let shape = t.size();
    let real = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::ComplexDouble)?
        .f_resolve_conj()?
        .f_contiguous()?
        .f_view_as_real()?
        .f_contiguous()?;
    let numel = real.numel();
    let mut flat = vec![0.0f64; numel];
    real.f_copy_data(&mut flat, numel)?;
    let data = flat.chunks_exact(2).map(|p| C64::new(p[0], p[1])).collect();
    Ok((data, shape))
}

/// Tolerance on $\max_{ij} |(U^\dagger U - 1)_{ij}|$ when unitary fields are read back from
/// `ComplexFloat` tensors (single-precision rounding of unitary matrices stays far below it).
pub const SINGLE_PRECISION_UNITARITY_TOLERANCE: f64 = 1e-5;

/// The unitarity tolerance for fields read from `t`: `lattice-gauge`'s default for
/// `ComplexDouble`, [`SINGLE_PRECISION_UNITARITY_TOLERANCE`] for `ComplexFloat`.
fn unitarity_tolerance(t: &Tensor) -> Result<f64> {
    Ok(match Precision::of_kind(t.f_kind()?, "complex tensor")? {
        Precision::Double => UNITARITY_TOLERANCE,
        Precision::Single => SINGLE_PRECISION_UNITARITY_TOLERANCE,
    })
}

/// The shape `(extents.., n, n)` of one matrix per site.
fn site_matrix_shape(lattice: &Lattice, n: usize) -> Vec<i64> {
    lattice
        .extents()
        .iter()
        .map(|&l| l as i64)
        .chain([n as i64, n as i64])
        .collect()
}

/// A `lattice-gauge` field that has a tensor layout (see the [module docs](self)).
///
/// The required methods describe the layout; the provided ones convert single fields and batches.
pub trait TensorField: Sized {
    /// What the field is, for error messages.
    const WHAT: &'static str;

    /// The tensor shape of one field on `lattice` with `n x n` matrices.
    fn tensor_shape(lattice: &Lattice, n: usize) -> Vec<i64>;

    /// The lattice the field lives on.
    fn field_lattice(&self) -> &Lattice;

    /// The matrix size.
    fn field_n(&self) -> usize;

    /// The field's entries in tensor (row-major) order.
    fn field_data(&self) -> Cow<'_, [C64]>;

    /// Builds the field from entries in tensor order (the length is already checked); unitary
    /// fields are checked with `tolerance` on $\max_{ij} |(U^\dagger U - 1)_{ij}|$.
    fn from_field_data(lattice: &Lattice, n: usize, data: Vec<C64>, tolerance: f64)
    -> Result<Self>;

    /// The field as a tensor of shape [`TensorField::tensor_shape`].
    fn to_tensor(&self, precision: Precision) -> Result<Tensor> {
        let shape = Self::tensor_shape(self.field_lattice(), self.field_n());
        complex_tensor(&self.field_data(), &shape, precision)
    }

    /// The field from a complex tensor of shape [`TensorField::tensor_shape`] (with `n` read from
    /// the last axis); errors on a wrong kind, shape, or (for unitary fields) non-unitary entries.
    fn from_tensor(t: &Tensor, lattice: &Lattice) -> Result<Self> {
        let (data, shape) = complex_data(t)?;
        let n = matrix_size::<Self>(&shape, lattice, false)?;
        Self::from_field_data(lattice, n, data, unitarity_tolerance(t)?)
    }

    /// A batch of fields as one tensor with a leading batch axis. The fields must share the
    /// lattice and `n`; the batch must not be empty.
    fn batch_to_tensor(fields: &[Self], precision: Precision) -> Result<Tensor> {
        let first = fields
            .first()
            .ok_or(Error::EmptyInput { what: Self::WHAT })?;
        let (lattice, n) = (first.field_lattice(), first.field_n());
        let mut data = Vec::new();
        for (index, f) in fields.iter().enumerate() {
            if f.field_lattice().extents() != lattice.extents() || f.field_n() != n {
                return Err(Error::BatchMismatch {
                    what: Self::WHAT,
                    index,
                    expected_extents: lattice.extents().to_vec(),
                    expected_n: n,
                    found_extents: f.field_lattice().extents().to_vec(),
                    found_n: f.field_n(),
                });
            }
            data.extend_from_slice(&f.field_data());
        }
        let mut shape = vec![fields.len() as i64];
        shape.extend(Self::tensor_shape(lattice, n));
        complex_tensor(&data, &shape, precision)
    }

    /// A batch of fields from a tensor with a leading batch axis.
    fn batch_from_tensor(t: &Tensor, lattice: &Lattice) -> Result<Vec<Self>> {
        let (data, shape) = complex_data(t)?;
        let n = matrix_size::<Self>(&shape, lattice, true)?;
        let tolerance = unitarity_tolerance(t)?;
        let batch = shape[0] as usize;
        if batch == 0 {
            return Ok(Vec::new());
        }
        data.chunks_exact(data.len() / batch)
            .map(|chunk| Self::from_field_data(lattice, n, chunk.to_vec(), tolerance))
            .collect()
    }
}

/// Reads `n` from the last axis of `shape` and checks the whole shape against the layout of `F`
/// (with a leading batch axis of any size if `batched`).
fn matrix_size<F: TensorField>(shape: &[i64], lattice: &Lattice, batched: bool) -> Result<usize> {
    let n = shape.last().copied().unwrap_or(0);
    let layout = |n: i64| {
        let mut expected = F::tensor_shape(lattice, n.max(1) as usize);
        let len = expected.len();
        expected[len - 2] = n;
        expected[len - 1] = n;
        if batched {
            expected.insert(0, shape.first().copied().unwrap_or(-1));
        }
        expected
    };
    if n < 1 || shape != layout(n).as_slice() || (batched && shape[0] < 0) {
        return Err(Error::ShapeMismatch {
            what: F::WHAT,
            expected: format!("{:?}", layout(-1)),
            found: format!("{:?}", shape.to_vec()),
        });
    }
    Ok(n as usize)
}

impl TensorField for LinkField {
    const WHAT: &'static str = "link field";

    fn tensor_shape(lattice: &Lattice, n: usize) -> Vec<i64> {
        let mut s = vec![lattice.dim() as i64];
        s.extend(site_matrix_shape(lattice, n));
        s
    }

    fn field_lattice(&self) -> &Lattice {
        self.lattice()
    }

    fn field_n(&self) -> usize {
        self.n()
    }

    fn field_data(&self) -> Cow<'_, [C64]> {
        array_data(self.as_array().as_slice(), || {
            self.as_array().iter().copied().collect()
        })
    }

    fn from_field_data(
        lattice: &Lattice,
        n: usize,
        data: Vec<C64>,
        tolerance: f64,
    ) -> Result<Self> {
        let shape = (lattice.dim(), lattice.volume(), n, n);
        let array = Array4::from_shape_vec(shape, data).map_err(|_| Error::ShapeMismatch {
            what: Self::WHAT,
            expected: format!("{:?}", Self::tensor_shape(lattice, n)),
            found: "data of another length".into(),
        })?;
        Ok(LinkField::from_array_with_tolerance(
            lattice, n, array, tolerance,
        )?)
    }
}

impl TensorField for PlaquetteField {
    const WHAT: &'static str = "plaquette field";

    fn tensor_shape(lattice: &Lattice, n: usize) -> Vec<i64> {
        let mut s = vec![lattice.planes().len() as i64];
        s.extend(site_matrix_shape(lattice, n));
        s
    }

    fn field_lattice(&self) -> &Lattice {
        self.lattice()
    }

    fn field_n(&self) -> usize {
        self.n()
    }

    fn field_data(&self) -> Cow<'_, [C64]> {
        array_data(self.as_array().as_slice(), || {
            self.as_array().iter().copied().collect()
        })
    }

    fn from_field_data(
        lattice: &Lattice,
        n: usize,
        data: Vec<C64>,
        _tolerance: f64,
    ) -> Result<Self> {
        let shape = (lattice.planes().len(), lattice.volume(), n, n);
        let array = Array4::from_shape_vec(shape, data).map_err(|_| Error::ShapeMismatch {
            what: Self::WHAT,
            expected: format!("{:?}", Self::tensor_shape(lattice, n)),
            found: "data of another length".into(),
        })?;
        Ok(PlaquetteField::new(lattice, n, array)?)
    }
}

impl TensorField for MatrixField {
    const WHAT: &'static str = "matrix field";

    fn tensor_shape(lattice: &Lattice, n: usize) -> Vec<i64> {
        site_matrix_shape(lattice, n)
    }

    fn field_lattice(&self) -> &Lattice {
        self.lattice()
    }

    fn field_n(&self) -> usize {
        self.n()
    }

    fn field_data(&self) -> Cow<'_, [C64]> {
        array_data(self.as_array().as_slice(), || {
            self.as_array().iter().copied().collect()
        })
    }

    fn from_field_data(
        lattice: &Lattice,
        n: usize,
        data: Vec<C64>,
        _tolerance: f64,
    ) -> Result<Self> {
        let array = Array3::from_shape_vec((lattice.volume(), n, n), data).map_err(|_| {
            Error::ShapeMismatch {
                what: Self::WHAT,
                expected: format!("{:?}", Self::tensor_shape(lattice, n)),
                found: "data of another length".into(),
            }
        })?;
        Ok(MatrixField::new(lattice, n, array)?)
    }
}

impl TensorField for GaugeTransform {
    const WHAT: &'static str = "gauge transformation";

    fn tensor_shape(lattice: &Lattice, n: usize) -> Vec<i64> {
        site_matrix_shape(lattice, n)
    }

    fn field_lattice(&self) -> &Lattice {
        self.lattice()
    }

    fn field_n(&self) -> usize {
        self.n()
    }

    fn field_data(&self) -> Cow<'_, [C64]> {
        self.as_field().field_data()
    }

    /// Matrices within `tolerance` of unitary but beyond `lattice-gauge`'s own tolerance (read
    /// from single precision) are replaced by their unitary polar factor, the nearest unitary.
    fn from_field_data(
        lattice: &Lattice,
        n: usize,
        mut data: Vec<C64>,
        tolerance: f64,
    ) -> Result<Self> {
        if tolerance > UNITARITY_TOLERANCE {
            for (site, m) in data.chunks_exact_mut(n * n).enumerate() {
                let deviation = matrix::check_unitary(m, n, tolerance).map_err(|e| match e {
                    lattice_gauge::Error::NotUnitary { deviation, .. } => {
                        lattice_gauge::Error::NotUnitary {
                            dir: None,
                            site,
                            deviation,
                            tolerance,
                        }
                    }
                    e => e,
                })?;
                if deviation > UNITARITY_TOLERANCE {
                    let u = matrix::polar_unitary(m, n)?;
                    m.copy_from_slice(&u);
                }
            }
        }
        let field = MatrixField::from_field_data(lattice, n, data, tolerance)?;
        Ok(GaugeTransform::from_field(field)?)
    }
}

/// Borrows a standard-layout array's slice, or copies the elements in logical order.
fn array_data<'a>(slice: Option<&'a [C64]>, copy: impl FnOnce() -> Vec<C64>) -> Cow<'a, [C64]> {
    match slice {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(copy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_gauge::{Dir, Site};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn double_precision_round_trips_are_exact() -> Result<()> {
        let lattice = Lattice::new(&[3, 4, 2])?;
        let mut r = rng(1);
        let links = LinkField::haar_random(&lattice, 3, &mut r)?;
        let t = links.to_tensor(Precision::Double)?;
        assert_eq!(t.size(), [3, 3, 4, 2, 3, 3]);
        assert_eq!(t.kind(), Kind::ComplexDouble);
        assert_eq!(
            LinkField::from_tensor(&t, &lattice)?.as_array(),
            links.as_array()
        );

        let w = links.plaquettes();
        let t = w.to_tensor(Precision::Double)?;
        assert_eq!(t.size(), [3, 3, 4, 2, 3, 3]);
        assert_eq!(
            PlaquetteField::from_tensor(&t, &lattice)?.as_array(),
            w.as_array()
        );

        let omega = GaugeTransform::random(&lattice, 3, &mut r)?;
        let t = omega.to_tensor(Precision::Double)?;
        assert_eq!(t.size(), [3, 4, 2, 3, 3]);
        let back = GaugeTransform::from_tensor(&t, &lattice)?;
        assert_eq!(back.as_field().as_array(), omega.as_field().as_array());

        let y = links.plaquette_field(Dir(0), Dir(2))?;
        let back = MatrixField::from_tensor(&y.to_tensor(Precision::Double)?, &lattice)?;
        assert_eq!(back.as_array(), y.as_array());
        Ok(())
    }

    #[test]
    fn entries_sit_where_the_layout_says() -> Result<()> {
        let lattice = Lattice::new(&[3, 5])?;
        let links = LinkField::haar_random(&lattice, 2, &mut rng(2))?;
        let t = links.to_tensor(Precision::Double)?;
        let (data, shape) = complex_data(&t)?;
        assert_eq!(shape, [2, 3, 5, 2, 2]);
        let x = lattice.site(&[2, 1])?;
        // Row-major flat index of [mu = 1, 2, 1, i = 1, j = 0].
        let flat = (((3 + 2) * 5 + 1) * 2 + 1) * 2;
        assert_eq!(data[flat], links.link(Dir(1), x)[2]);
        // Reading the complex tensor element by element agrees as well.
        let re = t.real().double_value(&[1, 2, 1, 1, 0]);
        let im = t.imag().double_value(&[1, 2, 1, 1, 0]);
        assert_eq!(C64::new(re, im), links.link(Dir(1), x)[2]);
        Ok(())
    }

    #[test]
    fn batches_round_trip_and_stack_on_a_leading_axis() -> Result<()> {
        let lattice = Lattice::new(&[4, 4])?;
        let mut r = rng(3);
        let fields: Vec<LinkField> = (0..3)
            .map(|_| LinkField::haar_random(&lattice, 2, &mut r))
            .collect::<lattice_gauge::Result<_>>()?;
        let t = LinkField::batch_to_tensor(&fields, Precision::Double)?;
        assert_eq!(t.size(), [3, 2, 4, 4, 2, 2]);
        assert_eq!(
            max_diff(&t.get(1), &fields[1].to_tensor(Precision::Double)?),
            0.0
        );
        let back = LinkField::batch_from_tensor(&t, &lattice)?;
        assert_eq!(back.len(), 3);
        for (a, b) in back.iter().zip(&fields) {
            assert_eq!(a.as_array(), b.as_array());
        }
        Ok(())
    }

    #[test]
    fn single_precision_is_accepted_within_its_tolerance() -> Result<()> {
        let lattice = Lattice::new(&[3, 3])?;
        let mut r = rng(4);
        let links = LinkField::haar_random(&lattice, 4, &mut r)?;
        let t = links.to_tensor(Precision::Single)?;
        assert_eq!(t.kind(), Kind::ComplexFloat);
        let back = LinkField::from_tensor(&t, &lattice)?;
        assert!(back.max_abs_diff(&links)? < 1e-6);
        assert!(back.max_abs_diff(&links)? > 0.0);

        let omega = GaugeTransform::random(&lattice, 4, &mut r)?;
        let back = GaugeTransform::from_tensor(&omega.to_tensor(Precision::Single)?, &lattice)?;
        assert!(back.as_field().max_abs_diff(omega.as_field())? < 1e-6);
        Ok(())
    }

    #[test]
    fn gauge_transformation_on_tensors_matches_lattice_gauge() -> Result<()> {
        let lattice = Lattice::new(&[4, 3, 2])?;
        let mut r = rng(5);
        let n = 3;
        let links = LinkField::haar_random(&lattice, n, &mut r)?;
        let omega = GaugeTransform::random(&lattice, n, &mut r)?;
        let expected = omega.apply_links(&links)?.to_tensor(Precision::Double)?;

        let u = links.to_tensor(Precision::Double)?;
        let o = omega.to_tensor(Precision::Double)?;
        let transformed: Vec<Tensor> = (0..lattice.dim() as i64)
            .map(|mu| {
                let shifted = o.roll([-1i64], [mu]);
                o.matmul(&u.get(mu)).matmul(&shifted.adjoint())
            })
            .collect();
        let got = Tensor::stack(&transformed, 0);
        assert!(max_diff(&got, &expected) < 1e-12);
        Ok(())
    }

    #[test]
    fn plaquettes_on_tensors_match_lattice_gauge() -> Result<()> {
        let lattice = Lattice::new(&[3, 4, 5])?;
        let n = 2;
        let links = LinkField::haar_random(&lattice, n, &mut rng(6))?;
        let expected = links.plaquettes().to_tensor(Precision::Double)?;
        let u = links.to_tensor(Precision::Double)?;
        let planes: Vec<Tensor> = lattice
            .planes()
            .into_iter()
            .map(|(mu, nu)| {
                let (m, v) = (mu.0 as i64, nu.0 as i64);
                let (um, un) = (u.get(m), u.get(v));
                um.matmul(&un.roll([-1i64], [m]))
                    .matmul(&um.roll([-1i64], [v]).adjoint())
                    .matmul(&un.adjoint())
            })
            .collect();
        let got = Tensor::stack(&planes, 0);
        assert_eq!(got.size(), expected.size());
        assert!(max_diff(&got, &expected) < 1e-12);
        // One entry checked against the per-site routine as well.
        let x = lattice.site(&[2, 3, 1])?;
        let w = links.plaquette(Dir(1), Dir(2), x);
        let re = got.real().double_value(&[2, 2, 3, 1, 0, 1]);
        assert!((re - w[1].re).abs() < 1e-12);
        let _ = Site(0);
        Ok(())
    }

    #[test]
    fn bad_tensors_are_errors_naming_what_is_wrong() -> Result<()> {
        let lattice = Lattice::new(&[3, 3])?;
        let links = LinkField::haar_random(&lattice, 2, &mut rng(7))?;
        let t = links.to_tensor(Precision::Double)?;

        let real = Tensor::zeros([2, 3, 3, 2, 2], (Kind::Double, Device::Cpu));
        assert!(matches!(
            LinkField::from_tensor(&real, &lattice),
            Err(Error::Kind {
                found: Kind::Double,
                ..
            })
        ));
        // A link field read on the wrong lattice, or as a matrix field.
        let other = Lattice::new(&[3, 4])?;
        match LinkField::from_tensor(&t, &other) {
            Err(Error::ShapeMismatch {
                expected, found, ..
            }) => {
                assert_eq!(expected, "[2, 3, 4, -1, -1]");
                assert_eq!(found, "[2, 3, 3, 2, 2]");
            }
            other => panic!("expected a shape error, got {other:?}"),
        }
        assert!(matches!(
            MatrixField::from_tensor(&t, &lattice),
            Err(Error::ShapeMismatch { .. })
        ));
        // Non-square matrices.
        let rect = Tensor::zeros([2, 3, 3, 2, 3], (Kind::ComplexDouble, Device::Cpu));
        assert!(matches!(
            LinkField::from_tensor(&rect, &lattice),
            Err(Error::ShapeMismatch { .. })
        ));
        // Non-unitary links.
        let doubled = &t * 2.0;
        assert!(matches!(
            LinkField::from_tensor(&doubled, &lattice),
            Err(Error::Lattice(lattice_gauge::Error::NotUnitary { .. }))
        ));
        // Batches: empty, or of fields on different lattices.
        assert!(matches!(
            LinkField::batch_to_tensor(&[], Precision::Single),
            Err(Error::EmptyInput { .. })
        ));
        let far = LinkField::haar_random(&other, 2, &mut rng(8))?;
        match LinkField::batch_to_tensor(&[links.clone(), far], Precision::Single) {
            Err(Error::BatchMismatch {
                index,
                found_extents,
                ..
            }) => {
                assert_eq!(index, 1);
                assert_eq!(found_extents, [3, 4]);
            }
            other => panic!("expected a batch mismatch, got {other:?}"),
        }
        // Data that do not fill the shape.
        assert!(matches!(
            complex_tensor(&[C64::new(1.0, 0.0); 3], &[2, 2], Precision::Double),
            Err(Error::ShapeMismatch { .. })
        ));
        Ok(())
    }
}
