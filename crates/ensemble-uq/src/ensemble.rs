//! Ensemble prediction by probability averaging, per-sample uncertainty, and the streaming
//! accumulator that builds it batch by batch.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibration::{Calibration, CalibrationConfig, ClasswiseBins, binned_calibration};
use crate::detection::Detection;
use crate::entropy::{EntropyConvention, Uncertainty};
use crate::error::{Error, Result};
use crate::input::Labels;
use crate::pass::{BlockScratch, MemberPredictions, for_each_block};
use crate::scores::NllConvention;
use crate::selective::SelectiveRanking;

/// Samples per summation block. Sums over samples are formed block by block in sample order
/// (sequential inside a block, blocks added in order), so the result does not depend on how
/// the samples were split into batches or on the number of threads.
pub(crate) const BLOCK: usize = 4096;

/// Options fixed when member predictions are reduced to per-sample quantities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    /// How $-p \ln p$ is evaluated ([`EntropyConvention::Exact`] by default).
    pub entropy: EntropyConvention,
    /// Number of equal-width bins for class-wise ECE, accumulated during the pass
    /// (`None`, the default: class-wise ECE is not computed).
    pub classwise_bins: Option<usize>,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        Self {
            entropy: EntropyConvention::Exact,
            classwise_bins: None,
        }
    }
}

impl EnsembleConfig {
    fn validate(self) -> Result<Self> {
        self.entropy.validate()?;
        if let Some(bins) = self.classwise_bins {
            crate::calibration::check_bins("classwise_bins", bins)?;
        }
        Ok(self)
    }
}

/// Which per-sample quantity ranks samples as "uncertain" (larger = more uncertain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UncertaintyScore {
    /// $H(\bar p)$ (total uncertainty).
    PredictiveEntropy,
    /// $\mathbb E_m H(p_m)$ (aleatoric).
    ExpectedEntropy,
    /// $H(\bar p) - \mathbb E_m H(p_m)$ (epistemic).
    MutualInformation,
    /// $-\max_k \bar p_k$.
    NegativeMaxProbability,
}

impl UncertaintyScore {
    /// All scores, in a fixed order.
    pub const ALL: [Self; 4] = [
        Self::PredictiveEntropy,
        Self::ExpectedEntropy,
        Self::MutualInformation,
        Self::NegativeMaxProbability,
    ];

    /// Short snake-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::PredictiveEntropy => "predictive_entropy",
            Self::ExpectedEntropy => "expected_entropy",
            Self::MutualInformation => "mutual_information",
            Self::NegativeMaxProbability => "neg_max_prob",
        }
    }
}

/// Per-sample uncertainty scores without labels (e.g. of out-of-distribution inputs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UncertaintyScores {
    predictive_entropy: Vec<f64>,
    expected_entropy: Vec<f64>,
    confidence: Vec<f64>,
}

impl UncertaintyScores {
    /// Scores of every sample of `src`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid entropy convention.
    pub fn from_members<P: MemberPredictions>(
        src: &P,
        convention: EntropyConvention,
    ) -> Result<Self> {
        let mut out = Self::default();
        out.push(src, convention)?;
        Ok(out)
    }

    /// Appends the scores of every sample of `src` (streaming; per-sample values do not depend
    /// on batching).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid entropy convention.
    pub fn push<P: MemberPredictions>(
        &mut self,
        src: &P,
        convention: EntropyConvention,
    ) -> Result<()> {
        let convention = convention.validate()?;
        let (m, n, k) = src.shape();
        let start = self.len();
        self.predictive_entropy.resize(start + n, 0.0);
        self.expected_entropy.resize(start + n, 0.0);
        self.confidence.resize(start + n, 0.0);
        self.predictive_entropy[start..]
            .par_chunks_mut(BLOCK)
            .zip(self.expected_entropy[start..].par_chunks_mut(BLOCK))
            .zip(self.confidence[start..].par_chunks_mut(BLOCK))
            .enumerate()
            .for_each(|(c, ((h, eh), conf))| {
                let mut s = BlockScratch::new(m, k);
                for_each_block(src, c * BLOCK, h.len(), convention, &mut s, |s, b0, len| {
                    h[b0..b0 + len].copy_from_slice(&s.predictive[..len]);
                    eh[b0..b0 + len].copy_from_slice(&s.expected[..len]);
                    conf[b0..b0 + len].copy_from_slice(&s.confidence[..len]);
                });
            });
        Ok(())
    }

