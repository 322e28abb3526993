//! Uncertainty as a detector of misclassified or out-of-distribution samples: AUROC and AUPRC.

use crate::error::{Error, Result};

/// Checks the inputs and sorts the scores of the positives and of the negatives separately
/// (stable radix sorts in `total_cmp` order; plain `f64` keys sort several times faster than
/// (score, label) pairs, and one merge walk then gives every tie group).
fn sorted_classes(
    score: &[f64],
    positive: &[bool],
    metric: &'static str,
) -> Result<(Vec<f64>, Vec<f64>)> {
    crate::scores::check_paired(score, positive, "positives vs scores", metric)?;
    let positives = positive.iter().filter(|&&p| p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::DegenerateClasses {
            metric,
            positives,
            negatives,
        });
    }
    let mut pos = Vec::with_capacity(positives);
    let mut neg = Vec::with_capacity(negatives);
    for (&s, &p) in score.iter().zip(positive) {
        if p {
            pos.push(s);
        } else {
            neg.push(s);
        }
    }
    rayon::join(|| radsort::sort(&mut pos), || radsort::sort(&mut neg));
    Ok((pos, neg))
}

/// Calls `f(positives, negatives)` for each group of tied scores (equal under `==`), in
/// descending score order; `pos` and `neg` are sorted ascending.
#[inline]
fn for_each_tie_group(pos: &[f64], neg: &[f64], mut f: impl FnMut(u64, u64)) {
    let (mut i, mut j) = (pos.len(), neg.len());
    while i > 0 || j > 0 {
        let v = if j == 0 {
            pos[i - 1]
        } else if i == 0 {
            neg[j - 1]
        } else {
            let (a, b) = (pos[i - 1], neg[j - 1]);
            if a.total_cmp(&b).is_ge() { a } else { b }
        };
        let (i1, j1) = (i, j);
        while i > 0 && pos[i - 1] == v {
            i -= 1;
        }
        while j > 0 && neg[j - 1] == v {
            j -= 1;
        }
        f((i1 - i) as u64, (j1 - j) as u64);
    }
}

/// AUROC and average precision accumulated over tie groups visited in descending score order.
struct Tally {
    samples: u128,
    positives: u128,
    /// Samples in the groups visited so far (all above the current group).
    above: u128,
    twice_rank_sum: u128,
    tp: u64,
    fp: u64,
    ap: f64,
    prev_recall: f64,
}

impl Tally {
    fn new(samples: usize, positives: usize) -> Self {
        Self {
            samples: samples as u128,
            positives: positives as u128,
            above: 0,
            twice_rank_sum: 0,
            tp: 0,
            fp: 0,
            ap: 0.0,
            prev_recall: 0.0,
        }
    }

    #[inline]
    fn group(&mut self, pos: u64, neg: u64) {
        let g = u128::from(pos + neg);
        // Ascending ranks r0+1 ..= r0+g; twice their mean is 2 r0 + g + 1.
        let r0 = self.samples - self.above - g;
        self.twice_rank_sum += u128::from(pos) * (2 * r0 + g + 1);
        self.above += g;
        // Average precision: the step at this threshold.
        self.tp += pos;
        self.fp += neg;
        let recall = self.tp as f64 / self.positives as f64;
        let precision = self.tp as f64 / (self.tp + self.fp) as f64;
        self.ap += (recall - self.prev_recall) * precision;
        self.prev_recall = recall;
    }

    fn finish(self) -> Detection {
        let (p, n_neg) = (self.positives, self.samples - self.positives);
        let twice_u = self.twice_rank_sum - p * (p + 1);
        Detection {
            auroc: twice_u as f64 / (2 * p * n_neg) as f64,
            auprc: self.ap,
        }
    }
}

/// Both metrics from the separately sorted scores of positives and negatives.
fn detection_of_classes(pos: &[f64], neg: &[f64]) -> Detection {
    let mut t = Tally::new(pos.len() + neg.len(), pos.len());
    for_each_tie_group(pos, neg, |p, n| t.group(p, n));
    t.finish()
}

