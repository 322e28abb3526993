//! Fine-tuning a LoRA ensemble around a frozen checkpoint: all $M$ members in one pass.
//!
//! Member $m$ has its own seed $s_m$: its adapters $A_m$ are drawn from it (peft's Kaiming
//! initialisation, $B_m=0$, so every member starts as the base network) and it reads the epoch's
//! samples in its own order (`lora_ensemble::member_order`). The training samples come from
//! the base run's training distribution (trivial-only Haar links for a trivial-only base), drawn
//! fresh for every epoch from a stream of [`FinetuneConfig::seed`] and shared by the members.
//! The loss is the base run's loss of each member plus the paper's regulariser,
//! $$\sum_m \Big(L_m + \lambda\sum_\text{layers}\lVert B_mA_m\rVert_F^2\Big),$$
//! minimised by Adam over the adapters only (the base's weights are frozen), with the gradient
//! of each member clipped on its own and a cosine learning-rate decay. The members' parameters
//! are disjoint and Adam acts element-wise, so a member's trajectory does not depend on the
//! others.
//!
//! After every epoch (and before the first: epoch 0, the prior, all adapters zero) each member's
//! output scale $k_m$ is fitted on a calibration set, the width $\sigma$ of the predictive
//! distribution is fitted on the same set, and the ensemble is evaluated on a validation set
//! ([`FinetuneMetrics`], one line of `metrics.jsonl`). The checkpoint is written atomically after
//! every epoch; a non-finite loss stops training with [`Error::NonFiniteLoss`] before the
//! weights change, so the checkpoint on disk stays the last good state.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lora_ensemble::{LoraConfig, LoraEnsemble, TargetModules};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use super::{BaseCheckpoint, EnsembleKind, EnsembleManifest, check_members, remove_manifest};
use crate::chern_distribution::{ChernUncertainty, fit_sigma};
use crate::data::{Batch, SampleSource};
use crate::error::{Error, Result};
use crate::eval::{chern_numbers, rescale_from};
use crate::lora_net::LoraGaugeNet;
use crate::progress::Progress;
use crate::tensor_file::{Stored, TensorFile, Values, encode, write_atomic};
use crate::train::epochs::{self, EpochRun, check_finite_loss, zero_grads};
use crate::train::optimiser::{Adam, ordered_names, ordered_vars};
use crate::train::{AdamConfig, Checkpoint, DeviceChoice, METRICS, Schedule, TrainConfig};

/// The fine-tuning checkpoint's file name in the ensemble directory.
pub const FINETUNE_CHECKPOINT: &str = "checkpoint.safetensors";

/// How a LoRA ensemble is fine-tuned (serde; stored in the checkpoint and the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Each member's seed ($M$ = their number): adapter initialisation and data order.
    pub member_seeds: Vec<u64>,
    /// Rank $r$ of every adapter.
    pub rank: usize,
    /// LoRA's $\alpha$ (scaling $\alpha/r$).
    pub alpha: f64,
    /// The adapted layers (names of [`crate::GaugeNet::adapter_modules`]); `None`: all of them.
    pub targets: Option<Vec<String>>,
    /// $\lambda$ of the regulariser $\lambda\sum\lVert B_mA_m\rVert_F^2$.
    pub lambda: f64,
    /// Epochs.
    pub epochs: usize,
    /// Fresh samples per epoch (each member reads all of them, in its own order).
    pub samples_per_epoch: usize,
    /// Samples per member and optimiser step.
    pub batch: usize,
    /// Adam's learning rate before the cosine decay to 5% of it.
    pub lr: f64,
    /// Gradient clipping per member (`None`: none).
    pub max_grad_norm: Option<f64>,
    /// Seed of the training, calibration and validation samples.
    pub seed: u64,
    /// Labelled all-$C$ samples on the training grid to fit $k_m$ and $\sigma$ on.
    pub calibration_samples: usize,
    /// Labelled all-$C$ samples on the training grid for the per-epoch metrics.
    pub validation_samples: usize,
    /// libtorch threads (0: libtorch's choice; applied by the caller).
    pub threads: usize,
    /// Device.
    pub device: DeviceChoice,
}

