//! # ensemble-uq
//!
//! Uncertainty metrics for LoRA ensembles (and any deep ensemble), agreeing with the reference
//! libraries (torchmetrics, netcal, scikit-learn, scipy) on their documented conventions.
//!
//! Members $m = 1..M$ give class probabilities $p_m(k \mid x_i)$ for samples $i = 1..N$ and
//! classes $k = 1..K$, as an $(M, N, K)$ array of [`Logits`] or [`Probabilities`] (the kind is
//! stated, never guessed). The ensemble predicts $\bar p = \frac1M \sum_m p_m$ (probability
//! averaging) and each sample's uncertainty decomposes, in nats, as
//! $$H(\bar p) = \underbrace{\mathbb E_m H(p_m)}_{\text{aleatoric}} +
//! \underbrace{I}_{\text{epistemic}},\qquad I \ge 0,$$
//! with $0 \ln 0 = 0$ ([`EntropyConvention::Exact`]; the paper's $\ln(p+\epsilon)$ variant on
//! request).
//!
//! One pass over the samples (parallel over fixed blocks of samples, with vectorised $e^x$ and
//! $\ln x$ within 1 ulp of `std`'s, block scratch only) reduces the input to a few numbers per
//! sample ([`EnsemblePrediction`]); every metric is computed from those:
//! accuracy, NLL ([`NllConvention`]), Brier; binned calibration ([`CalibrationConfig`]: ECE,
//! MCE, RMSCE, netcal's ACE, equal-width or equal-mass bins, an explicit rule for confidence
//! 1.0) and class-wise ECE; AUROC/AUPRC of any [`UncertaintyScore`] for error or
//! out-of-distribution detection ([`Detection`]); AURC, E-AURC and accuracy–rejection curves
//! ([`SelectiveRanking`]; rankings by stable radix sorts). [`EnsembleAccumulator`] builds the
//! same result batch by batch, bit for bit, whatever the thread count. Inputs come from `.npy`, `.npz`, safetensors or JSON files ([`read_array3`],
//! [`read_labels`]); a plain `.npy` or safetensors array can be streamed in blocks of samples
//! instead ([`MemberFile`]: same results and errors, memory a few MiB); results go to JSON, Markdown ([`Report`], [`EpochSeries`]) and SVG
//! ([`plots`]).
//!
//! ```
//! use ensemble_uq::{
//!     CalibrationConfig, EnsembleConfig, EnsemblePrediction, Labels, Logits, NllConvention,
//!     UncertaintyScore,
//! };
//! use ndarray::Array3;
//!
//! // Two members, three samples, two classes.
//! let logits = Logits::new(Array3::from_shape_vec(
//!     (2, 3, 2),
//!     vec![2.0, 0.0, 0.0, 1.0, 0.5, 0.4, /* member 2 */ 1.5, 0.0, 1.0, 0.0, 0.0, 0.3],
//! )?)?;
//! let labels = Labels::new(vec![0, 1, 0], 2)?;
//! let pred = EnsemblePrediction::new(&logits, &labels, EnsembleConfig::default())?;
//!
//! let mean = pred.scores().mean_uncertainty();
//! assert!(mean.mutual_information >= 0.0);
//! assert!(mean.predictive_entropy <= 2f64.ln());
//! let ece = pred.calibration(CalibrationConfig::new(10)?)?.ece;
//! assert!((0.0..=1.0).contains(&ece));
//! assert!(pred.nll(NllConvention::Exact).is_finite());
//! let auroc = pred.error_detection(UncertaintyScore::PredictiveEntropy)?.auroc;
//! assert!((0.0..=1.0).contains(&auroc));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod answer;
mod calibration;
mod detection;
mod ensemble;
mod entropy;
mod error;
mod evaluation;
mod fast_math;
mod input;
mod io;
mod member_file;
mod members;
mod pass;
#[cfg(feature = "plots")]
pub mod plots;
#[cfg(test)]
mod properties;
#[cfg(any(test, feature = "proptest-support"))]
pub mod proptest;
mod report;
mod scores;
mod selective;

pub use answer::{AnswerScoring, answer_member_probabilities, answer_probabilities};
pub use calibration::{
    Binning, Calibration, CalibrationConfig, ClasswiseBins, ConfidenceOneRule, ReliabilityBin,
    binned_calibration, equal_mass_edges, equal_width_edges,
};
pub use detection::{Detection, auroc, average_precision};
pub use ensemble::{
    EnsembleAccumulator, EnsembleConfig, EnsemblePrediction, UncertaintyScore, UncertaintyScores,
    ensemble_mean,
};
pub use entropy::{EntropyConvention, Uncertainty, entr, entropy};
pub use error::{Error, Result};
pub use evaluation::{
    Evaluation, EvaluationConfig, MemoryCheck, Timings, evaluate, memory_estimate,
};
pub use input::{Labels, Logits, Probabilities, Real};
pub use io::{FileFormat, FloatArray3, read_array3, read_labels, split_field};
pub use member_file::MemberFile;
pub use members::{LabelFile, MemberArray, MemberSource, PredictionKind};
pub use pass::MemberPredictions;
pub use report::{DetectionSummary, EpochSeries, Report, Summary, SummaryOptions};
pub use scores::{NllConvention, nll};
pub use selective::{Aurc, RejectionPoint, SelectiveRanking};
