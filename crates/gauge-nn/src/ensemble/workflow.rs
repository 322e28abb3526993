//! An ensemble directory as one call each: [`train_ensemble`] trains (or resumes) a LoRA or an
//! explicit ensemble from typed [`EnsembleTrainOptions`], and [`evaluate_ensemble_dir`] opens a
//! directory, evaluates it and writes its figures from [`EnsembleEvalOptions`] (what
//! `genet ensemble train` and `genet ensemble eval` run).
//!
//! Both refuse work whose memory estimate the caller's [`MemoryCheck`] rejects before anything
//! is trained or drawn, and both leave a directory without `ensemble.json` when they fail, so
//! nothing half-written passes for a complete ensemble.
use std::path::PathBuf;

use tch::Device;

use super::{
    EnsembleEvalRequest, EnsembleEvaluation, EnsembleKind, ExplicitConfig, FinetuneConfig,
    FinetuneMetrics, LoraTrainer, OodSet, TrainedEnsemble, check_members, evaluate_ensemble,
    member_seeds, read_finetune_metrics, train_explicit,
};
use crate::data::grid_name;
use crate::error::{Error, Result};
use crate::eval::evaluation_memory;
use crate::train::run::check_training_memory;
use crate::train::{Checkpoint, DeviceChoice};

pub use crate::eval::MemoryCheck;

/// What [`train_ensemble`] trains. [`EnsembleTrainOptions::new`] gives the defaults (those of
/// [`FinetuneConfig::new`] for the LoRA fields, five members, one thread, the CPU).
#[derive(Debug, Clone)]
pub struct EnsembleTrainOptions {
    /// The trained base network: a run directory of [`crate::Trainer`] or its checkpoint file.
    pub base: PathBuf,
    /// The ensemble directory.
    pub out: PathBuf,
    /// LoRA adapters around the frozen base, or $M$ networks trained from scratch with the base
    /// run's configuration.
    pub kind: EnsembleKind,
    /// Members $M$ (1 to 1024).
    pub members: usize,
    /// Member $m$ gets seed `seed + 1 + m` (adapter initialisation and data order, or the run's
    /// seed); `None`: the base run's seed.
    pub seed: Option<u64>,
    /// The band count the base must have been trained on (`None`: not checked).
    pub bands: Option<usize>,
    /// Epochs (`None`: [`FinetuneConfig::new`]'s for LoRA, the base run's for explicit); with
    /// `resume`, raises the epoch count of the interrupted run.
    pub epochs: Option<usize>,
    /// LoRA: rank $r$ of every adapter.
    pub rank: usize,
    /// LoRA: $\alpha$ (the update is $\tfrac{\alpha}{r}BA$).
    pub alpha: f64,
    /// LoRA: $\lambda$ of the regulariser $\lambda\sum_m\lVert B_mA_m\rVert_F^2$.
    pub lambda: f64,
    /// LoRA: fresh samples per epoch, read by every member in its own order.
    pub samples_per_epoch: usize,
    /// LoRA: samples per member and optimiser step.
    pub batch: usize,
    /// LoRA: Adam's learning rate before the cosine decay.
    pub lr: f64,
    /// LoRA: per-member gradient clipping norm (`None`: none).
    pub max_grad_norm: Option<f64>,
    /// libtorch threads recorded in the runs (set them with `tch::set_num_threads`: the
    /// library leaves the global thread count alone).
    pub threads: usize,
    /// LoRA: the device (an explicit ensemble uses the base run's).
    pub device: DeviceChoice,
    /// LoRA: continue the interrupted run in `out` (its configuration is the stored one, but for
    /// `epochs`). An explicit ensemble always resumes its members and keeps the complete ones.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Refuses training whose memory estimate is too large (`None`: no check).
    pub memory_check: Option<MemoryCheck>,
}

impl EnsembleTrainOptions {
    /// A LoRA ensemble of five members around `base` into `out`, with the defaults of
    /// [`FinetuneConfig::new`], one thread, the CPU, no progress bars, no memory check.
    pub fn new(base: impl Into<PathBuf>, out: impl Into<PathBuf>) -> EnsembleTrainOptions {
        let d = FinetuneConfig::new(5, 0);
        EnsembleTrainOptions {
            base: base.into(),
            out: out.into(),
            kind: EnsembleKind::Lora,
            members: d.members(),
            seed: None,
            bands: None,
            epochs: None,
            rank: d.rank,
            alpha: d.alpha,
            lambda: d.lambda,
            samples_per_epoch: d.samples_per_epoch,
            batch: d.batch,
            lr: d.lr,
            max_grad_norm: d.max_grad_norm,
            threads: d.threads,
            device: d.device,
            resume: false,
            progress: false,
            memory_check: None,
        }
    }
}

