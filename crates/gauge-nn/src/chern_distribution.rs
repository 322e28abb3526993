//! A predictive distribution over integer Chern numbers from real network outputs, and the
//! ensemble's uncertainty metrics on it (through `ensemble-uq`).
//!
//! Member $m$'s calibrated output $y_m$ (the summed local outputs) gives
//! $$p_m(C=c)=\frac{e^{-(y_m-c)^2/2\sigma^2}}{\sum_{c'}e^{-(y_m-c')^2/2\sigma^2}}$$
//! over a window of integers $c$ that covers the outputs and the labels with a margin of
//! $\lceil 8\sigma\rceil$ (the mass left outside is below $e^{-32}$). For a Gaussian output error
//! and a flat prior over $C$ this is the exact posterior, so $\sigma$ is fitted by minimising the
//! NLL of the ensemble's mean distribution on a calibration set ([`fit_sigma`]) kept apart from the
//! evaluation set.
use ensemble_uq::{
    CalibrationConfig, EnsembleConfig, EnsemblePrediction, Labels, NllConvention, Probabilities,
    UncertaintyScore,
};
use ndarray::{Array3, ArrayView2};
use serde::Serialize;

use crate::error::{Error, Result};

/// The smallest and largest width $\sigma$ [`fit_sigma`] searches.
pub const SIGMA_RANGE: (f64, f64) = (1e-3, 10.0);

/// The integers $c_0, c_0+1, .., c_0+K-1$ a distribution is defined on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntegerWindow {
    /// The smallest integer $c_0$.
    pub lowest: i64,
    /// The number of integers $K$.
    pub classes: usize,
}

impl IntegerWindow {
    /// The window covering every output and label with a margin of $\lceil 8\sigma\rceil + 1$.
    pub fn covering(outputs: ArrayView2<'_, f64>, labels: &[i64], sigma: f64) -> Result<Self> {
        check_inputs(outputs, labels)?;
        check_sigma(sigma)?;
        let (lo_y, hi_y) = outputs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                (a.min(y), b.max(y))
            });
        let lo_l = labels.iter().copied().min().unwrap_or(0);
        let hi_l = labels.iter().copied().max().unwrap_or(0);
        let margin = (8.0 * sigma).ceil() as i64 + 1;
        let lowest = (lo_y.floor() as i64).min(lo_l) - margin;
        let highest = (hi_y.ceil() as i64).max(hi_l) + margin;
        let classes = (highest - lowest + 1) as usize;
        if classes > 1 << 16 {
            return Err(Error::InvalidParameter {
                name: "outputs",
                value: format!("range [{lo_y}, {hi_y}]"),
                reason: format!("{classes} integers to cover; at most 65536"),
            });
        }
        Ok(IntegerWindow { lowest, classes })
    }

    /// The class index of the integer `c` (`None` outside the window).
    pub fn index(&self, c: i64) -> Option<usize> {
        let k = c - self.lowest;
        (0..self.classes as i64).contains(&k).then_some(k as usize)
    }
}

fn check_sigma(sigma: f64) -> Result<()> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "sigma",
            value: sigma.to_string(),
            reason: "must be positive and finite".into(),
        })
    }
}

fn check_inputs(outputs: ArrayView2<'_, f64>, labels: &[i64]) -> Result<()> {
    if outputs.is_empty() {
        return Err(Error::EmptyInput {
            what: "network outputs (members x samples)",
        });
    }
    if outputs.ncols() != labels.len() {
        return Err(Error::ShapeMismatch {
            what: "labels",
            expected: format!("{} (one per sample)", outputs.ncols()),
            found: labels.len().to_string(),
        });
    }
    if let Some((i, y)) = outputs.iter().enumerate().find(|(_, y)| !y.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "network output",
            value: y.to_string(),
            reason: format!(
                "must be finite (member {}, sample {})",
                i / outputs.ncols(),
                i % outputs.ncols()
            ),
        });
    }
    Ok(())
}

