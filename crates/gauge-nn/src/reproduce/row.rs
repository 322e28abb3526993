//! Running one row: train (or resume) its network within a time budget, evaluate it, and write
//! `row.json` atomically, all under the row's claim.
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use super::claim::{Claim, Claimed, Holder, host_name};
use super::plan::{Goal, Job, Metric, Row, RowEvaluation};
use crate::data::{SampleSource, grid_name, samples_name};
use crate::error::{Error, Result};
use crate::eval::predict;
use crate::sweep::check_same_run;
use crate::tensor_file::write_atomic;
use crate::train::{Checkpoint, DeviceChoice, EvalRequest, TrainConfig, Trainer};

/// The result file's name inside a row directory.
pub const ROW_JSON: &str = "row.json";

/// How rows run (the `genet reproduce` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct RowOptions {
    /// The reproduction directory: one directory per row.
    pub out: PathBuf,
    /// Stop training a row at the first epoch boundary after this many seconds of training (all
    /// sessions of the row together); `None`: train all its epochs. A row stopped early is
    /// evaluated and marked incomplete; a later run with a larger budget resumes it.
    pub budget_seconds: Option<f64>,
    /// Train and evaluate on this device instead of the row configuration's.
    pub device: Option<DeviceChoice>,
    /// Record this libtorch thread count in new runs (the caller sets libtorch's).
    pub threads: Option<usize>,
    /// Samples per forward pass in evaluations on $5\times5$; larger grids pass proportionally
    /// fewer samples at once ([`RowOptions::batch_on`]).
    pub eval_batch: usize,
    /// Progress bars on the terminal.
    pub progress: bool,
}

impl RowOptions {
    /// Options for `out` with every default: no budget, the configs' device and threads,
    /// evaluation in batches of 64, no progress bars.
    pub fn new(out: impl Into<PathBuf>) -> RowOptions {
        RowOptions {
            out: out.into(),
            budget_seconds: None,
            device: None,
            threads: None,
            eval_batch: 64,
            progress: false,
        }
    }

    /// Samples per forward pass on `grid`: [`RowOptions::eval_batch`] times $25/V$ for a grid
    /// of $V$ sites, at least 1 and at most `eval_batch`, so that a pass holds about as many
    /// sites on every grid (a batch of 64 on $32\times32$ with $n=4$ exhausted 24 GiB).
    pub fn batch_on(&self, grid: &[usize]) -> usize {
        let volume: usize = grid.iter().product::<usize>().max(1);
        (self.eval_batch.saturating_mul(25) / volume).clamp(1, self.eval_batch.max(1))
    }

    /// The directory of the row `id`.
    pub fn row_dir(&self, id: &str) -> PathBuf {
        self.out.join(id)
    }
}

/// What one row measured, as written to its `row.json` (and gathered into `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    /// The row's id.
    pub id: String,
    /// What it measures.
    pub what: String,
    /// The training row of the network evaluated (the row itself for a training row).
    pub model: String,
    /// Accuracy or mean absolute error.
    pub metric: Metric,
    /// The measured value (a fraction for accuracies).
    pub value: f64,
    /// Its standard error: binomial $\sqrt{p(1-p)/N}$ for an accuracy, the sample standard
    /// deviation over $\sqrt N$ for a mean absolute error.
    pub standard_error: f64,
    /// Accuracy on the samples with $C\ne0$, where there were any (accuracy rows).
    pub accuracy_nontrivial: Option<f64>,
    /// For a mean absolute error: the error of predicting 0 for every sample, the mean of
    /// $|\sum_x q(x)|$ over the same samples (the scale the network's error compares with).
    #[serde(default)]
    pub zero_prediction_error: Option<f64>,
    /// For a 2D accuracy row: the network's small-flux slope
    /// ([`crate::train::CheckpointEvaluation::small_flux_slope`], exact 1), which decides whether it
    /// counts the many weak fluxes of a smooth Bloch bundle right on a fine grid.
    #[serde(default)]
    pub small_flux_slope: Option<f64>,
    /// Samples evaluated.
    pub samples: usize,
    /// Filled bands $n$ of the network.
    pub bands: usize,
    /// Evaluation grid.
    pub grid: Vec<usize>,
    /// `haar` or the Hamiltonian family of the samples.
    pub data: String,
    /// The paper's figure.
    pub paper: Option<f64>,
    /// Our goal.
    pub goal: Option<Goal>,
    /// Seed of the network's weights and training samples.
    pub train_seed: u64,
    /// Seed of the evaluation samples.
    pub eval_seed: u64,
    /// Epochs the network was trained.
    pub epochs: usize,
    /// Epochs in its configuration.
    pub planned_epochs: usize,
    /// Whether the network was trained through all its epochs (false: stopped by the budget).
    pub complete: bool,
    /// Seconds of training of the network, all sessions together.
    pub train_seconds: f64,
    /// Seconds of this row's evaluation.
    pub eval_seconds: f64,
    /// Wall-clock seconds of the session that finished the row (training and evaluation).
    pub wall_seconds: f64,
    /// Device it ran on.
    pub device: String,
    /// Host it ran on.
    pub host: String,
    /// The command that runs this row alone.
    pub command: String,
    /// The same with `genet train` / `genet eval` (none for the 4D mean absolute error).
    pub standalone: Option<String>,
}

