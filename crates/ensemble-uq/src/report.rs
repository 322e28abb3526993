//! Reports: one summary per data set (JSON via serde, Markdown), and per-epoch series.

use serde::{Deserialize, Serialize};

use crate::calibration::{Calibration, CalibrationConfig};
use crate::detection::Detection;
use crate::ensemble::{EnsemblePrediction, UncertaintyScore, UncertaintyScores};
use crate::error::Result;
use crate::scores::NllConvention;
use crate::selective::{RejectionPoint, SelectiveRanking};

/// Serde representation of the report's floats: finite values are JSON numbers; $+\infty$,
/// $-\infty$ and NaN, which JSON numbers cannot hold (serde_json would write `null`), are
/// the strings `"inf"`, `"-inf"` and `"nan"`. Reading accepts both forms.
pub(crate) mod json_float {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Number(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(E::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"nan\", found {other:?}"
                ))),
            },
        }
    }

    fn write<S: Serializer>(x: f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(x)
        } else if x.is_nan() {
            s.serialize_str("nan")
        } else if x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        write(*x, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }

    /// The same for optional values (`None` is `null`).
    pub(crate) mod option {
        use super::{Repr, from_repr, write};
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match x {
                Some(v) => write(*v, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<f64>, D::Error> {
            Option::<Repr>::deserialize(d)?.map(from_repr).transpose()
        }
    }
}

/// What a [`Summary`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// Top-label calibration binning.
    pub calibration: CalibrationConfig,
    /// NLL convention.
    pub nll: NllConvention,
}

impl SummaryOptions {
    /// `bins` equal-width bins, confidence 1 in the last bin, exact NLL.
    ///
    /// # Errors
    /// As [`CalibrationConfig::new`].
    pub fn new(bins: usize) -> Result<Self> {
        Ok(Self {
            calibration: CalibrationConfig::new(bins)?,
            nll: NllConvention::Exact,
        })
    }
}

/// Detection metrics for each uncertainty score (`None` when undefined, e.g. no errors).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectionSummary {
    /// AUROC of the predictive entropy.
    #[serde(with = "json_float::option", default)]
    pub auroc_entropy: Option<f64>,
    /// AUPRC of the predictive entropy.
    #[serde(with = "json_float::option", default)]
    pub auprc_entropy: Option<f64>,
    /// AUROC of the mutual information.
    #[serde(with = "json_float::option", default)]
    pub auroc_mutual_information: Option<f64>,
    /// AUPRC of the mutual information.
    #[serde(with = "json_float::option", default)]
    pub auprc_mutual_information: Option<f64>,
    /// AUROC of $-\max_k \bar p_k$.
    #[serde(with = "json_float::option", default)]
    pub auroc_neg_max_prob: Option<f64>,
    /// AUPRC of $-\max_k \bar p_k$.
    #[serde(with = "json_float::option", default)]
    pub auprc_neg_max_prob: Option<f64>,
}

impl DetectionSummary {
    fn from_parts(h: Option<Detection>, mi: Option<Detection>, c: Option<Detection>) -> Self {
        Self {
            auroc_entropy: h.map(|d| d.auroc),
            auprc_entropy: h.map(|d| d.auprc),
            auroc_mutual_information: mi.map(|d| d.auroc),
            auprc_mutual_information: mi.map(|d| d.auprc),
            auroc_neg_max_prob: c.map(|d| d.auroc),
            auprc_neg_max_prob: c.map(|d| d.auprc),
        }
    }
}