/// $p_m(C=c)$ for outputs `(M, N)` on `window`: `(M, N, K)`, each row normalised (computed
/// relative to the largest term, so no row underflows to zero).
pub fn member_probabilities(
    outputs: ArrayView2<'_, f64>,
    sigma: f64,
    window: IntegerWindow,
) -> Result<Array3<f64>> {
    check_sigma(sigma)?;
    let (m, n) = outputs.dim();
    let k = window.classes;
    let mut p = Array3::zeros((m, n, k));
    let inv = 1.0 / (2.0 * sigma * sigma);
    for ((a, i), &y) in outputs.indexed_iter() {
        let e = |c: usize| -(y - (window.lowest + c as i64) as f64).powi(2) * inv;
        let top = (0..k).map(e).fold(f64::NEG_INFINITY, f64::max);
        let mut row = p.slice_mut(ndarray::s![a, i, ..]);
        let mut total = 0.0;
        for (c, v) in row.iter_mut().enumerate() {
            *v = (e(c) - top).exp();
            total += *v;
        }
        row.mapv_inplace(|v| v / total);
    }
    Ok(p)
}

/// The exact NLL (nats per sample) of the ensemble's mean distribution $\bar p(C=\text{label})$
/// with width `sigma`.
pub fn mean_nll(outputs: ArrayView2<'_, f64>, labels: &[i64], sigma: f64) -> Result<f64> {
    let window = IntegerWindow::covering(outputs, labels, sigma)?;
    let p = member_probabilities(outputs, sigma, window)?;
    let m = outputs.nrows() as f64;
    let mut nll = 0.0;
    for (i, &c) in labels.iter().enumerate() {
        let k = window.index(c).expect("the window covers the labels");
        let mean = p.slice(ndarray::s![.., i, k]).sum() / m;
        nll -= mean.max(f64::MIN_POSITIVE).ln();
    }
    Ok(nll / labels.len() as f64)
}

/// The width $\sigma$ in [`SIGMA_RANGE`] that minimises [`mean_nll`] on a calibration set
/// (outputs `(M, N)`, integer labels), by golden-section search in $\ln\sigma$ after a coarse
/// scan (relative precision 1e-6).
pub fn fit_sigma(outputs: ArrayView2<'_, f64>, labels: &[i64]) -> Result<f64> {
    check_inputs(outputs, labels)?;
    let f = |t: f64| mean_nll(outputs, labels, t.exp());
    let (lo, hi) = (SIGMA_RANGE.0.ln(), SIGMA_RANGE.1.ln());
    // Coarse scan: the NLL need not be unimodal over four decades.
    let steps = 40;
    let grid: Vec<f64> = (0..=steps)
        .map(|i| lo + (hi - lo) * i as f64 / steps as f64)
        .collect();
    let values = grid.iter().map(|&t| f(t)).collect::<Result<Vec<_>>>()?;
    let best = (0..=steps)
        .min_by(|&a, &b| values[a].total_cmp(&values[b]))
        .expect("a non-empty grid");
    let (mut a, mut b) = (grid[best.saturating_sub(1)], grid[(best + 1).min(steps)]);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c)?, f(d)?);
    while b - a > 1e-6 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - g * (b - a);
            fc = f(c)?;
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + g * (b - a);
            fd = f(d)?;
        }
    }
    Ok(((a + b) / 2.0).exp())
}