/// What [`train_ensemble`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleTrainReport {
    /// LoRA or explicit.
    pub kind: EnsembleKind,
    /// Members $M$.
    pub members: usize,
    /// The adapters' rank (LoRA).
    pub rank: Option<usize>,
    /// Epochs each member has been trained (all sessions).
    pub epochs: usize,
    /// Epochs trained by this call (LoRA; `None` for explicit).
    pub epochs_now: Option<usize>,
    /// Seconds spent training all members (all sessions).
    pub train_seconds: f64,
    /// The base's training grid (where the LoRA validation set lives).
    pub base_grid: Vec<usize>,
    /// The last line of the LoRA ensemble's `metrics.jsonl` (validation on the base's grid).
    pub last: Option<FinetuneMetrics>,
}

/// Trains the ensemble of `options` into `options.out` (or resumes it) and writes
/// `ensemble.json` last. A LoRA ensemble also gets `mi_per_epoch.svg` (feature `plots`).
///
/// Errors: a base of another band count than `options.bands` (naming both), $M = 0$, rank 0 and
/// the other invalid fields of [`FinetuneConfig::validate`], a memory estimate the check refuses,
/// and what [`LoraTrainer::new`], [`LoraTrainer::resume`] and [`train_explicit`] refuse.
pub fn train_ensemble(options: &EnsembleTrainOptions) -> Result<EnsembleTrainReport> {
    let base = Checkpoint::read(&options.base)?;
    if let Some(n) = options.bands
        && n != base.config.bands
    {
        return Err(Error::InvalidParameter {
            name: "base",
            value: options.base.display().to_string(),
            reason: format!(
                "trained on {} filled bands, the ensemble asks for {n}",
                base.config.bands
            ),
        });
    }
    let seed = options.seed.unwrap_or(base.config.seed);
    if options.kind == EnsembleKind::Explicit {
        check_members(options.members)?;
        check_training_memory(options.memory_check, &base.config)?;
        let config = ExplicitConfig {
            member_seeds: member_seeds(seed, options.members),
            epochs: options.epochs,
            threads: Some(options.threads),
        };
        let m = train_explicit(&options.base, &config, &options.out, options.progress)?;
        return Ok(EnsembleTrainReport {
            kind: EnsembleKind::Explicit,
            members: m.members,
            rank: None,
            epochs: m.epochs,
            epochs_now: None,
            train_seconds: m.train_seconds,
            base_grid: base.config.grid.clone(),
            last: None,
        });
    }
    let mut trainer = if options.resume {
        LoraTrainer::resume(&options.out, options.epochs)?
    } else {
        let mut config = FinetuneConfig::new(options.members, seed);
        config.rank = options.rank;
        config.alpha = options.alpha;
        config.lambda = options.lambda;
        if let Some(e) = options.epochs {
            config.epochs = e;
        }
        config.samples_per_epoch = options.samples_per_epoch;
        config.batch = options.batch;
        config.lr = options.lr;
        config.max_grad_norm = options.max_grad_norm;
        config.threads = options.threads;
        config.device = options.device;
        config.validate()?;
        // All members step together: the base network sees M member batches at once.
        let mut run = base.config.clone();
        run.batch = config.batch.saturating_mul(config.members());
        check_training_memory(options.memory_check, &run)?;
        LoraTrainer::new(&options.base, config, &options.out)?
    };
    let now = trainer.train(options.progress)?;
    let all = read_finetune_metrics(&options.out)?;
    #[cfg(feature = "plots")]
    super::plots::mi_per_epoch(&all, &options.out.join("mi_per_epoch.svg"))?;
    let state = trainer.state();
    Ok(EnsembleTrainReport {
        kind: EnsembleKind::Lora,
        members: trainer.config().members(),
        rank: Some(trainer.config().rank),
        epochs: state.epoch,
        epochs_now: Some(now.len()),
        train_seconds: state.train_seconds,
        base_grid: base.config.grid.clone(),
        last: all.last().cloned(),
    })
}

/// What [`evaluate_ensemble_dir`] evaluates.
#[derive(Debug, Clone)]
pub struct EnsembleEvalOptions {
    /// The ensemble directory (written by [`train_ensemble`]).
    pub ensemble: PathBuf,
    /// The samples, the OOD set and the batching.
    pub request: EnsembleEvalRequest,
    /// Write the SVG figures into this directory (feature `plots`; without it, asking for them
    /// is an error).
    pub plots: Option<PathBuf>,
    /// Where the members run.
    pub device: Device,
    /// Refuses an evaluation whose memory estimate is too large (`None`: no check).
    pub memory_check: Option<MemoryCheck>,
}

