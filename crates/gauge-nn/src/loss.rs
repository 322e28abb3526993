//! Training losses on the local outputs $f_b(x)$ of a batch.
//!
//! * [`LossConfig::Local`]: $L=\frac1{BS}\sum_{b,x}|f_b(x)-\ell_b(x)|$ on the per-plaquette labels $\ell$.
//! * [`LossConfig::Global`] (the paper's, for trivial-only training):
//!   $L=\frac1B\sum_b|F_b-C_b|+\lambda\frac1B\sum_b\max(0,\delta-\operatorname{std}_x f_b(x))$ with
//!   $F_b=\sum_x f_b(x)$; the spread term stops the collapse to zero output (paper: $\delta=0.5$,
//!   $\lambda=1$; $\lambda\approx10$ removes the collapsed minimum at $n=2$).
//! * [`LossConfig::ScaleInvariant`]: $L=\sqrt{\frac1B\sum_b(F_b-C_b)^2}\,/\,(\sqrt S\,\operatorname{std}f)$,
//!   with the standard deviation over every output of the batch: invariant under $f\to kf$ when
//!   $C=0$, so shrinking the outputs gains nothing.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which loss to train with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossConfig {
    /// Mean absolute error on the per-plaquette labels.
    #[default]
    Local,
    /// The paper's global loss with a spread penalty.
    Global {
        /// Minimum spread $\delta$ of the outputs over the lattice.
        delta: f64,
        /// Weight $\lambda$ of the spread penalty.
        spread_weight: f64,
    },
    /// Root-mean-square global error divided by the spread of the outputs.
    ScaleInvariant,
}

impl LossConfig {
    /// The paper's global loss: $\delta=0.5$, $\lambda=1$.
    pub const PAPER_GLOBAL: LossConfig = LossConfig::Global {
        delta: 0.5,
        spread_weight: 1.0,
    };

    /// The loss of local outputs `f` `(B, sites..)` against per-site `labels` `(B, sites..)` and
    /// Chern numbers `chern` `(B,)` (a scalar tensor, differentiable in `f`).
    pub fn loss(&self, f: &Tensor, labels: &Tensor, chern: &Tensor) -> Tensor {
        // Double-precision outputs keep their precision; anything else is computed in f32.
        let kind = if f.kind() == Kind::Double {
            Kind::Double
        } else {
            Kind::Float
        };
        let f = f.flatten(1, -1).to_kind(kind);
        match *self {
            LossConfig::Local => {
                let l = labels.flatten(1, -1).to_kind(kind);
                (f - l).abs().mean(kind)
            }
            LossConfig::Global {
                delta,
                spread_weight,
            } => {
                let c = chern.to_kind(kind);
                let global = (f.sum_dim_intlist(1, false, None) - c).abs().mean(kind);
                let spread = f.std_dim(1, true, false);
                let penalty = (spread.neg() + delta).relu().mean(kind);
                global + penalty * spread_weight
            }
            LossConfig::ScaleInvariant => {
                let c = chern.to_kind(kind);
                let sites = f.size()[1] as f64;
                let rms = (f.sum_dim_intlist(1, false, None) - c)
                    .square()
                    .mean(kind)
                    .sqrt();
                let spread = f.std(true) * sites.sqrt() + 1e-12;
                rms / spread
            }
        }
    }

    /// Short name for logs and file names.
    pub fn name(&self) -> &'static str {
        match self {
            LossConfig::Local => "local",
            LossConfig::Global { .. } => "global",
            LossConfig::ScaleInvariant => "scale_invariant",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    #[test]
    fn local_loss_is_mean_absolute_error() {
        let f = t(&[0.5, -0.5, 1.0, 0.0], &[2, 2]);
        let l = t(&[0.0, 0.0, 1.0, 1.0], &[2, 2]);
        let c = Tensor::from_slice(&[0i64, 2]);
        let got = LossConfig::Local.loss(&f, &l, &c).double_value(&[]);
        assert!((got - 0.5).abs() < 1e-7); // (0.5 + 0.5 + 0 + 1) / 4
    }

    #[test]
    fn global_loss_by_hand() {
        // Sample 0: F = 0, C = 0, std = sqrt(2) * 0.5 ≈ 0.707 > δ: no penalty.
        // Sample 1: F = 0.2, C = 1, std = 0: penalty δ = 0.5.
        let f = t(&[0.5, -0.5, 0.1, 0.1], &[2, 2]);
        let l = Tensor::zeros([2, 2], (Kind::Float, Device::Cpu));
        let c = Tensor::from_slice(&[0i64, 1]);
        let got = LossConfig::PAPER_GLOBAL.loss(&f, &l, &c).double_value(&[]);
        let want = (0.0 + 0.8) / 2.0 + (0.0 + 0.5) / 2.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let weighted = LossConfig::Global {
            delta: 0.5,
            spread_weight: 10.0,
        }
        .loss(&f, &l, &c)
        .double_value(&[]);
        assert!((weighted - (0.4 + 2.5)).abs() < 1e-6);
    }

    #[test]
    fn scale_invariant_loss_ignores_scale_for_trivial_samples() {
        let f = t(&[0.3, -0.1, 0.2, 0.5, -0.4, 0.1], &[2, 3]);
        let l = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        let c = Tensor::from_slice(&[0i64, 0]);
        let a = LossConfig::ScaleInvariant
            .loss(&f, &l, &c)
            .double_value(&[]);
        let b = LossConfig::ScaleInvariant
            .loss(&(&f * 7.0), &l, &c)
            .double_value(&[]);
        assert!((a - b).abs() < 1e-6 * a.abs().max(1.0));
        // By hand: F = (0.4, 0.2); rms = sqrt((0.16 + 0.04) / 2); std over all six outputs.
        let vals = [0.3f64, -0.1, 0.2, 0.5, -0.4, 0.1];
        let mean = vals.iter().sum::<f64>() / 6.0;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 5.0;
        let want = (0.1f64).sqrt() / (3f64.sqrt() * var.sqrt());
        assert!((a - want).abs() < 1e-5, "{a} vs {want}");
    }

    #[test]
    fn losses_serialise_by_name() {
        let s = serde_json::to_string(&LossConfig::PAPER_GLOBAL).unwrap();
        assert_eq!(s, r#"{"kind":"global","delta":0.5,"spread_weight":1.0}"#);
        let back: LossConfig = serde_json::from_str(r#"{"kind":"scale_invariant"}"#).unwrap();
        assert_eq!(back, LossConfig::ScaleInvariant);
    }
}