impl FinetuneConfig {
    /// The defaults for `members` members with member seeds `seed + 1..=seed + M`: rank 4,
    /// $\alpha = 8$, every weighted layer, $\lambda = 10^{-3}$, 4 epochs of 1024 samples in
    /// batches of 32, learning rate $2\cdot10^{-3}$, clipping at 1, 512 calibration and 512
    /// validation samples, one thread, the CPU.
    pub fn new(members: usize, seed: u64) -> FinetuneConfig {
        FinetuneConfig {
            member_seeds: super::member_seeds(seed, members),
            rank: 4,
            alpha: 8.0,
            targets: None,
            lambda: 1e-3,
            epochs: 4,
            samples_per_epoch: 1024,
            batch: 32,
            lr: 2e-3,
            max_grad_norm: Some(1.0),
            seed,
            calibration_samples: 512,
            validation_samples: 512,
            threads: 1,
            device: DeviceChoice::Cpu,
        }
    }

    /// Number of members $M$.
    pub fn members(&self) -> usize {
        self.member_seeds.len()
    }

    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        check_members(self.members())?;
        let bad = |name: &'static str, value: String, reason: &str| {
            Err(Error::InvalidParameter {
                name,
                value,
                reason: reason.into(),
            })
        };
        let large = 1usize << 20;
        if self.rank == 0 || self.rank > 4096 {
            return bad(
                "rank",
                self.rank.to_string(),
                "must be a positive integer (at most 4096)",
            );
        }
        for (name, v, min) in [
            ("epochs", self.epochs, 1),
            ("samples_per_epoch", self.samples_per_epoch, 1),
            ("batch", self.batch, 1),
            ("calibration_samples", self.calibration_samples, 2),
            ("validation_samples", self.validation_samples, 1),
            ("threads", self.threads, 0),
        ] {
            if v < min || v > large {
                return bad(
                    name,
                    v.to_string(),
                    &format!("must be an integer in {min}..=2^20"),
                );
            }
        }
        for (name, v) in [("alpha", self.alpha), ("lr", self.lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, v.to_string(), "must be positive and finite");
            }
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(
                "lambda",
                self.lambda.to_string(),
                "must be zero or positive and finite",
            );
        }
        if let Some(c) = self.max_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad(
                "max_grad_norm",
                c.to_string(),
                "must be positive and finite",
            );
        }
        Ok(())
    }

    fn calibration_seed(&self) -> u64 {
        self.seed ^ 0x6c6f_7261_6361_6c69
    }

    fn validation_seed(&self) -> u64 {
        self.seed ^ 0x6c6f_7261_7661_6c69
    }

    fn data_seed(&self) -> u64 {
        self.seed ^ 0x6c6f_7261_6461_7461
    }
}

/// Progress of a fine-tuning run, stored in its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FinetuneState {
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimiser steps.
    pub step: usize,
    /// Adam's step counter.
    pub adam_t: i64,
    /// Each member's output scale $k_m$ after the last epoch.
    pub rescales: Vec<f64>,
    /// Seconds spent training (all sessions; sampling and per-epoch evaluation included).
    pub train_seconds: f64,
}

/// Metrics of one epoch of fine-tuning (one line of `metrics.jsonl`; epoch 0 is the prior).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneMetrics {
    /// Epoch, 0 for the prior (adapters zero).
    pub epoch: usize,
    /// Each member's mean training loss over the epoch (empty for epoch 0).
    pub member_loss: Vec<f64>,
    /// Each member's mean $\sum\lVert B_mA_m\rVert_F^2$ over the epoch (empty for epoch 0).
    pub regulariser: Vec<f64>,
    /// Each member's output scale $k_m$.
    pub rescales: Vec<f64>,
    /// The fitted width $\sigma$.
    pub sigma: f64,
    /// Ensemble accuracy on the validation set.
    pub accuracy: f64,
    /// Mean member accuracy.
    pub member_accuracy: f64,
    /// NLL of the mean distribution.
    pub nll: f64,
    /// ECE of the mean distribution.
    pub ece: f64,
    /// Mean predictive entropy.
    pub predictive_entropy: f64,
    /// Mean mutual information.
    pub mutual_information: f64,
    /// AUROC of the predictive entropy for the ensemble's errors (`None` without errors).
    pub auroc_entropy: Option<f64>,
    /// AUROC of the mutual information for the ensemble's errors (`None` without errors).
    pub auroc_mi: Option<f64>,
    /// Seconds of this epoch (training, sampling, evaluation).
    pub seconds: f64,
    /// Training seconds of the run so far.
    pub train_seconds: f64,
}

