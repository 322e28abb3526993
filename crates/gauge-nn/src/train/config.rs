//! The run configuration: [`TrainConfig`] and the choices it holds (data, device), checked once.
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use super::optimiser::AdamConfig;
use super::schedule::Schedule;
use crate::data::{
    ChernChoice, DiagonalConfig, DiagonalSource, EigenphaseDistribution, GeneralConfig, HaarSource,
    NearIdentity, SampleSource,
};
use crate::error::{Error, Result};
use crate::loss::LossConfig;
use crate::model::NetConfig;

/// Where the training samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// The general dataset: Haar-random links (trivial ones only with `trivial_only`).
    General {
        /// Mix in a share of weak fields (links near the identity), so that training also
        /// sees the small fluxes of smooth Bloch bundles; absent: Haar links only, as the paper.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        near_identity: Option<NearIdentity>,
    },
    /// Diagonal plaquettes (paper App. C.2); with `trivial_only` every sample has $C=0$, otherwise
    /// $C$ is uniform in `-max_chern..=max_chern`.
    Diagonal {
        /// Law of the eigenphases at one site.
        eigenphases: EigenphaseDistribution,
        /// Largest $|C|$ of the non-trivial diagonal samples.
        max_chern: i64,
    },
}

impl Default for DataConfig {
    /// The paper's general dataset (Haar-random links only).
    fn default() -> Self {
        DataConfig::General {
            near_identity: None,
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
                name: "device",
                value: "cuda".into(),
                reason: if tch::utils::has_cudart() {
                    "this libtorch has CUDA but finds no CUDA device (no GPU or no NVIDIA driver)"
                } else {
                    "this libtorch has no CUDA (the default set-up is CPU-only; \
                     `CHERNET_TORCH=cuda make setup` installs the CUDA one)"
                }
                .into(),
            }),
        }
    }
}

/// Everything that defines a training run (serialised as the run's `config.json`).
///
/// In JSON, `bands`, `grid` and `epochs` are required (so that an empty `{}` is an error, not a
/// default run), every other field has the default of [`TrainConfig::default`], and unknown fields
/// are errors (a misspelled key would otherwise have no effect). [`TrainConfig::validate`] checks
/// every field's range with a message that names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of filled bands $n$ (links in $U(n)$).
    pub bands: usize,
    /// Lattice extents of the training samples: two (Chern number) or four (second Chern number).
    pub grid: Vec<usize>,
    /// Train on samples with $C=0$ only (the output scale is then fitted on a calibration set).
    #[serde(default)]
    pub trivial_only: bool,
    /// Training data.
    #[serde(default)]
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: NetConfig,
    /// The loss.
    #[serde(default)]
    pub loss: LossConfig,
    /// Optimiser.
    #[serde(default)]
    pub optimizer: AdamConfig,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Number of epochs (at least 1).
    pub epochs: usize,
    /// Fresh samples per epoch.
    #[serde(default = "defaults::samples_per_epoch")]
    pub samples_per_epoch: usize,
    /// Batch size.
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Forward and backward the batch in chunks of this many samples, accumulating the gradients
    /// before one optimiser step (0: the whole batch at once). Same gradients, less memory; only
    /// for losses that are means over samples (local and global, not scale-invariant).
    #[serde(default)]
    pub micro_batch: usize,
    /// Seed of the initial weights and of every sample stream. The weights are drawn from
    /// libtorch's global generator, which [`Trainer::new`](super::Trainer::new) seeds with it.
    #[serde(default)]
    pub seed: u64,
    /// libtorch intra-op threads for this run (0: libtorch's default). The trainer does not change
    /// libtorch's global thread count: the caller applies it (`genet` does, with
    /// `tch::set_num_threads`).
    #[serde(default)]
    pub threads: usize,
    /// Labelled all-$C$ samples (general dataset) to fit the output scale on; 0 for none.
    #[serde(default = "defaults::calibration_samples")]
    pub calibration_samples: usize,
    /// Labelled all-$C$ samples to report the accuracy on after each epoch; 0 for none.
    #[serde(default = "defaults::validation_samples")]
    pub validation_samples: usize,
    /// Train in double precision.
    #[serde(default)]
    pub double_precision: bool,
    /// Device.
    #[serde(default = "defaults::device")]
    pub device: DeviceChoice,
}

