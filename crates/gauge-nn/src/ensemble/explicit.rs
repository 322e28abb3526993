//! The explicit ensemble: $M$ networks trained from scratch by the ordinary [`Trainer`], with
//! the base run's configuration and member $m$'s seed, each in its own run directory
//! `member-<m>/` (so an interrupted ensemble resumes member by member).
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BaseCheckpoint, EnsembleKind, EnsembleManifest, check_members, remove_manifest};
use crate::error::Result;
use crate::train::{Checkpoint, Trainer};

/// How the explicit ensemble is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplicitConfig {
    /// Each member's seed ($M$ = their number): initial weights and sample stream.
    pub member_seeds: Vec<u64>,
    /// Epochs per member (`None`: the base run's).
    pub epochs: Option<usize>,
    /// libtorch threads recorded in each run (`None`: the base run's; applied by the caller).
    pub threads: Option<usize>,
}

/// Trains (or resumes, or finds complete) the $M$ member runs of an explicit ensemble in `dir`
/// with the configuration of the checkpoint `base` and member $m$'s seed, then writes
/// `ensemble.json`. `progress` shows each run's progress bar.
pub fn train_explicit(
    base: &Path,
    config: &ExplicitConfig,
    dir: &Path,
    progress: bool,
) -> Result<EnsembleManifest> {
    check_members(config.member_seeds.len())?;
    let ckpt = Checkpoint::read(base)?;
    let record = BaseCheckpoint::record(base, &ckpt.config)?;
    let mut run = ckpt.config.clone();
    if let Some(e) = config.epochs {
        run.epochs = e;
    }
    if let Some(t) = config.threads {
        run.threads = t;
    }
    run.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    remove_manifest(dir)?;
    let (mut seconds, mut rescales) = (0.0, Vec::new());
    for (m, &seed) in config.member_seeds.iter().enumerate() {
        let member = lora_ensemble::member_dir(dir, m);
        let mut cfg = run.clone();
        cfg.seed = seed;
        let mut trainer = if Checkpoint::exists(&member) {
            let mut c = Checkpoint::read(&member)?;
            if c.config.seed != seed || c.config.bands != cfg.bands {
                return Err(crate::Error::InvalidParameter {
                    name: "out",
                    value: member.display().to_string(),
                    reason: format!(
                        "holds a run with seed {} and {} bands, member {m} needs seed {seed} and \
                         {} bands: choose another directory",
                        c.config.seed, c.config.bands, cfg.bands
                    ),
                });
            }
            c.config.epochs = cfg.epochs;
            Trainer::resume_with(&member, c)?
        } else {
            Trainer::new(cfg, &member)?
        };
        trainer.train(progress)?;
        seconds += trainer.state().train_seconds;
        rescales.push(trainer.state().rescale);
    }
    let manifest = EnsembleManifest {
        format: super::ENSEMBLE_FORMAT.into(),
        version: 1,
        kind: EnsembleKind::Explicit,
        members: config.member_seeds.len(),
        seeds: config.member_seeds.clone(),
        base: record,
        finetune: None,
        epochs: run.epochs,
        rescales,
        train_seconds: seconds,
    };
    manifest.write(dir)?;
    Ok(manifest)
}
