//! proptest strategies for ensemble inputs (feature `proptest-support`), so that downstream code
//! can property-test itself against the same kinds of inputs as this crate.

use ::proptest::prelude::*;
use ndarray::Array3;

use crate::input::{Labels, Logits, Probabilities};

/// Logits of shape $(m, n, k)$ with entries in $[-s, s]$.
pub fn logits(m: usize, n: usize, k: usize, s: f64) -> impl Strategy<Value = Logits> {
    ::proptest::collection::vec(-s..s, m * n * k).prop_map(move |v| {
        Logits::new(
            Array3::from_shape_vec((m, n, k), v).unwrap_or_else(|_| Array3::zeros((m, n, k))),
        )
        .unwrap_or_else(|_| unreachable!("finite logits are valid"))
    })
}

/// Probabilities of shape $(m, n, k)$, some rows one-hot (exact zeros), the others a normalised
/// draw with occasional exact zeros.
pub fn probabilities(m: usize, n: usize, k: usize) -> impl Strategy<Value = Probabilities> {
    ::proptest::collection::vec((0.0f64..1.0, prop::bool::weighted(0.15), 0..k), m * n * k)
        .prop_map(move |v| {
            let mut a = Array3::<f64>::zeros((m, n, k));
            for (r, row) in a
                .as_slice_mut()
                .unwrap_or(&mut [])
                .chunks_exact_mut(k)
                .enumerate()
            {
                let cells = &v[r * k..(r + 1) * k];
                if cells[0].1 {
                    row[cells[0].2] = 1.0;
                    continue;
                }
                for (x, c) in row.iter_mut().zip(cells) {
                    *x = if c.0 < 0.1 { 0.0 } else { c.0 };
                }
                let s: f64 = row.iter().sum();
                if s == 0.0 {
                    row[0] = 1.0;
                } else {
                    row.iter_mut().for_each(|x| *x /= s);
                }
            }
            Probabilities::new(a).unwrap_or_else(|_| unreachable!("normalised rows are valid"))
        })
}

/// `n` labels for `k` classes.
pub fn labels(n: usize, k: usize) -> impl Strategy<Value = Labels> {
    ::proptest::collection::vec(0..k, n).prop_map(move |v| {
        Labels::new(v, k).unwrap_or_else(|_| unreachable!("labels drawn in range"))
    })
}

/// A whole labelled problem: shape drawn from the given ranges.
pub fn labelled_logits(
    members: std::ops::RangeInclusive<usize>,
    samples: std::ops::RangeInclusive<usize>,
    classes: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = (Logits, Labels)> {
    (members, samples, classes).prop_flat_map(|(m, n, k)| (logits(m, n, k, 8.0), labels(n, k)))
}