mod defaults {
    use super::DeviceChoice;
    pub(super) fn samples_per_epoch() -> usize {
        1024
    }
    pub(super) fn batch() -> usize {
        32
    }
    pub(super) fn calibration_samples() -> usize {
        512
    }
    pub(super) fn validation_samples() -> usize {
        256
    }
    pub(super) fn device() -> DeviceChoice {
        DeviceChoice::Cpu
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            bands: 1,
            grid: vec![5, 5],
            trivial_only: false,
            data: DataConfig::default(),
            model: NetConfig::default(),
            loss: LossConfig::Local,
            optimizer: AdamConfig::default(),
            schedule: Schedule::Constant,
            epochs: 10,
            samples_per_epoch: defaults::samples_per_epoch(),
            batch: defaults::batch(),
            micro_batch: 0,
            seed: 0,
            threads: 0,
            calibration_samples: defaults::calibration_samples(),
            validation_samples: defaults::validation_samples(),
            double_precision: false,
            device: defaults::device(),
        }
    }
}

/// Largest lattice extent, band count, epoch count, ... a configuration may ask for: far beyond any
/// run that fits in memory, small enough that products of them cannot overflow.
const LARGE: usize = 1 << 20;

impl TrainConfig {
    /// The recipe the measurements support for `bands` filled bands on `grid`: conjugation-odd
    /// outputs ([`NetConfig::conjugation_odd`]), Adam at `lr` $10^{-3}$ with a cosine decay to
    /// 5% of it, $8 + 4n$ epochs of 1024 fresh samples in batches of 32, one libtorch thread and
    /// seed 1. Trivial-only runs use the scale-invariant loss and calibrate the output scale on
    /// 512 samples; general runs use the local loss. For $n = 2$ and $n = 4$ trivial-only this is
    /// exactly `examples/genet-configs/n2_trivial_odd.json` and `n4_trivial_odd.json`; the
    /// published architecture is this with `model.conjugation_odd = false`. On four extents the
    /// network stays the published one: complex conjugation of the links flips the sign of the
    /// field strength twice in $\operatorname{tr} F \wedge F$, so the second Chern number is even
    /// under it and an odd network could not learn it; it trains for [`Self::FOUR_D_EPOCHS`]
    /// epochs whatever $n$.
    pub fn recipe(bands: usize, grid: Vec<usize>, trivial_only: bool) -> TrainConfig {
        let odd = grid.len() == 2;
        TrainConfig {
            bands,
            grid,
            trivial_only,
            model: NetConfig {
                conjugation_odd: odd,
                ..NetConfig::default()
            },
            loss: if trivial_only {
                LossConfig::ScaleInvariant
            } else {
                LossConfig::Local
            },
            optimizer: AdamConfig {
                lr: 1e-3,
                ..AdamConfig::default()
            },
            schedule: Schedule::Cosine { min_factor: 0.05 },
            epochs: if odd {
                Self::recipe_epochs(bands)
            } else {
                Self::FOUR_D_EPOCHS
            },
            samples_per_epoch: 1024,
            batch: 32,
            seed: 1,
            threads: 1,
            calibration_samples: if trivial_only { 512 } else { 0 },
            validation_samples: 256,
            ..TrainConfig::default()
        }
    }

    /// The recipe's epochs on four extents. Measured on $3\times3\times3\times3$, $n = 2$ (500
    /// samples): the mean absolute error of the summed second-Chern density was 0.670 after 16
    /// epochs ($8+4n$) and 0.441 after 64, against 1.04 for predicting 0.
    pub const FOUR_D_EPOCHS: usize = 64;

    /// The recipe's number of epochs for `bands` filled bands on two extents: $8+4n$ (12 for $n=1$, 24 for
    /// $n=4$, 40 for $n=8$).
    pub fn recipe_epochs(bands: usize) -> usize {
        8 + 4 * bands.min(LARGE)
    }

