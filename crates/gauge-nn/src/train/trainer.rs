//! The training loop.
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{Device, Tensor, nn};

use super::checkpoint::{Checkpoint, TrainState};
use super::config::TrainConfig;
use super::epochs::{self, EpochRun, check_finite_loss, zero_grads};
use super::metrics::EpochMetrics;
use super::optimiser::{Adam, clip_grad_norm, ordered_names, ordered_vars};
use super::{CHECKPOINT, CONFIG, METRICS};
use crate::data::{Batch, SampleSource};
use crate::error::{Error, Result};
use crate::eval::{calibrate_rescale, evaluate_batch};
use crate::model::{GaugeNet, gauge_net, seed_libtorch};
use crate::progress::Progress;
use crate::tensor_file::write_atomic;

/// A training run in a directory.
pub struct Trainer {
    config: TrainConfig,
    dir: PathBuf,
    device: Device,
    vs: nn::VarStore,
    net: GaugeNet,
    adam: Adam,
    state: TrainState,
    source: Box<dyn SampleSource>,
    calibration: Option<Batch>,
    validation: Option<Batch>,
    /// The largest gradient norm (before clipping) of the epoch in progress.
    grad_norm_max: f64,
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
    ///
    /// Global libtorch state: the initial weights are drawn from libtorch's global random generator
    /// (libtorch has no per-model generator), which this seeds with [`TrainConfig::seed`] through
    /// [`seed_libtorch`](crate::model::seed_libtorch), so that concurrent trainers do not
    /// interleave (so do
    /// [`Trainer::resume`] and [`Trainer::resume_with`] before they overwrite the weights). The
    /// thread count is left alone: set it with `tch::set_num_threads` (the `threads` field is for
    /// the caller). Every sample stream has its own seeded generator.
    pub fn new(config: TrainConfig, dir: impl AsRef<Path>) -> Result<Trainer> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if dir.join(CHECKPOINT).exists() {
            return Err(Error::InvalidParameter {
                name: "out",
                value: dir.display().to_string(),
                reason: "already holds a checkpoint: resume it or choose another directory".into(),
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
        let vars = ordered_vars(&trainer.vs);
        let device = trainer.device;
        trainer.adam.restore_moments(
            &ordered_names(&trainer.vs),
            &vars,
            ckpt.state.adam_t,
            |field, like| {
                let t = ckpt.tensor(field, device)?;
                if t.size() != like.size() {
                    return Err(Error::BadField {
                        path: ckpt.path().to_path_buf(),
                        field: field.to_string(),
                        expected: format!("shape {:?}", like.size()),
                        found: format!("shape {:?}", t.size()),
                    });
                }
                Ok(t.f_to_kind(like.kind())?)
            },
        )?;
        let json = serde_json::to_string_pretty(&trainer.config).expect("config serialises");
        write_atomic(&trainer.dir.join(CONFIG), json.as_bytes())?;
        Ok(trainer)
    }

    fn build(config: TrainConfig, dir: PathBuf, state: TrainState) -> Result<Trainer> {
        let device = config.device.device()?;
        // libtorch draws initial weights from its global generator only: seed it, holding the
        // crate's lock while the weights are drawn (documented on `Trainer::new`).
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(config.kind());
        let net = {
            let _seed = seed_libtorch(config.seed);
            gauge_net(vs.root(), config.grid.len(), &config.model)?
        };
        let adam = Adam::new(config.optimizer, &ordered_vars(&vs));
        let mut source = config.training_source()?;
        source.set_links(net.needs_links());
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
            grad_norm_max: 0.0,
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

    /// One optimiser step on `batch`; returns the loss. A non-finite loss is an error and leaves
    /// the weights untouched. A libtorch failure inside the step (out of memory on the GPU or the
    /// CPU) is an [`Error::Libtorch`] naming the device, the batch and the grid, not a panic; the
    /// trainer should not be stepped further after it (the last checkpoint is the last good
    /// state).
    pub fn train_step(&mut self, batch: &Batch) -> Result<f64> {
        match crate::torch_failure::catch_libtorch(true, || self.step(batch)) {
            Ok(outcome) => outcome,
            Err(failure) => {
                let pass = match self.config.micro_batch {
                    0 => batch.len(),
                    m => m.min(batch.len()),
                };
                let hint = if failure.out_of_memory() {
                    "lower --batch, or set `micro_batch` in the training config (the step then \
                     accumulates gradients over passes of that many samples), or train on a \
                     smaller grid or a device with more memory"
                } else {
                    "not an out-of-memory error: check the device and the libtorch installation"
                };
                Err(Error::Libtorch {
                    what: "training step",
                    device: self.device,
                    grid: crate::data::grid_name(&self.config.grid),
                    batch: pass,
                    first_batch: pass,
                    message: failure.message,
                    hint,
                })
            }
        }
    }

    /// [`Self::train_step`] without the catch of libtorch's panics.
    fn step(&mut self, batch: &Batch) -> Result<f64> {
        let batch = batch.to_device(self.device);
        let vars = ordered_vars(&self.vs);
        zero_grads(&vars);
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
            let links = match self.net.needs_links() {
                true => Some(part.links()?),
                false => None,
            };
            let f = self.net.forward(&part.plaquettes, links);
            let weight = (end - start) as f64 / size as f64;
            let loss =
                self.config
                    .loss
                    .loss(&f, &part.site_labels, &part.chern, &part.plaquettes)?
                    * weight;
            let v = loss.double_value(&[]);
            if let Err(e) = check_finite_loss(&[v], self.state.epoch + 1, self.state.step + 1) {
                zero_grads(&vars);
                return Err(e);
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
        let norm = clip_grad_norm(&vars, self.config.optimizer.clip_grad_norm);
        self.grad_norm_max = self.grad_norm_max.max(norm);
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
        epochs::train_epochs(self, count, progress)
    }

    /// Trains the remaining epochs, or with `budget_seconds` one epoch at a time while the run's
    /// training seconds (all sessions) are below it: the epoch that starts within the budget is
    /// finished, and a later call (or [`Trainer::resume`]) continues from its checkpoint.
    pub fn train_within(
        &mut self,
        budget_seconds: Option<f64>,
        progress: bool,
    ) -> Result<Vec<EpochMetrics>> {
        epochs::train_within(self, budget_seconds, progress)
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    pub fn save(&self) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, t) in self.vs.variables() {
            tensors.push((format!("model.{name}"), t));
        }
        tensors.extend(self.adam.moment_entries(&ordered_names(&self.vs)));
        let path = self.dir.join(CHECKPOINT);
        let bytes = Checkpoint::encode(&tensors, &self.state, &self.config, &path)?;
        write_atomic(&path, &bytes)
    }
}

impl EpochRun for Trainer {
    type Metrics = EpochMetrics;

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

    /// The epoch's fresh samples in batches; then the output scale is fitted on the calibration
    /// set (trivial-only runs) and the accuracy measured on the validation set.
    fn train_epoch(&mut self, bar: &Progress) -> Result<EpochMetrics> {
        let spe = self.steps_per_epoch();
        let start = Instant::now();
        let first = (self.state.epoch * self.config.samples_per_epoch) as u64;
        self.source.seek(first);
        let mut sum = 0.0;
        self.grad_norm_max = 0.0;
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
        Ok(EpochMetrics {
            epoch: self.state.epoch,
            step: self.state.step,
            loss: sum / self.config.samples_per_epoch as f64,
            lr,
            seconds,
            train_seconds: self.state.train_seconds,
            samples_per_second: self.config.samples_per_epoch as f64 / seconds,
            rescale,
            val_accuracy,
            grad_norm_max: Some(self.grad_norm_max),
        })
    }

    fn progress_message(m: &EpochMetrics) -> String {
        format!(
            "loss {:.4}{}",
            m.loss,
            m.val_accuracy
                .map(|a| format!(" val acc {:.1}%", 100.0 * a))
                .unwrap_or_default()
        )
    }

    fn save(&self) -> Result<()> {
        Trainer::save(self)
    }

    fn metrics_path(&self) -> PathBuf {
        self.dir.join(METRICS)
    }
}

/// Seconds per optimiser step of a fresh run of `config` on one fixed batch of its training
/// stream (two warm-up steps first, then `steps` timed ones), for throughput measurements. The
/// run lives in a temporary directory that is removed afterwards.
///
/// Errors on `steps = 0` and on what [`Trainer::new`] refuses.
pub fn seconds_per_step(config: &TrainConfig, steps: usize) -> Result<f64> {
    if steps == 0 {
        return Err(Error::EmptyInput {
            what: "timed training steps",
        });
    }
    let dir = std::env::temp_dir().join(format!(
        "gauge-nn-bench-{}-{}",
        std::process::id(),
        config.seed
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let timed = (|| {
        let mut trainer = Trainer::new(config.clone(), &dir)?;
        let data = config.training_source()?.sample(config.batch)?;
        for _ in 0..2 {
            trainer.train_step(&data)?;
        }
        let start = Instant::now();
        for _ in 0..steps {
            trainer.train_step(&data)?;
        }
        Ok(start.elapsed().as_secs_f64() / steps as f64)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    timed
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::loss::LossConfig;
    use crate::model::NetConfig;
    use crate::train::{AdamConfig, Schedule, read_metrics};

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
        let data = t.config().training_source().unwrap().sample(batch).unwrap();
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
    fn clipped_training_lowers_the_loss_and_the_metrics_record_the_norm() {
        let clipped = TrainConfig {
            optimizer: AdamConfig {
                lr: 1e-2,
                clip_grad_norm: Some(0.01),
                ..Default::default()
            },
            ..small_config()
        };
        assert_training_lowers_the_loss(clipped.clone(), 16, "clipped");
        // A whole epoch with and without the bound: the same first gradient, different steps.
        let mut runs = Vec::new();
        for (name, cfg) in [("clip-on", clipped), ("clip-off", small_config())] {
            let dir = tmp_dir(name);
            let mut t = Trainer::new(cfg, &dir).unwrap();
            let m = t.train_epochs(1, false).unwrap().remove(0);
            let logged = read_metrics(&dir).unwrap().remove(0);
            assert_eq!(logged.grad_norm_max, m.grad_norm_max, "{name}");
            std::fs::remove_dir_all(&dir).unwrap();
            runs.push(m);
        }
        let (on, off) = (&runs[0], &runs[1]);
        let norm = on.grad_norm_max.unwrap();
        assert!(
            norm > 0.01 && norm.is_finite(),
            "norm {norm} should exceed the bound"
        );
        assert_ne!(
            on.loss, off.loss,
            "the bound at 0.01 left training unchanged"
        );
    }

    #[test]
    fn cut_weighted_training_lowers_the_loss() {
        let cfg = TrainConfig {
            loss: LossConfig::CutWeighted {
                weight: 10.0,
                width: 0.05,
            },
            bands: 2,
            ..small_config()
        };
        assert_training_lowers_the_loss(cfg, 16, "cut_weighted");
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
        let batch = full.config().training_source().unwrap().sample(4).unwrap();
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
        let mut src = t.config().training_source().unwrap();
        let good = src.sample(4).unwrap();
        let bad = Batch {
            plaquettes: &good.plaquettes * f64::NAN,
            links: good.links.as_ref().map(Tensor::shallow_clone),
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
            let batch = whole.config().training_source().unwrap().sample(8).unwrap();
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
                name: "micro_batch",
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
            Err(Error::InvalidParameter { name: "loss", .. })
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
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let c = TrainConfig {
                optimizer: AdamConfig {
                    clip_grad_norm: Some(bad),
                    ..Default::default()
                },
                ..small_config()
            };
            let message = c.validate().unwrap_err().to_string();
            assert!(
                message.contains("optimizer.clip_grad_norm"),
                "{bad}: {message}"
            );
        }
        let c = TrainConfig {
            optimizer: AdamConfig {
                clip_grad_norm: Some(0.5),
                ..Default::default()
            },
            ..small_config()
        };
        c.validate().unwrap();
    }
}
