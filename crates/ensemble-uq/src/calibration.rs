//! Binned calibration: top-label ECE, MCE, RMSCE, netcal's average CE, class-wise ECE, and
//! reliability-diagram data.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How bin edges are placed on $[0, 1]$.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Binning {
    /// $b_j = j/B$ as `np.linspace(0, 1, B + 1)` computes it. The default.
    #[default]
    EqualWidth,
    /// Edges at the empirical quantiles of the confidences at $j/B$ (numpy's default linear
    /// interpolation), with the outer edges set to 0 and 1: netcal's `equal_intervals=False`, and
    /// the "adaptive" binning of Nixon et al. Equal quantiles give empty bins.
    EqualMass,
}

/// Where a confidence of exactly $1.0$ goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ConfidenceOneRule {
    /// Into the last bin $[b_{B-1}, 1]$ (netcal, `np.histogram`). The default.
    #[default]
    LastBin,
    /// Into an extra, hidden bin of its own (torchmetrics >= 1.0, its issue #3510). The bin is
    /// reported as bin $B$ with edges $[1, 1]$.
    TorchmetricsExtraBin,
}

/// Binning options; the number of bins is always explicit (torchmetrics defaults to 15,
/// netcal and the paper to 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationConfig {
    /// Number of bins $B \ge 1$.
    pub bins: usize,
    /// Edge placement.
    pub binning: Binning,
    /// Treatment of confidence $1.0$.
    pub confidence_one: ConfidenceOneRule,
}

impl CalibrationConfig {
    /// The largest number of bins accepted, $10^6$: far more than any calibration estimate can
    /// use (with more bins than samples most bins are empty), and a bound on the memory a bin
    /// count typed by a user can claim.
    pub const MAX_BINS: usize = 1_000_000;

    /// `bins` equal-width bins, confidence 1.0 in the last bin.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless $1 \le$ `bins` $\le$ [`CalibrationConfig::MAX_BINS`].
    pub fn new(bins: usize) -> Result<Self> {
        check_bins("bins", bins)?;
        Ok(Self {
            bins,
            binning: Binning::EqualWidth,
            confidence_one: ConfidenceOneRule::LastBin,
        })
    }

    /// Checks the bin count (as [`CalibrationConfig::new`] does; the fields are public).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless $1 \le$ `bins` $\le$ [`CalibrationConfig::MAX_BINS`].
    pub fn validate(self) -> Result<Self> {
        check_bins("bins", self.bins)?;
        Ok(self)
    }

    /// With another edge placement.
    pub fn with_binning(mut self, binning: Binning) -> Self {
        self.binning = binning;
        self
    }

    /// With another rule for confidence 1.0.
    pub fn with_confidence_one(mut self, rule: ConfidenceOneRule) -> Self {
        self.confidence_one = rule;
        self
    }
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge $b_j$.
    pub lower: f64,
    /// Upper edge $b_{j+1}$.
    pub upper: f64,
    /// Number of samples $n_j$.
    pub count: usize,
    /// Mean confidence of the bin (0 when empty).
    pub mean_confidence: f64,
    /// Fraction of positive outcomes (correct predictions) in the bin (0 when empty).
    pub accuracy: f64,
}

/// Binned calibration of (confidence, outcome) pairs.
///
/// With $n_j$ samples in bin $j$, accuracy $a_j$ and mean confidence $c_j$:
/// $\mathrm{ECE} = \sum_j \frac{n_j}{N}\lvert a_j - c_j\rvert$,
/// $\mathrm{MCE} = \max_j \lvert a_j - c_j\rvert$ (empty bins count 0),
/// $\mathrm{RMSCE} = \sqrt{\sum_j \frac{n_j}{N}(a_j - c_j)^2}$, and netcal's "ACE"
/// $= \frac{1}{\#\{j: n_j > 0\}}\sum_{j: n_j>0} \lvert a_j - c_j\rvert$ (an unweighted average,
/// named [`Calibration::average_calibration_error`] here to keep it apart from the adaptive ECE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The options used.
    pub config: CalibrationConfig,
    /// Bins in order ($B$, or $B + 1$ under [`ConfidenceOneRule::TorchmetricsExtraBin`]).
    pub bins: Vec<ReliabilityBin>,
    /// Expected calibration error.
    pub ece: f64,
    /// Maximum calibration error.
    pub mce: f64,
    /// Root-mean-square calibration error.
    pub rmsce: f64,
    /// netcal's `ACE`: unweighted mean gap over non-empty bins.
    pub average_calibration_error: f64,
}