    /// Makes room for `additional` more samples (no effect on the values).
    pub fn reserve(&mut self, additional: usize) {
        self.predictive_entropy.reserve(additional);
        self.expected_entropy.reserve(additional);
        self.confidence.reserve(additional);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.confidence.len()
    }

    /// True when no sample was added.
    pub fn is_empty(&self) -> bool {
        self.confidence.is_empty()
    }

    /// $H(\bar p_i)$ per sample.
    pub fn predictive_entropy(&self) -> &[f64] {
        &self.predictive_entropy
    }

    /// $\mathbb E_m H(p_{m,i})$ per sample.
    pub fn expected_entropy(&self) -> &[f64] {
        &self.expected_entropy
    }

    /// $\max_k \bar p_{i,k}$ per sample.
    pub fn confidence(&self) -> &[f64] {
        &self.confidence
    }

    /// Mutual information per sample, $\max(H(\bar p_i) - \mathbb E_m H(p_{m,i}), 0)$.
    pub fn mutual_information(&self) -> Vec<f64> {
        self.predictive_entropy
            .iter()
            .zip(&self.expected_entropy)
            .map(|(&h, &e)| Uncertainty::from_entropies(h, e).mutual_information)
            .collect()
    }

    /// The decomposition of sample `i`.
    pub fn uncertainty(&self, i: usize) -> Option<Uncertainty> {
        Some(Uncertainty::from_entropies(
            *self.predictive_entropy.get(i)?,
            *self.expected_entropy.get(i)?,
        ))
    }

    /// Per-sample values of `score` (larger = more uncertain).
    pub fn score(&self, score: UncertaintyScore) -> Vec<f64> {
        match score {
            UncertaintyScore::PredictiveEntropy => self.predictive_entropy.clone(),
            UncertaintyScore::ExpectedEntropy => self.expected_entropy.clone(),
            UncertaintyScore::MutualInformation => self.mutual_information(),
            UncertaintyScore::NegativeMaxProbability => {
                self.confidence.iter().map(|&c| -c).collect()
            }
        }
    }

    /// Means over samples of the three entropies (sequential sums in sample order).
    pub fn mean_uncertainty(&self) -> Uncertainty {
        let n = self.len().max(1) as f64;
        let h = self.predictive_entropy.iter().sum::<f64>() / n;
        let e = self.expected_entropy.iter().sum::<f64>() / n;
        let mi = self
            .predictive_entropy
            .iter()
            .zip(&self.expected_entropy)
            .map(|(&h, &e)| Uncertainty::from_entropies(h, e).mutual_information)
            .sum::<f64>()
            / n;
        Uncertainty {
            predictive_entropy: h,
            expected_entropy: e,
            mutual_information: mi,
        }
    }
}

/// A sum over samples formed in fixed blocks of [`BLOCK`] consecutive samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct BlockSum {
    /// Sum of the completed blocks, added in order.
    total: f64,
    /// Running sequential sum of the current, incomplete block.
    partial: f64,
}

/// Builds an [`EnsemblePrediction`] batch by batch, for data sets larger than memory.
///
/// Per-sample quantities are stored (a few numbers per sample, $M K$ times less than the
/// input); every sum over samples is formed in fixed blocks of consecutive samples, and
/// integer fixed-point sums are used for class-wise bins, so the result is **bit for bit**
/// the one of a single pass over all samples, whatever the batch sizes and thread count.
#[derive(Debug, Clone)]
pub struct EnsembleAccumulator {
    config: EnsembleConfig,
    shape: Option<(usize, usize)>,
    batches: usize,
    scores: UncertaintyScores,
    prediction: Vec<u32>,
    correct: Vec<bool>,
    true_class_probability: Vec<f64>,
    brier: BlockSum,
    classwise: Option<ClasswiseBins>,
    /// Per class: (label count, correct count, prediction count).
    class_counts: Vec<[u64; 3]>,
}

impl EnsembleAccumulator {
    /// An empty accumulator.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid entropy epsilon or zero class-wise bins.
    pub fn new(config: EnsembleConfig) -> Result<Self> {
        let config = config.validate()?;
        Ok(Self {
            config,
            shape: None,
            batches: 0,
            scores: UncertaintyScores::default(),
            prediction: Vec::new(),
            correct: Vec::new(),
            true_class_probability: Vec::new(),
            brier: BlockSum::default(),
            classwise: None,
            class_counts: Vec::new(),
        })
    }

    /// Makes room for `additional` more samples (no effect on the values).
    pub fn reserve(&mut self, additional: usize) {
        self.scores.reserve(additional);
        self.prediction.reserve(additional);
        self.correct.reserve(additional);
        self.true_class_probability.reserve(additional);
    }