/// The whole metric set of one labelled data set. Means are over samples.
///
/// In JSON, finite values are numbers and non-finite ones strings: an NLL of $+\infty$ (a
/// true-class probability of exactly 0 under [`NllConvention::Exact`]) is `"inf"`, and
/// `"-inf"`/`"nan"` likewise; `null` only means "not defined" (an `Option` that is `None`,
/// e.g. AUROC without any error to detect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Members $M$.
    pub members: usize,
    /// Samples $N$.
    pub samples: usize,
    /// Classes $K$.
    pub classes: usize,
    /// Micro accuracy.
    #[serde(with = "json_float")]
    pub accuracy: f64,
    /// NLL under `options.nll`.
    #[serde(with = "json_float")]
    pub nll: f64,
    /// Brier score.
    #[serde(with = "json_float")]
    pub brier: f64,
    /// Number of calibration bins.
    pub bins: usize,
    /// Top-label ECE.
    #[serde(with = "json_float")]
    pub ece: f64,
    /// Top-label MCE.
    #[serde(with = "json_float")]
    pub mce: f64,
    /// Top-label RMSCE.
    #[serde(with = "json_float")]
    pub rmsce: f64,
    /// netcal's average calibration error ("ACE").
    #[serde(with = "json_float")]
    pub netcal_ace: f64,
    /// Class-wise ECE, if accumulated.
    #[serde(with = "json_float::option", default)]
    pub classwise_ece: Option<f64>,
    /// Mean $H(\bar p)$.
    #[serde(with = "json_float")]
    pub predictive_entropy: f64,
    /// Mean $\mathbb E_m H(p_m)$.
    #[serde(with = "json_float")]
    pub expected_entropy: f64,
    /// Mean mutual information.
    #[serde(with = "json_float")]
    pub mutual_information: f64,
    /// AUROC of the predictive entropy for detecting misclassified samples.
    #[serde(with = "json_float::option", default)]
    pub auroc_entropy: Option<f64>,
    /// AUPRC (average precision) of the same.
    #[serde(with = "json_float::option", default)]
    pub auprc_entropy: Option<f64>,
    /// Error detection by every score.
    pub error_detection: DetectionSummary,
    /// AURC, ranking by $\max_k \bar p_k$.
    #[serde(with = "json_float")]
    pub aurc: f64,
    /// Oracle AURC.
    #[serde(with = "json_float")]
    pub oracle_aurc: f64,
    /// E-AURC.
    #[serde(with = "json_float")]
    pub e_aurc: f64,
    /// Out-of-distribution detection (positives: OOD samples), when OOD inputs were given.
    pub ood_detection: Option<DetectionSummary>,
    /// The options used.
    pub options: SummaryOptions,
}

/// A summary together with the curves the plots need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scalar metrics.
    pub summary: Summary,
    /// Reliability diagram data.
    pub calibration: Calibration,
    /// Accuracy–rejection curve (100 points), ranking by $\max_k \bar p_k$.
    pub accuracy_rejection: Vec<RejectionPoint>,
}

impl Report {
    /// Computes every metric of `prediction` (and OOD detection against `ood`, if given).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for invalid calibration options or NLL epsilon.
    pub fn new(
        prediction: &EnsemblePrediction,
        ood: Option<&UncertaintyScores>,
        options: SummaryOptions,
    ) -> Result<Self> {
        options.nll.validate()?;
        let scores = prediction.scores();
        let calibration = prediction.calibration(options.calibration)?;
        let errors = prediction.errors();
        // Three sorts of N scores, side by side; the ranking by confidence also serves the
        // detection score -max p.
        let ((h, mi), ranked) = rayon::join(
            || {
                rayon::join(
                    || Detection::new(scores.predictive_entropy(), &errors).ok(),
                    || Detection::new(&scores.mutual_information(), &errors).ok(),
                )
            },
            || SelectiveRanking::with_error_detection(scores.confidence(), prediction.correct()),
        );
        let (ranking, c) = ranked?;
        let aurc = ranking.aurc();
        let error_detection = DetectionSummary::from_parts(h, mi, c.ok());
        let ood_detection = ood.map(|o| ood_summary(scores, o));
        let mean = scores.mean_uncertainty();
        let summary = Summary {
            members: prediction.members(),
            samples: prediction.len(),
            classes: prediction.classes(),
            accuracy: prediction.accuracy(),
            nll: prediction.nll(options.nll),
            brier: prediction.brier(),
            bins: options.calibration.bins,
            ece: calibration.ece,
            mce: calibration.mce,
            rmsce: calibration.rmsce,
            netcal_ace: calibration.average_calibration_error,
            classwise_ece: prediction.classwise_bins().map(|c| c.ece()),
            predictive_entropy: mean.predictive_entropy,
            expected_entropy: mean.expected_entropy,
            mutual_information: mean.mutual_information,
            auroc_entropy: error_detection.auroc_entropy,
            auprc_entropy: error_detection.auprc_entropy,
            error_detection,
            aurc: aurc.aurc,
            oracle_aurc: aurc.oracle,
            e_aurc: aurc.excess,
            ood_detection,
            options,
        };
        Ok(Self {
            summary,
            calibration,
            accuracy_rejection: ranking.accuracy_rejection_curve(100),
        })
    }
}

