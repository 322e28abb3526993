//! Sweeps over the number of filled bands: one network per $n$, each evaluated on several grids.
//!
//! The paper's central table is accuracy against the number of filled bands $n$ (links in $U(n)$);
//! grid-size generalisation (train on $5\times5$, evaluate on $10\times10$ and beyond) is the other
//! axis. [`run_band_sweep`] trains one network per $n$ in `dir/n{n}/` (an ordinary training run:
//! checkpointed every epoch, resumable), evaluates each on fresh samples with all Chern numbers on
//! every evaluation grid, and rewrites `dir/sweep.json` after each $n$ (the figures are a separate
//! step: `crate::plot::sweep_step`, feature `plots`). Running
//! it again on the same directory resumes an interrupted run and skips finished ones, so a sweep
//! killed after hours loses at most one epoch.
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::grid_name;
use crate::error::{Error, Result};
use crate::eval::{ChernBucket, EvalReport, MemoryCheck, evaluate_source};
use crate::tensor_file::write_atomic;
use crate::train::{
    Checkpoint, EpochMetrics, EvalRequest, TrainConfig, Trainer, check_training_memory,
    read_metrics,
};

/// What to sweep: the numbers of filled bands, the training run shared by all of them, and the
/// evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BandSweepConfig {
    /// Numbers of filled bands $n$, one network each (distinct, positive).
    pub bands: Vec<usize>,
    /// The training run; its `bands` field is replaced by each $n$.
    pub train: TrainConfig,
    /// Grids every network is evaluated on (same dimension as the training grid); empty: the
    /// training grid only.
    pub grids: Vec<Vec<usize>>,
    /// Fresh general-dataset samples (all Chern numbers) per network and grid.
    pub eval_samples: usize,
    /// Seed of the evaluation samples (independent of the training, calibration and validation
    /// streams).
    pub eval_seed: u64,
    /// Samples per forward pass during evaluation.
    pub eval_batch: usize,
    /// Train each $n$ for the recipe's $8+4n$ epochs ([`TrainConfig::recipe_epochs`]) instead of
    /// `train.epochs`.
    pub epochs_grow_with_bands: bool,
}

impl Default for BandSweepConfig {
    fn default() -> Self {
        BandSweepConfig {
            bands: vec![1, 2, 3, 4],
            train: TrainConfig::default(),
            grids: Vec::new(),
            eval_samples: 2000,
            eval_seed: 20_251_127,
            eval_batch: 64,
            epochs_grow_with_bands: false,
        }
    }
}

impl BandSweepConfig {
    /// The evaluation grids: [`BandSweepConfig::grids`], or the training grid when that is empty.
    pub fn eval_grids(&self) -> Vec<Vec<usize>> {
        if self.grids.is_empty() {
            vec![self.train.grid.clone()]
        } else {
            self.grids.clone()
        }
    }

    /// The training configuration of the run with `n` filled bands.
    pub fn run_config(&self, n: usize) -> TrainConfig {
        TrainConfig {
            bands: n,
            epochs: if self.epochs_grow_with_bands {
                TrainConfig::recipe_epochs(n)
            } else {
                self.train.epochs
            },
            ..self.train.clone()
        }
    }

    /// The directory of the run with `n` filled bands inside the sweep directory `dir`.
    pub fn run_dir(dir: &Path, n: usize) -> PathBuf {
        dir.join(format!("n{n}"))
    }

    /// The caller's memory check on every run of the sweep before anything starts: each $n$'s
    /// training ([`check_training_memory`]) and its evaluation on every grid
    /// ([`TrainConfig::evaluation_memory`]); the first refusal is [`Error::MemoryLimit`].
    pub fn check_memory(&self, check: Option<MemoryCheck>) -> Result<()> {
        for &n in &self.bands {
            let run = self.run_config(n);
            check_training_memory(check, &run)?;
            for grid in self.eval_grids() {
                let what = format!(
                    "evaluating n = {n} on {} ({} samples)",
                    grid_name(&grid),
                    self.eval_samples
                );
                let request = EvalRequest {
                    grid: Some(grid),
                    samples: self.eval_samples,
                    hamiltonian: None,
                    seed: self.eval_seed,
                    batch: self.eval_batch,
                    progress: false,
                };
                run.check_evaluation_memory(check, &what, &request)?;
            }
        }
        Ok(())
    }

