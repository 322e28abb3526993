//! Shannon entropy in nats and the per-sample decomposition of ensemble uncertainty.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How $-p\ln p$ is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum EntropyConvention {
    /// $H(p) = -\sum_k p_k \ln p_k$ with $0 \ln 0 = 0$ exactly (as `scipy.special.entr`). The default.
    #[default]
    Exact,
    /// The paper's code: $H(p) = -\sum_k p_k \ln(p_k + \epsilon)$ (its notebooks use
    /// $\epsilon = 10^{-9}$, its `lib/uncertainty.py` the float32 machine epsilon).
    /// For reproducing published numbers only: it biases every entropy downwards.
    PaperEpsilon(f64),
}

impl EntropyConvention {
    /// The paper notebooks' $\epsilon = 10^{-9}$.
    pub const PAPER_NOTEBOOK: Self = Self::PaperEpsilon(1e-9);
    /// The paper repository's `lib/uncertainty.py`, $\epsilon$ = float32 machine epsilon.
    pub const PAPER_REPOSITORY: Self = Self::PaperEpsilon(f32::EPSILON as f64);

    /// Checks that a `PaperEpsilon` is finite and positive.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] otherwise.
    pub fn validate(self) -> Result<Self> {
        match self {
            Self::PaperEpsilon(eps) if !(eps.is_finite() && eps > 0.0) => Err(Error::invalid(
                "entropy epsilon",
                eps,
                "must be finite and > 0",
            )),
            _ => Ok(self),
        }
    }

    /// Entropy of one distribution under this convention.
    #[inline]
    pub fn entropy(self, p: &[f64]) -> f64 {
        match self {
            Self::Exact => entropy(p),
            Self::PaperEpsilon(eps) => entropy_paper(p, eps),
        }
    }
}

/// $-x \ln x$ with $0 \ln 0 = 0$ (as `scipy.special.entr` for $x \ge 0$).
#[inline(always)]
pub fn entr(x: f64) -> f64 {
    if x > 0.0 { -x * x.ln() } else { 0.0 }
}

/// Shannon entropy $H(p) = -\sum_k p_k \ln p_k$ in nats, with $0 \ln 0 = 0$.
#[inline]
pub fn entropy(p: &[f64]) -> f64 {
    p.iter().map(|&x| entr(x)).sum()
}

/// The paper's $-\sum_k p_k \ln(p_k + \epsilon)$.
#[inline]
pub(crate) fn entropy_paper(p: &[f64], eps: f64) -> f64 {
    -p.iter().map(|&x| x * (x + eps).ln()).sum::<f64>()
}

/// The uncertainty decomposition of one sample (nats).
///
/// - predictive (total) entropy $H(\bar p)$ with $\bar p = \frac1M\sum_m p_m$;
/// - expected (aleatoric) entropy $\mathbb E_m H(p_m) = \frac1M \sum_m H(p_m)$;
/// - mutual information (epistemic) $I = H(\bar p) - \mathbb E_m H(p_m)$.
///
/// $I \ge 0$ by Jensen's inequality. In floating point the difference of two nearly equal
/// entropies can come out a few ulps below zero; such values are clamped to exactly `0.0`
/// (so `mutual_information >= 0.0` always holds). Nothing larger than rounding is ever clamped,
/// because the difference is mathematically non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uncertainty {
    /// $H(\bar p)$.
    pub predictive_entropy: f64,
    /// $\mathbb E_m H(p_m)$.
    pub expected_entropy: f64,
    /// $\max(H(\bar p) - \mathbb E_m H(p_m),\ 0)$.
    pub mutual_information: f64,
}

impl Uncertainty {
    /// Decomposition from the predictive and the expected entropy.
    #[inline]
    pub fn from_entropies(predictive_entropy: f64, expected_entropy: f64) -> Self {
        Self {
            predictive_entropy,
            expected_entropy,
            mutual_information: (predictive_entropy - expected_entropy).max(0.0),
        }
    }

    /// Decomposition of one sample from its $M \times K$ member probabilities (row-major).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `member_probs.len()` is not a positive multiple of `classes`.
    pub fn of_members(
        member_probs: &[f64],
        classes: usize,
        convention: EntropyConvention,
    ) -> Result<Self> {
        if classes == 0 || member_probs.is_empty() || !member_probs.len().is_multiple_of(classes) {
            return Err(Error::mismatch(
                "member probabilities (length must be a positive multiple of K)",
                format!("a positive multiple of {classes}"),
                member_probs.len(),
            ));
        }
        let m = member_probs.len() / classes;
        let mut mean = vec![0.0; classes];
        let mut expected = 0.0;
        for row in member_probs.chunks_exact(classes) {
            expected += convention.entropy(row);
            for (a, &p) in mean.iter_mut().zip(row) {
                *a += p;
            }
        }
        for a in &mut mean {
            *a /= m as f64;
        }
        Ok(Self::from_entropies(
            convention.entropy(&mean),
            expected / m as f64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_log_zero_is_zero_and_uniform_is_ln_k() {
        assert_eq!(entropy(&[1.0, 0.0, 0.0]), 0.0);
        assert!((entropy(&[0.25; 4]) - 4f64.ln()).abs() < 1e-15);
        assert!(EntropyConvention::PaperEpsilon(0.0).validate().is_err());
        // The paper's variant is below the exact entropy.
        let p = [0.2, 0.3, 0.5];
        assert!(EntropyConvention::PAPER_NOTEBOOK.entropy(&p) < entropy(&p));
    }

    #[test]
    fn one_hot_disagreeing_members_have_mi_ln2() {
        let u =
            Uncertainty::of_members(&[1.0, 0.0, 0.0, 1.0], 2, EntropyConvention::Exact).unwrap();
        assert_eq!(u.expected_entropy, 0.0);
        assert!((u.mutual_information - 2f64.ln()).abs() < 1e-15);
    }
}
