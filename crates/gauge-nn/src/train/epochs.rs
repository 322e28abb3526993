//! The epoch driver shared by every training loop of the crate ([`super::Trainer`] and the LoRA
//! ensemble's [`crate::ensemble::LoraTrainer`]): a time slice of at most `count` of the
//! remaining epochs, a progress bar over their optimiser steps, and after each epoch the atomic
//! checkpoint, then one line of `metrics.jsonl`. A run interrupted between two epochs resumes from
//! its last checkpoint; a non-finite loss ([`check_finite_loss`]) stops the epoch before the
//! weights change, so the checkpoint on disk stays the last good state.
use std::path::PathBuf;

use serde::Serialize;
use tch::Tensor;

use super::metrics::append_line;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// A training run that [`train_epochs`] drives one epoch at a time.
pub(crate) trait EpochRun {
    /// What one epoch reports (one line of the metrics file).
    type Metrics: Serialize;

    /// Completed epochs.
    fn epochs_done(&self) -> usize;

    /// All epochs of the run (the learning-rate schedule spans them).
    fn epochs(&self) -> usize;

    /// Optimiser steps per epoch.
    fn steps_per_epoch(&self) -> usize;

    /// Trains the next epoch, advancing the progress bar by one per optimiser step, and counts
    /// it as done; returns its metrics.
    fn train_epoch(&mut self, bar: &Progress) -> Result<Self::Metrics>;

    /// The progress bar's message after an epoch.
    fn progress_message(metrics: &Self::Metrics) -> String;

    /// Writes the checkpoint atomically.
    fn save(&self) -> Result<()>;

    /// The metrics file (JSON lines) the epochs' metrics are appended to.
    fn metrics_path(&self) -> PathBuf;

    /// Called after a slice that leaves every epoch done (and after a call on a finished run).
    fn completed(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Trains at most `count` of `run`'s remaining epochs, writing the checkpoint and then the
/// metrics line after each; `progress` shows a bar. Returns the metrics of the epochs run now.
pub(crate) fn train_epochs<R: EpochRun>(
    run: &mut R,
    count: usize,
    progress: bool,
) -> Result<Vec<R::Metrics>> {
    let stop = run.epochs().min(run.epochs_done().saturating_add(count));
    let remaining = stop.saturating_sub(run.epochs_done());
    let bar = Progress::new(
        (remaining * run.steps_per_epoch()) as u64,
        "{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}",
        progress,
    );
    let mut out = Vec::new();
    while run.epochs_done() < stop {
        let metrics = run.train_epoch(&bar)?;
        bar.set_message(|| R::progress_message(&metrics));
        run.save()?;
        append_metrics(&run.metrics_path(), &metrics)?;
        out.push(metrics);
    }
    bar.finish();
    if run.epochs_done() >= run.epochs() {
        run.completed()?;
    }
    Ok(out)
}

/// Appends `metrics` as one JSON line to `path` (created if missing).
pub(crate) fn append_metrics<M: Serialize>(path: &std::path::Path, metrics: &M) -> Result<()> {
    append_line(
        path,
        &serde_json::to_string(metrics).expect("metrics serialise"),
    )
}

/// The NaN guard: an error naming the step (epoch and step counted from 1) unless every loss in
/// `losses` is finite. Called before the update, so the weights stay untouched.
pub(crate) fn check_finite_loss(losses: &[f64], epoch: usize, step: usize) -> Result<()> {
    match losses.iter().find(|v| !v.is_finite()) {
        Some(&loss) => Err(Error::NonFiniteLoss { epoch, step, loss }),
        None => Ok(()),
    }
}

/// Sets the accumulated gradients of `vars` to zero.
pub(crate) fn zero_grads(vars: &[Tensor]) {
    for v in vars {
        let mut g = v.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
}
