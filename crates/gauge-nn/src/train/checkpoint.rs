//! Checkpoints: weights, Adam moments, run state and configuration in one `.safetensors` file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

use super::CHECKPOINT;
use super::config::TrainConfig;
use crate::data::{HamiltonianConfig, HamiltonianSource, ModelSpec, SampleSource};
use crate::error::{Error, Result};
use crate::eval::{ChernBucket, EvalReport, evaluate_source_with_progress};
use crate::model::{GaugeNet, gauge_net};
use crate::tensor_file::{Stored, TensorFile, Values};

/// Progress of a run, stored in the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
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

/// What [`Checkpoint::evaluate`] evaluates on.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRequest {
    /// Evaluation grid (`None`: the training grid).
    pub grid: Option<Vec<usize>>,
    /// Number of fresh samples (at least 1).
    pub samples: usize,
    /// Hamiltonian samples of this family instead of Haar-random links.
    pub hamiltonian: Option<ModelSpec>,
    /// Seed of the samples.
    pub seed: u64,
    /// Samples per forward pass.
    pub batch: usize,
    /// Show a progress bar on the terminal (feature `progress`).
    pub progress: bool,
}

/// Seed of the weak-field samples of [`CheckpointEvaluation::small_flux_slope`]: fixed, so that
/// the slope, a property of the network, is the same in every evaluation of it (whatever grid,
/// samples or seed the evaluation itself uses).
pub(crate) const SMALL_FLUX_SEED: u64 = 1;

/// The outcome of [`Checkpoint::evaluate`] (serialises to the JSON `genet eval --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointEvaluation {
    /// Fraction of samples with $\operatorname{round}(kF)=C$.
    pub accuracy: f64,
    /// The same on the samples with $C\ne0$.
    pub accuracy_nontrivial: Option<f64>,
    /// Samples evaluated.
    pub samples: usize,
    /// The evaluation grid.
    pub grid: Vec<usize>,
    /// Filled bands $n$.
    pub bands: usize,
    /// `haar` or the Hamiltonian family.
    pub data: String,
    /// The output scale $k$.
    pub rescale: f64,
    /// Mean $|kF-C|$.
    pub mean_abs_error: f64,
    /// Accuracy by true Chern number.
    pub by_chern: Vec<ChernBucket>,
    /// The scaled network's slope on plaquettes near the identity (exact: 1;
    /// [`crate::eval::small_flux_slope`]): how it answers the small fluxes of smooth Bloch
    /// bundles on fine grids, on the same weak-field samples in every evaluation. `None` for the
    /// second-Chern (4D) networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub small_flux_slope: Option<f64>,
    /// Wall-clock seconds (network built, samples drawn and evaluated).
    pub seconds: f64,
    /// The full report with every prediction (not serialised).
    #[serde(skip)]
    pub report: EvalReport,
}

/// A checkpoint read back: tensors, run state and configuration.
///
/// Reading refuses, with a message naming the file: a file whose checksum (of the tensor data and
/// the metadata, written with every checkpoint) does not match, a configuration that does not pass
/// [`TrainConfig::validate`], and a tensor with non-finite values, naming the tensor.
#[derive(Debug)]
pub struct Checkpoint {
    file: TensorFile,
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