    /// Checks the band list, the evaluation settings and every run's configuration.
    pub fn validate(&self) -> Result<()> {
        let bad = |parameter: &'static str, value: String, reason: &'static str| {
            Err(Error::InvalidParameter {
                name: parameter,
                value,
                reason: reason.into(),
            })
        };
        if self.bands.is_empty() {
            return bad(
                "bands",
                "[]".into(),
                "give at least one number of filled bands",
            );
        }
        for (i, &n) in self.bands.iter().enumerate() {
            if self.bands[..i].contains(&n) {
                return bad(
                    "bands",
                    format!("{:?}", self.bands),
                    "each number of filled bands at most once",
                );
            }
            self.run_config(n).validate()?;
        }
        if self.eval_samples == 0 || self.eval_batch == 0 {
            return bad(
                "eval_samples/eval_batch",
                format!("{}/{}", self.eval_samples, self.eval_batch),
                "both must be positive",
            );
        }
        for g in &self.grids {
            if g.len() != self.train.grid.len() || g.contains(&0) {
                return bad(
                    "grids",
                    format!("{g:?}"),
                    "evaluation grids need the training grid's dimension and positive extents",
                );
            }
        }
        Ok(())
    }
}

/// The evaluation of one network on one grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridEvaluation {
    /// Lattice extents.
    pub grid: Vec<usize>,
    /// Samples evaluated.
    pub samples: usize,
    /// Fraction with $\mathrm{round}(k\sum_x f) = C$.
    pub accuracy: f64,
    /// The same on samples with $C\neq0$ (`None` if there were none).
    pub accuracy_nontrivial: Option<f64>,
    /// Mean $|k\sum_x f - C|$.
    pub mean_abs_error: f64,
    /// Accuracy by true Chern number.
    pub by_chern: Vec<ChernBucket>,
    /// Wall-clock seconds of sampling and evaluation.
    pub seconds: f64,
}

/// One network of the sweep: its training and its evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandRun {
    /// Filled bands $n$.
    pub bands: usize,
    /// The run's directory (checkpoint, config, metrics, plots).
    pub dir: PathBuf,
    /// Epochs trained.
    pub epochs: usize,
    /// Seconds spent in training steps over all sessions of the run.
    pub train_seconds: f64,
    /// Mean training loss of the last epoch.
    pub final_loss: Option<f64>,
    /// Output scale $k$ used in evaluation (fitted on the calibration set for trivial-only runs, 1
    /// otherwise).
    pub rescale: f64,
    /// One evaluation per grid, in [`BandSweepConfig::eval_grids`] order.
    pub evaluations: Vec<GridEvaluation>,
}

/// Everything a sweep measured, as written to `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandSweepReport {
    /// The sweep's configuration.
    pub config: BandSweepConfig,
    /// The networks finished so far, in [`BandSweepConfig::bands`] order.
    pub runs: Vec<BandRun>,
}

/// One finished network of a sweep, with everything the figures of that step need
/// (`crate::plot::sweep_step` draws them; the sweep itself draws nothing).
#[derive(Debug)]
pub struct SweepStep<'a> {
    /// The sweep directory.
    pub dir: &'a Path,
    /// The report so far (this run included).
    pub report: &'a BandSweepReport,
    /// The run just finished.
    pub run: &'a BandRun,
    /// Its per-epoch metrics.
    pub metrics: &'a [EpochMetrics],
    /// Its evaluations with every prediction, in [`BandSweepConfig::eval_grids`] order.
    pub evaluations: &'a [EvalReport],
}

/// File names inside the sweep directory.
pub const SWEEP_JSON: &str = "sweep.json";
/// The accuracy-by-bands figure.
pub const SWEEP_SVG: &str = "sweep.svg";