/// Checks a bin count: at least 1, at most [`CalibrationConfig::MAX_BINS`].
pub(crate) fn check_bins(name: &'static str, bins: usize) -> Result<()> {
    if bins == 0 {
        return Err(Error::invalid(name, bins, "must be at least 1"));
    }
    if bins > CalibrationConfig::MAX_BINS {
        return Err(Error::invalid(
            name,
            bins,
            format!(
                "must be at most {} (more bins than that leave almost every bin empty)",
                CalibrationConfig::MAX_BINS
            ),
        ));
    }
    Ok(())
}

/// `np.linspace(0, 1, bins + 1)`, bit for bit.
///
/// # Errors
/// [`Error::InvalidParameter`] unless $1 \le$ `bins` $\le$ [`CalibrationConfig::MAX_BINS`].
pub fn equal_width_edges(bins: usize) -> Result<Vec<f64>> {
    check_bins("bins", bins)?;
    Ok(linspace_edges(bins))
}

/// `np.linspace(0, 1, bins + 1)` for a checked `bins >= 1`.
fn linspace_edges(bins: usize) -> Vec<f64> {
    let step = 1.0 / bins as f64;
    let mut e: Vec<f64> = (0..=bins).map(|j| j as f64 * step).collect();
    e[bins] = 1.0;
    e
}