/// Area under the ROC curve of `score` (larger = more likely positive) for `positive`.
///
/// Computed as the Mann–Whitney statistic with average ranks for tied scores,
/// $\mathrm{AUROC} = \bigl(\sum_{i \in +} r_i - \tfrac{P(P+1)}{2}\bigr) / (P\,N_-)$, which equals
/// sklearn's `roc_auc_score` (ties count one half). Rank sums are exact integers (in halves).
/// Scores are ordered by `total_cmp` and tied when equal under `==` (so `-0.0` ties with `0.0`).
///
/// # Errors
/// [`Error::DegenerateClasses`] without positives or negatives, [`Error::NanScore`],
/// [`Error::ShapeMismatch`].
pub fn auroc(score: &[f64], positive: &[bool]) -> Result<f64> {
    let (pos, neg) = sorted_classes(score, positive, "AUROC")?;
    Ok(detection_of_classes(&pos, &neg).auroc)
}

/// Average precision of `score` for `positive`: $\sum_t (R_t - R_{t-1}) P_t$ over the distinct
/// score thresholds in decreasing order, a step sum without interpolation (sklearn's
/// `average_precision_score`).
///
/// # Errors
/// As [`auroc`].
pub fn average_precision(score: &[f64], positive: &[bool]) -> Result<f64> {
    let (pos, neg) = sorted_classes(score, positive, "average precision")?;
    Ok(detection_of_classes(&pos, &neg).auprc)
}

/// Detection metrics of (score, positive) pairs already sorted by ascending score (ties in
/// any order): the ranking for selective prediction serves the score $-\max_k \bar p_k$.
pub(crate) fn detection_of_sorted_pairs(pairs: &[(f64, bool)]) -> Result<Detection> {
    let positives = pairs.iter().filter(|p| p.1).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::DegenerateClasses {
            metric: "AUROC/AUPRC",
            positives,
            negatives,
        });
    }
    let mut t = Tally::new(pairs.len(), positives);
    let mut r1 = pairs.len();
    while r1 > 0 {
        let v = pairs[r1 - 1].0;
        let (mut r0, mut pos) = (r1, 0u64);
        while r0 > 0 && pairs[r0 - 1].0 == v {
            r0 -= 1;
            pos += u64::from(pairs[r0].1);
        }
        t.group(pos, (r1 - r0) as u64 - pos);
        r1 = r0;
    }
    Ok(t.finish())
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
        let (pos, neg) = sorted_classes(score, positive, "AUROC/AUPRC")?;
        Ok(detection_of_classes(&pos, &neg))
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
    fn split_merge_and_sorted_pair_paths_agree_with_pairwise_definition() {
        // Many ties (a few distinct values, signed zeros among them) and scattered labels.
        let values = [-0.0, 0.0, 0.25, -1.5, 3.0, 0.25 + f64::EPSILON];
        let score: Vec<f64> = (0..400).map(|i| values[(i * 7 + i / 3) % 6]).collect();
        let positive: Vec<bool> = (0..400).map(|i| (i * 13 + i / 5) % 3 == 0).collect();
        let d = Detection::new(&score, &positive).unwrap();
        assert!((d.auroc - auroc_pairs(&score, &positive)).abs() < 1e-15);
        let mut pairs: Vec<(f64, bool)> = score.iter().copied().zip(positive.clone()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(detection_of_sorted_pairs(&pairs).unwrap(), d);
        assert_eq!(auroc(&score, &positive).unwrap(), d.auroc);
        assert_eq!(average_precision(&score, &positive).unwrap(), d.auprc);
        // Average precision by its definition: over distinct thresholds t (descending),
        // (recall(t) - recall(previous t)) * precision(t) with ">=" thresholds.
        let mut thresholds: Vec<f64> = score.clone();
        thresholds.sort_by(|a, b| b.total_cmp(a));
        thresholds.dedup_by(|a, b| a == b);
        let total = positive.iter().filter(|&&p| p).count() as f64;
        let (mut ap, mut prev) = (0.0, 0.0);
        for t in thresholds {
            let tp = score
                .iter()
                .zip(&positive)
                .filter(|(s, p)| **s >= t && **p)
                .count() as f64;
            let all = score.iter().filter(|s| **s >= t).count() as f64;
            ap += (tp / total - prev) * (tp / all);
            prev = tp / total;
        }
        assert!((d.auprc - ap).abs() < 1e-14);
    }

    #[test]
    fn average_precision_small_case() {
        // sklearn: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-15);
    }
}