/// The ensemble's metrics on integer Chern numbers (means over samples; entropies in nats).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChernUncertainty {
    /// Members $M$.
    pub members: usize,
    /// Samples $N$.
    pub samples: usize,
    /// The width $\sigma$ used.
    pub sigma: f64,
    /// The integers the distributions live on.
    pub window: IntegerWindow,
    /// Accuracy of the ensemble's most probable integer.
    pub accuracy: f64,
    /// Mean accuracy of the members' most probable integers.
    pub member_accuracy: f64,
    /// NLL of the mean distribution (exact, nats).
    pub nll: f64,
    /// Brier score of the mean distribution.
    pub brier: f64,
    /// ECE with [`ECE_BINS`] equal-width bins.
    pub ece: f64,
    /// Mean ECE of the members' own distributions $p_m$ (same $\sigma$, same bins).
    pub member_ece: f64,
    /// Mean predictive entropy $H(\bar p)$.
    pub predictive_entropy: f64,
    /// Mean expected entropy $\mathbb E_m H(p_m)$.
    pub expected_entropy: f64,
    /// Mean mutual information.
    pub mutual_information: f64,
    /// AUROC of the predictive entropy for detecting wrong predictions (`None` when every
    /// prediction is right, or every one wrong: no AUROC exists).
    pub auroc_entropy: Option<f64>,
    /// AUROC of the mutual information for detecting wrong predictions (`None` as above).
    pub auroc_mi: Option<f64>,
    /// Area under the risk-coverage curve (ranked by confidence $\max_c \bar p(c)$).
    pub aurc: f64,
    /// Accuracy on the 90% of samples with the lowest predictive entropy.
    pub accuracy_at_90: f64,
}

/// The bins of the ECE in [`ChernUncertainty`].
pub const ECE_BINS: usize = 15;

/// The ensemble's distributions over integers for a set of samples, with the per-sample scores
/// the metrics are made of (for histograms, OOD detection and plots).
#[derive(Debug, Clone)]
pub struct ChernPrediction {
    sigma: f64,
    window: IntegerWindow,
    probabilities: Array3<f64>,
    labels: Labels,
    prediction: EnsemblePrediction,
}

impl ChernPrediction {
    /// The distributions of outputs `(M, N)` with width `sigma` (fitted on other samples,
    /// [`fit_sigma`]) against integer `labels`.
    pub fn new(outputs: ArrayView2<'_, f64>, labels: &[i64], sigma: f64) -> Result<Self> {
        let window = IntegerWindow::covering(outputs, labels, sigma)?;
        let probabilities = member_probabilities(outputs, sigma, window)?;
        let classes: Vec<usize> = labels
            .iter()
            .map(|&c| window.index(c).expect("the window covers the labels"))
            .collect();
        let labels = Labels::new(classes, window.classes)?;
        let prediction = EnsemblePrediction::new(
            &Probabilities::new(probabilities.clone())?,
            &labels,
            EnsembleConfig::default(),
        )?;
        Ok(ChernPrediction {
            sigma,
            window,
            probabilities,
            labels,
            prediction,
        })
    }

    /// The integers the distributions live on.
    pub fn window(&self) -> IntegerWindow {
        self.window
    }

    /// $p_m(C=c)$, `(M, N, K)`.
    pub fn probabilities(&self) -> &Array3<f64> {
        &self.probabilities
    }

    /// The `ensemble-uq` prediction of the mean distribution (every metric comes from it).
    pub fn ensemble(&self) -> &EnsemblePrediction {
        &self.prediction
    }

    /// Per-sample predictive entropy $H(\bar p)$.
    pub fn predictive_entropy(&self) -> &[f64] {
        self.prediction.scores().predictive_entropy()
    }

    /// Per-sample mutual information.
    pub fn mutual_information(&self) -> Vec<f64> {
        self.prediction.scores().mutual_information()
    }

    /// Whether the ensemble's most probable integer is the label, per sample.
    pub fn correct(&self) -> &[bool] {
        self.prediction.correct()
    }

    /// The reliability diagram of the mean distribution ([`ECE_BINS`] bins).
    pub fn calibration(&self) -> Result<ensemble_uq::Calibration> {
        Ok(self
            .prediction
            .calibration(CalibrationConfig::new(ECE_BINS)?)?)
    }

    /// The member's own prediction (one-member ensemble of $p_m$).
    fn member(&self, m: usize) -> Result<EnsemblePrediction> {
        let pm = self
            .probabilities
            .slice(ndarray::s![m..m + 1, .., ..])
            .to_owned();
        Ok(EnsemblePrediction::new(
            &Probabilities::new(pm)?,
            &self.labels,
            EnsembleConfig::default(),
        )?)
    }