/// What happened to a row in this run.
#[derive(Debug)]
pub enum RowStatus {
    /// Trained and/or evaluated now.
    Measured(RowResult),
    /// Finished by an earlier run (or a concurrent shard): nothing done.
    Finished(RowResult),
    /// Another process holds the row.
    ClaimedElsewhere {
        /// The claim file.
        path: PathBuf,
        /// Its holder, when readable.
        holder: Option<Holder>,
    },
    /// An evaluation row whose network is not trained yet.
    Waiting {
        /// The training row it needs.
        model: String,
    },
}

impl RowStatus {
    /// The row's result, when it has one.
    pub fn result(&self) -> Option<&RowResult> {
        match self {
            RowStatus::Measured(r) | RowStatus::Finished(r) => Some(r),
            _ => None,
        }
    }
}

/// Reads the `row.json` of the row `id` under `out`, if there is one.
pub fn read_result(out: &Path, id: &str) -> Result<Option<RowResult>> {
    let path = out.join(id).join(ROW_JSON);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::BadField {
            path,
            field: "(row result)".into(),
            expected: "the JSON of a RowResult".into(),
            found: e.to_string(),
        })
}

/// Runs `row` of `plan` with `options`: skips it when finished, waits for its network, or
/// claims it, trains what is left within the budget, evaluates and writes `row.json`.
///
/// A finished row is only skipped while it still is the plan's row: a stored network trained
/// with another configuration than the plan's (up to threads and device) is an
/// [`Error::SweepMismatch`] naming the first field that differs (as when resuming it), and a
/// result measured on other samples (count, grid, seed or family) is measured again.
pub fn run_row(row: &Row, plan: &[Row], options: &RowOptions) -> Result<RowStatus> {
    let model_row =
        plan.iter()
            .find(|r| r.id == row.model())
            .ok_or_else(|| Error::InvalidParameter {
                name: "model",
                value: row.model().to_string(),
                reason: format!("row {}: no such row in the plan", row.id),
            })?;
    let Job::Train(config) = &model_row.job else {
        return Err(Error::InvalidParameter {
            name: "model",
            value: model_row.id.clone(),
            reason: format!("row {}: not a training row", row.id),
        });
    };
    if let Some(done) = up_to_date(row, config, options)? {
        return Ok(RowStatus::Finished(with_slope(done, options)?));
    }
    if let Job::Evaluate { model } = &row.job
        && read_result(&options.out, model)?.is_none()
    {
        return Ok(RowStatus::Waiting {
            model: model.clone(),
        });
    }
    let dir = options.row_dir(&row.id);
    let _claim = match Claim::try_claim(&dir)? {
        Claimed::Held(c) => c,
        Claimed::Elsewhere { path, holder } => {
            return Ok(RowStatus::ClaimedElsewhere { path, holder });
        }
    };
    // Someone may have finished it between the check and the claim.
    if let Some(done) = up_to_date(row, config, options)? {
        return Ok(RowStatus::Finished(done));
    }
    let start = Instant::now();
    let model_dir = options.row_dir(&model_row.id);
    if let Job::Train(_) = &row.job {
        train(config, &model_dir, options)?;
    }
    let ckpt = Checkpoint::read(&model_dir)?;
    let device_choice = options.device.unwrap_or(ckpt.config.device);
    let device = device_choice.device()?;
    let eval_start = Instant::now();
    let (value, standard_error, accuracy_nontrivial, zero_prediction_error, small_flux_slope) =
        match row.metric() {
            Metric::Accuracy => {
                let e = ckpt.evaluate(&eval_request(row, options), device)?;
                let n = e.samples as f64;
                (
                    e.accuracy,
                    (e.accuracy * (1.0 - e.accuracy) / n).sqrt(),
                    e.accuracy_nontrivial,
                    None,
                    e.small_flux_slope,
                )
            }
            Metric::MeanAbsError => {
                let batch = options.batch_on(&row.evaluation.grid);
                let e = density_error(&ckpt, &row.evaluation, device, batch)?;
                (
                    e.mean,
                    e.standard_error,
                    None,
                    Some(e.zero_prediction),
                    None,
                )
            }
        };
    let result = RowResult {
        id: row.id.clone(),
        what: row.what.clone(),
        model: model_row.id.clone(),
        metric: row.metric(),
        value,
        standard_error,
        accuracy_nontrivial,
        zero_prediction_error,
        small_flux_slope,
        samples: row.evaluation.samples,
        bands: ckpt.config.bands,
        grid: row.evaluation.grid.clone(),
        data: samples_name(row.evaluation.hamiltonian),
        paper: row.paper,
        goal: row.goal,
        train_seed: ckpt.config.seed,
        eval_seed: row.evaluation.seed,
        epochs: ckpt.state.epoch,
        planned_epochs: config.epochs,
        complete: ckpt.state.epoch >= config.epochs,
        train_seconds: ckpt.state.train_seconds,
        eval_seconds: eval_start.elapsed().as_secs_f64(),
        wall_seconds: start.elapsed().as_secs_f64(),
        device: format!("{device:?}"),
        host: host_name(),
        command: format!(
            "genet reproduce --only {} --out {}",
            row.id,
            options.out.display()
        ),
        standalone: standalone(row, options),
    };
    let json = serde_json::to_string_pretty(&result).expect("row result serialises");
    write_atomic(&dir.join(ROW_JSON), json.as_bytes())?;
    Ok(RowStatus::Measured(result))
}