/// Reads the per-epoch metrics of a LoRA ensemble directory (`metrics.jsonl`).
pub fn read_finetune_metrics(dir: &Path) -> Result<Vec<FinetuneMetrics>> {
    crate::train::metrics::read_jsonl(&dir.join(METRICS), "a fine-tuning metrics object")
}

/// A LoRA ensemble being fine-tuned in a directory (see the [module docs](self)).
pub struct LoraTrainer {
    config: FinetuneConfig,
    dir: PathBuf,
    base: BaseCheckpoint,
    base_config: TrainConfig,
    base_rescale: f64,
    _base_vs: nn::VarStore,
    ensemble: LoraEnsemble,
    net: LoraGaugeNet,
    adam: Adam,
    state: FinetuneState,
    source: Box<dyn SampleSource>,
    calibration: Batch,
    validation: Batch,
}

impl std::fmt::Debug for LoraTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoraTrainer")
            .field("dir", &self.dir)
            .field("state", &self.state)
            .finish()
    }
}

impl LoraTrainer {
    /// A fresh run from the trained checkpoint `base` (a run directory or its checkpoint file)
    /// into `dir`; an existing checkpoint in `dir` is an error (resume it instead). Evaluates
    /// the prior (epoch 0) and writes its metrics line.
    pub fn new(base: &Path, config: FinetuneConfig, dir: &Path) -> Result<LoraTrainer> {
        config.validate()?;
        if dir.join(FINETUNE_CHECKPOINT).exists() || dir.join(super::ENSEMBLE_MANIFEST).exists() {
            return Err(Error::InvalidParameter {
                name: "out",
                value: dir.display().to_string(),
                reason: "already holds an ensemble or its checkpoint: resume it or choose another \
                         directory"
                    .into(),
            });
        }
        let ckpt = Checkpoint::read(base)?;
        let record = BaseCheckpoint::record(base, &ckpt.config)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let _ = std::fs::remove_file(dir.join(METRICS));
        let state = FinetuneState {
            rescales: vec![ckpt.state.rescale; config.members()],
            ..Default::default()
        };
        let mut trainer = Self::build(ckpt, record, config, dir, state)?;
        let start = Instant::now();
        let prior = trainer.epoch_metrics(&[], &[], start)?;
        epochs::append_metrics(&trainer.metrics_path(), &prior)?;
        Ok(trainer)
    }