    /// The metrics (means over samples).
    pub fn uncertainty(&self) -> Result<ChernUncertainty> {
        let pred = &self.prediction;
        let mean = pred.scores().mean_uncertainty();
        let members = self.probabilities.shape()[0];
        let (mut member_accuracy, mut member_ece) = (0.0, 0.0);
        for m in 0..members {
            let p = self.member(m)?;
            member_accuracy += p.accuracy();
            member_ece += p.calibration(CalibrationConfig::new(ECE_BINS)?)?.ece;
        }
        let entropy_ranking = pred.selective_ranking_by(UncertaintyScore::PredictiveEntropy)?;
        let at_90 = entropy_ranking.accuracy_rejection(&[0.1])?[0].accuracy;
        let auroc = |score| {
            let errors = pred.correct().iter().filter(|c| !**c).count();
            if errors == 0 || errors == pred.len() {
                return Ok(None);
            }
            pred.error_detection(score).map(|d| Some(d.auroc))
        };
        Ok(ChernUncertainty {
            members,
            samples: pred.len(),
            sigma: self.sigma,
            window: self.window,
            accuracy: pred.accuracy(),
            member_accuracy: member_accuracy / members as f64,
            nll: pred.nll(NllConvention::Exact),
            brier: pred.brier(),
            ece: self.calibration()?.ece,
            member_ece: member_ece / members as f64,
            predictive_entropy: mean.predictive_entropy,
            expected_entropy: mean.expected_entropy,
            mutual_information: mean.mutual_information,
            auroc_entropy: auroc(UncertaintyScore::PredictiveEntropy)?,
            auroc_mi: auroc(UncertaintyScore::MutualInformation)?,
            aurc: pred.selective_ranking()?.aurc().aurc,
            accuracy_at_90: at_90,
        })
    }
}

