//! Training: a run configuration ([`TrainConfig`], serde), the training loop with Adam, a learning-rate
//! schedule, fresh samples every epoch, a NaN guard, atomic resumable safetensors checkpoints and
//! per-epoch metrics in JSON lines.
//!
//! A run directory holds `config.json` (the [`TrainConfig`]), `checkpoint.safetensors` (weights, Adam
//! moments, and the run state and configuration as metadata; replaced atomically after every epoch) and
//! `metrics.jsonl` (one [`EpochMetrics`] per line). [`Trainer::resume`] continues a run exactly where the
//! last checkpoint left it: the sample streams are indexed by position, the optimizer state is restored.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use crate::data::{
    Batch, ChernChoice, DiagonalConfig, DiagonalSource, EigenphaseDistribution, GeneralConfig,
    HaarSource, SampleSource,
};
use crate::error::{Error, Result};
use crate::eval::{calibrate_rescale, evaluate_batch};
use crate::loss::LossConfig;
use crate::model::{GaugeNet, NetConfig, gauge_net};

/// Where the training samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// The general dataset: Haar-random links (trivial ones only with `trivial_only`).
    #[default]
    General,
    /// Diagonal plaquettes (paper App. C.2); with `trivial_only` every sample has $C=0$, otherwise
    /// $C$ is uniform in `-max_chern..=max_chern`.
    Diagonal {
        /// Law of the eigenphases at one site.
        eigenphases: EigenphaseDistribution,
        /// Largest $|C|$ of the non-trivial diagonal samples.
        max_chern: i64,
    },
}

/// Learning-rate schedule, as a factor on [`AdamConfig::lr`] of the progress through the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    /// Learning rate (before the schedule).
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator floor.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Which device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device (an error when there is none).
    Cuda,
}

impl DeviceChoice {
    /// The tch device.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => Err(Error::InvalidParameter {
                parameter: "device",
                value: "cuda".into(),
                reason: "no CUDA device is available",
            }),
        }
    }
}

/// Everything that defines a training run (serialised as the run's `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Number of filled bands $n$ (links in $U(n)$).
    pub bands: usize,
    /// Lattice extents of the training samples.
    pub grid: Vec<usize>,
    /// Train on samples with $C=0$ only (the output scale is then fitted on a calibration set).
    pub trivial_only: bool,
    /// Training data.
    pub data: DataConfig,
    /// The network.
    pub model: NetConfig,
    /// The loss.
    pub loss: LossConfig,
    /// Optimiser.
    pub optimizer: AdamConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Number of epochs.
    pub epochs: usize,
    /// Fresh samples per epoch.
    pub samples_per_epoch: usize,
    /// Batch size.
    pub batch: usize,
    /// Forward and backward the batch in chunks of this many samples, accumulating the gradients
    /// before one optimiser step (0: the whole batch at once). Same gradients, less memory; only
    /// for losses that are means over samples (local and global, not scale-invariant).
    pub micro_batch: usize,
    /// Seed of the weights and of every sample stream.
    pub seed: u64,
    /// libtorch intra-op threads (0: leave libtorch's default).
    pub threads: usize,
    /// Labelled all-$C$ samples (general dataset) to fit the output scale on; 0 for none.
    pub calibration_samples: usize,
    /// Labelled all-$C$ samples to report the accuracy on after each epoch; 0 for none.
    pub validation_samples: usize,
    /// Train in double precision.
    pub double_precision: bool,
    /// Device.
    pub device: DeviceChoice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            bands: 1,
            grid: vec![5, 5],
            trivial_only: false,
            data: DataConfig::General,
            model: NetConfig::default(),
            loss: LossConfig::Local,
            optimizer: AdamConfig::default(),
            schedule: Schedule::Constant,
            epochs: 10,
            samples_per_epoch: 1024,
            batch: 32,
            micro_batch: 0,
            seed: 0,
            threads: 0,
            calibration_samples: 512,
            validation_samples: 256,
            double_precision: false,
            device: DeviceChoice::Cpu,
        }
    }
}

