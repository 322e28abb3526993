//! Set-up shared by the ensemble tests (`gauge_nn_ensemble`, `gauge_nn_ensemble_cli`): scratch
//! directories, a small trained base network, small fine-tuning runs and fixed Haar samples.
use std::path::{Path, PathBuf};

use gauge_nn::convert::Precision;
use gauge_nn::data::{Batch, GeneralConfig, HaarSource, SampleSource};
use gauge_nn::ensemble::{ExplicitConfig, FinetuneConfig, LoraTrainer};
use gauge_nn::train::{TrainConfig, Trainer};
use gauge_nn::{LossConfig, NetConfig};

/// A fresh (removed) directory `gauge-nn-<test>-<name>-<pid>` under the system temp dir.
pub fn tmp(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauge-nn-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A trivial-only, conjugation-odd n = 2 base on 3x3 (channels 4, 4; double precision; one
/// short epoch of 32 samples, output scale fitted on 64).
pub fn base_config(seed: u64) -> TrainConfig {
    TrainConfig {
        bands: 2,
        grid: vec![3, 3],
        trivial_only: true,
        model: NetConfig {
            channels: vec![4, 4],
            conjugation_odd: true,
            ..Default::default()
        },
        loss: LossConfig::ScaleInvariant,
        epochs: 1,
        samples_per_epoch: 32,
        batch: 8,
        seed,
        calibration_samples: 64,
        validation_samples: 0,
        double_precision: true,
        ..Default::default()
    }
}

/// Trains `config` into `dir` and returns `dir`.
pub fn train_base(dir: &Path, config: TrainConfig) -> PathBuf {
    Trainer::new(config, dir).unwrap().train(false).unwrap();
    dir.to_path_buf()
}

/// [`base_config`] with `seed`, trained into `dir`.
pub fn base(dir: &Path, seed: u64) -> PathBuf {
    train_base(dir, base_config(seed))
}

/// A small fine-tuning run of `members` members: rank 2, two epochs of 16 samples in batches of
/// 8, learning rate 0.01, 48 calibration and 48 validation samples.
pub fn small(members: usize, seed: u64) -> FinetuneConfig {
    FinetuneConfig {
        rank: 2,
        epochs: 2,
        samples_per_epoch: 16,
        batch: 8,
        lr: 1e-2,
        calibration_samples: 48,
        validation_samples: 48,
        ..FinetuneConfig::new(members, seed)
    }
}

/// A LoRA ensemble of `config` around `base`, fine-tuned to the end in `dir`.
pub fn fine_tuned(base: &Path, config: FinetuneConfig, dir: &Path) -> LoraTrainer {
    let mut t = LoraTrainer::new(base, config, dir).unwrap();
    t.train(false).unwrap();
    t
}

/// The explicit ensemble of `member_seeds` with the base run's epochs and threads.
pub fn explicit(member_seeds: Vec<u64>) -> ExplicitConfig {
    ExplicitConfig {
        member_seeds,
        epochs: None,
        threads: None,
    }
}

/// `count` Haar-random n = 2 samples on `extents` from the stream of `seed`.
pub fn haar(extents: &[usize], seed: u64, precision: Precision, count: usize) -> Batch {
    HaarSource::new(GeneralConfig {
        extents: extents.to_vec(),
        n: 2,
        seed,
        precision,
        ..Default::default()
    })
    .unwrap()
    .sample(count)
    .unwrap()
}