impl ChernUncertainty {
    /// Metrics of outputs `(M, N)` against integer `labels` with width `sigma` (fitted on other
    /// samples, [`fit_sigma`]); see [`ChernPrediction`] for the per-sample scores.
    pub fn evaluate(outputs: ArrayView2<'_, f64>, labels: &[i64], sigma: f64) -> Result<Self> {
        ChernPrediction::new(outputs, labels, sigma)?.uncertainty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    /// Outputs $y = C + \varepsilon$ with $\varepsilon\sim N(0,\sigma^2)$ for labels in -3..=3.
    fn synthetic(sigma: f64, members: usize, n: usize, seed: u64) -> (Array2<f64>, Vec<i64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Box-Muller.
        let mut noise = move || {
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let labels: Vec<i64> = (0..n).map(|i| (i % 7) as i64 - 3).collect();
        let y = Array2::from_shape_fn((members, n), |(_, i)| labels[i] as f64 + noise());
        (y, labels)
    }

    #[test]
    fn the_sigma_fit_recovers_a_known_sigma() {
        // One member: the posterior is exactly the model, the NLL minimum is the MLE of sigma,
        // within a few standard errors (sigma / sqrt(2N) = 0.2 / sqrt(8000) ~ 0.0022).
        for (sigma, seed) in [(0.2, 1), (0.35, 2)] {
            let (y, labels) = synthetic(sigma, 1, 4000, seed);
            let fitted = fit_sigma(y.view(), &labels).unwrap();
            assert!(
                (fitted - sigma).abs() < 0.03 * sigma,
                "{sigma}: fitted {fitted}"
            );
        }
    }

    #[test]
    fn probabilities_follow_the_gaussian_over_integers() {
        let y = Array2::from_shape_vec((1, 1), vec![0.3]).unwrap();
        let w = IntegerWindow::covering(y.view(), &[0], 0.5).unwrap();
        let p = member_probabilities(y.view(), 0.5, w).unwrap();
        let z: f64 = (-30..=30)
            .map(|c: i64| (-(0.3 - c as f64).powi(2) / 0.5).exp())
            .sum();
        let expect = |c: i64| (-(0.3 - c as f64).powi(2) / 0.5).exp() / z;
        for c in -2..=2 {
            let got = p[[0, 0, w.index(c).unwrap()]];
            assert!(
                (got - expect(c)).abs() < 1e-12,
                "C = {c}: {got} vs {}",
                expect(c)
            );
        }
    }

    #[test]
    fn metrics_equal_ensemble_uq_on_the_same_arrays() {
        let (y, labels) = synthetic(0.4, 3, 300, 5);
        let sigma = 0.4;
        let report = ChernUncertainty::evaluate(y.view(), &labels, sigma).unwrap();
        let w = report.window;
        let p = member_probabilities(y.view(), sigma, w).unwrap();
        let classes: Vec<usize> = labels.iter().map(|&c| w.index(c).unwrap()).collect();
        let l = Labels::new(classes, w.classes).unwrap();
        let pred = EnsemblePrediction::new(&Probabilities::new(p).unwrap(), &l, Default::default())
            .unwrap();
        assert_eq!(report.accuracy, pred.accuracy());
        assert_eq!(report.nll, pred.nll(NllConvention::Exact));
        assert_eq!(report.brier, pred.brier());
        assert_eq!(
            report.ece,
            pred.calibration(CalibrationConfig::new(15).unwrap())
                .unwrap()
                .ece
        );
        let u = pred.scores().mean_uncertainty();
        assert_eq!(report.mutual_information, u.mutual_information);
        assert_eq!(
            report.auroc_mi,
            Some(
                pred.error_detection(UncertaintyScore::MutualInformation)
                    .unwrap()
                    .auroc
            )
        );
        assert_eq!(
            report.auroc_entropy,
            Some(
                pred.error_detection(UncertaintyScore::PredictiveEntropy)
                    .unwrap()
                    .auroc
            )
        );
        assert_eq!(report.aurc, pred.selective_ranking().unwrap().aurc().aurc);
        assert_eq!(
            report.accuracy_at_90,
            pred.selective_ranking_by(UncertaintyScore::PredictiveEntropy)
                .unwrap()
                .accuracy_rejection(&[0.1])
                .unwrap()[0]
                .accuracy
        );
        assert_eq!(report.predictive_entropy, u.predictive_entropy);
        // The members' own metrics: each member's distribution as a one-member ensemble.
        let (mut acc, mut ece) = (0.0, 0.0);
        for m in 0..3 {
            let pm = member_probabilities(y.slice(ndarray::s![m..m + 1, ..]), sigma, w).unwrap();
            let e =
                EnsemblePrediction::new(&Probabilities::new(pm).unwrap(), &l, Default::default())
                    .unwrap();
            acc += e.accuracy() / 3.0;
            ece += e
                .calibration(CalibrationConfig::new(15).unwrap())
                .unwrap()
                .ece
                / 3.0;
        }
        assert!((report.member_accuracy - acc).abs() < 1e-15);
        assert!((report.member_ece - ece).abs() < 1e-15);
        // Real errors exist at sigma = 0.4 and the entropy finds them better than chance.
        assert!(
            report.accuracy < 0.99 && report.auroc_entropy.unwrap() > 0.6,
            "{report:?}"
        );
        // NLL of the mean distribution equals mean_nll.
        let direct = mean_nll(y.view(), &labels, sigma).unwrap();
        assert!(
            (direct - report.nll).abs() < 1e-9 * direct.max(1.0),
            "{direct} {}",
            report.nll
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let y = Array2::from_shape_vec((1, 2), vec![0.1, f64::NAN]).unwrap();
        assert!(matches!(
            fit_sigma(y.view(), &[0, 0]),
            Err(Error::InvalidParameter { .. })
        ));
        let y = Array2::from_shape_vec((1, 2), vec![0.1, 0.2]).unwrap();
        assert!(matches!(
            fit_sigma(y.view(), &[0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            ChernUncertainty::evaluate(y.view(), &[0, 0], 0.0),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