    /// Continues the run saved in `dir` (adapters, Adam moments, stream positions restored);
    /// `epochs` raises the number of epochs. The base checkpoint must be unchanged.
    pub fn resume(dir: &Path, epochs: Option<usize>) -> Result<LoraTrainer> {
        let path = dir.join(FINETUNE_CHECKPOINT);
        let file = TensorFile::read(&path)?.require_checksum()?;
        let parse = |key: &str| -> Result<&str> { file.metadata(key) };
        let json_err = |key: &str, e: serde_json::Error| Error::BadField {
            path: path.clone(),
            field: format!("__metadata__.{key}"),
            expected: "valid JSON".into(),
            found: e.to_string(),
        };
        let mut config: FinetuneConfig =
            serde_json::from_str(parse("config")?).map_err(|e| json_err("config", e))?;
        let state: FinetuneState =
            serde_json::from_str(parse("state")?).map_err(|e| json_err("state", e))?;
        let base: BaseCheckpoint =
            serde_json::from_str(parse("base")?).map_err(|e| json_err("base", e))?;
        if let Some(e) = epochs {
            config.epochs = e;
        }
        config.validate()?;
        base.verify()?;
        if state.rescales.len() != config.members() {
            return Err(Error::BadField {
                path,
                field: "__metadata__.state.rescales".into(),
                expected: format!("{} output scales", config.members()),
                found: state.rescales.len().to_string(),
            });
        }
        let ckpt = Checkpoint::read(&base.path)?;
        remove_manifest(dir)?;
        let mut trainer = Self::build(ckpt, base, config, dir, state)?;
        let device = trainer.ensemble.var_store().device();
        let read = |name: &str, like: &Tensor| -> Result<Tensor> {
            let stored = file.stored(name)?;
            if matches!(stored.values, Values::I64(_)) || !stored.values.all_finite() {
                return Err(Error::NonFiniteWeights {
                    path: path.clone(),
                    tensor: name.into(),
                });
            }
            let t = stored.into_tensor()?.to_device(device);
            if t.size() != like.size() {
                return Err(Error::BadField {
                    path: path.clone(),
                    field: name.into(),
                    expected: format!("shape {:?}", like.size()),
                    found: format!("shape {:?}", t.size()),
                });
            }
            Ok(t.to_kind(like.kind()))
        };
        let vars = ordered_vars(trainer.ensemble.var_store());
        let names = ordered_names(trainer.ensemble.var_store());
        for (i, name) in names.iter().enumerate() {
            let v = read(&format!("lora.{name}"), &vars[i])?;
            tch::no_grad(|| vars[i].shallow_clone().copy_(&v));
        }
        let t = trainer.state.adam_t;
        trainer.adam.restore_moments(&names, &vars, t, read)?;
        Ok(trainer)
    }

