//! Selective prediction: risk–coverage and accuracy–rejection curves, AURC, oracle AURC, E-AURC.

use serde::{Deserialize, Serialize};

use crate::detection::{Detection, detection_of_sorted_pairs};
use crate::error::{Error, Result};

/// Samples ranked from most to least certain, with their error indicators.
///
/// Ranking: `certainty` descending, ties in sample order (a stable sort, as
/// `np.argsort(-certainty, kind="stable")`). Use the confidence $\max_k \bar p_k$, or minus an
/// uncertainty score (then ties keep sample order as `np.argsort(score, kind="stable")`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectiveRanking {
    /// Cumulative number of errors among the $k$ most certain samples, $k = 1..N$.
    cumulative_errors: Vec<u32>,
}

/// Area under the risk–coverage curve and its oracle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aurc {
    /// $\mathrm{AURC} = \frac1N \sum_{k=1}^N \mathrm{risk}(k)$, $\mathrm{risk}(k)$ = errors among the
    /// $k$ most certain samples over $k$ (Geifman and El-Yaniv).
    pub aurc: f64,
    /// AURC of the oracle ranking (all correct samples first).
    pub oracle: f64,
    /// $\mathrm{E\text{-}AURC} = \mathrm{AURC} - \mathrm{oracle}$.
    pub excess: f64,
}

/// One point of the accuracy–rejection curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RejectionPoint {
    /// Fraction $q$ of samples rejected (the least certain).
    pub rejected_fraction: f64,
    /// Samples kept, $\lceil (1 - q) N \rceil$ evaluated in floating point (as numpy would).
    pub kept: usize,
    /// Accuracy of the kept samples.
    pub accuracy: f64,
}

impl SelectiveRanking {
    /// Ranks samples by `certainty` (larger = kept first).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`], [`Error::EmptyInput`], [`Error::NanScore`].
    pub fn new(certainty: &[f64], correct: &[bool]) -> Result<Self> {
        Self::check(certainty, correct)?;
        Ok(Self::ranked(certainty, correct).0)
    }

    fn check(certainty: &[f64], correct: &[bool]) -> Result<()> {
        crate::scores::check_paired(
            certainty,
            correct,
            "correct vs certainty",
            "selective ranking",
        )?;
        if u32::try_from(certainty.len()).is_err() {
            return Err(Error::invalid(
                "samples",
                certainty.len(),
                "at most 2^32 - 1 samples per ranking",
            ));
        }
        Ok(())
    }

    /// The ranking, and AUROC/AUPRC of $-$`certainty` for detecting errors from the same sort
    /// (the error-detection score $-\max_k \bar p_k$ needs no sort of its own).
    ///
    /// # Errors
    /// As [`SelectiveRanking::new`]; the inner result as [`Detection::new`].
    pub(crate) fn with_error_detection(
        certainty: &[f64],
        correct: &[bool],
    ) -> Result<(Self, Result<Detection>)> {
        Self::check(certainty, correct)?;
        let (ranking, order) = Self::ranked(certainty, correct);
        Ok((ranking, detection_of_sorted_pairs(&order)))
    }

    /// Sorts by descending certainty, ties in sample order: a stable radix sort of
    /// $(-c_i, [\text{error}_i])$ by its first entry (negation reverses `total_cmp` exactly).
    fn ranked(certainty: &[f64], correct: &[bool]) -> (Self, Vec<(f64, bool)>) {
        let mut order: Vec<(f64, bool)> = certainty
            .iter()
            .zip(correct)
            .map(|(&c, &ok)| (-c, !ok))
            .collect();
        radsort::sort_by_key(&mut order, |p| p.0);
        let mut cumulative_errors = Vec::with_capacity(order.len());
        let mut e = 0u32;
        for &(_, error) in &order {
            e += u32::from(error);
            cumulative_errors.push(e);
        }
        (Self { cumulative_errors }, order)
    }

    /// Number of samples $N$.
    pub fn len(&self) -> usize {
        self.cumulative_errors.len()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.cumulative_errors.is_empty()
    }

    /// $\mathrm{risk}(k)$ for $k = 1..N$ (coverage $k/N$).
    pub fn risk(&self) -> Vec<f64> {
        self.cumulative_errors
            .iter()
            .enumerate()
            .map(|(k, &e)| f64::from(e) / (k + 1) as f64)
            .collect()
    }

    /// Risk of the oracle ranking (all correct samples first) for $k = 1..N$.
    pub fn oracle_risk(&self) -> Vec<f64> {
        let n = self.len();
        let correct = n - *self.cumulative_errors.last().unwrap_or(&0) as usize;
        (1..=n)
            .map(|k| k.saturating_sub(correct) as f64 / k as f64)
            .collect()
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        *self.cumulative_errors.last().unwrap_or(&0) as usize
    }

    /// AURC, oracle AURC and E-AURC.
    pub fn aurc(&self) -> Aurc {
        let n = self.len();
        let aurc = self
            .cumulative_errors
            .iter()
            .enumerate()
            .map(|(k, &e)| f64::from(e) / (k + 1) as f64)
            .sum::<f64>()
            / n as f64;
        let errors = *self.cumulative_errors.last().unwrap_or(&0) as usize;
        let correct = n - errors;
        let oracle = ((correct + 1)..=n)
            .map(|k| (k - correct) as f64 / k as f64)
            .sum::<f64>()
            / n as f64;
        Aurc {
            aurc,
            oracle,
            excess: aurc - oracle,
        }
    }

    /// Accuracy of the kept samples after rejecting each fraction $q \in [0, 1)$.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for $q \notin [0, 1)$ or one that keeps no sample.
    pub fn accuracy_rejection(&self, rejected_fractions: &[f64]) -> Result<Vec<RejectionPoint>> {
        let n = self.len();
        rejected_fractions
            .iter()
            .map(|&q| {
                let kept = ((1.0 - q) * n as f64).ceil();
                if !(0.0..1.0).contains(&q) || kept < 1.0 {
                    return Err(Error::invalid(
                        "rejected fraction",
                        q,
                        "must lie in [0, 1) and keep at least one sample",
                    ));
                }
                let kept = (kept as usize).min(n);
                let e = self.cumulative_errors[kept - 1];
                Ok(RejectionPoint {
                    rejected_fraction: q,
                    kept,
                    accuracy: 1.0 - f64::from(e) / kept as f64,
                })
            })
            .collect()
    }

    /// The whole accuracy–rejection curve on `points` evenly spaced rejected fractions
    /// $q = j/\text{points}$, $j = 0..\text{points}-1$.
    pub fn accuracy_rejection_curve(&self, points: usize) -> Vec<RejectionPoint> {
        let qs: Vec<f64> = (0..points.max(1))
            .map(|j| j as f64 / points.max(1) as f64)
            .collect();
        self.accuracy_rejection(&qs).unwrap_or_default()
    }
}
