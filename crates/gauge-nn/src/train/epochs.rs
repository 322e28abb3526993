//! The epoch driver shared by every training loop of the crate ([`super::Trainer`] and the LoRA
//! ensemble's [`crate::ensemble::LoraTrainer`]): a time slice of at most `count` of the
//! remaining epochs ([`train_epochs`]) or the epochs that start within a budget of training
//! seconds ([`train_within`]), a progress bar over their optimiser steps, and after each epoch
//! the atomic checkpoint, then one line of `metrics.jsonl`. A run interrupted between two epochs resumes from
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

    /// Seconds spent training so far (all sessions).
    fn train_seconds(&self) -> f64;

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

/// Trains the remaining epochs, or with a budget one epoch at a time while the run's training
/// seconds (all sessions) are below `budget_seconds`: an epoch that starts within the budget is
/// finished, and the run resumes later from its checkpoint.
pub(crate) fn train_within<R: EpochRun>(
    run: &mut R,
    budget_seconds: Option<f64>,
    progress: bool,
) -> Result<Vec<R::Metrics>> {
    let Some(budget) = budget_seconds else {
        return train_epochs(run, usize::MAX, progress);
    };
    let mut out = Vec::new();
    while run.epochs_done() < run.epochs() && run.train_seconds() < budget {
        out.extend(train_epochs(run, 1, progress)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose epochs take one second of its clock each and record what the driver did.
    struct CountingRun {
        epochs: usize,
        done: usize,
        seconds: f64,
        fail_at: Option<usize>,
        events: Vec<String>,
        path: PathBuf,
    }

    impl CountingRun {
        fn new(epochs: usize, name: &str) -> CountingRun {
            let path = std::env::temp_dir().join(format!(
                "gauge-nn-epochs-{name}-{}.jsonl",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            CountingRun {
                epochs,
                done: 0,
                seconds: 0.0,
                fail_at: None,
                events: Vec::new(),
                path,
            }
        }

        fn lines(&self) -> Vec<usize> {
            std::fs::read_to_string(&self.path)
                .unwrap_or_default()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect()
        }
    }

    impl EpochRun for CountingRun {
        type Metrics = usize;

        fn epochs_done(&self) -> usize {
            self.done
        }

        fn epochs(&self) -> usize {
            self.epochs
        }

        fn steps_per_epoch(&self) -> usize {
            3
        }

        fn train_seconds(&self) -> f64 {
            self.seconds
        }

        fn train_epoch(&mut self, _bar: &Progress) -> Result<usize> {
            check_finite_loss(&[1.0], self.done + 1, 3 * self.done + 1)?;
            if self.fail_at == Some(self.done + 1) {
                check_finite_loss(&[0.5, f64::NAN], self.done + 1, 3 * self.done + 2)?;
            }
            self.done += 1;
            self.seconds += 1.0;
            self.events.push(format!("epoch {}", self.done));
            Ok(self.done)
        }

        fn progress_message(m: &usize) -> String {
            format!("epoch {m}")
        }

        fn save(&self) -> Result<()> {
            // The metrics line of this epoch is not written yet.
            assert_eq!(self.lines().len(), self.done - 1);
            Ok(())
        }

        fn metrics_path(&self) -> PathBuf {
            self.path.clone()
        }

        fn completed(&mut self) -> Result<()> {
            self.events.push("completed".into());
            Ok(())
        }
    }

    #[test]
    fn slices_resume_where_the_last_one_stopped_and_complete_once() {
        let mut run = CountingRun::new(5, "slices");
        assert_eq!(train_epochs(&mut run, 2, false).unwrap(), [1, 2]);
        assert_eq!(
            train_epochs(&mut run, 0, false).unwrap(),
            Vec::<usize>::new()
        );
        assert_eq!(
            train_epochs(&mut run, usize::MAX, false).unwrap(),
            [3, 4, 5]
        );
        assert_eq!(run.lines(), [1, 2, 3, 4, 5]);
        assert_eq!(run.events.last().map(String::as_str), Some("completed"));
        assert_eq!(run.events.iter().filter(|e| *e == "completed").count(), 1);
        std::fs::remove_file(&run.path).unwrap();
    }

    #[test]
    fn a_budget_finishes_the_epoch_it_started_in() {
        let mut run = CountingRun::new(5, "budget");
        // One second per epoch: epochs start at 0, 1 and 2 s, all below 2.5 s.
        assert_eq!(train_within(&mut run, Some(2.5), false).unwrap(), [1, 2, 3]);
        assert!(!run.events.contains(&"completed".to_string()));
        assert_eq!(
            train_within(&mut run, Some(2.5), false).unwrap(),
            Vec::<usize>::new()
        );
        assert_eq!(train_within(&mut run, None, false).unwrap(), [4, 5]);
        assert_eq!(run.events.last().map(String::as_str), Some("completed"));
        assert_eq!(run.lines(), [1, 2, 3, 4, 5]);
        std::fs::remove_file(&run.path).unwrap();
    }

    #[test]
    fn a_non_finite_loss_stops_before_the_checkpoint_and_the_metrics_line() {
        let mut run = CountingRun::new(4, "nan");
        run.fail_at = Some(3);
        match train_epochs(&mut run, usize::MAX, false) {
            Err(Error::NonFiniteLoss {
                epoch: 3,
                step: 8,
                loss,
            }) => assert!(loss.is_nan()),
            other => panic!("expected NonFiniteLoss, got {other:?}"),
        }
        assert_eq!(run.epochs_done(), 2);
        assert_eq!(run.lines(), [1, 2]);
        assert!(!run.events.contains(&"completed".to_string()));
        std::fs::remove_file(&run.path).unwrap();
    }
}
