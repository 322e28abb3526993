//! The L-CNN fused layer (L-CB of Favoni et al.): a bilinear product of the local channels with the
//! parallel-transported ones,
//! $$W'_u(x)=\sum_{v,w}\alpha_{uvw}\,X_v(x)\,\tilde X_w(x),$$
//! where $X$ is the enlarged input at $x$ and $\tilde X$ the stack of [`transported_stack`] copies
//! (centre and $T^{k\delta}_{\pm\mu}$, plus the identity). Covariant for the same reasons as GEBL and GEConv.
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::{
    GeConvConfig, bilinear_contract, bilinear_contract_members, enlarge, transported_stack,
};

/// Options of [`LConvBilinear`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LConvBilinearConfig {
    /// Kernel, dilation and enlargement of the transported factor and of the local factor.
    pub conv: GeConvConfig,
    /// Initial standard deviation of the real and imaginary parts of $\alpha$ (default $1/(2c)$).
    pub init_std: Option<f64>,
}

/// The fused convolution-bilinear layer.
#[derive(Debug)]
pub struct LConvBilinear {
    alpha: Tensor,
    config: LConvBilinearConfig,
    in_channels: i64,
}

/// An L-CB layer on a `dim`-dimensional lattice from `in_channels` to `out_channels`.
pub fn l_conv_bilinear<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    dim: usize,
    in_channels: i64,
    out_channels: i64,
    config: LConvBilinearConfig,
) -> LConvBilinear {
    let c = in_channels * if config.conv.conjugates { 2 } else { 1 };
    let cl = c + i64::from(config.conv.identity);
    let cr = c * config.conv.terms(dim) + i64::from(config.conv.identity);
    let std = config.init_std.unwrap_or(1.0 / (2.0 * cr as f64));
    let alpha = path.borrow().var(
        "alpha",
        &[out_channels, cl, cr, 2],
        nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    );
    LConvBilinear {
        alpha,
        config,
        in_channels,
    }
}

impl LConvBilinear {
    /// The real view of $\alpha$, `(C_out, c_left, c_right, 2)` (the variable in the var store).
    pub fn weight_real(&self) -> &Tensor {
        &self.alpha
    }

    /// [`LConvBilinear::forward_links`] with a weight per member: `alpha` complex
    /// `(M, C_out, c_left, c_right)`, `w` and `links` with the members first on the batch axis.
    pub fn forward_links_members(&self, alpha: &Tensor, w: &Tensor, links: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_channels, "L-CB input channels");
        let (left, right) = self.factors(w, links);
        bilinear_contract_members(alpha, &left, &right)
    }

    fn factors(&self, w: &Tensor, links: &Tensor) -> (Tensor, Tensor) {
        let conv = self.config.conv;
        let x = enlarge(w, conv.conjugates, false);
        let right = transported_stack(&x, links, conv.kernel_size, conv.dilation);
        let right = enlarge(&right, false, conv.identity);
        let left = enlarge(&x, false, conv.identity);
        (left, right)
    }

    /// Applies the layer to `w` `(B, C, L_1..L_d, n, n)` with links `(B, d, L_1..L_d, n, n)`.
    pub fn forward_links(&self, w: &Tensor, links: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_channels, "L-CB input channels");
        let (left, right) = self.factors(w, links);
        bilinear_contract(&self.alpha.view_as_complex(), &left, &right)
    }
}
