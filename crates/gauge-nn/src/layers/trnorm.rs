//! TrNorm, the paper's normalisation: divide every channel by the size of the mean trace.
//!
//! $$m(x)=\frac1C\sum_\gamma\operatorname{Tr}W_\gamma(x),\qquad
//! W'_\gamma(x)=\frac{W_\gamma(x)}{\max(|m(x)|,\epsilon)}.$$
//! The variant `on_abs_trace` uses $m(x)=\frac1C\sum_\gamma|\operatorname{Tr}W_\gamma(x)|$, which cannot
//! cancel between channels. Both are gauge invariant scalars, so the output stays covariant.
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::matrix_trace;

/// Options of [`TrNorm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrNormConfig {
    /// The floor $\epsilon$ of the denominator (the paper's 1e-3).
    pub threshold: f64,
    /// Average $|\operatorname{Tr}W_\gamma|$ instead of $\operatorname{Tr}W_\gamma$.
    pub on_abs_trace: bool,
}

impl Default for TrNormConfig {
    fn default() -> Self {
        Self {
            threshold: 1e-3,
            on_abs_trace: false,
        }
    }
}

/// The TrNorm layer (no parameters).
#[derive(Debug, Clone, Copy)]
pub struct TrNorm {
    config: TrNormConfig,
}

/// A TrNorm layer.
pub fn tr_norm(config: TrNormConfig) -> TrNorm {
    TrNorm { config }
}

impl nn::Module for TrNorm {
    fn forward(&self, w: &Tensor) -> Tensor {
        let tr = matrix_trace(w);
        let m = if self.config.on_abs_trace {
            tr.abs().mean_dim(1, true, None)
        } else {
            tr.mean_dim(1, true, None).abs()
        };
        let m = m.clamp_min(self.config.threshold);
        w / m.unsqueeze(-1).unsqueeze(-1)
    }
}