impl TrainConfig {
    /// Checks the ranges of the parameters that the sources and the network do not check themselves.
    pub fn validate(&self) -> Result<()> {
        let bad = |parameter: &'static str, value: String, reason: &'static str| {
            Err(Error::InvalidParameter {
                parameter,
                value,
                reason,
            })
        };
        if self.bands == 0 {
            return bad("bands", "0".into(), "at least one filled band");
        }
        if self.batch == 0 || self.samples_per_epoch == 0 {
            return bad(
                "batch/samples_per_epoch",
                format!("{}/{}", self.batch, self.samples_per_epoch),
                "both must be positive",
            );
        }
        if self.micro_batch > 0
            && self.micro_batch < self.batch
            && self.loss == LossConfig::ScaleInvariant
        {
            return bad(
                "micro_batch",
                self.micro_batch.to_string(),
                "the scale-invariant loss is not a mean over samples: train it without micro-batches",
            );
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            return bad(
                "optimizer.lr",
                self.optimizer.lr.to_string(),
                "must be positive and finite",
            );
        }
        if self.trivial_only && self.loss == LossConfig::Local {
            return bad(
                "loss",
                "local".into(),
                "trivial-only training needs a global loss (local labels are not C = 0 only)",
            );
        }
        self.model.validate()
    }

    /// Seeds of the independent sample streams.
    pub fn calibration_seed(&self) -> u64 {
        self.seed ^ 0x6361_6c69_6272_6174
    }

    /// Seed of the per-epoch validation set.
    pub fn validation_seed(&self) -> u64 {
        self.seed ^ 0x7661_6c69_6461_7465
    }

    fn kind(&self) -> Kind {
        if self.double_precision {
            Kind::Double
        } else {
            Kind::Float
        }
    }

    fn precision(&self) -> crate::convert::Precision {
        if self.double_precision {
            crate::convert::Precision::Double
        } else {
            crate::convert::Precision::Single
        }
    }

    /// A general-dataset source on `grid` with all Chern numbers (for calibration and tests).
    pub fn all_chern_source(&self, grid: &[usize], seed: u64) -> Result<HaarSource> {
        HaarSource::new(GeneralConfig {
            extents: grid.to_vec(),
            n: self.bands,
            trivial_only: false,
            seed,
            precision: self.precision(),
            ..Default::default()
        })
    }
}

/// A training sample stream that can be positioned (for exact resumption).
#[derive(Debug)]
pub enum TrainSource {
    /// General dataset.
    Haar(HaarSource),
    /// Diagonal dataset.
    Diagonal(DiagonalSource),
}

impl TrainSource {
    /// The training stream of `config`.
    pub fn new(config: &TrainConfig) -> Result<TrainSource> {
        Ok(match config.data {
            DataConfig::General => TrainSource::Haar(HaarSource::new(GeneralConfig {
                extents: config.grid.clone(),
                n: config.bands,
                trivial_only: config.trivial_only,
                seed: config.seed,
                precision: config.precision(),
                ..Default::default()
            })?),
            DataConfig::Diagonal {
                eigenphases,
                max_chern,
            } => TrainSource::Diagonal(DiagonalSource::new(DiagonalConfig {
                extents: config.grid.clone(),
                n: config.bands,
                chern: if config.trivial_only {
                    ChernChoice::Zero
                } else {
                    ChernChoice::Range {
                        lo: -max_chern,
                        hi: max_chern,
                    }
                },
                eigenphases,
                seed: config.seed,
                precision: config.precision(),
                ..Default::default()
            })?),
        })
    }

    /// Moves to sample `index`.
    pub fn seek(&mut self, index: u64) {
        match self {
            TrainSource::Haar(s) => s.seek(index),
            TrainSource::Diagonal(s) => s.seek(index),
        }
    }

    /// The next `batch` samples.
    pub fn sample(&mut self, batch: usize) -> Result<Batch> {
        match self {
            TrainSource::Haar(s) => s.sample(batch),
            TrainSource::Diagonal(s) => s.sample(batch),
        }
    }
}