    /// Number of samples accumulated so far.
    pub fn len(&self) -> usize {
        self.correct.len()
    }

    /// True before the first batch.
    pub fn is_empty(&self) -> bool {
        self.correct.is_empty()
    }

    /// Adds a batch: member predictions of shape $(M, n_b, K)$ and its $n_b$ labels.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if labels and samples or classes disagree;
    /// [`Error::Inconsistent`] if $M$ or $K$ differ from earlier batches.
    pub fn push<P: MemberPredictions>(&mut self, src: &P, labels: &Labels) -> Result<()> {
        let (m, n, k) = src.shape();
        if labels.len() != n {
            return Err(Error::mismatch("labels vs samples", n, labels.len()));
        }
        if labels.classes() != k {
            return Err(Error::mismatch(
                "classes of labels vs predictions",
                k,
                labels.classes(),
            ));
        }
        match self.shape {
            Some((m0, _)) if m0 != m => {
                return Err(Error::Inconsistent {
                    index: self.batches,
                    what: "members",
                    expected: m0,
                    found: m,
                });
            }
            Some((_, k0)) if k0 != k => {
                return Err(Error::Inconsistent {
                    index: self.batches,
                    what: "classes",
                    expected: k0,
                    found: k,
                });
            }
            _ => {}
        }
        self.shape = Some((m, k));
        self.class_counts.resize(k, [0; 3]);
        if let (None, Some(b)) = (&self.classwise, self.config.classwise_bins) {
            self.classwise = Some(ClasswiseBins::new(k, b)?);
        }
        let convention = self.config.entropy;
        let y = labels.as_slice();
        let start = self.len();
        let end = start + n;
        self.scores.predictive_entropy.resize(end, 0.0);
        self.scores.expected_entropy.resize(end, 0.0);
        self.scores.confidence.resize(end, 0.0);
        self.prediction.resize(end, 0);
        self.correct.resize(end, false);
        self.true_class_probability.resize(end, 0.0);

        // Segments never cross a global block boundary.
        let mut bounds = vec![start];
        let mut b = (start / BLOCK + 1) * BLOCK;
        while b < end {
            bounds.push(b);
            b += BLOCK;
        }
        bounds.push(end);

        struct Segment<'a> {
            first: usize,
            h: &'a mut [f64],
            eh: &'a mut [f64],
            conf: &'a mut [f64],
            pred: &'a mut [u32],
            correct: &'a mut [bool],
            ptrue: &'a mut [f64],
        }
        let mut segments = Vec::with_capacity(bounds.len() - 1);
        {
            let mut h = &mut self.scores.predictive_entropy[start..];
            let mut eh = &mut self.scores.expected_entropy[start..];
            let mut conf = &mut self.scores.confidence[start..];
            let mut pred = &mut self.prediction[start..];
            let mut correct = &mut self.correct[start..];
            let mut ptrue = &mut self.true_class_probability[start..];
            for w in bounds.windows(2) {
                let len = w[1] - w[0];
                let (a, rest) = std::mem::take(&mut h).split_at_mut(len);
                h = rest;
                let (b, rest) = std::mem::take(&mut eh).split_at_mut(len);
                eh = rest;
                let (c, rest) = std::mem::take(&mut conf).split_at_mut(len);
                conf = rest;
                let (d, rest) = std::mem::take(&mut pred).split_at_mut(len);
                pred = rest;
                let (e, rest) = std::mem::take(&mut correct).split_at_mut(len);
                correct = rest;
                let (f, rest) = std::mem::take(&mut ptrue).split_at_mut(len);
                ptrue = rest;
                segments.push(Segment {
                    first: w[0] - start,
                    h: a,
                    eh: b,
                    conf: c,
                    pred: d,
                    correct: e,
                    ptrue: f,
                });
            }
        }
        let carried = self.brier.partial;
        let classwise_shape = self.classwise.as_ref().map(|c| (c.classes(), c.bins()));
        type SegmentResult = (f64, Option<ClasswiseBins>, Vec<[u64; 3]>);
        let results: Vec<SegmentResult> = segments
            .into_par_iter()
            .enumerate()
            .map(|(s_idx, seg)| {
                let mut s = BlockScratch::new(m, k);
                // Only the first segment continues a block begun in an earlier batch.
                let mut brier = if s_idx == 0 { carried } else { 0.0 };
                let mut cw =
                    classwise_shape.map(|(kk, bb)| ClasswiseBins::with_cells(kk, bb, kk * bb));
                let mut counts = vec![[0u64; 3]; k];
                let count = seg.h.len();
                for_each_block(src, seg.first, count, convention, &mut s, |s, b0, len| {
                    for r in 0..len {
                        let (j, i) = (b0 + r, seg.first + b0 + r);
                        let mean = &s.mean[r * k..(r + 1) * k];
                        let pred = s.prediction[r];
                        let label = y[i];
                        seg.h[j] = s.predictive[r];
                        seg.eh[j] = s.expected[r];
                        seg.conf[j] = s.confidence[r];
                        seg.pred[j] = pred as u32;
                        seg.correct[j] = pred == label;
                        seg.ptrue[j] = mean[label];
                        counts[label][0] += 1;
                        counts[label][1] += u64::from(pred == label);
                        counts[pred][2] += 1;
                        let mut b = 0.0;
                        for (c, &p) in mean.iter().enumerate() {
                            let d = if c == label { p - 1.0 } else { p };
                            b += d * d;
                        }
                        brier += b;
                    }
                    if let Some(cw) = cw.as_mut() {
                        let first = seg.first + b0;
                        cw.add_block(&s.mean[..len * k], &y[first..first + len], &mut s.bins);
                    }
                });
                (brier, cw, counts)
            })
            .collect();
        for (w, (sum, cw, counts)) in bounds.windows(2).zip(results) {
            for (a, b) in self.class_counts.iter_mut().zip(&counts) {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
            if w[1] % BLOCK == 0 {
                self.brier.total += sum;
                self.brier.partial = 0.0;
            } else {
                self.brier.partial = sum;
            }
            if let (Some(acc), Some(cw)) = (self.classwise.as_mut(), cw) {
                acc.merge(&cw);
            }
        }
        self.batches += 1;
        Ok(())
    }