/// `np.quantile(x, q)` with numpy's default "linear" method, for sorted `x`.
fn quantile_sorted(x: &[f64], q: f64) -> f64 {
    let n = x.len();
    let virtual_index = (n - 1) as f64 * q;
    if virtual_index >= (n - 1) as f64 {
        return x[n - 1];
    }
    if virtual_index < 0.0 {
        return x[0];
    }
    let lo = virtual_index.floor();
    let gamma = virtual_index - lo;
    let (a, b) = (x[lo as usize], x[lo as usize + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Edges of equal-mass bins for `confidence` (netcal's `equal_intervals=False`).
///
/// # Errors
/// [`Error::InvalidParameter`] for a bin count out of range, [`Error::EmptyInput`] without
/// confidences, [`Error::NanScore`] for a NaN confidence.
pub fn equal_mass_edges(confidence: &[f64], bins: usize) -> Result<Vec<f64>> {
    check_bins("bins", bins)?;
    if confidence.is_empty() {
        return Err(Error::empty("confidences for equal-mass bins (no samples)"));
    }
    if let Some(sample) = confidence.iter().position(|c| c.is_nan()) {
        return Err(Error::NanScore { sample });
    }
    Ok(mass_edges(confidence, bins))
}

/// Equal-mass edges for checked inputs.
fn mass_edges(confidence: &[f64], bins: usize) -> Vec<f64> {
    let mut sorted = confidence.to_vec();
    sorted.par_sort_unstable_by(f64::total_cmp);
    let q = linspace_edges(bins);
    let mut e: Vec<f64> = q.iter().map(|&q| quantile_sorted(&sorted, q)).collect();
    e[0] = 0.0;
    e[bins] = 1.0;
    e
}

/// Index of the bin of `c`: `searchsorted(edges, c, side="right") - 1`, with values at or above
/// the last edge in the last bin (`LastBin`) or in bin $B$ (`TorchmetricsExtraBin`).
#[inline]
fn bin_index(edges: &[f64], c: f64, rule: ConfidenceOneRule) -> usize {
    let b = edges.len() - 1;
    let j = edges.partition_point(|&e| e <= c).saturating_sub(1);
    match rule {
        ConfidenceOneRule::LastBin => j.min(b - 1),
        ConfidenceOneRule::TorchmetricsExtraBin => j.min(b),
    }
}

/// Binned calibration of `confidence` against `outcome` (for top-label calibration: the
/// maximum of $\bar p$ and whether the prediction is correct; for torchmetrics' and netcal's
/// binary mode: $\bar p_1$ and $[y = 1]$).
///
/// # Errors
/// [`Error::InvalidParameter`] for a bin count out of range, [`Error::ShapeMismatch`] for
/// unequal lengths, [`Error::EmptyInput`] for no samples, [`Error::NanScore`] for a NaN
/// confidence.
pub fn binned_calibration(
    confidence: &[f64],
    outcome: &[bool],
    config: CalibrationConfig,
) -> Result<Calibration> {
    check_bins("bins", config.bins)?;
    crate::scores::check_paired(
        confidence,
        outcome,
        "outcomes vs confidences",
        "binned calibration",
    )?;
    let edges = match config.binning {
        Binning::EqualWidth => linspace_edges(config.bins),
        Binning::EqualMass => mass_edges(confidence, config.bins),
    };
    let nb = match config.confidence_one {
        ConfidenceOneRule::LastBin => config.bins,
        ConfidenceOneRule::TorchmetricsExtraBin => config.bins + 1,
    };
    let mut count = vec![0usize; nb];
    let mut sum_conf = vec![0.0f64; nb];
    let mut sum_hit = vec![0usize; nb];
    // Sequential, in sample order, as np.bincount.
    for (&c, &o) in confidence.iter().zip(outcome) {
        let j = bin_index(&edges, c, config.confidence_one);
        count[j] += 1;
        sum_conf[j] += c;
        sum_hit[j] += usize::from(o);
    }
    let n = confidence.len() as f64;
    let mut bins = Vec::with_capacity(nb);
    let (mut ece, mut mce, mut ms, mut gap_sum, mut nonempty) = (0.0, 0.0f64, 0.0, 0.0, 0usize);
    for j in 0..nb {
        let (lower, upper) = if j < config.bins {
            (edges[j], edges[j + 1])
        } else {
            (1.0, 1.0)
        };
        let (acc, conf) = if count[j] > 0 {
            (
                sum_hit[j] as f64 / count[j] as f64,
                sum_conf[j] / count[j] as f64,
            )
        } else {
            (0.0, 0.0)
        };
        let gap = (acc - conf).abs();
        let w = count[j] as f64 / n;
        ece += gap * w;
        ms += gap * gap * w;
        mce = mce.max(gap);
        if count[j] > 0 {
            gap_sum += gap;
            nonempty += 1;
        }
        bins.push(ReliabilityBin {
            lower,
            upper,
            count: count[j],
            mean_confidence: conf,
            accuracy: acc,
        });
    }
    Ok(Calibration {
        config,
        bins,
        ece,
        mce,
        rmsce: ms.sqrt(),
        average_calibration_error: gap_sum / nonempty as f64,
    })
}

/// Scale of the fixed-point sums of probabilities ($2^{53}$, the f64 mantissa): integer addition
/// is associative, so class-wise bins are identical for any batching and thread count.
const FIXED_POINT: f64 = 9_007_199_254_740_992.0;

/// Equal-width bins of every class's probability $\bar p_{i,k}$ against $[y_i = k]$, accumulated
/// during the pass over samples (class-wise calibration needs all $K$ probabilities per sample,
/// which are not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClasswiseBins {
    classes: usize,
    bins: usize,
    edges: Vec<u64>,
    count: Vec<u64>,
    hits: Vec<u64>,
    /// $\sum \bar p_{i,k}$ in units of $2^{-53}$.
    probability: Vec<u128>,
    samples: u64,
}

impl ClasswiseBins {
    /// Empty bins for `classes` classes and `bins` equal-width bins (confidence 1 in the last).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero classes, a bin count out of range, or
    /// `classes * bins` beyond the address space.
    pub fn new(classes: usize, bins: usize) -> Result<Self> {
        check_bins("classwise_bins", bins)?;
        if classes == 0 {
            return Err(Error::invalid("classes", 0, "must be at least 1"));
        }
        let cells = classes.checked_mul(bins).ok_or_else(|| {
            Error::invalid(
                "classwise_bins",
                bins,
                format!("{classes} classes x {bins} bins overflow the address space"),
            )
        })?;
        let bytes = cells
            .checked_mul(32)
            .filter(|&b| isize::try_from(b).is_ok());
        let mut probe: Vec<u128> = Vec::new();
        if bytes.is_none() || probe.try_reserve_exact(cells).is_err() {
            return Err(Error::MemoryLimit {
                reason: format!(
                    "class-wise calibration with {classes} classes x {bins} bins needs {} bytes, which cannot be allocated; use fewer bins",
                    cells as f64 * 32.0
                ),
            });
        }
        drop(probe);
        Ok(Self::with_cells(classes, bins, cells))
    }

    /// Empty bins for checked `classes`, `bins` and `cells = classes * bins`.
    pub(crate) fn with_cells(classes: usize, bins: usize, cells: usize) -> Self {
        Self {
            classes,
            bins,
            edges: linspace_edges(bins).into_iter().map(f64::to_bits).collect(),
            count: vec![0; cells],
            hits: vec![0; cells],
            probability: vec![0; cells],
            samples: 0,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Adds a block of samples: their $\bar p$ rows (row-major, `labels.len()` x K) and labels.
    /// `bins` is work space. The same as [`ClasswiseBins::add`] sample by sample, with the bin
    /// indices computed in one vectorisable loop over the block.
    pub(crate) fn add_block(&mut self, mean: &[f64], labels: &[usize], bins: &mut Vec<u32>) {
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let (b, k) = (self.bins, self.classes);
        let (bf, last) = (b as f64, (b - 1) as f64);
        let step = 1.0 / bf;
        bins.resize(mean.len(), 0);
        // bin_of without branches or table lookups: the edges are j * step as
        // equal_width_edges computes them, the last one 1.0.
        for (o, &p) in bins.iter_mut().zip(mean) {
            // floor(x) from round-to-nearest by the 2^52 trick (no SSE4.1 needed), x >= 0.
            let x = p * bf;
            let r = (x + TWO_52) - TWO_52;
            let j = (r - if r > x { 1.0 } else { 0.0 }).clamp(0.0, last);
            let j = j - if j > 0.0 && p < j * step { 1.0 } else { 0.0 };
            let up = j + 1.0;
            let edge = if up >= bf { 1.0 } else { up * step };
            let j = j + if up < bf && p >= edge { 1.0 } else { 0.0 };
            // j < 2^32 is an integer: its bits sit at the bottom of j + 2^52.
            *o = (j + TWO_52).to_bits() as u32;
        }
        for ((row, js), &label) in mean.chunks_exact(k).zip(bins.chunks_exact(k)).zip(labels) {
            for (c, (&p, &j)) in row.iter().zip(js).enumerate() {
                let at = c * b + j as usize;
                self.count[at] += 1;
                // p <= 1 (within the row-sum tolerance), so p 2^53 fits a u64 (the cast saturates).
                self.probability[at] += u128::from((p * FIXED_POINT) as u64);
            }
            self.hits[label * b + js[label] as usize] += 1;
        }
        self.samples += labels.len() as u64;
    }

    /// Adds one sample's $\bar p$ and label.
    #[cfg(test)]
    pub(crate) fn add(&mut self, mean: &[f64], label: usize) {
        let b = self.bins;
        for (k, &p) in mean.iter().enumerate() {
            let at = k * b + self.bin_of(p);
            self.count[at] += 1;
            // p <= 1 (within the row-sum tolerance), so p 2^53 fits a u64 (the cast saturates).
            self.probability[at] += u128::from((p * FIXED_POINT) as u64);
        }
        let at = label * b + self.bin_of(mean[label]);
        self.hits[at] += 1;
        self.samples += 1;
    }

    /// The bin of `p` (sample-by-sample reference for [`ClasswiseBins::add_block`]).
    #[cfg(test)]
    fn bin_of(&self, p: f64) -> usize {
        // Equal-width edges: floor(p B) is at most one bin off the exact edges (both are within
        // a few ulps of j / B), so one branch-free correction each way gives searchsorted's bin.
        let b = self.bins;
        let j = ((p * b as f64) as usize).min(b - 1);
        let j = j - usize::from(j > 0 && p < f64::from_bits(self.edges[j]));
        j + usize::from(j + 1 < b && p >= f64::from_bits(self.edges[j + 1]))
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        for (a, b) in self.count.iter_mut().zip(&other.count) {
            *a += b;
        }
        for (a, b) in self.hits.iter_mut().zip(&other.hits) {
            *a += b;
        }
        for (a, b) in self.probability.iter_mut().zip(&other.probability) {
            *a += b;
        }
        self.samples += other.samples;
    }

    /// Class-wise ECE (Kull et al. 2019):
    /// $\frac1K \sum_k \sum_j \frac{n_{kj}}{N} \lvert a_{kj} - c_{kj} \rvert$ where bin $j$ of class
    /// $k$ holds the samples with $\bar p_{i,k}$ in it, $a_{kj}$ is the fraction with $y_i = k$
    /// and $c_{kj}$ the mean of $\bar p_{i,k}$.
    pub fn ece(&self) -> f64 {
        let n = self.samples as f64;
        let mut total = 0.0;
        for k in 0..self.classes {
            for j in 0..self.bins {
                let at = k * self.bins + j;
                let c = self.count[at];
                if c == 0 {
                    continue;
                }
                let acc = self.hits[at] as f64 / c as f64;
                let conf = self.probability[at] as f64 / FIXED_POINT / c as f64;
                total += (c as f64 / n) * (acc - conf).abs();
            }
        }
        total / self.classes as f64
    }

    /// Reliability bins of class `k` (`None` if out of range).
    pub fn reliability(&self, k: usize) -> Option<Vec<ReliabilityBin>> {
        if k >= self.classes {
            return None;
        }
        Some(
            (0..self.bins)
                .map(|j| {
                    let at = k * self.bins + j;
                    let c = self.count[at];
                    let (acc, conf) = if c > 0 {
                        (
                            self.hits[at] as f64 / c as f64,
                            self.probability[at] as f64 / FIXED_POINT / c as f64,
                        )
                    } else {
                        (0.0, 0.0)
                    };
                    ReliabilityBin {
                        lower: f64::from_bits(self.edges[j]),
                        upper: f64::from_bits(self.edges[j + 1]),
                        count: c as usize,
                        mean_confidence: conf,
                        accuracy: acc,
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_match_numpy_linspace_and_quantile() {
        let e = equal_width_edges(15).unwrap();
        assert_eq!(e[1], 0.06666666666666667);
        assert_eq!(e[3], 0.2);
        assert_eq!(e[15], 1.0);
        // np.quantile([1, 2, 3, 4], 0.5) = 2.5, 0.25 -> 1.75
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&x, 0.5), 2.5);
        assert_eq!(quantile_sorted(&x, 0.25), 1.75);
        assert_eq!(quantile_sorted(&x, 1.0), 4.0);
    }

    #[test]
    fn classwise_block_equals_sample_by_sample() {
        for (k, b) in [(1, 1), (3, 7), (10, 15), (4, 200)] {
            let e = linspace_edges(b);
            // Edges, their neighbours, 0, 1 and scrambled values.
            let mut values: Vec<f64> = e
                .iter()
                .flat_map(|&x| {
                    [-1i64, 0, 1]
                        .map(|d| f64::from_bits((x.to_bits() as i64 + d).max(0) as u64).min(1.0))
                })
                .collect();
            values.extend((0..997).map(|i| ((i * 7919) % 1000) as f64 / 999.0));
            let rows = values.len() / k;
            let mean = &values[..rows * k];
            let labels: Vec<usize> = (0..rows).map(|r| (r * 5 + 3) % k).collect();
            let mut one = ClasswiseBins::new(k, b).unwrap();
            for (row, &y) in mean.chunks_exact(k).zip(&labels) {
                one.add(row, y);
            }
            let mut block = ClasswiseBins::new(k, b).unwrap();
            let mut work = Vec::new();
            let half = rows / 2 * k;
            block.add_block(&mean[..half], &labels[..rows / 2], &mut work);
            block.add_block(&mean[half..], &labels[rows / 2..], &mut work);
            assert_eq!(block, one, "K = {k}, B = {b}");
        }
    }

    #[test]
    fn classwise_bin_matches_searchsorted() {
        let cw = ClasswiseBins::new(1, 15).unwrap();
        let e = linspace_edges(15);
        for i in 0..=3000 {
            let p = i as f64 / 3000.0;
            assert_eq!(
                cw.bin_of(p),
                bin_index(&e, p, ConfidenceOneRule::LastBin),
                "p = {p}"
            );
        }
        for &p in &e {
            assert_eq!(cw.bin_of(p), bin_index(&e, p, ConfidenceOneRule::LastBin));
        }
        // Every bin count up to 200, at and a few ulps around every edge.
        for b in 1..=200 {
            let cw = ClasswiseBins::new(1, b).unwrap();
            let e = linspace_edges(b);
            for &edge in &e {
                for d in -3i64..=3 {
                    let p = f64::from_bits((edge.to_bits() as i64 + d).max(0) as u64).min(1.0);
                    assert_eq!(
                        cw.bin_of(p),
                        bin_index(&e, p, ConfidenceOneRule::LastBin),
                        "B = {b}, p = {p:e}"
                    );
                }
            }
        }
    }
}
