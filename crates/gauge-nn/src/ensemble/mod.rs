//! Ensembles of trained networks and their calibrated uncertainty: a LoRA ensemble fine-tuned
//! around a frozen checkpoint ([`LoraTrainer`]), the explicit ensemble of $M$ networks trained
//! from scratch with different seeds ([`train_explicit`]), both read back as a
//! [`TrainedEnsemble`] and evaluated the same way ([`evaluate_ensemble`]); [`train_ensemble`]
//! and [`evaluate_ensemble_dir`] do either for a directory in one call.
//!
//! | module | what |
//! |---|---|
//! | [`finetune`] | [`FinetuneConfig`], [`LoraTrainer`]: $M$ members in one pass, checkpoints, resume |
//! | [`explicit`] | [`train_explicit`]: $M$ runs of the ordinary [`crate::Trainer`] |
//! | [`members`] | [`TrainedEnsemble`]: the members' calibrated outputs, batched or one by one |
//! | [`evaluate`] | [`evaluate_ensemble`]: the predictive distribution over integers, the metrics of `ensemble-uq`, the single-model baselines, OOD detection |
//! | `plots` | SVG figures (feature `plots`) |
//! | [`workflow`] | [`train_ensemble`], [`evaluate_ensemble_dir`]: a directory trained or evaluated from typed options (`genet ensemble`) |
//!
//! # An ensemble directory
//!
//! Both kinds write `member-<m>/` folders and, last, [`ENSEMBLE_MANIFEST`] (`ensemble.json`, an
//! [`EnsembleManifest`]): a folder without it is incomplete (training interrupted, or still
//! running) and is refused by [`TrainedEnsemble::open`]. The manifest names the base checkpoint
//! by path and SHA-256, and the evaluation refuses a base whose bytes changed.
//!
//! - LoRA: `member-<m>/` are peft adapter folders (`adapter_model.safetensors`,
//!   `adapter_config.json`, readable by Python peft; crate `lora-ensemble`), beside
//!   `lora-ensemble`'s own `manifest.json`, the training checkpoint `checkpoint.safetensors`
//!   (adapters, Adam moments, state; replaced atomically after every epoch) and `metrics.jsonl`
//!   (one [`FinetuneMetrics`] per epoch, from epoch 0 = the prior).
//! - Explicit: `member-<m>/` are ordinary run directories of [`crate::Trainer`].
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::TrainConfig;

pub mod evaluate;
pub mod explicit;
pub mod finetune;
pub mod members;
#[cfg(feature = "plots")]
pub mod plots;
pub mod workflow;

pub use evaluate::{
    DomainEvaluation, EnsembleEvalRequest, EnsembleEvaluation, OodSet, eigenphase_distance,
    evaluate_ensemble,
};
pub use explicit::{ExplicitConfig, train_explicit};
pub use finetune::{
    FINETUNE_CHECKPOINT, FinetuneConfig, FinetuneMetrics, FinetuneState, LoraTrainer,
    read_finetune_metrics,
};
pub use members::TrainedEnsemble;
pub use workflow::{
    EnsembleEvalOptions, EnsembleTrainOptions, EnsembleTrainReport, MemoryCheck,
    evaluate_ensemble_dir, train_ensemble,
};

/// File name of the manifest, written last: its presence marks a complete ensemble.
pub const ENSEMBLE_MANIFEST: &str = "ensemble.json";
/// The manifest's `format` value.
pub const ENSEMBLE_FORMAT: &str = "chernet-genet-ensemble";

/// How the members were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnsembleKind {
    /// Low-rank adapters around one frozen base network.
    Lora,
    /// Full networks trained from scratch with different seeds.
    Explicit,
}

impl EnsembleKind {
    /// `lora` or `explicit`.
    pub fn name(self) -> &'static str {
        match self {
            EnsembleKind::Lora => "lora",
            EnsembleKind::Explicit => "explicit",
        }
    }
}

/// The trained checkpoint an ensemble starts from (LoRA) or is compared with (explicit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseCheckpoint {
    /// The checkpoint file (absolute path when it was recorded).
    pub path: PathBuf,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its filled bands $n$.
    pub bands: usize,
    /// Its training grid.
    pub grid: Vec<usize>,
}

impl BaseCheckpoint {
    /// Records the checkpoint `file` (a run directory or its `checkpoint.safetensors`).
    pub fn record(file: &Path, config: &TrainConfig) -> Result<BaseCheckpoint> {
        let path = checkpoint_file(file);
        let path = path.canonicalize().map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(BaseCheckpoint {
            sha256: lora_ensemble::sha256_file(&path)?,
            path,
            bands: config.bands,
            grid: config.grid.clone(),
        })
    }