/// Runs (or resumes) the sweep of `config` in `dir`; `progress` shows each run's progress bar and
/// `on_run` is called with each finished network (to print a table row or draw its figures; an
/// error it returns stops the sweep). `sweep.json` is rewritten after each network.
///
/// A run directory that already holds a checkpoint is resumed when its configuration equals the
/// requested one up to `threads` (which does not change results), and is an
/// [`Error::SweepMismatch`] naming the first differing field otherwise. Evaluation uses fresh
/// samples from `eval_seed`, so re-running a finished sweep reproduces its numbers exactly.
pub fn run_band_sweep(
    config: &BandSweepConfig,
    dir: &Path,
    progress: bool,
    mut on_run: impl FnMut(&SweepStep<'_>) -> Result<()>,
) -> Result<BandSweepReport> {
    config.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut report = BandSweepReport {
        config: config.clone(),
        runs: Vec::with_capacity(config.bands.len()),
    };
    for &n in &config.bands {
        let (run, metrics, evaluations) = train_and_evaluate(config, dir, n, progress)?;
        report.runs.push(run);
        let json = serde_json::to_string_pretty(&report).expect("sweep report serialises");
        write_atomic(&dir.join(SWEEP_JSON), json.as_bytes())?;
        if let Some(run) = report.runs.last() {
            on_run(&SweepStep {
                dir,
                report: &report,
                run,
                metrics: &metrics,
                evaluations: &evaluations,
            })?;
        }
    }
    Ok(report)
}

fn train_and_evaluate(
    config: &BandSweepConfig,
    dir: &Path,
    n: usize,
    progress: bool,
) -> Result<(BandRun, Vec<EpochMetrics>, Vec<EvalReport>)> {
    let run_dir = BandSweepConfig::run_dir(dir, n);
    let wanted = config.run_config(n);
    let stored = if Checkpoint::exists(&run_dir) {
        let ckpt = Checkpoint::read(&run_dir)?;
        check_same_run(&run_dir, &ckpt.config, &wanted, &["threads"])?;
        Some(ckpt)
    } else {
        None
    };
    // A finished run is evaluated from its checkpoint, anything else from the trainer that
    // finishes it (whose weights are the ones it has just written).
    let (trainer, stored_net);
    let (net, state) = match stored {
        Some(ckpt) if ckpt.state.epoch >= wanted.epochs => {
            stored_net = ckpt.network(ckpt.config.device.device()?)?;
            (&stored_net.1, ckpt.state)
        }
        stored => {
            let mut t = match stored {
                Some(mut ckpt) => {
                    ckpt.config = wanted.clone();
                    Trainer::resume_with(&run_dir, ckpt)?
                }
                None => Trainer::new(wanted.clone(), &run_dir)?,
            };
            t.train(progress)?;
            trainer = t;
            (trainer.net(), trainer.state().clone())
        }
    };
    let metrics = read_metrics(&run_dir)?;
    let rescale = state.rescale;
    let mut evaluations = Vec::new();
    let mut reports = Vec::new();
    for grid in config.eval_grids() {
        let start = Instant::now();
        let mut source = wanted.all_chern_source(&grid, config.eval_seed)?;
        let r = evaluate_source(
            net,
            &mut source,
            config.eval_samples,
            config.eval_batch,
            rescale,
        )?;
        evaluations.push(GridEvaluation {
            grid,
            samples: r.samples,
            accuracy: r.accuracy,
            accuracy_nontrivial: r.accuracy_nontrivial,
            mean_abs_error: r.mean_abs_error,
            by_chern: r.by_chern.clone(),
            seconds: start.elapsed().as_secs_f64(),
        });
        reports.push(r);
    }
    let final_loss = metrics.last().map(|m| m.loss);
    let run = BandRun {
        bands: n,
        dir: run_dir,
        epochs: state.epoch,
        train_seconds: state.train_seconds,
        final_loss,
        rescale,
        evaluations,
    };
    Ok((run, metrics, reports))
}

/// Errors unless `stored` and `wanted` agree in every field but those named in `ignored` (fields
/// that do not define the run, like `threads`).
pub(crate) fn check_same_run(
    dir: &Path,
    stored: &TrainConfig,
    wanted: &TrainConfig,
    ignored: &[&str],
) -> Result<()> {
    let as_map = |c: &TrainConfig| match serde_json::to_value(c).expect("config serialises") {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a TrainConfig serialises to an object"),
    };
    let (s, w) = (as_map(stored), as_map(wanted));
    // Both ways: a field only one side writes (one left out when unset) differs too.
    let mut fields: Vec<&String> = w
        .keys()
        .chain(s.keys().filter(|k| !w.contains_key(*k)))
        .collect();
    fields.retain(|f| !ignored.contains(&f.as_str()));
    let null = serde_json::Value::Null;
    for field in fields {
        let (stored, asked) = (s.get(field).unwrap_or(&null), w.get(field).unwrap_or(&null));
        if stored != asked {
            return Err(Error::SweepMismatch {
                path: dir.to_path_buf(),
                field: field.clone(),
                stored: stored.to_string(),
                asked: asked.to_string(),
            });
        }
    }
    Ok(())
}

// The sweep tests check the figures too.
#[cfg(all(test, feature = "plots"))]
mod tests {
    use super::*;
    use crate::data::SampleSource;
    use crate::eval::{chern_numbers, predict};
    use crate::train::trainer::tests::{small_config, tmp_dir};

    fn tiny() -> BandSweepConfig {
        BandSweepConfig {
            bands: vec![1, 2],
            train: TrainConfig {
                samples_per_epoch: 16,
                seed: 3,
                threads: 1,
                ..small_config()
            },
            grids: vec![vec![3, 3], vec![4, 4]],
            eval_samples: 24,
            eval_seed: 11,
            eval_batch: 10,
            epochs_grow_with_bands: false,
        }
    }

    fn metric_lines(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    }

    #[test]
    fn sweep_trains_one_network_per_band_count_and_evaluates_each_grid() {
        let dir = tmp_dir("sweep-full");
        let config = tiny();
        let mut seen = Vec::new();
        let report = run_band_sweep(&config, &dir, false, |s| {
            seen.push(s.run.bands);
            crate::plot::sweep_step(s)
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2]);
        assert_eq!(report.runs.len(), 2);
        for (run, n) in report.runs.iter().zip([1, 2]) {
            assert_eq!(run.bands, n);
            assert_eq!(run.epochs, 2);
            assert_eq!(run.rescale, 1.0, "not trivial-only: no fitted scale");
            assert!(run.final_loss.unwrap().is_finite());
            assert_eq!(metric_lines(&run.dir), 2);
            let ckpt = Checkpoint::read(&run.dir).unwrap();
            assert_eq!(ckpt.config.bands, n);
            assert_eq!(run.evaluations.len(), 2);
            let (_vs, net) = ckpt.network(tch::Device::Cpu).unwrap();
            for (e, grid) in run.evaluations.iter().zip(config.eval_grids()) {
                assert_eq!(e.grid, grid);
                assert_eq!(e.samples, 24);
                assert_eq!(e.by_chern.iter().map(|b| b.samples).sum::<usize>(), 24);
                // Oracle: the same samples evaluated by hand from the saved checkpoint.
                let data = config
                    .run_config(n)
                    .all_chern_source(&grid, 11)
                    .unwrap()
                    .sample(24)
                    .unwrap();
                let f = predict(&net, &data, 10).unwrap(); // the sweep's eval_batch
                let c = chern_numbers(&data).unwrap();
                let correct = f
                    .iter()
                    .zip(&c)
                    .filter(|&(&f, &c)| f.round() == c as f64)
                    .count();
                assert_eq!(e.accuracy, correct as f64 / 24.0, "n = {n}, grid {grid:?}");
                let mae = f
                    .iter()
                    .zip(&c)
                    .map(|(f, &c)| (f - c as f64).abs())
                    .sum::<f64>()
                    / 24.0;
                assert!((e.mean_abs_error - mae).abs() < 1e-9);
                let name = format!("predictions-{}x{}.svg", grid[0], grid[1]);
                assert!(run.dir.join(name).is_file());
            }
            assert!(run.dir.join("loss.svg").is_file());
        }
        let stored: BandSweepReport =
            serde_json::from_str(&std::fs::read_to_string(dir.join(SWEEP_JSON)).unwrap()).unwrap();
        assert_eq!(stored, report);
        let svg = std::fs::read_to_string(dir.join(SWEEP_SVG)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("filled bands"));

        // Running it again trains nothing and reproduces every number.
        let again = run_band_sweep(&config, &dir, false, crate::plot::sweep_step).unwrap();
        for (a, b) in again.runs.iter().zip(&report.runs) {
            assert_eq!(metric_lines(&a.dir), 2);
            assert_eq!(a.train_seconds, b.train_seconds);
            for (x, y) in a.evaluations.iter().zip(&b.evaluations) {
                assert_eq!(
                    (x.accuracy, x.mean_abs_error),
                    (y.accuracy, y.mean_abs_error)
                );
                assert_eq!(x.by_chern, y.by_chern);
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_interrupted_sweep_resumes_and_a_changed_one_is_refused() {
        let dir = tmp_dir("sweep-resume");
        let config = tiny();
        // Interrupted after one epoch of n = 1: only that run exists.
        let mut one = config.run_config(1);
        one.epochs = 1;
        Trainer::new(one, BandSweepConfig::run_dir(&dir, 1))
            .unwrap()
            .train(false)
            .unwrap();
        // Its stored config says 1 epoch, the sweep asks 2: a different run, refused.
        let err = run_band_sweep(&config, &dir, false, crate::plot::sweep_step).unwrap_err();
        match &err {
            Error::SweepMismatch {
                field,
                stored,
                asked,
                ..
            } => {
                assert_eq!(
                    (field.as_str(), stored.as_str(), asked.as_str()),
                    ("epochs", "1", "2")
                );
            }
            other => panic!("expected SweepMismatch, got {other:?}"),
        }
        assert!(err.to_string().contains("n1"), "{err}");

        // A run interrupted mid-way (checkpoint of epoch 1 of 2) is resumed, not restarted.
        std::fs::remove_dir_all(&dir).unwrap();
        let run_dir = BandSweepConfig::run_dir(&dir, 1);
        Trainer::new(config.run_config(1), &run_dir)
            .unwrap()
            .train_epochs(1, false)
            .unwrap();
        assert_eq!(metric_lines(&run_dir), 1);
        let report = run_band_sweep(&config, &dir, false, crate::plot::sweep_step).unwrap();
        assert_eq!(report.runs[0].epochs, 2);
        assert_eq!(metric_lines(&run_dir), 2, "one more epoch, not a fresh run");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_memory_check_covers_every_training_and_evaluation() {
        fn refuse_n2_on_4x4(what: &str, _bytes: f64) -> std::result::Result<(), String> {
            if what == "evaluating n = 2 on 4x4 (24 samples)" {
                Err(format!("{what}: too large"))
            } else {
                Ok(())
            }
        }
        let err = tiny().check_memory(Some(refuse_n2_on_4x4)).unwrap_err();
        assert!(matches!(err, Error::MemoryLimit { .. }), "{err}");
        assert!(err.to_string().contains("n = 2 on 4x4"), "{err}");
        fn refuse_training(what: &str, _bytes: f64) -> std::result::Result<(), String> {
            if what.starts_with("training n = 1") {
                Err(what.to_string())
            } else {
                Ok(())
            }
        }
        let err = tiny().check_memory(Some(refuse_training)).unwrap_err();
        assert!(err.to_string().contains("training n = 1 on 3x3"), "{err}");
        tiny().check_memory(None).unwrap();
    }

    #[test]
    fn epochs_grow_with_the_band_count_when_asked() {
        let mut c = tiny();
        assert_eq!(c.run_config(2).epochs, c.train.epochs);
        c.epochs_grow_with_bands = true;
        let epochs: Vec<usize> = [1, 2, 4, 8].map(|n| c.run_config(n).epochs).to_vec();
        assert_eq!(epochs, [12, 16, 24, 40]);
        assert_eq!(
            c.run_config(4).epochs,
            TrainConfig::recipe(4, vec![5, 5], false).epochs
        );
    }

    #[test]
    fn bad_sweeps_are_rejected_with_the_value() {
        let dir = tmp_dir("sweep-bad");
        let mut c = tiny();
        c.bands = vec![];
        assert!(matches!(
            run_band_sweep(&c, &dir, false, crate::plot::sweep_step),
            Err(Error::InvalidParameter { name: "bands", .. })
        ));
        c.bands = vec![1, 2, 1];
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("[1, 2, 1]"), "{e}");
        c.bands = vec![1, 0];
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidParameter { name: "bands", .. })
        ));
        c.bands = vec![1];
        c.grids = vec![vec![3, 3, 3, 3]];
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("[3, 3, 3, 3]"), "{e}");
        c.grids = vec![];
        c.eval_samples = 0;
        assert!(c.validate().is_err());
        assert!(!dir.exists(), "nothing written for a rejected sweep");
    }
}