/// Adam with its moments kept as tensors, so that they can be checkpointed.
#[derive(Debug)]
struct Adam {
    config: AdamConfig,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i64,
}

impl Adam {
    fn new(config: AdamConfig, vars: &[Tensor]) -> Adam {
        let m = vars.iter().map(|p| p.zeros_like()).collect();
        let v = vars.iter().map(|p| p.zeros_like()).collect();
        Adam { config, m, v, t: 0 }
    }

    fn step(&mut self, vars: &[Tensor], lr: f64) {
        self.t += 1;
        let c = self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        tch::no_grad(|| {
            for ((p, m), v) in vars.iter().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                *m *= c.beta1;
                *m += &g * (1.0 - c.beta1);
                *v *= c.beta2;
                *v += g.square() * (1.0 - c.beta2);
                let denom = (&*v / bc2).sqrt() + c.eps;
                let update = &*m / denom * (lr / bc1);
                let mut p = p.shallow_clone();
                p -= update;
            }
        });
    }
}

/// Progress of a run, stored in the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainState {
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimiser steps.
    pub step: usize,
    /// Adam's step counter.
    pub adam_t: i64,
    /// Output scale $k$ fitted on the calibration set (1 when not calibrated).
    pub rescale: f64,
    /// Seconds spent training (all sessions of the run).
    pub train_seconds: f64,
}

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
}

const CHECKPOINT: &str = "checkpoint.safetensors";
const CONFIG: &str = "config.json";
const METRICS: &str = "metrics.jsonl";

/// A training run in a directory.
pub struct Trainer {
    config: TrainConfig,
    dir: PathBuf,
    device: Device,
    vs: nn::VarStore,
    net: GaugeNet,
    adam: Adam,
    state: TrainState,
    source: TrainSource,
    calibration: Option<Batch>,
    validation: Option<Batch>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("dir", &self.dir)
            .field("state", &self.state)
            .finish()
    }
}