    /// Errors unless the file still has the recorded SHA-256.
    pub fn verify(&self) -> Result<()> {
        let now = lora_ensemble::sha256_file(&self.path)?;
        if now != self.sha256 {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "the ensemble was trained on a base checkpoint with sha256 {}, this file has \
                     sha256 {now}: another base (retrained or replaced)",
                    self.sha256
                ),
            });
        }
        Ok(())
    }
}

/// The checkpoint file of a run directory, or `path` itself when it is a file.
pub(crate) fn checkpoint_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(crate::train::CHECKPOINT)
    } else {
        path.to_path_buf()
    }
}

/// `ensemble.json`: what a complete ensemble directory holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleManifest {
    /// Always [`ENSEMBLE_FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// LoRA or explicit.
    pub kind: EnsembleKind,
    /// Number of members $M$.
    pub members: usize,
    /// Each member's seed (adapter initialisation and data order, or the run's seed).
    pub seeds: Vec<u64>,
    /// The base checkpoint.
    pub base: BaseCheckpoint,
    /// The fine-tuning configuration (LoRA only).
    pub finetune: Option<FinetuneConfig>,
    /// Epochs each member was trained.
    pub epochs: usize,
    /// Each member's output scale $k_m$ (fitted on the calibration set after training).
    pub rescales: Vec<f64>,
    /// Seconds spent training all members (sampling included; the base's training excluded).
    pub train_seconds: f64,
}

impl EnsembleManifest {
    /// Reads and checks `<dir>/ensemble.json`; a missing file means an incomplete ensemble.
    pub fn read(dir: &Path) -> Result<EnsembleManifest> {
        let path = dir.join(ENSEMBLE_MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound && dir.is_dir() {
                Error::Corrupt {
                    path: path.clone(),
                    reason: "missing: not a complete ensemble (training unfinished or \
                             interrupted; resume it with the same command and --resume)"
                        .into(),
                }
            } else {
                Error::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let bad = |field: &str, expected: &str, found: String| Error::BadField {
            path: path.clone(),
            field: field.into(),
            expected: expected.into(),
            found,
        };
        let m: EnsembleManifest = serde_json::from_str(&text)
            .map_err(|e| bad("(manifest)", "an ensemble manifest", e.to_string()))?;
        if m.format != ENSEMBLE_FORMAT || m.version != 1 {
            return Err(bad(
                "format",
                "chernet-genet-ensemble version 1",
                format!("{} version {}", m.format, m.version),
            ));
        }
        if m.members == 0 || m.seeds.len() != m.members || m.rescales.len() != m.members {
            return Err(bad(
                "members",
                "at least one member, with one seed and one output scale each",
                format!(
                    "{} members, {} seeds, {} output scales",
                    m.members,
                    m.seeds.len(),
                    m.rescales.len()
                ),
            ));
        }
        if let Some(k) = m.rescales.iter().find(|k| !k.is_finite() || **k == 0.0) {
            return Err(bad(
                "rescales",
                "finite, non-zero output scales",
                k.to_string(),
            ));
        }
        if m.kind == EnsembleKind::Lora && m.finetune.is_none() {
            return Err(bad(
                "finetune",
                "the fine-tuning configuration of a LoRA ensemble",
                "null".into(),
            ));
        }
        Ok(m)
    }

    /// Writes `<dir>/ensemble.json` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("the manifest serialises");
        crate::tensor_file::write_atomic(&dir.join(ENSEMBLE_MANIFEST), text.as_bytes())
    }
}

/// Removes `<dir>/ensemble.json` if present (before training changes the members).
pub(crate) fn remove_manifest(dir: &Path) -> Result<()> {
    let path = dir.join(ENSEMBLE_MANIFEST);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// Checks a member count (at least 1, at most 1024).
pub(crate) fn check_members(members: usize) -> Result<()> {
    if members == 0 || members > 1024 {
        return Err(Error::InvalidParameter {
            name: "members",
            value: members.to_string(),
            reason: "an ensemble needs at least one member (at most 1024)".into(),
        });
    }
    Ok(())
}

/// Member seeds `seed + 1, .., seed + M`.
pub fn member_seeds(seed: u64, members: usize) -> Vec<u64> {
    (0..members as u64)
        .map(|m| seed.wrapping_add(1 + m))
        .collect()
}
