//! Gauge-equivariant networks that learn Chern numbers from Wilson loops (GENet, on libtorch).
//!
//! The input is the plaquette field $W(x)$ of $U(n)$ links, which transforms as
//! $W(x)\to\Omega(x)W(x)\Omega(x)^\dagger$. The [`layers`] (GEBL, GEConv, GEReLU, TrNorm, the trace
//! readout, the L-CNN fused layer) commute with that transformation, so the per-site outputs $f(x)$
//! of a [`GaugeNet`] are gauge invariant and $\sum_x f(x)$ predicts the Chern number. [`data`] draws
//! training samples, [`train`] runs training with checkpoints, [`eval`] measures accuracy and fits
//! the output scale of models trained on trivial samples only, [`sweep`] trains and evaluates one
//! network per number of filled bands on several grids, and [`plot`] draws the figures.
//!
//! [`NetConfig::conjugation_odd`] makes the outputs exactly odd under complex conjugation of the
//! links (which negates the Chern number). It is off by default (the published architecture) but
//! recommended for training on trivial samples only: on $5\times5$ it took $n=4$ from 50% to 95%
//! accuracy in less than half the training time, and the $n=1$ model from 32% to 100% on QWZ
//! insulators on a $12\times12$ k-grid (`benches/compare/genet/RESULTS.md`).
//!
//! ```
//! use gauge_nn::data::{GeneralConfig, HaarSource, SampleSource};
//! use gauge_nn::{NetConfig, gauge_net, model::parameter_count};
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let net = gauge_net(vs.root(), 2, &NetConfig::default())?; // GEBLNet 32, 16, 8
//! assert_eq!(parameter_count(&vs), 153_217);
//! let mut source = HaarSource::new(GeneralConfig { extents: vec![5, 5], n: 2, ..Default::default() })?;
//! let batch = source.sample(4)?;
//! let f = net.forward_checked(&batch.plaquettes, None)?; // local outputs f(x)
//! assert_eq!(f.size(), [4, 5, 5]);
//! # Ok(())
//! # }
//! ```

pub mod convert;
pub mod data;
mod error;
pub mod eval;
pub mod layers;
pub mod loss;
pub mod model;
#[cfg(feature = "plots")]
pub mod plot;
mod progress;
pub mod sweep;
mod tensor_file;
pub mod train;

pub use error::{Error, Result};
pub use eval::EvalReport;
pub use loss::LossConfig;
pub use model::{Architecture, GaugeNet, NetConfig, gauge_net};
pub use sweep::{BandSweepConfig, BandSweepReport, run_band_sweep};
pub use train::{TrainConfig, Trainer};
