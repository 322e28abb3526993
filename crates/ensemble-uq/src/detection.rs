//! Uncertainty as a detector of misclassified or out-of-distribution samples: AUROC and AUPRC.

use rayon::prelude::*;

use crate::error::{Error, Result};

fn sorted_pairs(
    score: &[f64],
    positive: &[bool],
    metric: &'static str,
) -> Result<Vec<(f64, bool)>> {
    if score.len() != positive.len() {
        return Err(Error::ShapeMismatch {
            what: "positives vs scores",
            expected: score.len(),
            found: positive.len(),
        });
    }
    if let Some(sample) = score.iter().position(|s| s.is_nan()) {
        return Err(Error::NanScore { sample });
    }
    let positives = positive.iter().filter(|&&p| p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::DegenerateClasses {
            metric,
            positives,
            negatives,
        });
    }
    let mut pairs: Vec<(f64, bool)> = score
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    Ok(pairs)
}

/// Area under the ROC curve of `score` (larger = more likely positive) for `positive`.
///
/// Computed as the Mann–Whitney statistic with average ranks for tied scores,
/// $\mathrm{AUROC} = \bigl(\sum_{i \in +} r_i - \tfrac{P(P+1)}{2}\bigr) / (P\,N_-)$, which equals
/// sklearn's `roc_auc_score` (ties count one half). Rank sums are exact integers (in halves).
/// `-0.0` and `0.0` are distinct scores here (total order).
///
/// # Errors
/// [`Error::DegenerateClasses`] without positives or negatives, [`Error::NanScore`],
/// [`Error::ShapeMismatch`].
pub fn auroc(score: &[f64], positive: &[bool]) -> Result<f64> {
    Ok(auroc_sorted(&sorted_pairs(score, positive, "AUROC")?))
}

/// AUROC of (score, positive) pairs sorted by ascending score.
fn auroc_sorted(pairs: &[(f64, bool)]) -> f64 {
    let (mut twice_rank_sum, mut p_count) = (0u128, 0u128);
    let mut r0 = 0usize;
    while r0 < pairs.len() {
        let mut r1 = r0 + 1;
        while r1 < pairs.len() && pairs[r1].0 == pairs[r0].0 {
            r1 += 1;
        }
        let g = (r1 - r0) as u128;
        let pos = pairs[r0..r1].iter().filter(|p| p.1).count() as u128;
        // Ranks r0+1 ..= r0+g; twice their mean is 2 r0 + g + 1.
        twice_rank_sum += pos * (2 * r0 as u128 + g + 1);
        p_count += pos;
        r0 = r1;
    }
    let n_neg = pairs.len() as u128 - p_count;
    let twice_u = twice_rank_sum - p_count * (p_count + 1);
    twice_u as f64 / (2 * p_count * n_neg) as f64
}

/// Average precision of `score` for `positive`: $\sum_t (R_t - R_{t-1}) P_t$ over the distinct
/// score thresholds in decreasing order, a step sum without interpolation (sklearn's
/// `average_precision_score`).
///
/// # Errors
/// As [`auroc`].
pub fn average_precision(score: &[f64], positive: &[bool]) -> Result<f64> {
    Ok(average_precision_sorted(&sorted_pairs(
        score,
        positive,
        "average precision",
    )?))
}

/// Average precision of (score, positive) pairs sorted by ascending score.
fn average_precision_sorted(pairs: &[(f64, bool)]) -> f64 {
    let total_pos = pairs.iter().filter(|p| p.1).count() as f64;
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    let mut r1 = pairs.len();
    while r1 > 0 {
        let mut r0 = r1 - 1;
        while r0 > 0 && pairs[r0 - 1].0 == pairs[r1 - 1].0 {
            r0 -= 1;
        }
        let pos = pairs[r0..r1].iter().filter(|p| p.1).count();
        tp += pos;
        fp += (r1 - r0) - pos;
        let recall = tp as f64 / total_pos;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        r1 = r0;
    }
    ap
}

/// AUROC and AUPRC of one score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    /// [`auroc`].
    pub auroc: f64,
    /// [`average_precision`].
    pub auprc: f64,
}

impl Detection {
    /// Both metrics of `score` for `positive`.
    ///
    /// # Errors
    /// As [`auroc`].
    pub fn new(score: &[f64], positive: &[bool]) -> Result<Self> {
        // One sort serves both.
        let pairs = sorted_pairs(score, positive, "AUROC/AUPRC")?;
        Ok(Self {
            auroc: auroc_sorted(&pairs),
            auprc: average_precision_sorted(&pairs),
        })
    }

    /// Out-of-distribution detection: positives are the OOD samples, scored by the same
    /// uncertainty score as the in-distribution ones.
    ///
    /// # Errors
    /// As [`auroc`]; [`Error::DegenerateClasses`] if either set is empty.
    pub fn out_of_distribution(
        in_distribution: &[f64],
        out_of_distribution: &[f64],
    ) -> Result<Self> {
        let score: Vec<f64> = in_distribution
            .iter()
            .chain(out_of_distribution)
            .copied()
            .collect();
        let positive: Vec<bool> = std::iter::repeat_n(false, in_distribution.len())
            .chain(std::iter::repeat_n(true, out_of_distribution.len()))
            .collect();
        Self::new(&score, &positive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slow pairwise definition: P(s+ > s-) + P(s+ = s-)/2.
    fn auroc_pairs(score: &[f64], positive: &[bool]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..score.len() {
            for j in 0..score.len() {
                if positive[i] && !positive[j] {
                    den += 1.0;
                    if score[i] > score[j] {
                        num += 1.0;
                    } else if score[i] == score[j] {
                        num += 0.5;
                    }
                }
            }
        }
        num / den
    }

    #[test]
    fn auroc_with_ties_matches_pairwise_definition() {
        let s = [0.1, 0.4, 0.4, 0.35, 0.8, 0.4, 0.1, 0.9];
        let y = [false, true, false, true, true, false, true, false];
        assert!((auroc(&s, &y).unwrap() - auroc_pairs(&s, &y)).abs() < 1e-15);
        assert!(matches!(
            auroc(&s, &[false; 8]),
            Err(Error::DegenerateClasses { positives: 0, .. })
        ));
    }

    #[test]
    fn average_precision_small_case() {
        // sklearn: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-15);
    }
}
