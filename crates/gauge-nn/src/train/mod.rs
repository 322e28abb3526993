//! Training: a run configuration ([`TrainConfig`], serde), the training loop with Adam, a learning-rate
//! schedule, fresh samples every epoch, a NaN guard, atomic resumable safetensors checkpoints and
//! per-epoch metrics in JSON lines.
//!
//! A run directory holds `config.json` (the [`TrainConfig`]), `checkpoint.safetensors` (weights, Adam
//! moments, and the run state and configuration as metadata; replaced atomically after every epoch) and
//! `metrics.jsonl` (one [`EpochMetrics`] per line). [`Trainer::resume`] continues a run exactly where the
//! last checkpoint left it: the sample streams are indexed by position, the optimizer state is restored.

mod checkpoint;
mod config;
mod metrics;
mod optimiser;
mod schedule;
pub(crate) mod trainer;

pub use checkpoint::{Checkpoint, CheckpointEvaluation, EvalRequest, TrainState};
pub use config::{DataConfig, DeviceChoice, TrainConfig};
pub use metrics::{EpochMetrics, read_metrics};
pub use optimiser::AdamConfig;
pub use schedule::Schedule;
pub use trainer::Trainer;

/// The checkpoint's file name in a run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The configuration's file name in a run directory.
pub const CONFIG: &str = "config.json";
/// The metrics' file name in a run directory.
pub const METRICS: &str = "metrics.jsonl";
