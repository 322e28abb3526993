//! A run directory as one call each: [`open_run`] starts a run or continues an interrupted one
//! (with a raised epoch count or another thread count), and [`evaluate_run`] evaluates a trained
//! one; both check the caller's memory limit before anything is built or drawn. These are what
//! `genet train` and `genet eval` run.
use std::path::PathBuf;

use tch::Device;

use super::{Checkpoint, CheckpointEvaluation, EvalRequest, TrainConfig, Trainer};
use crate::data::grid_name;
use crate::error::{Error, Result};
use crate::eval::{MemoryCheck, check_memory, evaluation_memory};

/// How [`open_run`] starts.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStart {
    /// A new run of this configuration (the directory must not hold a checkpoint yet).
    New(Box<TrainConfig>),
    /// Continue the run in the directory from its last checkpoint, with its stored
    /// configuration but for these overrides.
    Resume {
        /// Raise (or lower) the number of epochs (`None`: the stored one).
        epochs: Option<usize>,
        /// Record another libtorch thread count (`None`: the stored one).
        threads: Option<usize>,
    },
}

/// What [`open_run`] opens.
#[derive(Debug, Clone)]
pub struct TrainRunOptions {
    /// The run directory.
    pub dir: PathBuf,
    /// A new run or a resumed one.
    pub start: RunStart,
    /// Refuses a run whose memory estimate ([`TrainConfig::memory_estimate`]) is too large
    /// (`None`: no check).
    pub memory_check: Option<MemoryCheck>,
}

/// Starts or resumes the run of `options` after validating its configuration (overrides
/// included) and checking its memory estimate; nothing is written before both pass.
///
/// The thread count is left alone: set `tch::set_num_threads(trainer.config().threads)`.
pub fn open_run(options: &TrainRunOptions) -> Result<Trainer> {
    match &options.start {
        RunStart::New(config) => {
            config.validate()?;
            check_training_memory(options.memory_check, config)?;
            Trainer::new(TrainConfig::clone(config), &options.dir)
        }
        RunStart::Resume { epochs, threads } => {
            let mut checkpoint = Checkpoint::read(&options.dir).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::InvalidParameter {
                        name: "resume",
                        value: options.dir.display().to_string(),
                        reason: "holds no checkpoint to resume (start a new run without resuming)"
                            .into(),
                    }
                }
                e => e,
            })?;
            if let Some(epochs) = *epochs {
                checkpoint.config.epochs = epochs;
            }
            if let Some(threads) = *threads {
                checkpoint.config.threads = threads;
            }
            checkpoint.config.validate()?;
            check_training_memory(options.memory_check, &checkpoint.config)?;
            Trainer::resume_with(&options.dir, checkpoint)
        }
    }
}

/// The caller's memory check on training `config` (its [`TrainConfig::memory_estimate`]), as
/// [`open_run`] runs it: a refusal is [`Error::MemoryLimit`] with the check's message.
pub fn check_training_memory(check: Option<MemoryCheck>, config: &TrainConfig) -> Result<()> {
    let what = format!(
        "training n = {} on {} with batch {}",
        config.bands,
        grid_name(&config.grid),
        config.batch
    );
    check_memory(check, &what, config.memory_estimate())
}

/// What [`evaluate_run`] evaluates.
#[derive(Debug, Clone)]
pub struct RunEvalOptions {
    /// A run directory of [`Trainer`] or its checkpoint file.
    pub checkpoint: PathBuf,
    /// The samples and the batching.
    pub request: EvalRequest,
    /// Where the network runs.
    pub device: Device,
    /// Refuses an evaluation whose memory estimate ([`Checkpoint::evaluation_memory`]) is too
    /// large (`None`: no check).
    pub memory_check: Option<MemoryCheck>,
}

/// Reads the checkpoint of `options` (checksum and weights verified), checks the evaluation's
/// memory estimate and evaluates it ([`Checkpoint::evaluate`]).
pub fn evaluate_run(options: &RunEvalOptions) -> Result<CheckpointEvaluation> {
    let checkpoint = Checkpoint::read(&options.checkpoint)?;
    let request = &options.request;
    let grid = request.grid.as_deref().unwrap_or(&checkpoint.config.grid);
    let what = format!(
        "evaluating {} samples on {} in batches of {}",
        request.samples,
        grid_name(grid),
        request.batch
    );
    check_memory(
        options.memory_check,
        &what,
        checkpoint.evaluation_memory(request),
    )?;
    checkpoint.evaluate(request, options.device)
}

impl Checkpoint {
    /// An upper estimate of the bytes [`Checkpoint::evaluate`] needs for `request`
    /// ([`TrainConfig::evaluation_memory`] of the checkpoint's configuration).
    pub fn evaluation_memory(&self, request: &EvalRequest) -> f64 {
        self.config.evaluation_memory(request)
    }
}