    /// The accumulated prediction.
    ///
    /// # Errors
    /// [`Error::EmptyInput`] if no batch was pushed.
    pub fn finish(self) -> Result<EnsemblePrediction> {
        let Some((members, classes)) = self.shape else {
            return Err(Error::empty("ensemble accumulator (no batch was pushed)"));
        };
        Ok(EnsemblePrediction {
            members,
            classes,
            config: self.config,
            scores: self.scores,
            prediction: self.prediction,
            correct: self.correct,
            true_class_probability: self.true_class_probability,
            brier_sum: self.brier.total + self.brier.partial,
            classwise: self.classwise,
            class_counts: self.class_counts,
        })
    }
}

/// The ensemble's prediction on labelled samples, reduced to per-sample quantities.
///
/// $\bar p_i = \frac1M \sum_m p_m(\cdot \mid x_i)$ (probability averaging, as the paper and netcal);
/// prediction $\hat y_i = \arg\max_k \bar p_{i,k}$ (first maximum on ties, as numpy);
/// confidence $\max_k \bar p_{i,k}$. The full $\bar p$ is not stored.
#[derive(Debug, Clone)]
pub struct EnsemblePrediction {
    members: usize,
    classes: usize,
    config: EnsembleConfig,
    scores: UncertaintyScores,
    prediction: Vec<u32>,
    correct: Vec<bool>,
    true_class_probability: Vec<f64>,
    brier_sum: f64,
    classwise: Option<ClasswiseBins>,
    class_counts: Vec<[u64; 3]>,
}

impl EnsemblePrediction {
    /// One pass over `src` (logits or probabilities) with `labels`.
    ///
    /// # Errors
    /// As [`EnsembleAccumulator::push`].
    pub fn new<P: MemberPredictions>(
        src: &P,
        labels: &Labels,
        config: EnsembleConfig,
    ) -> Result<Self> {
        let mut acc = EnsembleAccumulator::new(config)?;
        acc.push(src, labels)?;
        acc.finish()
    }

    /// Number of members $M$.
    pub fn members(&self) -> usize {
        self.members
    }

    /// Number of classes $K$.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of samples $N$.
    pub fn len(&self) -> usize {
        self.correct.len()
    }

    /// Never true for a finished prediction.
    pub fn is_empty(&self) -> bool {
        self.correct.is_empty()
    }

    /// The configuration it was computed with.
    pub fn config(&self) -> EnsembleConfig {
        self.config
    }

    /// Per-sample uncertainty scores.
    pub fn scores(&self) -> &UncertaintyScores {
        &self.scores
    }

    /// $\hat y_i$ per sample.
    pub fn prediction(&self) -> &[u32] {
        &self.prediction
    }

    /// $[\hat y_i = y_i]$ per sample.
    pub fn correct(&self) -> &[bool] {
        &self.correct
    }