/// The evaluation of `row` with `options`' batching (the samples, grid and family of the row).
pub fn eval_request(row: &Row, options: &RowOptions) -> EvalRequest {
    EvalRequest {
        grid: Some(row.evaluation.grid.clone()),
        samples: row.evaluation.samples,
        hamiltonian: row.evaluation.hamiltonian,
        seed: row.evaluation.seed,
        batch: options.batch_on(&row.evaluation.grid),
        progress: options.progress,
    }
}

/// The stored result of `row` when nothing is left to do: a training row trained through all its
/// epochs (or stopped by a budget it has used up), an evaluation row of the network as it is now,
/// either measured on the row's samples. `None` when it must be measured (again); an error when
/// the stored network was trained with another configuration than `model_config`.
fn up_to_date(
    row: &Row,
    model_config: &TrainConfig,
    options: &RowOptions,
) -> Result<Option<RowResult>> {
    let Some(stored) = read_result(&options.out, &row.id)? else {
        return Ok(None);
    };
    let model_dir = options.row_dir(row.model());
    if Checkpoint::exists(&model_dir) {
        let ckpt = Checkpoint::read(&model_dir)?;
        check_same_run(
            &model_dir,
            &ckpt.config,
            model_config,
            &["threads", "device"],
        )?;
    }
    let evaluation = &row.evaluation;
    if stored.samples != evaluation.samples
        || stored.grid != evaluation.grid
        || stored.eval_seed != evaluation.seed
        || stored.data != samples_name(evaluation.hamiltonian)
    {
        return Ok(None);
    }
    let fresh = match &row.job {
        Job::Train(_) => {
            stored.complete
                || options
                    .budget_seconds
                    .is_some_and(|b| stored.train_seconds >= b)
        }
        Job::Evaluate { model } => match read_result(&options.out, model)? {
            Some(m) => m.epochs == stored.epochs && m.complete == stored.complete,
            None => false,
        },
    };
    Ok(fresh.then_some(stored))
}

