//! Gauge-equivariant networks (in progress).

pub mod convert;
pub mod data;
mod error;
pub mod eval;
pub mod layers;
pub mod loss;
pub mod model;
pub mod train;

pub use error::{Error, Result};
pub use eval::EvalReport;
pub use loss::LossConfig;
pub use model::{Architecture, GaugeNet, NetConfig, gauge_net};
pub use train::{TrainConfig, Trainer};