    /// The bytes of a checkpoint holding `tensors` (name, tensor), `state` and `config`
    /// (`path` names the file in errors).
    pub(crate) fn encode(
        tensors: &[(String, Tensor)],
        state: &TrainState,
        config: &TrainConfig,
        path: &Path,
    ) -> Result<Vec<u8>> {
        let stored = tensors
            .iter()
            .map(|(name, t)| Stored::from_tensor(name.clone(), t))
            .collect::<Result<Vec<_>>>()?;
        let json = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| Error::BadField {
                path: path.to_path_buf(),
                field: format!("__metadata__.{what}"),
                expected: "serialisable".into(),
                found: e.to_string(),
            })
        };
        let meta = HashMap::from([
            (
                "state".to_string(),
                json("state", serde_json::to_string(state))?,
            ),
            (
                "config".to_string(),
                json("config", serde_json::to_string(config))?,
            ),
        ]);
        crate::tensor_file::encode(&stored, meta, path)
    }

    /// Reads `checkpoint.safetensors` in the run directory `path` (or the file `path`).
    ///
    /// A file without a checksum (written before checkpoints carried one) is refused; if you
    /// trust it, [`Checkpoint::upgrade`] checks it and adds the checksum.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let file = TensorFile::read(&Self::file_of(path))?.require_checksum()?;
        Self::from_file(file)
    }

    /// Gives a checkpoint written before checkpoints carried a checksum (run directory or file)
    /// its checksum, after checking everything that can be checked without one: the
    /// configuration passes [`TrainConfig::validate`], the run state is sane, every tensor is
    /// finite, and the network of the configuration finds each of its weights with the right
    /// shape. The tensors and the run are kept as they are; the file is rewritten atomically.
    /// Returns `false` (and writes nothing) when the file already has a valid checksum.
    ///
    /// This is an explicit decision to trust the file: damage that leaves finite values of the
    /// right shapes cannot be detected without the checksum the file lacks.
    ///
    /// # Errors
    /// Those of [`Checkpoint::read`] other than the missing checksum (a checksum that is present
    /// must match), and the shape of a weight that does not fit the network.
    pub fn upgrade(path: &Path) -> Result<bool> {
        let path = Self::file_of(path);
        let file = TensorFile::read(&path)?;
        let had_checksum = file.has_checksum();
        let checkpoint = Self::from_file(file)?;
        if had_checksum {
            return Ok(false);
        }
        checkpoint.network(Device::Cpu)?;
        let tensors = checkpoint
            .file
            .names()?
            .into_iter()
            .map(|name| {
                let t = checkpoint.tensor(&name, Device::Cpu)?;
                Ok((name, t))
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = Self::encode(&tensors, &checkpoint.state, &checkpoint.config, &path)?;
        crate::tensor_file::write_atomic(&path, &bytes)?;
        Self::read(&path)?;
        Ok(true)
    }

    /// `checkpoint.safetensors` in the run directory `path`, or the file `path`.
    fn file_of(path: &Path) -> PathBuf {
        if path.is_dir() {
            path.join(CHECKPOINT)
        } else {
            path.to_path_buf()
        }
    }

    /// The run state and configuration of `file`, checked, and every tensor checked finite.
    fn from_file(file: TensorFile) -> Result<Checkpoint> {
        let path = file.path().to_path_buf();
        let parse_err = |name: &str, e: serde_json::Error| Error::BadField {
            path: path.clone(),
            field: format!("__metadata__.{name}"),
            expected: "valid JSON".into(),
            found: e.to_string(),
        };
        let state: TrainState =
            serde_json::from_str(file.metadata("state")?).map_err(|e| parse_err("state", e))?;
        let config: TrainConfig =
            serde_json::from_str(file.metadata("config")?).map_err(|e| parse_err("config", e))?;
        config.validate()?;
        if !state.rescale.is_finite() || state.rescale == 0.0 {
            return Err(Error::BadField {
                path: path.clone(),
                field: "__metadata__.state.rescale".into(),
                expected: "a finite, non-zero output scale".into(),
                found: state.rescale.to_string(),
            });
        }
        let checkpoint = Checkpoint {
            file,
            state,
            config,
        };
        // Every tensor finite (weights and optimiser moments), refused naming the first that is not.
        for name in checkpoint.file.names()? {
            let _ = checkpoint.tensor(&name, Device::Cpu)?;
        }
        Ok(checkpoint)
    }

    /// The file the checkpoint was read from.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The tensor called `name`, on `device`; an error naming it when it holds a NaN or an
    /// infinity.
    pub fn tensor(&self, name: &str, device: Device) -> Result<Tensor> {
        let stored = self.file.stored(name)?;
        if matches!(stored.values, Values::I64(_)) {
            return Err(Error::BadField {
                path: self.path().to_path_buf(),
                field: name.to_string(),
                expected: "F32 or F64".into(),
                found: "I64".into(),
            });
        }
        if !stored.values.all_finite() {
            return Err(Error::NonFiniteWeights {
                path: self.path().to_path_buf(),
                tensor: name.to_string(),
            });
        }
        Ok(stored.into_tensor()?.f_to_device(device)?)
    }

    /// Copies the tensors `prefix + name` into the variables of `vs`.
    pub fn load_into(&self, vs: &nn::VarStore, prefix: &str) -> Result<()> {
        for (name, var) in vs.variables() {
            let t = self.tensor(&format!("{prefix}{name}"), var.device())?;
            if t.size() != var.size() {
                return Err(Error::BadField {
                    path: self.path().to_path_buf(),
                    field: format!("{prefix}{name}"),
                    expected: format!("shape {:?}", var.size()),
                    found: format!("shape {:?}", t.size()),
                });
            }
            tch::no_grad(|| var.shallow_clone().f_copy_(&t.f_to_kind(var.kind())?))?;
        }
        Ok(())
    }

    /// Evaluates the trained network (on `device`) on `samples` fresh samples on `grid` (the
    /// training grid when `None`): Haar-random links with every Chern number, or links of the
    /// Hamiltonian family `hamiltonian`, drawn from `seed` in chunks of `batch`, with the
    /// checkpoint's output scale.
    ///
    /// Errors on `samples = 0`, a grid of another dimension than the training grid, a model the
    /// band count does not fit, and non-finite outputs (see [`crate::eval::evaluate_source`]).
    pub fn evaluate(&self, request: &EvalRequest, device: Device) -> Result<CheckpointEvaluation> {
        let start = std::time::Instant::now();
        let grid = request
            .grid
            .clone()
            .unwrap_or_else(|| self.config.grid.clone());
        if grid.len() != self.config.grid.len() {
            return Err(Error::InvalidParameter {
                name: "grid",
                value: crate::data::grid_name(&grid),
                reason: format!(
                    "the checkpoint was trained on a {}-dimensional grid ({}): give {} extents",
                    self.config.grid.len(),
                    crate::data::grid_name(&self.config.grid),
                    self.config.grid.len()
                ),
            });
        }
        let (_vs, net) = self.network(device)?;
        let bands = self.config.bands;
        let mut source: Box<dyn SampleSource> = match request.hamiltonian {
            None => Box::new(self.config.all_chern_source(&grid, request.seed)?),
            Some(spec) => Box::new(HamiltonianSource::new(HamiltonianConfig::new(
                grid.clone(),
                spec.model(bands),
                bands,
                request.seed,
            ))?),
        };
        let small_flux_slope = match grid.len() {
            2 => Some(crate::eval::small_flux_slope(
                &net,
                bands,
                self.state.rescale,
                SMALL_FLUX_SEED,
            )?),
            _ => None,
        };
        let report = evaluate_source_with_progress(
            &net,
            source.as_mut(),
            request.samples,
            request.batch,
            self.state.rescale,
            request.progress,
        )?;
        Ok(CheckpointEvaluation {
            accuracy: report.accuracy,
            accuracy_nontrivial: report.accuracy_nontrivial,
            samples: report.samples,
            grid,
            bands,
            data: crate::data::samples_name(request.hamiltonian),
            rescale: report.rescale,
            mean_abs_error: report.mean_abs_error,
            by_chern: report.by_chern.clone(),
            small_flux_slope,
            seconds: start.elapsed().as_secs_f64(),
            report,
        })
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