impl TrainConfig {
    /// An upper estimate of the bytes evaluating this run's network on `request` needs: the
    /// network's activations on one pass ([`evaluation_memory`]) and, for Hamiltonian samples,
    /// one Bloch Hamiltonian and its eigenvectors per k-point of a pass. For refusing work up
    /// front; not a measurement.
    pub fn evaluation_memory(&self, request: &EvalRequest) -> f64 {
        let grid = request.grid.as_deref().unwrap_or(&self.grid);
        let real_bytes = if self.double_precision { 8 } else { 4 };
        let mut bytes = evaluation_memory(
            &self.model,
            grid,
            self.bands,
            request.batch,
            request.samples,
            real_bytes,
        );
        if let Some(spec) = request.hamiltonian {
            let bands = spec.model(self.bands).n_bands() as f64;
            let volume: f64 = grid.iter().map(|&l| l as f64).product();
            bytes +=
                request.batch.min(request.samples) as f64 * volume * bands * bands * 16.0 * 3.0;
        }
        bytes
    }

    /// The caller's memory check on evaluating this run's network on `request`
    /// ([`TrainConfig::evaluation_memory`]), `what` naming the work in the refusal.
    pub fn check_evaluation_memory(
        &self,
        check: Option<MemoryCheck>,
        what: &str,
        request: &EvalRequest,
    ) -> Result<()> {
        check_memory(check, what, self.evaluation_memory(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LossConfig, NetConfig};

    fn tiny() -> TrainConfig {
        TrainConfig {
            bands: 1,
            grid: vec![3, 3],
            model: NetConfig {
                channels: vec![2],
                ..Default::default()
            },
            loss: LossConfig::Local,
            epochs: 1,
            samples_per_epoch: 8,
            batch: 4,
            calibration_samples: 0,
            validation_samples: 0,
            ..Default::default()
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gauge-nn-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn refuse(what: &str, bytes: f64) -> std::result::Result<(), String> {
        Err(format!("{what} needs {bytes} bytes"))
    }

    #[test]
    fn a_refused_run_writes_nothing_and_a_resumed_run_takes_its_overrides() {
        let dir = scratch("open");
        let refused = open_run(&TrainRunOptions {
            dir: dir.clone(),
            start: RunStart::New(Box::new(tiny())),
            memory_check: Some(refuse),
        });
        match refused {
            Err(Error::MemoryLimit { message }) => {
                assert!(
                    message.starts_with("training n = 1 on 3x3 with batch 4 needs "),
                    "{message}"
                )
            }
            other => panic!("expected a memory refusal, got {other:?}"),
        }
        assert!(!dir.exists(), "a refused run left {}", dir.display());
        let mut trainer = open_run(&TrainRunOptions {
            dir: dir.clone(),
            start: RunStart::New(Box::new(tiny())),
            memory_check: None,
        })
        .unwrap();
        trainer.train(false).unwrap();
        let resume = |epochs| TrainRunOptions {
            dir: dir.clone(),
            start: RunStart::Resume {
                epochs,
                threads: Some(3),
            },
            memory_check: None,
        };
        let missing = open_run(&TrainRunOptions {
            dir: dir.join("no-such-run"),
            ..resume(None)
        });
        assert!(
            matches!(missing, Err(Error::InvalidParameter { name: "resume", .. })),
            "{missing:?}"
        );
        let resumed = open_run(&resume(Some(2))).unwrap();
        assert_eq!((resumed.config().epochs, resumed.config().threads), (2, 3));
        assert_eq!(resumed.state().epoch, 1);
        assert!(matches!(
            open_run(&resume(Some(0))),
            Err(Error::InvalidParameter { name: "epochs", .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_evaluation_equals_the_checkpoints_and_a_refusal_names_the_work() {
        let dir = scratch("eval");
        Trainer::new(tiny(), &dir).unwrap().train(false).unwrap();
        let request = EvalRequest {
            grid: Some(vec![4, 4]),
            samples: 6,
            hamiltonian: None,
            seed: 7,
            batch: 4,
            progress: false,
        };
        let options = RunEvalOptions {
            checkpoint: dir.clone(),
            request: request.clone(),
            device: Device::Cpu,
            memory_check: None,
        };
        let mut ours = evaluate_run(&options).unwrap();
        let mut direct = Checkpoint::read(&dir)
            .unwrap()
            .evaluate(&request, Device::Cpu)
            .unwrap();
        ours.seconds = 0.0;
        direct.seconds = 0.0;
        assert_eq!(ours, direct);
        let refused = evaluate_run(&RunEvalOptions {
            memory_check: Some(refuse),
            ..options
        });
        match refused {
            Err(Error::MemoryLimit { message }) => assert!(
                message.starts_with("evaluating 6 samples on 4x4 in batches of 4 needs "),
                "{message}"
            ),
            other => panic!("expected a memory refusal, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
