//! Validated inputs: member logits or member probabilities of shape $(M, N, K)$, and labels.
//!
//! The kind of an array is never guessed from its values: a user states it by choosing
//! [`Logits`] or [`Probabilities`]. Both are validated once, at construction, and trusted after.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

use crate::error::{Error, Result};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Element types accepted in input arrays: `f32` (what most Python users save) and `f64`.
///
/// Arrays are kept in their own precision (no full-size `f64` copy of an `f32` array);
/// every computation converts single elements to `f64`.
pub trait Real: Copy + Send + Sync + std::fmt::Debug + sealed::Sealed + 'static {
    /// Machine epsilon of the type.
    const EPSILON: f64;
    /// Name as NumPy writes it (`float32`, `float64`).
    const NAME: &'static str;
    /// Exact conversion to `f64`.
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const EPSILON: f64 = f32::EPSILON as f64;
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const EPSILON: f64 = f64::EPSILON;
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

/// Samples per validation task: large enough to amortise rayon, small enough to balance.
const VALIDATION_CHUNK: usize = 4096;

fn check_extents(shape: &[usize]) -> Result<(usize, usize, usize)> {
    let (m, n, k) = (shape[0], shape[1], shape[2]);
    if m == 0 || n == 0 || k == 0 {
        return Err(Error::empty(format!(
            "member predictions of shape ({m}, {n}, {k}) (every extent must be at least 1)"
        )));
    }
    Ok((m, n, k))
}

fn standard<T: Real>(values: Array3<T>) -> Array3<T> {
    if values.is_standard_layout() {
        values
    } else {
        values.as_standard_layout().into_owned()
    }
}

/// Finds the first (in member, sample, class order) entry failing `check`.
fn first_failure<T: Real>(
    data: &[T],
    (m, n, k): (usize, usize, usize),
    check: impl Fn(usize, usize, &[T]) -> Option<Error> + Sync,
) -> Option<Error> {
    let _ = m;
    data.par_chunks(VALIDATION_CHUNK * k)
        .enumerate()
        .find_map_first(|(chunk, rows)| {
            rows.chunks_exact(k).enumerate().find_map(|(r, row)| {
                let flat = chunk * VALIDATION_CHUNK + r;
                check(flat / n, flat % n, row)
            })
        })
}

/// Member logits $z_{m,i,k}$ of shape $(M, N, K)$: members x samples x classes.
///
/// Member probabilities are $p_m(k\mid x_i) = \operatorname{softmax}_k z_{m,i,\cdot}$, computed on the
/// fly (never stored). Validation: every extent $\ge 1$, every value finite.
#[derive(Debug, Clone)]
pub struct Logits<T: Real = f64> {
    values: Array3<T>,
}

impl<T: Real> Logits<T> {
    /// Validates an $(M, N, K)$ array of logits. A non-standard layout is copied once.
    ///
    /// # Errors
    /// [`Error::EmptyInput`] for a zero extent, [`Error::NonFinite`] naming the first NaN or infinity.
    pub fn new(values: Array3<T>) -> Result<Self> {
        let shape = check_extents(values.shape())?;
        let values = standard(values);
        let data = values.as_slice().unwrap_or(&[]);
        // A branch-free screen (vectorised, at memory speed); the search for the first bad
        // value only runs when there is one.
        let all_finite = data
            .par_chunks(VALIDATION_CHUNK * 16)
            .all(|c| c.iter().fold(true, |ok, v| ok & v.to_f64().is_finite()));
        if all_finite {
            return Ok(Self { values });
        }
        if let Some(e) = first_failure(data, shape, |member, sample, row| {
            row.iter().enumerate().find_map(|(class, &v)| {
                let value = v.to_f64();
                (!value.is_finite()).then_some(Error::NonFinite {
                    member,
                    sample,
                    class,
                    value,
                })
            })
        }) {
            return Err(e);
        }
        Ok(Self { values })
    }

    /// The validated array.
    pub fn view(&self) -> ArrayView3<'_, T> {
        self.values.view()
    }

    /// Gives the array back.
    pub fn into_inner(self) -> Array3<T> {
        self.values
    }

    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        let s = self.values.shape();
        (s[0], s[1], s[2])
    }

    pub(crate) fn data(&self) -> &[T] {
        self.values.as_slice().unwrap_or(&[])
    }
}

/// Member probabilities $p_m(k\mid x_i)$ of shape $(M, N, K)$: members x samples x classes.
///
/// Validation: every extent $\ge 1$; every value finite and $\ge 0$; every row sums to one with
/// $\lvert\sum_k p_{m,i,k} - 1\rvert \le \tau$. The default tolerance is
/// $\tau = 10^{-6} + 4K\varepsilon$ with $\varepsilon$ the machine epsilon of `T`
/// (a float32 softmax of $K$ classes sums to one within a few $K\varepsilon$); choose another
/// with [`Probabilities::with_tolerance`]. Rows are used as given, not renormalised.
#[derive(Debug, Clone)]
pub struct Probabilities<T: Real = f64> {
    values: Array3<T>,
    tolerance: f64,
}

impl<T: Real> Probabilities<T> {
    /// The default row-sum tolerance $10^{-6} + 4K\varepsilon_T$ for `classes` classes.
    pub fn default_tolerance(classes: usize) -> f64 {
        1e-6 + 4.0 * classes as f64 * T::EPSILON
    }