impl EnsembleEvalOptions {
    /// Evaluates the ensemble in `ensemble` as `request` asks, on the CPU, without figures or a
    /// memory check.
    pub fn new(ensemble: impl Into<PathBuf>, request: EnsembleEvalRequest) -> EnsembleEvalOptions {
        EnsembleEvalOptions {
            ensemble: ensemble.into(),
            request,
            plots: None,
            device: Device::Cpu,
            memory_check: None,
        }
    }
}

/// Opens the ensemble of `options` (refusing an incomplete directory, a missing member or a
/// changed base), checks the memory estimate, evaluates it ([`evaluate_ensemble`]) and writes
/// the figures ([`super::plots::write_evaluation_plots`], with the LoRA ensemble's MI per epoch).
pub fn evaluate_ensemble_dir(options: &EnsembleEvalOptions) -> Result<EnsembleEvaluation> {
    #[cfg(not(feature = "plots"))]
    if let Some(dir) = &options.plots {
        return Err(Error::InvalidParameter {
            name: "plots",
            value: dir.display().to_string(),
            reason: "this build of gauge-nn has no `plots` feature".into(),
        });
    }
    let ensemble = TrainedEnsemble::open(&options.ensemble, options.device)?;
    let request = fit_passes(&ensemble, &options.request, options.memory_check)?;
    let eval = evaluate_ensemble(&ensemble, &request)?;
    #[cfg(feature = "plots")]
    if let Some(dir) = &options.plots {
        let metrics = match ensemble.manifest().kind {
            EnsembleKind::Lora => Some(read_finetune_metrics(&options.ensemble)?),
            EnsembleKind::Explicit => None,
        };
        super::plots::write_evaluation_plots(&eval, metrics.as_deref(), dir)?;
    }
    Ok(eval)
}

/// `request` with its samples per pass lowered (halved, down to one) until the caller's memory
/// check accepts the estimate; the passes' size changes the predictions by rounding only. An
/// error when even one sample per pass is refused.
fn fit_passes(
    ensemble: &TrainedEnsemble,
    request: &EnsembleEvalRequest,
    check: Option<MemoryCheck>,
) -> Result<EnsembleEvalRequest> {
    let mut request = request.clone();
    let Some(check) = check else {
        return Ok(request);
    };
    loop {
        let (what, bytes) = evaluation_estimate(ensemble, &request);
        match check(&what, bytes) {
            Ok(()) => return Ok(request),
            Err(_) if request.batch > 1 => request.batch /= 2,
            Err(message) => return Err(Error::MemoryLimit { message }),
        }
    }
}

/// What the evaluation of `request` holds at once, and an upper estimate of its bytes: the
/// members' activations on one pass over the largest grid (`batch` samples for each of the $M$
/// members, forward only, bounded by the training estimate), and the drawn test, OOD and
/// calibration sets (links and plaquettes).
fn evaluation_estimate(ensemble: &TrainedEnsemble, request: &EnsembleEvalRequest) -> (String, f64) {
    let base = ensemble.base_config();
    let real_bytes = if base.double_precision { 8 } else { 4 };
    let largest = match &request.ood {
        Some(OodSet::Grid(g)) if g.iter().product::<usize>() > request.grid.iter().product() => {
            g.clone()
        }
        _ => request.grid.clone(),
    };
    let n = match &request.ood {
        Some(OodSet::Bands(n)) => (*n).max(base.bands),
        _ => base.bands,
    };
    let volume: f64 = largest.iter().map(|&l| l as f64).product();
    let d = largest.len() as f64;
    let per_sample = volume * (n * n) as f64 * 16.0 * 2.0 * (d + d * (d - 1.0) / 2.0);
    let samples = request.samples.max(request.calibration_samples);
    let pass = request.batch.max(1).min(samples);
    let bytes = evaluation_memory(
        &base.model,
        &largest,
        n,
        pass.saturating_mul(ensemble.members()),
        samples.saturating_mul(ensemble.members()),
        real_bytes,
    ) + per_sample
        * (2.0 * request.samples as f64 + request.calibration_samples as f64);
    let what = format!(
        "evaluating {} members on {} samples of {} ({pass} per pass)",
        ensemble.members(),
        request.samples,
        grid_name(&largest)
    );
    (what, bytes)
}
