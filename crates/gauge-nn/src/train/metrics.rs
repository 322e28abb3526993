//! Per-epoch metrics, one JSON object per line of the run's `metrics.jsonl`.
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::METRICS;
use crate::error::{Error, Result};

/// Metrics of one epoch (one line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: usize,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Seconds of this epoch (sampling included).
    pub seconds: f64,
    /// Total training seconds of the run so far.
    pub train_seconds: f64,
    /// Training samples per second in this epoch (sampling included).
    pub samples_per_second: f64,
    /// Output scale fitted on the calibration set after this epoch, if there is one.
    pub rescale: Option<f64>,
    /// Accuracy on the validation set (with `rescale`), if there is one.
    pub val_accuracy: Option<f64>,
    /// The largest gradient norm of the epoch's steps, before clipping (absent in the metrics
    /// of runs from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm_max: Option<f64>,
}

/// The per-epoch metrics of the run in `dir` (its `metrics.jsonl`, one JSON object per line, all
/// epochs including those of earlier sessions of a resumed run).
///
/// Errors name the file and the line that is not an [`EpochMetrics`] object.
pub fn read_metrics(dir: impl AsRef<Path>) -> Result<Vec<EpochMetrics>> {
    read_jsonl(&dir.as_ref().join(METRICS), "an epoch-metrics JSON object")
}

/// Reads a JSON-lines file of `T` (blank lines skipped); errors name the file and the line that
/// is not `expected`.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
    expected: &str,
) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::BadField {
                path: path.to_path_buf(),
                field: format!("line {}", i + 1),
                expected: expected.into(),
                found: e.to_string(),
            })
        })
        .collect()
}

/// Appends one line to `path` (created if missing).
pub(crate) fn append_line(path: &Path, line: &str) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{line}").map_err(io)
}