    fn build(
        ckpt: Checkpoint,
        base: BaseCheckpoint,
        config: FinetuneConfig,
        dir: &Path,
        state: FinetuneState,
    ) -> Result<LoraTrainer> {
        let device = config.device.device()?;
        let (mut base_vs, net) = ckpt.network(device)?;
        base_vs.freeze();
        let targets = match &config.targets {
            Some(t) => TargetModules::names(t),
            None => TargetModules::names(&net.adapter_modules()),
        };
        let lora = LoraConfig::new(config.rank, config.alpha, targets);
        let ensemble = LoraEnsemble::new(lora, config.member_seeds.clone(), device)?;
        let net = LoraGaugeNet::new(net, &ensemble)?;
        let adam = Adam::new(AdamConfig::default(), &ordered_vars(ensemble.var_store()));
        let base_config = ckpt.config.clone();
        let mut train = base_config.clone();
        train.seed = config.data_seed();
        let mut source = train.training_source()?;
        source.set_links(net.base().needs_links());
        let fixed = |samples: usize, seed: u64| -> Result<Batch> {
            let mut s = base_config.all_chern_source(&base_config.grid, seed)?;
            s.set_links(net.base().needs_links());
            s.sample(samples)
        };
        let calibration = fixed(config.calibration_samples, config.calibration_seed())?;
        let validation = fixed(config.validation_samples, config.validation_seed())?;
        Ok(LoraTrainer {
            base_rescale: ckpt.state.rescale,
            config,
            dir: dir.to_path_buf(),
            base,
            base_config,
            _base_vs: base_vs,
            ensemble,
            net,
            adam,
            state,
            source,
            calibration,
            validation,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FinetuneConfig {
        &self.config
    }

    /// The run state.
    pub fn state(&self) -> &FinetuneState {
        &self.state
    }

    /// The ensemble of adapters (its var store holds every trainable variable).
    pub fn ensemble(&self) -> &LoraEnsemble {
        &self.ensemble
    }

    /// The adapted network.
    pub fn net(&self) -> &LoraGaugeNet {
        &self.net
    }

    /// The members' batches stacked (`[M, B, ..]`): member $m$ reads the samples
    /// `orders[m][lo..hi]` of `pool`.
    pub fn member_batch(pool: &Batch, orders: &[Vec<i64>], lo: usize, hi: usize) -> Result<Batch> {
        if orders.is_empty() || lo >= hi || orders.iter().any(|o| hi > o.len()) {
            return Err(Error::InvalidParameter {
                name: "member batch",
                value: format!("samples {lo}..{hi} of {} member orders", orders.len()),
                reason: "needs at least one member and a non-empty range within every order".into(),
            });
        }
        if let Some(&i) = orders.iter().flatten().find(|&&i| i < 0) {
            return Err(Error::InvalidParameter {
                name: "sample index",
                value: i.to_string(),
                reason: "must not be negative".into(),
            });
        }
        let parts = orders
            .iter()
            .map(|o| {
                let idx: Vec<usize> = o[lo..hi].iter().map(|&i| i as usize).collect();
                pool.select(&idx)
            })
            .collect::<Result<Vec<_>>>()?;
        let stack = |f: &dyn Fn(&Batch) -> Tensor| {
            Tensor::stack(&parts.iter().map(f).collect::<Vec<_>>(), 0)
        };
        Ok(Batch {
            links: pool
                .links
                .as_ref()
                .map(|_| stack(&|b: &Batch| b.links.as_ref().expect("links").shallow_clone())),
            plaquettes: stack(&|b: &Batch| b.plaquettes.shallow_clone()),
            site_labels: stack(&|b: &Batch| b.site_labels.shallow_clone()),
            chern: stack(&|b: &Batch| b.chern.shallow_clone()),
        })
    }

    /// One optimiser step on stacked member batches (`[M, B, ..]`, see
    /// [`LoraTrainer::member_batch`]); returns each member's loss and regulariser. A non-finite
    /// loss is an error ([`Error::NonFiniteLoss`]) and leaves the adapters and the optimiser
    /// untouched. A libtorch failure inside the step (out of memory on the GPU or the CPU) is an
    /// [`Error::Libtorch`] naming the device, the samples per member and the grid, not a panic;
    /// the trainer should not be stepped further after it (the last checkpoint is the last good
    /// state).
    pub fn train_step(&mut self, batch: &Batch) -> Result<(Vec<f64>, Vec<f64>)> {
        match crate::torch_failure::catch_libtorch(true, || self.step(batch)) {
            Ok(outcome) => outcome,
            Err(failure) => {
                let size = batch.plaquettes.size();
                let pass = size.get(1).map_or(0, |&b| b as usize);
                let hint = if failure.out_of_memory() {
                    "lower --batch (samples per member and step) or the members, or fine-tune on \
                     a device with more memory"
                } else {
                    "not an out-of-memory error: check the device and the libtorch installation"
                };
                Err(Error::Libtorch {
                    what: "fine-tuning step",
                    device: self.ensemble.var_store().device(),
                    grid: crate::data::grid_name(&self.base_config.grid),
                    batch: pass,
                    first_batch: pass,
                    message: failure.message,
                    hint,
                })
            }
        }
    }

    /// [`Self::train_step`] without the catch of libtorch's panics.
    fn step(&mut self, batch: &Batch) -> Result<(Vec<f64>, Vec<f64>)> {
        let vars = ordered_vars(self.ensemble.var_store());
        zero_grads(&vars);
        let f = self
            .net
            .forward_per_member(&batch.plaquettes, batch.links.as_ref());
        let m = self.config.members() as i64;
        let losses = Tensor::stack(
            &(0..m)
                .map(|i| {
                    self.base_config.loss.loss(
                        &f.get(i),
                        &batch.site_labels.get(i),
                        &batch.chern.get(i),
                        &batch.plaquettes.get(i),
                    )
                })
                .collect::<Result<Vec<_>>>()?,
            0,
        );
        let values = Vec::<f64>::try_from(losses.detach().to_kind(Kind::Double))?;
        check_finite_loss(&values, self.state.epoch + 1, self.state.step + 1)?;
        let reg = self.ensemble.frobenius_regulariser();
        let regs = Vec::<f64>::try_from(reg.detach().to_kind(Kind::Double))?;
        let total = losses.sum(Kind::Double) + reg.sum(Kind::Double) * self.config.lambda;
        total.backward();
        if let Some(c) = self.config.max_grad_norm {
            lora_ensemble::clip_grad_norm_per_member(&self.ensemble, c)?;
        }
        let total_steps = self.steps_per_epoch() * self.config.epochs;
        let lr = self.config.lr
            * Schedule::Cosine { min_factor: 0.05 }.factor(
                self.state.step,
                total_steps,
                self.steps_per_epoch(),
            );
        self.adam.step(&vars, lr);
        self.state.step += 1;
        self.state.adam_t = self.adam.t;
        Ok((values, regs))
    }

    /// Trains the remaining epochs (checkpoint and metrics line after each; `progress` shows a
    /// bar), then writes the ensemble: `member-<m>/` peft folders and, last, `ensemble.json`.
    /// Returns the metrics of the epochs run now.
    pub fn train(&mut self, progress: bool) -> Result<Vec<FinetuneMetrics>> {
        self.train_epochs(usize::MAX, progress)
    }

    /// Trains at most `count` of the remaining epochs (the schedule still spans all
    /// [`FinetuneConfig::epochs`]), checkpointing after each; writes the ensemble when the last
    /// epoch is done (until then the directory has no `ensemble.json`).
    pub fn train_epochs(&mut self, count: usize, progress: bool) -> Result<Vec<FinetuneMetrics>> {
        epochs::train_epochs(self, count, progress)
    }

    /// Trains the remaining epochs, or with `budget_seconds` one epoch at a time while the run's
    /// training seconds (all sessions) are below it: the epoch that starts within the budget is
    /// finished, and a later call (or [`LoraTrainer::resume`]) continues from its checkpoint.
    pub fn train_within(
        &mut self,
        budget_seconds: Option<f64>,
        progress: bool,
    ) -> Result<Vec<FinetuneMetrics>> {
        epochs::train_within(self, budget_seconds, progress)
    }

    /// Calibrated outputs `(M, N)` of every member on `data` and the fitted output scales.
    fn member_outputs(&self, data: &Batch, rescales: &[f64]) -> Result<Array2<f64>> {
        let raw = super::members::lora_outputs(&self.net, data, 64)?;
        Ok(scale_rows(raw, rescales))
    }

    /// Fits $k_m$ (trivial-only bases) and $\sigma$ on the calibration set, evaluates on the
    /// validation set, and records the state's output scales.
    fn epoch_metrics(
        &mut self,
        loss: &[f64],
        reg: &[f64],
        start: Instant,
    ) -> Result<FinetuneMetrics> {
        let raw = super::members::lora_outputs(&self.net, &self.calibration, 64)?;
        let labels = chern_numbers(&self.calibration)?;
        let rescales = if self.base_config.trivial_only {
            raw.rows()
                .into_iter()
                .map(|r| rescale_from(r.as_slice().unwrap_or(&r.to_vec()), &labels))
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![self.base_rescale; raw.nrows()]
        };
        let cal = scale_rows(raw, &rescales);
        let sigma = fit_sigma(cal.view(), &labels)?;
        let val = self.member_outputs(&self.validation, &rescales)?;
        let u = ChernUncertainty::evaluate(val.view(), &chern_numbers(&self.validation)?, sigma)?;
        self.state.rescales = rescales.clone();
        let seconds = start.elapsed().as_secs_f64();
        self.state.train_seconds += seconds;
        Ok(FinetuneMetrics {
            epoch: self.state.epoch,
            member_loss: loss.to_vec(),
            regulariser: reg.to_vec(),
            rescales,
            sigma,
            accuracy: u.accuracy,
            member_accuracy: u.member_accuracy,
            nll: u.nll,
            ece: u.ece,
            predictive_entropy: u.predictive_entropy,
            mutual_information: u.mutual_information,
            auroc_entropy: u.auroc_entropy,
            auroc_mi: u.auroc_mi,
            seconds,
            train_seconds: self.state.train_seconds,
        })
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    pub fn save(&self) -> Result<()> {
        let vs = self.ensemble.var_store();
        let vars = ordered_vars(vs);
        let mut stored = Vec::new();
        let names = ordered_names(vs);
        for (i, name) in names.iter().enumerate() {
            stored.push(Stored::from_tensor(format!("lora.{name}"), &vars[i])?);
        }
        for (name, moment) in self.adam.moment_entries(&names) {
            stored.push(Stored::from_tensor(name, &moment)?);
        }
        let json = |v: serde_json::Result<String>| v.expect("serialisable");
        let meta = HashMap::from([
            (
                "config".to_string(),
                json(serde_json::to_string(&self.config)),
            ),
            (
                "state".to_string(),
                json(serde_json::to_string(&self.state)),
            ),
            ("base".to_string(), json(serde_json::to_string(&self.base))),
        ]);
        let path = self.dir.join(FINETUNE_CHECKPOINT);
        let bytes = encode(&stored, meta, &path)?;
        write_atomic(&path, &bytes)
    }

    /// Writes the member folders and, last, `ensemble.json`.
    fn write_ensemble(&self) -> Result<()> {
        remove_manifest(&self.dir)?;
        self.ensemble.set_epochs(self.state.epoch);
        self.ensemble.save(&self.dir, &self.base.path)?;
        EnsembleManifest {
            format: super::ENSEMBLE_FORMAT.into(),
            version: 1,
            kind: EnsembleKind::Lora,
            members: self.config.members(),
            seeds: self.config.member_seeds.clone(),
            base: self.base.clone(),
            finetune: Some(self.config.clone()),
            epochs: self.state.epoch,
            rescales: self.state.rescales.clone(),
            train_seconds: self.state.train_seconds,
        }
        .write(&self.dir)
    }
}

impl EpochRun for LoraTrainer {
    type Metrics = FinetuneMetrics;

    fn epochs_done(&self) -> usize {
        self.state.epoch
    }

    fn epochs(&self) -> usize {
        self.config.epochs
    }

    fn steps_per_epoch(&self) -> usize {
        self.config.samples_per_epoch.div_ceil(self.config.batch)
    }

    fn train_seconds(&self) -> f64 {
        self.state.train_seconds
    }

    /// The epoch's fresh pool of samples, read by each member in its own order; then the
    /// per-epoch evaluation ([`FinetuneMetrics`]).
    fn train_epoch(&mut self, bar: &Progress) -> Result<FinetuneMetrics> {
        let spe = self.config.samples_per_epoch;
        let steps = self.steps_per_epoch();
        let start = Instant::now();
        let epoch = self.state.epoch + 1;
        self.source.seek(((epoch - 1) * spe) as u64);
        let pool = self.source.sample(spe)?;
        let orders: Vec<Vec<i64>> = self
            .config
            .member_seeds
            .iter()
            .map(|&s| lora_ensemble::member_order(s, epoch, spe))
            .collect();
        let m = self.config.members();
        let (mut loss, mut reg) = (vec![0.0; m], vec![0.0; m]);
        for step in 0..steps {
            let lo = step * self.config.batch;
            let hi = (lo + self.config.batch).min(spe);
            let batch = Self::member_batch(&pool, &orders, lo, hi)?;
            let (l, r) = self.train_step(&batch)?;
            for i in 0..m {
                loss[i] += l[i] / steps as f64;
                reg[i] += r[i] / steps as f64;
            }
            bar.inc(1);
        }
        self.state.epoch = epoch;
        self.epoch_metrics(&loss, &reg, start)
    }

    fn progress_message(metrics: &FinetuneMetrics) -> String {
        format!(
            "acc {:.1}% MI {:.3}",
            100.0 * metrics.accuracy,
            metrics.mutual_information
        )
    }

    fn save(&self) -> Result<()> {
        LoraTrainer::save(self)
    }

    fn metrics_path(&self) -> PathBuf {
        self.dir.join(METRICS)
    }

    /// Writes the ensemble (member folders, then `ensemble.json`).
    fn completed(&mut self) -> Result<()> {
        self.write_ensemble()
    }
}

/// Row $m$ times `k[m]`.
pub(crate) fn scale_rows(mut a: Array2<f64>, k: &[f64]) -> Array2<f64> {
    for (mut row, &k) in a.rows_mut().into_iter().zip(k) {
        row.mapv_inplace(|v| v * k);
    }
    a
}
