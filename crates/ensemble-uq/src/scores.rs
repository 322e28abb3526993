//! Proper scores of the ensemble prediction: negative log-likelihood conventions.

use serde::{Deserialize, Serialize};

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

    /// $-\ln p$ of one true-class probability under this convention.
    #[inline]
    pub fn neg_log(self, p: f64) -> f64 {
        match self {
            Self::Exact => -p.ln(),
            Self::Clip(eps) => -p.clamp(eps, 1.0 - eps).ln(),
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