fn ood_summary(inside: &UncertaintyScores, outside: &UncertaintyScores) -> DetectionSummary {
    let one = |s: UncertaintyScore| {
        Detection::out_of_distribution(&inside.score(s), &outside.score(s)).ok()
    };
    let (h, (mi, c)) = rayon::join(
        || one(UncertaintyScore::PredictiveEntropy),
        || {
            rayon::join(
                || one(UncertaintyScore::MutualInformation),
                || one(UncertaintyScore::NegativeMaxProbability),
            )
        },
    );
    DetectionSummary::from_parts(h, mi, c)
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |x| format!("{x:.4}"))
}

impl Summary {
    /// The scalar metrics as (name, value) rows, in report order.
    pub fn rows(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("accuracy", Some(self.accuracy)),
            ("nll", Some(self.nll)),
            ("brier", Some(self.brier)),
            ("ece", Some(self.ece)),
            ("mce", Some(self.mce)),
            ("rmsce", Some(self.rmsce)),
            ("netcal_ace", Some(self.netcal_ace)),
            ("classwise_ece", self.classwise_ece),
            ("predictive_entropy", Some(self.predictive_entropy)),
            ("expected_entropy", Some(self.expected_entropy)),
            ("mutual_information", Some(self.mutual_information)),
            ("auroc_entropy", self.auroc_entropy),
            ("auprc_entropy", self.auprc_entropy),
            (
                "auroc_mutual_information",
                self.error_detection.auroc_mutual_information,
            ),
            (
                "auroc_neg_max_prob",
                self.error_detection.auroc_neg_max_prob,
            ),
            ("aurc", Some(self.aurc)),
            ("e_aurc", Some(self.e_aurc)),
            (
                "ood_auroc_entropy",
                self.ood_detection.and_then(|d| d.auroc_entropy),
            ),
            (
                "ood_auroc_mutual_information",
                self.ood_detection.and_then(|d| d.auroc_mutual_information),
            ),
        ]
    }

    /// A two-column Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "Ensemble of {} members, {} samples, {} classes ({} calibration bins)\n\n| metric | value |\n|---|---|\n",
            self.members, self.samples, self.classes, self.bins
        );
        for (name, v) in self.rows() {
            s.push_str(&format!("| {name} | {} |\n", cell(v)));
        }
        s
    }
}

/// Summaries of the same ensemble after each training epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSeries {
    /// Epoch labels (e.g. file names or numbers), one per summary.
    pub labels: Vec<String>,
    /// One summary per epoch, in order.
    pub summaries: Vec<Summary>,
}

impl EpochSeries {
    /// Appends an epoch.
    pub fn push(&mut self, label: impl Into<String>, summary: Summary) {
        self.labels.push(label.into());
        self.summaries.push(summary);
    }

    /// Number of epochs.
    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    /// True without epochs.
    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// The series of one metric (by its [`Summary::rows`] name).
    pub fn series(&self, metric: &str) -> Vec<Option<f64>> {
        self.summaries
            .iter()
            .map(|s| {
                s.rows()
                    .into_iter()
                    .find(|(n, _)| *n == metric)
                    .and_then(|(_, v)| v)
            })
            .collect()
    }

    /// A Markdown table with one row per epoch.
    pub fn to_markdown(&self) -> String {
        let cols = [
            "accuracy",
            "nll",
            "brier",
            "ece",
            "predictive_entropy",
            "expected_entropy",
            "mutual_information",
            "auroc_entropy",
            "aurc",
        ];
        let mut s = format!(
            "| epoch | {} |\n|---|{}\n",
            cols.join(" | "),
            "---|".repeat(cols.len())
        );
        for (label, summary) in self.labels.iter().zip(&self.summaries) {
            let rows = summary.rows();
            let values: Vec<String> = cols
                .iter()
                .map(|c| cell(rows.iter().find(|(n, _)| n == c).and_then(|(_, v)| *v)))
                .collect();
            s.push_str(&format!("| {label} | {} |\n", values.join(" | ")));
        }
        s
    }
}
