//! Per-sample scores: the negative log-likelihood conventions, and the checks every metric of
//! paired per-sample values (a score and an outcome per sample) makes first.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Checks per-sample `scores` against per-sample `flags` (outcomes, positives): equal lengths,
/// at least one sample, no NaN score. `what` names the pair in a length mismatch, `metric` the
/// metric in an empty-input error.
pub(crate) fn check_paired(
    scores: &[f64],
    flags: &[bool],
    what: &'static str,
    metric: &str,
) -> Result<()> {
    if scores.len() != flags.len() {
        return Err(Error::mismatch(what, scores.len(), flags.len()));
    }
    if scores.is_empty() {
        return Err(Error::empty(format!("{metric} (no samples)")));
    }
    if let Some(sample) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::NanScore { sample });
    }
    Ok(())
}

/// How $-\ln \bar p_{i,y_i}$ treats a true-class probability of zero (or one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum NllConvention {
    /// $-\ln p$ as is: a sample with $p = 0$ makes the NLL $+\infty$ (numpy, torch). The default,
    /// because an ensemble that puts zero mass on the truth deserves to be told so.
    #[default]
    Exact,
    /// scikit-learn's `log_loss`: $p$ clipped to $[\epsilon, 1-\epsilon]$, no renormalisation;
    /// sklearn uses $\epsilon$ = machine epsilon of the input (`f64::EPSILON` for float64).
    Clip(f64),
    /// The paper's notebooks: $-\ln(p + \epsilon)$ with $\epsilon = 10^{-9}$.
    PaperEpsilon(f64),
}

impl NllConvention {
    /// scikit-learn's clipping for float64 input, $\epsilon = 2^{-52}$.
    pub const SKLEARN: Self = Self::Clip(f64::EPSILON);
    /// The paper notebooks' $\epsilon = 10^{-9}$.
    pub const PAPER: Self = Self::PaperEpsilon(1e-9);

    /// Checks the epsilon: finite, $> 0$, and for [`NllConvention::Clip`] below $\tfrac12$ (so that
    /// $[\epsilon, 1 - \epsilon]$ is an interval).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the epsilon.
    pub fn validate(self) -> Result<Self> {
        match self {
            Self::Exact => Ok(self),
            Self::Clip(eps) if !(eps > 0.0 && eps < 0.5) => Err(Error::invalid(
                "NLL clipping epsilon",
                eps,
                "must lie in (0, 1/2)",
            )),
            Self::PaperEpsilon(eps) if !(eps.is_finite() && eps > 0.0) => {
                Err(Error::invalid("NLL epsilon", eps, "must be finite and > 0"))
            }
            _ => Ok(self),
        }
    }

    /// $-\ln p$ of one true-class probability under this convention (an invalid epsilon, which
    /// [`NllConvention::validate`] refuses, gives a meaningless value but never a panic).
    #[inline]
    pub fn neg_log(self, p: f64) -> f64 {
        match self {
            Self::Exact => -p.ln(),
            // `clamp` without its panic on an empty interval; NaN stays NaN as with `clamp`.
            Self::Clip(eps) => {
                let clipped = if p < eps {
                    eps
                } else if p > 1.0 - eps {
                    1.0 - eps
                } else {
                    p
                };
                -clipped.ln()
            }
            Self::PaperEpsilon(eps) => -(p + eps).ln(),
        }
    }
}

/// $-\frac1N \sum_i \ln p_i$ of true-class probabilities under `convention` (sequential sum).
/// `+inf` under [`NllConvention::Exact`] if some $p_i = 0$; NaN for an empty slice.
pub fn nll(true_class_probability: &[f64], convention: NllConvention) -> f64 {
    true_class_probability
        .iter()
        .map(|&p| convention.neg_log(p))
        .sum::<f64>()
        / true_class_probability.len() as f64
}