/// `done` with its network's small-flux slope: a 2D accuracy row whose `row.json` was written
/// before the slope was recorded gets it now (the same fixed-seed computation as a fresh
/// evaluation, about a second), and its `row.json` is rewritten atomically; other rows, and rows
/// whose network's checkpoint is not in the folder (results gathered without it), come back
/// unchanged.
fn with_slope(mut done: RowResult, options: &RowOptions) -> Result<RowResult> {
    let model_dir = options.row_dir(&done.model);
    if done.metric != Metric::Accuracy
        || done.grid.len() != 2
        || done.small_flux_slope.is_some()
        || !Checkpoint::exists(&model_dir)
    {
        return Ok(done);
    }
    let ckpt = Checkpoint::read(&model_dir)?;
    let device = options.device.unwrap_or(ckpt.config.device).device()?;
    let (_vs, net) = ckpt.network(device)?;
    done.small_flux_slope = Some(crate::eval::small_flux_slope(
        &net,
        ckpt.config.bands,
        ckpt.state.rescale,
        crate::train::SMALL_FLUX_SEED,
    )?);
    let json = serde_json::to_string_pretty(&done).expect("row result serialises");
    write_atomic(&options.row_dir(&done.id).join(ROW_JSON), json.as_bytes())?;
    Ok(done)
}

/// Trains (or resumes) the run of `config` in `dir` until its epochs are done or the budget is
/// spent. A stored run must be the same run up to threads and device.
fn train(config: &TrainConfig, dir: &Path, options: &RowOptions) -> Result<()> {
    let mut wanted = config.clone();
    if let Some(d) = options.device {
        wanted.device = d;
    }
    if let Some(t) = options.threads {
        wanted.threads = t;
    }
    let mut trainer = if Checkpoint::exists(dir) {
        let mut ckpt = Checkpoint::read(dir)?;
        check_same_run(dir, &ckpt.config, &wanted, &["threads", "device"])?;
        ckpt.config = wanted;
        Trainer::resume_with(dir, ckpt)?
    } else {
        Trainer::new(wanted, dir)?
    };
    trainer.train_within(options.budget_seconds, options.progress)?;
    Ok(())
}

/// The mean absolute error of a 4D row, its standard error, and the error of predicting 0.
struct DensityError {
    mean: f64,
    standard_error: f64,
    zero_prediction: f64,
}

/// Mean absolute error of $k\sum_x f$ against the summed second-Chern density $\sum_x q(x)$ of
/// fresh four-dimensional samples, its standard error, and the mean of $|\sum_x q(x)|$.
fn density_error(
    ckpt: &Checkpoint,
    evaluation: &RowEvaluation,
    device: Device,
    batch: usize,
) -> Result<DensityError> {
    let (_vs, net) = ckpt.network(device)?;
    let mut source = ckpt
        .config
        .all_chern_source(&evaluation.grid, evaluation.seed)?;
    source.set_links(net.needs_links());
    let k = ckpt.state.rescale;
    let mut errors = Vec::with_capacity(evaluation.samples);
    let mut zero = 0.0;
    while errors.len() < evaluation.samples {
        let b = (evaluation.samples - errors.len()).min(batch.max(1));
        let data = source.sample(b)?;
        let f = predict(&net, &data, batch)?;
        let q = data
            .site_labels
            .flatten(1, -1)
            .sum_dim_intlist(1, false, Kind::Double);
        let q = Vec::<f64>::try_from(&q)?;
        zero += q.iter().map(|q| q.abs()).sum::<f64>();
        errors.extend(f.iter().zip(&q).map(|(f, q)| (k * f - q).abs()));
    }
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let var = errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Ok(DensityError {
        mean,
        standard_error: (var / n).sqrt(),
        zero_prediction: zero / n,
    })
}

/// `genet train` / `genet eval` commands that give the row's number without `reproduce`.
fn standalone(row: &Row, options: &RowOptions) -> Option<String> {
    let e = &row.evaluation;
    let model_dir = options.out.join(row.model());
    let eval = format!(
        "genet eval --checkpoint {} --grid {} --samples {} --seed {} --batch {}{} --json",
        model_dir.display(),
        grid_name(&e.grid),
        e.samples,
        e.seed,
        options.batch_on(&e.grid),
        e.hamiltonian
            .map(|s| format!(" --hamiltonian {s}"))
            .unwrap_or_default()
    );
    match &row.job {
        Job::Train(_) if row.metric() == Metric::MeanAbsError => None,
        Job::Train(_) => Some(format!(
            "genet train --config examples/genet-configs/{}.json --out {} && {eval}",
            row.id,
            model_dir.display()
        )),
        Job::Evaluate { .. } => Some(eval),
    }
}