    /// Misclassification indicators $[\hat y_i \ne y_i]$ (the positives of error detection).
    pub fn errors(&self) -> Vec<bool> {
        self.correct.iter().map(|&c| !c).collect()
    }

    /// $\bar p_{i, y_i}$ per sample.
    pub fn true_class_probability(&self) -> &[f64] {
        &self.true_class_probability
    }

    /// Micro accuracy $\frac1N \sum_i [\hat y_i = y_i]$ (sklearn's `accuracy_score`; not
    /// torchmetrics' macro-averaged `multiclass_accuracy` default).
    pub fn accuracy(&self) -> f64 {
        self.correct.iter().filter(|&&c| c).count() as f64 / self.len() as f64
    }

    /// Macro-averaged accuracy: the mean over classes of the per-class recall
    /// $\#\{\hat y_i = y_i = k\} / \#\{y_i = k\}$, over the classes that occur as a label or a
    /// prediction (torchmetrics' `multiclass_accuracy` default, `average="macro"`; not the plain
    /// accuracy).
    pub fn macro_accuracy(&self) -> f64 {
        let (mut sum, mut used) = (0.0, 0usize);
        for &[support, hits, predicted] in &self.class_counts {
            if support + predicted == 0 {
                continue;
            }
            used += 1;
            if support > 0 {
                sum += hits as f64 / support as f64;
            }
        }
        sum / used as f64
    }

    /// Per class $k$: (number of labels $k$, correct predictions of $k$, predictions of $k$).
    pub fn class_counts(&self) -> &[[u64; 3]] {
        &self.class_counts
    }

    /// Negative log-likelihood $-\frac1N\sum_i \ln \bar p_{i,y_i}$ under `convention`
    /// (see [`NllConvention`] for $\bar p_{i,y_i} = 0$).
    pub fn nll(&self, convention: NllConvention) -> f64 {
        crate::scores::nll(&self.true_class_probability, convention)
    }

    /// Brier score $\frac1N \sum_i \sum_k (\bar p_{i,k} - [k = y_i])^2$ (sklearn's multiclass value:
    /// no factor 1/2, no 1/K).
    pub fn brier(&self) -> f64 {
        self.brier_sum / self.len() as f64
    }

    /// Top-label binned calibration: confidence $\max_k \bar p_k$ against correctness.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero bins.
    pub fn calibration(&self, config: CalibrationConfig) -> Result<Calibration> {
        binned_calibration(self.scores.confidence(), &self.correct, config)
    }

    /// Samples ranked by confidence for selective prediction (AURC, accuracy–rejection).
    ///
    /// # Errors
    /// As [`SelectiveRanking::new`].
    pub fn selective_ranking(&self) -> Result<SelectiveRanking> {
        SelectiveRanking::new(self.scores.confidence(), &self.correct)
    }

    /// Samples ranked by an uncertainty score (least uncertain kept first).
    ///
    /// # Errors
    /// As [`SelectiveRanking::new`].
    pub fn selective_ranking_by(&self, score: UncertaintyScore) -> Result<SelectiveRanking> {
        let certainty: Vec<f64> = self.scores.score(score).iter().map(|&s| -s).collect();
        SelectiveRanking::new(&certainty, &self.correct)
    }

    /// AUROC and AUPRC of `score` for detecting misclassified samples.
    ///
    /// # Errors
    /// [`Error::DegenerateClasses`] if every sample is correct, or none is.
    pub fn error_detection(&self, score: UncertaintyScore) -> Result<Detection> {
        Detection::new(&self.scores.score(score), &self.errors())
    }

    /// Class-wise bins, when [`EnsembleConfig::classwise_bins`] was set.
    pub fn classwise_bins(&self) -> Option<&ClasswiseBins> {
        self.classwise.as_ref()
    }
}

/// The ensemble mean $\bar p$, an $(N, K)$ array (for inspection and small data; the metrics
/// never materialise it).
pub fn ensemble_mean<P: MemberPredictions>(src: &P) -> ndarray::Array2<f64> {
    let (m, n, k) = src.shape();
    let mut out = ndarray::Array2::<f64>::zeros((n, k));
    if let Some(data) = out.as_slice_mut() {
        data.par_chunks_mut(k * BLOCK)
            .enumerate()
            .for_each(|(c, rows)| {
                let mut s = BlockScratch::new(m, k);
                let count = rows.len() / k;
                let exact = EntropyConvention::Exact;
                for_each_block(src, c * BLOCK, count, exact, &mut s, |s, b0, len| {
                    rows[b0 * k..(b0 + len) * k].copy_from_slice(&s.mean[..len * k]);
                });
            });
    }
    out
}