    /// Validates with the default tolerance.
    ///
    /// # Errors
    /// [`Error::EmptyInput`], [`Error::NonFinite`], [`Error::NegativeProbability`], [`Error::RowSum`],
    /// each naming the first offending member, sample (and class) and value.
    pub fn new(values: Array3<T>) -> Result<Self> {
        let k = values.shape()[2];
        Self::with_tolerance(values, Self::default_tolerance(k))
    }

    /// Validates with row sums within `tolerance` of one.
    ///
    /// # Errors
    /// As [`Probabilities::new`]; [`Error::InvalidParameter`] for a negative or non-finite tolerance.
    pub fn with_tolerance(values: Array3<T>, tolerance: f64) -> Result<Self> {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(Error::invalid(
                "tolerance",
                tolerance,
                "must be finite and >= 0",
            ));
        }
        let shape = check_extents(values.shape())?;
        let values = standard(values);
        let data = values.as_slice().unwrap_or(&[]);
        if let Some(e) = first_failure(data, shape, |member, sample, row| {
            let mut sum = 0.0;
            for (class, &v) in row.iter().enumerate() {
                let value = v.to_f64();
                if !value.is_finite() {
                    return Some(Error::NonFinite {
                        member,
                        sample,
                        class,
                        value,
                    });
                }
                if value < 0.0 {
                    return Some(Error::NegativeProbability {
                        member,
                        sample,
                        class,
                        value,
                    });
                }
                sum += value;
            }
            ((sum - 1.0).abs() > tolerance).then_some(Error::RowSum {
                member,
                sample,
                sum,
                tolerance,
            })
        }) {
            return Err(e);
        }
        Ok(Self { values, tolerance })
    }

    /// The row-sum tolerance this array was validated with.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// The validated array.
    pub fn view(&self) -> ArrayView3<'_, T> {
        self.values.view()
    }

    /// Gives the array back.
    pub fn into_inner(self) -> Array3<T> {
        self.values
    }

    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        let s = self.values.shape();
        (s[0], s[1], s[2])
    }

    pub(crate) fn data(&self) -> &[T] {
        self.values.as_slice().unwrap_or(&[])
    }
}

/// Integer class labels $y_i \in \{0, \dots, K-1\}$, validated against $K$.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    values: Vec<usize>,
    classes: usize,
}

impl Labels {
    /// Validates labels for `classes` classes.
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] naming the first bad sample; [`Error::EmptyInput`] for no
    /// labels, [`Error::InvalidParameter`] for no classes.
    pub fn new(values: Vec<usize>, classes: usize) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::empty("labels (no samples)"));
        }
        if classes == 0 {
            return Err(Error::invalid(
                "classes",
                0,
                "labels need at least one class",
            ));
        }
        if let Some((sample, &label)) = values.iter().enumerate().find(|(_, l)| **l >= classes) {
            return Err(Error::LabelOutOfRange {
                sample,
                label: label as i128,
                classes,
            });
        }
        Ok(Self { values, classes })
    }

    /// Validates signed labels (as read from `int64`/`int32` files).
    ///
    /// # Errors
    /// As [`Labels::new`]; negative labels are out of range.
    pub fn from_signed(values: &[i64], classes: usize) -> Result<Self> {
        let mut out = Vec::with_capacity(values.len());
        for (sample, &label) in values.iter().enumerate() {
            match usize::try_from(label) {
                Ok(l) if l < classes => out.push(l),
                _ => {
                    return Err(Error::LabelOutOfRange {
                        sample,
                        label: i128::from(label),
                        classes,
                    });
                }
            }
        }
        Self::new(out, classes)
    }

    /// The labels.
    pub fn as_slice(&self) -> &[usize] {
        &self.values
    }

    /// Number of classes $K$ they were validated against.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of samples $N$.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: empty labels are rejected.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn errors_name_member_sample_class_and_value() {
        let mut a = Array3::<f64>::from_elem((2, 3, 2), 0.5);
        a[[1, 2, 0]] = -0.25;
        a[[1, 2, 1]] = 1.25;
        match Probabilities::new(a.clone()) {
            Err(Error::NegativeProbability {
                member: 1,
                sample: 2,
                class: 0,
                value,
            }) => assert_eq!(value, -0.25),
            other => panic!("unexpected {other:?}"),
        }
        a[[1, 2, 0]] = 0.25;
        match Probabilities::new(a.clone()) {
            Err(Error::RowSum {
                member: 1,
                sample: 2,
                sum,
                ..
            }) => assert_eq!(sum, 1.5),
            other => panic!("unexpected {other:?}"),
        }
        let mut z = Array3::<f32>::zeros((2, 3, 2));
        z[[0, 1, 1]] = f32::NAN;
        assert!(matches!(
            Logits::new(z),
            Err(Error::NonFinite {
                member: 0,
                sample: 1,
                class: 1,
                ..
            })
        ));
        assert!(matches!(
            Logits::new(Array3::<f64>::zeros((2, 0, 3))),
            Err(Error::EmptyInput { .. })
        ));
        assert!(matches!(
            Labels::from_signed(&[0, 1, -1], 2),
            Err(Error::LabelOutOfRange {
                sample: 2,
                label: -1,
                classes: 2
            })
        ));
        assert!(matches!(
            Labels::new(vec![0, 2], 2),
            Err(Error::LabelOutOfRange { sample: 1, .. })
        ));
    }

    #[test]
    fn non_standard_layout_is_accepted() {
        let a = Array3::<f64>::from_shape_fn((3, 2, 4), |(m, i, k)| (m + 2 * i + 3 * k) as f64);
        let t = a.clone().reversed_axes(); // (4, 2, 3), Fortran layout
        let l = Logits::new(t.clone()).unwrap();
        assert_eq!(l.view(), t.view());
    }
}
