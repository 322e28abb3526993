//! GEReLU: $W'(x)=\mathrm{ReLU}(\operatorname{Re}\operatorname{Tr}W(x))\,W(x)$ per channel.
//!
//! The gate is a gauge-invariant scalar, so the output stays covariant.
use tch::{Tensor, nn};

use super::matrix_trace;

/// The GEReLU activation (no parameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct GeRelu;

/// A GEReLU activation.
pub fn ge_relu() -> GeRelu {
    GeRelu
}

impl nn::Module for GeRelu {
    fn forward(&self, w: &Tensor) -> Tensor {
        let gate = matrix_trace(w).real().relu();
        w * gate.unsqueeze(-1).unsqueeze(-1)
    }
}