    /// Reads a configuration from JSON text (`source` names it in errors): unknown fields, a
    /// missing `bands`, `grid` or `epochs`, and anything but an object are errors, and the values
    /// are then checked by [`TrainConfig::validate`].
    pub fn from_json(text: &str, source: &std::path::Path) -> Result<TrainConfig> {
        let bad = |found: String| Error::BadField {
            path: source.to_path_buf(),
            field: "(training configuration)".into(),
            expected: "a JSON object with at least `bands`, `grid` and `epochs`, and only \
                           the fields of a TrainConfig"
                .into(),
            found,
        };
        // What is not an object (serde would read a struct from an array: "invalid length 0"),
        // and the empty object, named as such; syntax errors keep serde's line and column.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            use serde_json::Value;
            let what = match &value {
                Value::Object(o) if o.is_empty() => Some(
                    "an empty object `{}` (an empty configuration is not a default run)".into(),
                ),
                Value::Object(_) => None,
                Value::Array(a) if a.is_empty() => Some("an empty array `[]`".to_string()),
                Value::Array(a) => Some(format!("an array of {} entries", a.len())),
                Value::Null => Some("`null`".into()),
                Value::Bool(b) => Some(format!("the boolean `{b}`")),
                Value::Number(n) => Some(format!("the number `{n}`")),
                Value::String(_) => Some("a string".into()),
            };
            if let Some(what) = what {
                return Err(bad(what));
            }
        }
        let config: TrainConfig = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field, with a message that names it: positive counts, finite positive rates,
    /// factors in range, and combinations that cannot train (trivial-only data with the local
    /// loss, micro-batches with the scale-invariant loss).
    pub fn validate(&self) -> Result<()> {
        fn bad(name: &'static str, value: impl ToString, reason: &'static str) -> Result<()> {
            Err(Error::InvalidParameter {
                name,
                value: value.to_string(),
                reason: reason.into(),
            })
        }
        let count = |name: &'static str, value: usize, min: usize| -> Result<()> {
            if value < min || value > LARGE {
                return bad(
                    name,
                    value,
                    if min == 0 {
                        "must be at most 2^20"
                    } else {
                        "must be a positive integer, at most 2^20"
                    },
                );
            }
            Ok(())
        };
        count("bands", self.bands, 1)?;
        if self.grid.len() != 2 && self.grid.len() != 4 {
            return bad(
                "grid",
                format!("{:?}", self.grid),
                "needs two extents (Chern number) or four (second Chern number)",
            );
        }
        if self.grid.iter().any(|&l| l == 0 || l > LARGE) {
            return bad(
                "grid",
                format!("{:?}", self.grid),
                "every extent must be a positive integer, at most 2^20",
            );
        }
        count("epochs", self.epochs, 1)?;
        count("samples_per_epoch", self.samples_per_epoch, 1)?;
        count("batch", self.batch, 1)?;
        count("micro_batch", self.micro_batch, 0)?;
        count("threads", self.threads, 0)?;
        count("calibration_samples", self.calibration_samples, 0)?;
        count("validation_samples", self.validation_samples, 0)?;
        if self.micro_batch > 0
            && self.micro_batch < self.batch
            && self.loss == LossConfig::ScaleInvariant
        {
            return bad(
                "micro_batch",
                self.micro_batch,
                "the scale-invariant loss is not a mean over samples: train it without micro-batches",
            );
        }
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
            clip_grad_norm,
        } = self.optimizer;
        if !(lr > 0.0 && lr.is_finite()) {
            return bad("optimizer.lr", lr, "must be positive and finite");
        }
        if !(0.0..1.0).contains(&beta1) {
            return bad("optimizer.beta1", beta1, "must lie in [0, 1)");
        }
        if !(0.0..1.0).contains(&beta2) {
            return bad("optimizer.beta2", beta2, "must lie in [0, 1)");
        }
        if !(eps > 0.0 && eps.is_finite()) {
            return bad("optimizer.eps", eps, "must be positive and finite");
        }
        if let Some(c) = clip_grad_norm
            && !(c > 0.0 && c.is_finite())
        {
            return bad(
                "optimizer.clip_grad_norm",
                c,
                "must be positive and finite (leave it out for no clipping)",
            );
        }
        match self.schedule {
            Schedule::Constant => {}
            Schedule::Cosine { min_factor } => {
                if !(0.0..=1.0).contains(&min_factor) {
                    return bad(
                        "schedule.min_factor",
                        min_factor,
                        "must lie in [0, 1] (a negative factor is a negative learning rate)",
                    );
                }
            }
            Schedule::Step { every, gamma } => {
                count("schedule.every", every, 1)?;
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return bad("schedule.gamma", gamma, "must lie in (0, 1]");
                }
            }
        }
        match self.loss {
            LossConfig::Local | LossConfig::ScaleInvariant => {}
            LossConfig::CutWeighted { weight, width } => {
                if !(weight >= 0.0 && weight.is_finite()) {
                    return bad(
                        "loss.weight",
                        weight,
                        "must be zero or positive, and finite",
                    );
                }
                if !(width > 0.0 && width.is_finite()) {
                    return bad(
                        "loss.width",
                        width,
                        "must be a positive, finite angle in radians",
                    );
                }
            }
            LossConfig::Global {
                delta,
                spread_weight,
            } => {
                if !(delta >= 0.0 && delta.is_finite()) {
                    return bad("loss.delta", delta, "must be zero or positive, and finite");
                }
                if !(spread_weight >= 0.0 && spread_weight.is_finite()) {
                    return bad(
                        "loss.spread_weight",
                        spread_weight,
                        "must be zero or positive, and finite",
                    );
                }
            }
        }
        if self.trivial_only
            && matches!(
                self.loss,
                LossConfig::Local | LossConfig::CutWeighted { .. }
            )
        {
            return bad(
                "loss",
                self.loss.name(),
                "trivial-only training needs a global loss (local labels are not C = 0 only)",
            );
        }
        if let DataConfig::General {
            near_identity: Some(near),
        } = self.data
        {
            near.validate_named([
                "data.near_identity.fraction",
                "data.near_identity.max_spread",
            ])?;
        }
        if let DataConfig::Diagonal { max_chern, .. } = self.data {
            if self.grid.len() != 2 {
                return bad(
                    "data",
                    "diagonal",
                    "the diagonal dataset is two-dimensional: give a grid of two extents",
                );
            }
            if !(0..=LARGE as i64).contains(&max_chern) {
                return bad("data.max_chern", max_chern, "must be zero or positive");
            }
        }
        self.model.validate()
    }

    /// An upper estimate of the bytes this run needs: one training step (the network's
    /// activations and gradients on a batch, or a micro-batch) and the fixed calibration and
    /// validation sets. For refusing work up front; not a measurement.
    pub fn memory_estimate(&self) -> f64 {
        let d = self.grid.len();
        let planes = d * d.saturating_sub(1) / 2;
        let volume: f64 = self.grid.iter().map(|&l| l as f64).product();
        let real_bytes = if self.double_precision { 8 } else { 4 };
        let step = if self.micro_batch > 0 {
            self.micro_batch.min(self.batch)
        } else {
            self.batch
        };
        let sample = volume * (self.bands as f64).powi(2) * 16.0 * 2.0 * (d + planes) as f64;
        let fixed = (self.calibration_samples + self.validation_samples) as f64 * sample;
        self.model
            .memory_estimate(planes, volume, self.bands, step, real_bytes)
            + self.batch as f64 * sample
            + fixed
    }

    /// Seed of the calibration set (independent of the training stream).
    pub fn calibration_seed(&self) -> u64 {
        self.seed ^ 0x6361_6c69_6272_6174
    }

    /// Seed of the per-epoch validation set.
    pub fn validation_seed(&self) -> u64 {
        self.seed ^ 0x7661_6c69_6461_7465
    }

    pub(crate) fn kind(&self) -> Kind {
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

    /// The training stream of the run (positioned by the trainer for exact resumption).
    pub fn training_source(&self) -> Result<Box<dyn SampleSource>> {
        Ok(match self.data {
            DataConfig::General { near_identity } => Box::new(HaarSource::new(GeneralConfig {
                extents: self.grid.clone(),
                n: self.bands,
                trivial_only: self.trivial_only,
                seed: self.seed,
                precision: self.precision(),
                near_identity,
                ..Default::default()
            })?),
            DataConfig::Diagonal {
                eigenphases,
                max_chern,
            } => Box::new(DiagonalSource::new(DiagonalConfig {
                extents: self.grid.clone(),
                n: self.bands,
                chern: if self.trivial_only {
                    ChernChoice::Zero
                } else {
                    ChernChoice::Range {
                        lo: -max_chern,
                        hi: max_chern,
                    }
                },
                eigenphases,
                seed: self.seed,
                precision: self.precision(),
                ..Default::default()
            })?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cuda` is the first CUDA device where libtorch sees one, else an error that says which of
    /// the two is missing (CUDA in libtorch, or a device); `auto` then falls back to the CPU.
    #[test]
    fn cuda_device_or_an_error_naming_what_is_missing() {
        if tch::Cuda::is_available() {
            assert_eq!(DeviceChoice::Cuda.device().unwrap(), Device::Cuda(0));
            assert_eq!(DeviceChoice::Auto.device().unwrap(), Device::Cuda(0));
        } else {
            let message = DeviceChoice::Cuda.device().unwrap_err().to_string();
            assert!(message.starts_with("invalid device = cuda: "), "{message}");
            let missing = match tch::utils::has_cudart() {
                true => "finds no CUDA device",
                false => "this libtorch has no CUDA",
            };
            assert!(message.contains(missing), "{message}");
            assert_eq!(DeviceChoice::Auto.device().unwrap(), Device::Cpu);
        }
        assert_eq!(DeviceChoice::Cpu.device().unwrap(), Device::Cpu);
    }

    /// The recipe for n = 2 and n = 4 trivial-only is the shipped measured config, field by field.
    #[test]
    fn recipe_is_the_measured_trivial_odd_configs() {
        for (n, file) in [(2, "n2_trivial_odd.json"), (4, "n4_trivial_odd.json")] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/genet-configs")
                .join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let shipped = TrainConfig::from_json(&text, &path).unwrap();
            let recipe = TrainConfig::recipe(n, vec![5, 5], true);
            recipe.validate().unwrap();
            assert_eq!(
                serde_json::to_value(&recipe).unwrap(),
                serde_json::to_value(&shipped).unwrap(),
                "{file}"
            );
        }
        let general = TrainConfig::recipe(1, vec![5, 5], false);
        general.validate().unwrap();
        assert_eq!(general.epochs, 12);
        assert_eq!(general.loss, LossConfig::Local);
        assert!(general.model.conjugation_odd);
        let four = TrainConfig::recipe(2, vec![3, 3, 3, 3], false);
        four.validate().unwrap();
        assert!(!four.model.conjugation_odd);
        assert_eq!(four.epochs, TrainConfig::FOUR_D_EPOCHS);
    }

    /// `{"kind": "general"}` is the plain dataset and saves as it was read; a weak-field share
    /// round-trips, reaches the training stream, and bad values are refused by their JSON names.
    #[test]
    fn general_data_with_and_without_weak_fields() {
        let path = std::path::Path::new("cfg.json");
        let base = r#"{"bands": 2, "grid": [5, 5], "epochs": 1, "data": "#;
        let plain =
            TrainConfig::from_json(&format!(r#"{base}{{"kind": "general"}}}}"#), path).unwrap();
        assert_eq!(plain.data, DataConfig::default());
        let saved = serde_json::to_value(&plain).unwrap();
        assert_eq!(saved["data"], serde_json::json!({"kind": "general"}));
        let text = format!(
            r#"{base}{{"kind": "general", "near_identity": {{"fraction": 0.25, "max_spread": 1.5}}}}}}"#
        );
        let mixed = TrainConfig::from_json(&text, path).unwrap();
        let near = NearIdentity {
            fraction: 0.25,
            max_spread: 1.5,
        };
        assert_eq!(
            mixed.data,
            DataConfig::General {
                near_identity: Some(near)
            }
        );
        let again: TrainConfig =
            serde_json::from_value(serde_json::to_value(&mixed).unwrap()).unwrap();
        assert_eq!(again, mixed);
        // The training stream draws the weak fields (all of them at share 1).
        let all_weak = TrainConfig {
            data: DataConfig::General {
                near_identity: Some(NearIdentity {
                    fraction: 1.0,
                    max_spread: 0.01,
                }),
            },
            ..mixed.clone()
        };
        let sample = all_weak.training_source().unwrap().sample_at(0).unwrap();
        let largest = sample
            .plaquettes
            .as_slice()
            .chunks_exact(4)
            .flat_map(|w| lattice_gauge::matrix::eigenphases(w, 2))
            .fold(0.0f64, |m, t| m.max(t.abs()));
        assert!(largest < 0.2, "{largest}");
        for (json, name) in [
            (
                r#"{"fraction": 2.0, "max_spread": 1.0}"#,
                "data.near_identity.fraction",
            ),
            (
                r#"{"fraction": 0.5, "max_spread": 0.0}"#,
                "data.near_identity.max_spread",
            ),
        ] {
            let text = format!(r#"{base}{{"kind": "general", "near_identity": {json}}}}}"#);
            let message = TrainConfig::from_json(&text, path).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
        let misspelt = format!(
            r#"{base}{{"kind": "general", "near_identity": {{"fraction": 0.5, "spread": 1.0}}}}}}"#
        );
        assert!(TrainConfig::from_json(&misspelt, path).is_err());
    }
}