impl Trainer {
    /// A fresh run of `config` in `dir` (created; an existing checkpoint there is an error: use
    /// [`Trainer::resume`]).
    pub fn new(config: TrainConfig, dir: impl AsRef<Path>) -> Result<Trainer> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if dir.join(CHECKPOINT).exists() {
            return Err(Error::InvalidParameter {
                parameter: "out",
                value: dir.display().to_string(),
                reason: "already holds a checkpoint: resume it or choose another directory",
            });
        }
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let trainer = Self::build(
            config,
            dir,
            TrainState {
                rescale: 1.0,
                ..Default::default()
            },
        )?;
        let json = serde_json::to_string_pretty(&trainer.config).expect("config serialises");
        write_atomic(&trainer.dir.join(CONFIG), json.as_bytes())?;
        Ok(trainer)
    }

    /// Continues the run saved in `dir` (weights, optimiser state and stream positions restored).
    pub fn resume(dir: impl AsRef<Path>) -> Result<Trainer> {
        let ckpt = Checkpoint::read(dir.as_ref())?;
        Self::resume_with(dir, ckpt)
    }

    /// Continues from a checkpoint read earlier, whose configuration the caller may have changed
    /// (more epochs, say; the network must stay the same).
    pub fn resume_with(dir: impl AsRef<Path>, ckpt: Checkpoint) -> Result<Trainer> {
        let dir = dir.as_ref().to_path_buf();
        let mut trainer = Self::build(ckpt.config.clone(), dir, ckpt.state.clone())?;
        ckpt.load_into(&trainer.vs, "model.")?;
        for (i, name) in ordered_names(&trainer.vs).iter().enumerate() {
            trainer.adam.m[i] = ckpt.tensor(&format!("adam.m.{name}"), trainer.device)?;
            trainer.adam.v[i] = ckpt.tensor(&format!("adam.v.{name}"), trainer.device)?;
        }
        trainer.adam.t = ckpt.state.adam_t;
        let json = serde_json::to_string_pretty(&trainer.config).expect("config serialises");
        write_atomic(&trainer.dir.join(CONFIG), json.as_bytes())?;
        Ok(trainer)
    }

    fn build(config: TrainConfig, dir: PathBuf, state: TrainState) -> Result<Trainer> {
        if config.threads > 0 {
            tch::set_num_threads(config.threads as i32);
        }
        let device = config.device.device()?;
        tch::manual_seed(config.seed as i64);
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(config.kind());
        let net = gauge_net(vs.root(), config.grid.len(), &config.model)?;
        let adam = Adam::new(config.optimizer, &ordered_vars(&vs));
        let source = TrainSource::new(&config)?;
        let fixed = |size: usize, seed: u64| -> Result<Option<Batch>> {
            if size == 0 {
                return Ok(None);
            }
            Ok(Some(
                config.all_chern_source(&config.grid, seed)?.sample(size)?,
            ))
        };
        let calibration = fixed(config.calibration_samples, config.calibration_seed())?;
        let validation = fixed(config.validation_samples, config.validation_seed())?;
        Ok(Trainer {
            config,
            dir,
            device,
            vs,
            net,
            adam,
            state,
            source,
            calibration,
            validation,
        })
    }

    /// The run's configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The network.
    pub fn net(&self) -> &GaugeNet {
        &self.net
    }

    /// The variables.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The run state (epochs done, output scale).
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn steps_per_epoch(&self) -> usize {
        self.config.samples_per_epoch.div_ceil(self.config.batch)
    }

    /// One optimiser step on `batch`; returns the loss. A non-finite loss is an error and leaves
    /// the weights untouched.
    pub fn train_step(&mut self, batch: &Batch) -> Result<f64> {
        let batch = batch.to_device(self.device);
        let vars = ordered_vars(&self.vs);
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let size = batch.len();
        let chunk = if self.config.micro_batch == 0 {
            size
        } else {
            self.config.micro_batch.min(size)
        };
        // Each chunk's loss is weighted by its share of the batch, so the accumulated gradient is
        // the gradient of the batch mean; a non-finite chunk stops the step before the update.
        let mut value = 0.0;
        let mut start = 0;
        while start < size {
            let end = (start + chunk).min(size);
            let part = if end - start == size {
                batch.shallow_clone()
            } else {
                batch.slice(start, end)
            };
            let links = self.net.needs_links().then_some(&part.links);
            let f = self.net.forward(&part.plaquettes, links);
            let weight = (end - start) as f64 / size as f64;
            let loss = self.config.loss.loss(&f, &part.site_labels, &part.chern) * weight;
            let v = loss.double_value(&[]);
            if !v.is_finite() {
                for var in &vars {
                    let mut g = var.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                return Err(Error::NonFiniteLoss {
                    epoch: self.state.epoch + 1,
                    step: self.state.step + 1,
                    loss: v,
                });
            }
            loss.backward();
            value += v;
            start = end;
        }
        let total = self.steps_per_epoch() * self.config.epochs;
        let lr = self.config.optimizer.lr
            * self
                .config
                .schedule
                .factor(self.state.step, total, self.steps_per_epoch());
        self.adam.step(&vars, lr);
        self.state.step += 1;
        self.state.adam_t = self.adam.t;
        Ok(value)
    }

    /// Trains the remaining epochs, writing a checkpoint and a metrics line after each; `progress`
    /// shows a progress bar. Returns the metrics of the epochs run now.
    pub fn train(&mut self, progress: bool) -> Result<Vec<EpochMetrics>> {
        self.train_epochs(usize::MAX, progress)
    }

    /// Trains at most `count` of the remaining epochs (a time slice of a long run; the schedule
    /// still spans all [`TrainConfig::epochs`]), checkpointing after each.
    pub fn train_epochs(&mut self, count: usize, progress: bool) -> Result<Vec<EpochMetrics>> {
        let spe = self.steps_per_epoch();
        let stop = self
            .config
            .epochs
            .min(self.state.epoch.saturating_add(count));
        let remaining = stop.saturating_sub(self.state.epoch);
        let bar = if progress {
            indicatif::ProgressBar::new((remaining * spe) as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let mut out = Vec::new();
        while self.state.epoch < stop {
            let start = Instant::now();
            let first = (self.state.epoch * self.config.samples_per_epoch) as u64;
            self.source.seek(first);
            let mut sum = 0.0;
            let mut left = self.config.samples_per_epoch;
            while left > 0 {
                let b = left.min(self.config.batch);
                let batch = self.source.sample(b)?;
                sum += self.train_step(&batch)? * b as f64;
                left -= b;
                bar.inc(1);
            }
            let seconds = start.elapsed().as_secs_f64();
            self.state.epoch += 1;
            self.state.train_seconds += seconds;
            let rescale = match &self.calibration {
                Some(cal) if self.config.trivial_only => {
                    Some(calibrate_rescale(&self.net, cal, self.config.batch)?)
                }
                _ => None,
            };
            if let Some(k) = rescale {
                self.state.rescale = k;
            }
            let val_accuracy = match &self.validation {
                Some(val) => Some(
                    evaluate_batch(&self.net, val, self.config.batch, self.state.rescale)?.accuracy,
                ),
                None => None,
            };
            let total = spe * self.config.epochs;
            let lr =
                self.config.optimizer.lr * self.config.schedule.factor(self.state.step, total, spe);
            let m = EpochMetrics {
                epoch: self.state.epoch,
                step: self.state.step,
                loss: sum / self.config.samples_per_epoch as f64,
                lr,
                seconds,
                train_seconds: self.state.train_seconds,
                samples_per_second: self.config.samples_per_epoch as f64 / seconds,
                rescale,
                val_accuracy,
            };
            bar.set_message(format!(
                "loss {:.4}{}",
                m.loss,
                m.val_accuracy
                    .map(|a| format!(" val acc {:.1}%", 100.0 * a))
                    .unwrap_or_default()
            ));
            self.save()?;
            append_line(
                &self.dir.join(METRICS),
                &serde_json::to_string(&m).expect("metrics serialise"),
            )?;
            out.push(m);
        }
        bar.finish();
        Ok(out)
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    pub fn save(&self) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, t) in self.vs.variables() {
            tensors.push((format!("model.{name}"), t));
        }
        for (i, name) in ordered_names(&self.vs).iter().enumerate() {
            tensors.push((format!("adam.m.{name}"), self.adam.m[i].shallow_clone()));
            tensors.push((format!("adam.v.{name}"), self.adam.v[i].shallow_clone()));
        }
        let mut meta = HashMap::new();
        meta.insert(
            "state".to_string(),
            serde_json::to_string(&self.state).expect("state serialises"),
        );
        meta.insert(
            "config".to_string(),
            serde_json::to_string(&self.config).expect("config serialises"),
        );
        let path = self.dir.join(CHECKPOINT);
        let bytes = encode_safetensors(&tensors, meta, &path)?;
        write_atomic(&path, &bytes)
    }
}

/// Trainable variables sorted by name (a stable order for the optimiser state).
fn ordered_names(vs: &nn::VarStore) -> Vec<String> {
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    names
}

fn ordered_vars(vs: &nn::VarStore) -> Vec<Tensor> {
    let vars = vs.variables();
    ordered_names(vs)
        .iter()
        .map(|n| vars[n].shallow_clone())
        .collect()
}

fn encode_safetensors(
    tensors: &[(String, Tensor)],
    meta: HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in tensors {
        let t = t.to_device(Device::Cpu).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
        let (dtype, bytes) = match t.kind() {
            Kind::Double => {
                let v = Vec::<f64>::try_from(&t.flatten(0, -1))?;
                (
                    safetensors::Dtype::F64,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            }
            _ => {
                let v = Vec::<f32>::try_from(&t.flatten(0, -1).to_kind(Kind::Float))?;
                (
                    safetensors::Dtype::F32,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            }
        };
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|source| Error::SafeTensors {
                    path: path.to_path_buf(),
                    source,
                })
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, Some(meta)).map_err(|source| Error::SafeTensors {
        path: path.to_path_buf(),
        source,
    })
}

/// A checkpoint read back: tensors, run state and configuration.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    bytes: Vec<u8>,
    /// The run state when it was written.
    pub state: TrainState,
    /// The run's configuration.
    pub config: TrainConfig,
}

impl Checkpoint {
    /// Whether the run directory `dir` holds a checkpoint.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CHECKPOINT).is_file()
    }

    /// Reads `checkpoint.safetensors` (or the file given).
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let path = if path.is_dir() {
            path.join(CHECKPOINT)
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|source| {
            Error::SafeTensors {
                path: path.clone(),
                source,
            }
        })?;
        let info = meta.metadata().clone().unwrap_or_default();
        let field = |name: &str| -> Result<String> {
            info.get(name).cloned().ok_or_else(|| Error::BadField {
                path: path.clone(),
                field: format!("__metadata__.{name}"),
                expected: "JSON string".into(),
                found: "missing".into(),
            })
        };
        let parse_err = |name: &str, e: serde_json::Error| Error::BadField {
            path: path.clone(),
            field: format!("__metadata__.{name}"),
            expected: "valid JSON".into(),
            found: e.to_string(),
        };
        let state = serde_json::from_str(&field("state")?).map_err(|e| parse_err("state", e))?;
        let config = serde_json::from_str(&field("config")?).map_err(|e| parse_err("config", e))?;
        Ok(Checkpoint {
            path,
            bytes,
            state,
            config,
        })
    }

    /// The tensor called `name`, on `device`.
    pub fn tensor(&self, name: &str, device: Device) -> Result<Tensor> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).map_err(|source| {
            Error::SafeTensors {
                path: self.path.clone(),
                source,
            }
        })?;
        let view = st.tensor(name).map_err(|source| Error::SafeTensors {
            path: self.path.clone(),
            source,
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
        let data = view.data();
        let t = match view.dtype() {
            safetensors::Dtype::F64 => {
                let v: Vec<f64> = data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                Tensor::from_slice(&v)
            }
            safetensors::Dtype::F32 => {
                let v: Vec<f32> = data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                Tensor::from_slice(&v)
            }
            other => {
                return Err(Error::BadField {
                    path: self.path.clone(),
                    field: name.to_string(),
                    expected: "F32 or F64".into(),
                    found: format!("{other:?}"),
                });
            }
        };
        Ok(t.reshape(shape.as_slice()).to_device(device))
    }

    /// Copies the tensors `prefix + name` into the variables of `vs`.
    pub fn load_into(&self, vs: &nn::VarStore, prefix: &str) -> Result<()> {
        for (name, var) in vs.variables() {
            let t = self.tensor(&format!("{prefix}{name}"), var.device())?;
            if t.size() != var.size() {
                return Err(Error::BadField {
                    path: self.path.clone(),
                    field: format!("{prefix}{name}"),
                    expected: format!("shape {:?}", var.size()),
                    found: format!("shape {:?}", t.size()),
                });
            }
            tch::no_grad(|| var.shallow_clone().copy_(&t.to_kind(var.kind())));
        }
        Ok(())
    }

    /// Rebuilds the trained network on `device` with the checkpoint's weights.
    pub fn network(&self, device: Device) -> Result<(nn::VarStore, GaugeNet)> {
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(self.config.kind());
        let net = gauge_net(vs.root(), self.config.grid.len(), &self.config.model)?;
        self.load_into(&vs, "model.")?;
        Ok((vs, net))
    }
}

