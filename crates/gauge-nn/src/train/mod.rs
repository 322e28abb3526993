//! Training: a run configuration ([`TrainConfig`], serde), the training loop with Adam, a learning-rate
//! schedule, fresh samples every epoch, a NaN guard, atomic resumable safetensors checkpoints and
//! per-epoch metrics in JSON lines.
//!
//! A run directory holds `config.json` (the [`TrainConfig`]), `checkpoint.safetensors` (weights, Adam
//! moments, and the run state and configuration as metadata; replaced atomically after every epoch) and
//! `metrics.jsonl` (one [`EpochMetrics`] per line). [`Trainer::resume`] continues a run exactly where the
//! last checkpoint left it: the sample streams are indexed by position, the optimizer state is restored.
//!
//! ```
//! use gauge_nn::train::{Checkpoint, EvalRequest, TrainConfig, Trainer};
//! use gauge_nn::{LossConfig, NetConfig};
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let dir = std::env::temp_dir().join(format!("gauge-nn-doc-train-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let config = TrainConfig {
//!     bands: 1,
//!     grid: vec![4, 4],
//!     model: NetConfig { channels: vec![4, 4], ..Default::default() },
//!     loss: LossConfig::Local,
//!     epochs: 2,
//!     samples_per_epoch: 32,
//!     batch: 16,
//!     calibration_samples: 0,
//!     validation_samples: 0,
//!     ..Default::default()
//! };
//! let mut trainer = Trainer::new(config, &dir)?;
//! let metrics = trainer.train(false)?; // one checkpoint and one metrics line per epoch
//! assert_eq!(metrics.len(), 2);
//! let checkpoint = Checkpoint::read(&dir)?; // checksum and weights verified
//! let request = EvalRequest { grid: Some(vec![6, 6]), samples: 8, hamiltonian: None, seed: 1, batch: 8, progress: false };
//! let result = checkpoint.evaluate(&request, tch::Device::Cpu)?;
//! assert_eq!(result.samples, 8);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod config;
pub(crate) mod epochs;
pub(crate) mod metrics;
pub(crate) mod optimiser;
pub(crate) mod run;
mod schedule;
pub(crate) mod trainer;

pub(crate) use checkpoint::SMALL_FLUX_SEED;
pub use checkpoint::{Checkpoint, CheckpointEvaluation, EvalRequest, TrainState};
pub use config::{DataConfig, DeviceChoice, TrainConfig};
pub use metrics::{EpochMetrics, read_metrics};
pub use optimiser::AdamConfig;
pub use run::{
    RunEvalOptions, RunStart, TrainRunOptions, check_training_memory, evaluate_run, open_run,
};
pub use schedule::Schedule;
pub use trainer::{Trainer, seconds_per_step};

/// The checkpoint's file name in a run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The configuration's file name in a run directory.
pub const CONFIG: &str = "config.json";
/// The metrics' file name in a run directory.
pub const METRICS: &str = "metrics.jsonl";
