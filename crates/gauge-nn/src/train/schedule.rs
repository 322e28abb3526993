//! The learning-rate schedule.
use serde::{Deserialize, Serialize};

/// Learning-rate schedule, as a factor on [`AdamConfig::lr`](super::AdamConfig::lr) of the progress through the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Constant learning rate.
    #[default]
    Constant,
    /// Cosine decay from `lr` to `lr * min_factor` over the run.
    Cosine {
        /// Final factor.
        min_factor: f64,
    },
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
}

impl Schedule {
    /// The factor at `step` of `total` steps (epoch length `steps_per_epoch`).
    pub fn factor(&self, step: usize, total: usize, steps_per_epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Cosine { min_factor } => {
                let p = step as f64 / total.max(1) as f64;
                min_factor
                    + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
            }
            Schedule::Step { every, gamma } => {
                gamma.powi((step / steps_per_epoch.max(1) / every.max(1)) as i32)
            }
        }
    }
}