/// The per-epoch metrics of the run in `dir` (its `metrics.jsonl`, one JSON object per line, all
/// epochs including those of earlier sessions of a resumed run).
///
/// Errors name the file and the line that is not an [`EpochMetrics`] object.
pub fn read_metrics(dir: impl AsRef<Path>) -> Result<Vec<EpochMetrics>> {
    let path = dir.as_ref().join(METRICS);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::BadField {
                path: path.clone(),
                field: format!("line {}", i + 1),
                expected: "an epoch-metrics JSON object".into(),
                found: e.to_string(),
            })
        })
        .collect()
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io {
        path: tmp.clone(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn append_line(path: &Path, line: &str) -> Result<()> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run small enough for unit tests (3x3, channels 4, 4, double precision).
    pub(crate) fn small_config() -> TrainConfig {
        TrainConfig {
            bands: 1,
            grid: vec![3, 3],
            model: NetConfig {
                channels: vec![4, 4],
                ..Default::default()
            },
            loss: LossConfig::Local,
            optimizer: AdamConfig {
                lr: 1e-2,
                ..Default::default()
            },
            epochs: 2,
            samples_per_epoch: 32,
            batch: 8,
            seed: 5,
            calibration_samples: 0,
            validation_samples: 0,
            double_precision: true,
            ..Default::default()
        }
    }

    /// A fresh (removed) directory under the system temp dir, unique to this process.
    pub(crate) fn tmp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gauge-nn-train-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// 60 steps on one fixed batch of `cfg`'s stream bring the loss below 0.6 of its first value.
    fn assert_training_lowers_the_loss(cfg: TrainConfig, batch: usize, name: &str) -> Batch {
        let dir = tmp_dir(name);
        let mut t = Trainer::new(cfg, &dir).unwrap();
        let data = TrainSource::new(t.config()).unwrap().sample(batch).unwrap();
        let first = t.train_step(&data).unwrap();
        let mut last = first;
        for _ in 0..60 {
            last = t.train_step(&data).unwrap();
        }
        assert!(last < 0.6 * first, "{name}: loss {first} -> {last}");
        std::fs::remove_dir_all(&dir).unwrap();
        data
    }

    #[test]
    fn training_lowers_the_loss() {
        assert_training_lowers_the_loss(small_config(), 16, "lowers");
    }

    #[test]
    fn four_dimensional_training_fits_the_second_chern_density() {
        // 4D links: the network reads the 6 plaquette planes and outputs one value per site,
        // trained on the gauge-invariant second-Chern density q(x).
        let cfg = TrainConfig {
            grid: vec![2, 2, 2, 2],
            bands: 2,
            ..small_config()
        };
        let data = assert_training_lowers_the_loss(cfg, 8, "four_d");
        assert_eq!(data.plaquettes.size()[..6], [8, 6, 2, 2, 2, 2]);
        assert_eq!(data.site_labels.size(), [8, 2, 2, 2, 2]);
    }

    #[test]
    fn resume_reproduces_an_uninterrupted_run() {
        let (a, b) = (tmp_dir("a"), tmp_dir("b"));
        let mut full = Trainer::new(small_config(), &a).unwrap();
        let m_full = full.train(false).unwrap();
        assert_eq!(m_full.len(), 2);

        let mut half = Trainer::new(
            TrainConfig {
                epochs: 1,
                ..small_config()
            },
            &b,
        )
        .unwrap();
        half.train(false).unwrap();
        // Extend the saved run to two epochs by rewriting its configuration in the checkpoint.
        let mut ckpt = Checkpoint::read(&b).unwrap();
        ckpt.config.epochs = 2;
        let mut resumed = Trainer::resume_with(&b, ckpt).unwrap();
        assert_eq!(resumed.state().epoch, 1);
        let m_res = resumed.train(false).unwrap();
        assert_eq!(m_res.len(), 1);
        assert!(
            (m_res[0].loss - m_full[1].loss).abs() < 1e-9,
            "{} vs {}",
            m_res[0].loss,
            m_full[1].loss
        );
        let (va, vb) = (
            full.var_store().variables(),
            resumed.var_store().variables(),
        );
        for (name, ta) in &va {
            let d = (ta - &vb[name]).abs().max().double_value(&[]);
            assert!(d < 1e-9, "{name}: {d}");
        }
        // And a checkpoint read back gives the same predictions.
        let (_, net) = Checkpoint::read(&a).unwrap().network(Device::Cpu).unwrap();
        let batch = TrainSource::new(full.config()).unwrap().sample(4).unwrap();
        let p1 = crate::eval::predict(full.net(), &batch, 4).unwrap();
        let p2 = crate::eval::predict(&net, &batch, 4).unwrap();
        assert_eq!(p1, p2);
        let lines = std::fs::read_to_string(a.join(METRICS)).unwrap();
        assert_eq!(lines.lines().count(), 2);
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn nan_loss_stops_training_and_keeps_the_checkpoint() {
        let dir = tmp_dir("nan");
        let mut t = Trainer::new(
            TrainConfig {
                epochs: 1,
                ..small_config()
            },
            &dir,
        )
        .unwrap();
        t.train(false).unwrap();
        let before = std::fs::read(dir.join(CHECKPOINT)).unwrap();
        let weights: Vec<Tensor> = ordered_vars(t.var_store())
            .iter()
            .map(|v| v.copy())
            .collect();
        let mut src = TrainSource::new(t.config()).unwrap();
        let good = src.sample(4).unwrap();
        let bad = Batch {
            plaquettes: &good.plaquettes * f64::NAN,
            links: good.links.shallow_clone(),
            site_labels: good.site_labels.shallow_clone(),
            chern: good.chern.shallow_clone(),
        };
        match t.train_step(&bad) {
            Err(Error::NonFiniteLoss {
                epoch: 2,
                step: 5,
                loss,
            }) => assert!(loss.is_nan()),
            other => panic!("expected NonFiniteLoss, got {other:?}"),
        }
        for (w, v) in weights.iter().zip(ordered_vars(t.var_store())) {
            assert!(w.equal(&v));
        }
        assert_eq!(std::fs::read(dir.join(CHECKPOINT)).unwrap(), before);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn micro_batches_give_the_same_step() {
        for loss in [LossConfig::Local, LossConfig::PAPER_GLOBAL] {
            let (a, b) = (tmp_dir("micro-a"), tmp_dir("micro-b"));
            let mut whole = Trainer::new(
                TrainConfig {
                    loss,
                    ..small_config()
                },
                &a,
            )
            .unwrap();
            let cfg = TrainConfig {
                loss,
                micro_batch: 3,
                ..small_config()
            };
            let mut parts = Trainer::new(cfg, &b).unwrap();
            let batch = TrainSource::new(whole.config()).unwrap().sample(8).unwrap();
            for _ in 0..3 {
                let l1 = whole.train_step(&batch).unwrap();
                let l2 = parts.train_step(&batch).unwrap();
                assert!(
                    (l1 - l2).abs() < 1e-12 * l1.abs().max(1.0),
                    "{loss:?}: {l1} vs {l2}"
                );
            }
            let (va, vb) = (whole.var_store().variables(), parts.var_store().variables());
            for (name, t) in &va {
                let d = (t - &vb[name]).abs().max().double_value(&[]);
                assert!(d < 1e-10, "{loss:?} {name}: {d}");
            }
            std::fs::remove_dir_all(&a).unwrap();
            std::fs::remove_dir_all(&b).unwrap();
        }
        let c = TrainConfig {
            loss: LossConfig::ScaleInvariant,
            trivial_only: true,
            micro_batch: 4,
            ..small_config()
        };
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidParameter {
                parameter: "micro_batch",
                ..
            })
        ));
    }

    #[test]
    fn schedules() {
        assert_eq!(Schedule::Constant.factor(7, 10, 2), 1.0);
        let c = Schedule::Cosine { min_factor: 0.1 };
        assert!((c.factor(0, 10, 2) - 1.0).abs() < 1e-12);
        assert!((c.factor(5, 10, 2) - 0.55).abs() < 1e-12);
        assert!((c.factor(10, 10, 2) - 0.1).abs() < 1e-12);
        let s = Schedule::Step {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.factor(3, 100, 2), 1.0); // epoch 1
        assert_eq!(s.factor(4, 100, 2), 0.5); // epoch 2
        assert_eq!(s.factor(8, 100, 2), 0.25);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let c = TrainConfig {
            trivial_only: true,
            loss: LossConfig::Local,
            ..small_config()
        };
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidParameter {
                parameter: "loss",
                ..
            })
        ));
        let c = TrainConfig {
            batch: 0,
            ..small_config()
        };
        assert!(c.validate().is_err());
        let c = TrainConfig {
            optimizer: AdamConfig {
                lr: f64::NAN,
                ..Default::default()
            },
            ..small_config()
        };
        assert!(c.validate().is_err());
    }
}
