//! Evaluating an ensemble: the predictive distribution over integer Chern numbers of every
//! sample, the metrics of `ensemble-uq` on it, the single-model baselines on the same samples,
//! and the detection of an out-of-distribution set.
//!
//! 1. $\sigma$ (and the single model's own $\sigma$) is fitted by NLL on a calibration set drawn
//!    from the evaluated domain with another seed
//!    ([`crate::chern_distribution::fit_sigma`]).
//! 2. On the test samples, member $m$'s calibrated output $y_m$ gives
//!    $p_m(C=c)\propto e^{-(y_m-c)^2/2\sigma^2}$ and the ensemble predicts from $\bar p$
//!    ([`ChernPrediction`]).
//! 3. Baselines of the single base model on the same samples: its margin
//!    $\tfrac12-|y-\operatorname{round}y|$ (AUROC for its errors, accuracy on the 90% with the
//!    largest margin) and a physics score, the smallest distance of any plaquette eigenphase to
//!    $\pm\pi$ ([`eigenphase_distance`]; a label flips when an eigenphase crosses $\pm\pi$).
//! 4. With an OOD set: the AUROC with which the predictive entropy and the mutual information
//!    separate it from the test samples (positives: OOD).
use std::time::Instant;

use ensemble_uq::{SelectiveRanking, auroc};
use ndarray::Array2;
use serde::Serialize;
use tch::Kind;

use super::TrainedEnsemble;
use crate::chern_distribution::{ChernPrediction, ChernUncertainty, fit_sigma};
use crate::data::{
    Batch, HamiltonianConfig, HamiltonianSource, ModelSpec, SampleSource, grid_name,
};
use crate::error::{Error, Result};
use crate::eval::chern_numbers;
use crate::train::TrainConfig;

/// The out-of-distribution set of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum OodSet {
    /// Haar-random links on another grid.
    Grid(Vec<usize>),
    /// Haar-random links with another number of filled bands (matrices $U(n_2)$).
    Bands(usize),
    /// Links of a Hamiltonian family on the evaluation grid.
    Hamiltonian(ModelSpec),
}

/// What [`evaluate_ensemble`] evaluates on.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleEvalRequest {
    /// The evaluation grid.
    pub grid: Vec<usize>,
    /// Test samples (and as many OOD samples).
    pub samples: usize,
    /// Filled bands of the test samples (`None`: the base's; another count is an error, use
    /// [`OodSet::Bands`]).
    pub bands: Option<usize>,
    /// Hamiltonian samples instead of Haar-random links (`None`: Haar, all $C$).
    pub hamiltonian: Option<ModelSpec>,
    /// An out-of-distribution set.
    pub ood: Option<OodSet>,
    /// Samples of the calibration set for $\sigma$ (at least 2).
    pub calibration_samples: usize,
    /// Seed of the test samples (the calibration and OOD sets derive theirs from it).
    pub seed: u64,
    /// Samples per forward pass.
    pub batch: usize,
    /// Also time the members one after another (LoRA: merged into the base one at a time).
    pub time_one_by_one: bool,
}

impl EnsembleEvalRequest {
    /// `samples` test samples on `grid`, 500 calibration samples, seed 12345, batch 64.
    pub fn new(grid: Vec<usize>, samples: usize) -> EnsembleEvalRequest {
        EnsembleEvalRequest {
            grid,
            samples,
            bands: None,
            hamiltonian: None,
            ood: None,
            calibration_samples: 500,
            seed: 12345,
            batch: 64,
            time_one_by_one: false,
        }
    }
}

/// The ensemble on one domain (the OOD set's entry of an [`EnsembleEvaluation`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainEvaluation {
    /// `grid 16x16`, `bands 3`, or the Hamiltonian family.
    pub domain: String,
    /// Its grid.
    pub grid: Vec<usize>,
    /// Its filled bands.
    pub bands: usize,
    /// The ensemble's metrics there (with the $\sigma$ of the test domain).
    #[serde(flatten)]
    pub uncertainty: ChernUncertainty,
}

/// Per-sample scores behind the figures (not serialised).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalDetails {
    /// Predictive entropy of each test sample.
    pub entropy: Vec<f64>,
    /// Mutual information of each test sample.
    pub mutual_information: Vec<f64>,
    /// The OOD set's name, entropies and mutual informations.
    pub ood: Option<(String, Vec<f64>, Vec<f64>)>,
    /// Reliability bins of the ensemble: (mean confidence, accuracy, count).
    pub reliability: Vec<(f64, f64, usize)>,
    /// Risk of the ensemble at coverage $k/N$, $k=1..N$ (ranked by confidence).
    pub risk: Vec<f64>,
    /// The oracle's risk.
    pub oracle_risk: Vec<f64>,
}

/// The outcome of [`evaluate_ensemble`] (the JSON `genet ensemble eval --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnsembleEvaluation {
    /// `lora` or `explicit`.
    pub kind: &'static str,
    /// The evaluation grid.
    pub grid: Vec<usize>,
    /// Filled bands of the test samples.
    pub bands: usize,
    /// `haar` or the Hamiltonian family.
    pub data: String,
    /// The ensemble's metrics on the test samples (members, samples, sigma, accuracy, ...).
    #[serde(flatten)]
    pub uncertainty: ChernUncertainty,
    /// The single base model's accuracy on the same samples.
    pub single_accuracy: f64,
    /// The single model's NLL (its own $\sigma$, fitted on the same calibration set).
    pub single_nll: f64,
    /// The single model's ECE.
    pub single_ece: f64,
    /// The single model's $\sigma$.
    pub single_sigma: f64,
    /// AUROC of the single model's margin for its own errors (`None` without errors).
    pub auroc_margin: Option<f64>,
    /// The single model's accuracy on the 90% of samples with the largest margin.
    pub accuracy_at_90_margin: f64,
    /// AUROC of the eigenphase distance to $\pm\pi$ for the single model's errors.
    pub auroc_eigenphase: Option<f64>,
    /// AUROC of the eigenphase distance for the ensemble's errors.
    pub auroc_eigenphase_ensemble: Option<f64>,
    /// The OOD set, if any.
    pub ood: Option<DomainEvaluation>,
    /// AUROC of the predictive entropy separating the OOD set from the test samples.
    pub auroc_ood_entropy: Option<f64>,
    /// AUROC of the mutual information separating the OOD set from the test samples.
    pub auroc_ood_mi: Option<f64>,
    /// Calibration samples $\sigma$ was fitted on.
    pub calibration_samples: usize,
    /// Seconds to evaluate all members on the test samples (LoRA: one batched pass).
    pub seconds_members: f64,
    /// Seconds to evaluate them one after another (when asked).
    pub seconds_one_by_one: Option<f64>,
    /// `seconds_one_by_one / seconds_members`.
    pub speedup: Option<f64>,
    /// Seconds of the base network alone on the test samples.
    pub seconds_single: f64,
    /// Epochs each member was trained.
    pub epochs: usize,
    /// Seconds spent training the members (from the manifest).
    pub train_seconds: f64,
    /// Wall-clock seconds of the whole evaluation.
    pub seconds: f64,
    /// Per-sample scores for the figures.
    #[serde(skip)]
    pub details: EvalDetails,
}

/// The smallest distance $\min_{x,i}(\pi-|\theta_i(x)|)$ of any plaquette eigenphase to
/// $\pm\pi$, per sample of `data` (in chunks of `batch`, in double precision).
pub fn eigenphase_distance(data: &Batch, batch: usize) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(data.len());
    let mut start = 0;
    while start < data.len() {
        let end = (start + batch.max(1)).min(data.len());
        let w = data
            .slice(start, end)
            .plaquettes
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::ComplexDouble);
        let theta = w.f_linalg_eigvals()?.angle();
        let d = (theta.abs().neg() + std::f64::consts::PI)
            .flatten(1, -1)
            .amin(1, false);
        out.extend(Vec::<f64>::try_from(d)?);
        start = end;
    }
    Ok(out)
}

/// A sample source of a domain: Haar-random links of all $C$ (as the base run's calibration set,
/// with `bands`) or a Hamiltonian family.
fn domain_source(
    base: &TrainConfig,
    grid: &[usize],
    bands: usize,
    hamiltonian: Option<ModelSpec>,
    seed: u64,
    links: bool,
) -> Result<Box<dyn SampleSource>> {
    let mut source: Box<dyn SampleSource> = match hamiltonian {
        None => {
            let mut cfg = base.clone();
            cfg.bands = bands;
            Box::new(cfg.all_chern_source(grid, seed)?)
        }
        Some(spec) => Box::new(HamiltonianSource::new(HamiltonianConfig::new(
            grid.to_vec(),
            spec.model(bands),
            bands,
            seed,
        ))?),
    };
    source.set_links(links);
    Ok(source)
}

/// Errors on the lattice dimension of `grid` differing from the training grid's.
fn check_grid(grid: &[usize], base: &TrainConfig) -> Result<()> {
    if grid.len() != base.grid.len() {
        return Err(Error::InvalidParameter {
            name: "grid",
            value: grid_name(grid),
            reason: format!(
                "the ensemble was trained on a {}-dimensional grid ({}): give {} extents",
                base.grid.len(),
                grid_name(&base.grid),
                base.grid.len()
            ),
        });
    }
    Ok(())
}

fn auroc_or_none(score: &[f64], positive: &[bool]) -> Result<Option<f64>> {
    let p = positive.iter().filter(|p| **p).count();
    if p == 0 || p == positive.len() {
        return Ok(None);
    }
    Ok(Some(auroc(score, positive)?))
}

fn one_row(values: Vec<f64>) -> Array2<f64> {
    let n = values.len();
    Array2::from_shape_vec((1, n), values).expect("one row")
}

/// Evaluates `ensemble` as `request` asks (see the [module docs](self)).
///
/// Errors on `samples = 0`, fewer than 2 calibration samples, a grid of another dimension than
/// the training grid, `bands` other than the base's, and non-finite outputs.
pub fn evaluate_ensemble(
    ensemble: &TrainedEnsemble,
    request: &EnsembleEvalRequest,
) -> Result<EnsembleEvaluation> {
    let start = Instant::now();
    let base = ensemble.base_config();
    check_grid(&request.grid, base)?;
    if request.samples == 0 {
        return Err(Error::EmptyInput {
            what: "evaluation samples",
        });
    }
    if request.calibration_samples < 2 {
        return Err(Error::InvalidParameter {
            name: "calibration samples",
            value: request.calibration_samples.to_string(),
            reason: "sigma needs at least 2 calibration samples".into(),
        });
    }
    let bands = request.bands.unwrap_or(base.bands);
    if bands != base.bands {
        return Err(Error::InvalidParameter {
            name: "bands",
            value: bands.to_string(),
            reason: format!(
                "the ensemble's base was trained on {} filled bands; evaluate other band counts \
                 as an out-of-distribution set",
                base.bands
            ),
        });
    }
    let links = ensemble.needs_links();
    let batch = request.batch.max(1);
    // Refuse an impossible OOD set (a grid of another dimension, a Hamiltonian family without
    // that many bands) before the minutes of evaluation.
    match &request.ood {
        Some(OodSet::Grid(g)) => check_grid(g, base)?,
        Some(OodSet::Bands(b)) => {
            domain_source(base, &request.grid, *b, None, 0, links)?;
        }
        Some(OodSet::Hamiltonian(spec)) => {
            domain_source(base, &request.grid, bands, Some(*spec), 0, links)?;
        }
        None => {}
    }
    if request.hamiltonian.is_some() {
        domain_source(base, &request.grid, bands, request.hamiltonian, 0, links)?;
    }
    let draw = |grid: &[usize], bands: usize, ham: Option<ModelSpec>, seed: u64, n: usize| {
        domain_source(base, grid, bands, ham, seed, links)?.sample(n)
    };
    // 1. sigma on the calibration set.
    let cal = draw(
        &request.grid,
        bands,
        request.hamiltonian,
        request.seed ^ 0x7369_676d_6163_616c,
        request.calibration_samples,
    )?;
    let cal_labels = chern_numbers(&cal)?;
    let sigma = fit_sigma(ensemble.outputs(&cal, batch)?.view(), &cal_labels)?;
    let single_sigma = fit_sigma(
        one_row(ensemble.base_outputs(&cal, batch)?).view(),
        &cal_labels,
    )?;
    drop(cal);
    // 2. the test samples.
    let test = draw(
        &request.grid,
        bands,
        request.hamiltonian,
        request.seed,
        request.samples,
    )?;
    let labels = chern_numbers(&test)?;
    let t = Instant::now();
    let outputs = ensemble.outputs(&test, batch)?;
    let seconds_members = t.elapsed().as_secs_f64();
    let seconds_one_by_one = if request.time_one_by_one {
        let t = Instant::now();
        let again = ensemble.outputs_one_by_one(&test, batch)?;
        let s = t.elapsed().as_secs_f64();
        let diff = (&again - &outputs)
            .iter()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        if diff > 1e-3 * outputs.iter().fold(1.0f64, |a, v| a.max(v.abs())) {
            return Err(Error::InvalidParameter {
                name: "members evaluated one by one",
                value: format!("max difference {diff:e}"),
                reason: "disagree with the batched pass".into(),
            });
        }
        Some(s)
    } else {
        None
    };
    let prediction = ChernPrediction::new(outputs.view(), &labels, sigma)?;
    let uncertainty = prediction.uncertainty()?;
    // 3. the single model's baselines.
    let t = Instant::now();
    let single = ensemble.base_outputs(&test, batch)?;
    let seconds_single = t.elapsed().as_secs_f64();
    let single_u =
        ChernUncertainty::evaluate(one_row(single.clone()).view(), &labels, single_sigma)?;
    let margin: Vec<f64> = single.iter().map(|y| 0.5 - (y - y.round()).abs()).collect();
    let single_correct: Vec<bool> = single
        .iter()
        .zip(&labels)
        .map(|(y, &c)| y.round() == c as f64)
        .collect();
    let single_errors: Vec<bool> = single_correct.iter().map(|c| !c).collect();
    let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<_>>();
    let auroc_margin = auroc_or_none(&neg(&margin), &single_errors)?;
    let accuracy_at_90_margin =
        SelectiveRanking::new(&margin, &single_correct)?.accuracy_rejection(&[0.1])?[0].accuracy;
    let distance = eigenphase_distance(&test, batch)?;
    let auroc_eigenphase = auroc_or_none(&neg(&distance), &single_errors)?;
    let ensemble_errors: Vec<bool> = prediction.correct().iter().map(|c| !c).collect();
    let auroc_eigenphase_ensemble = auroc_or_none(&neg(&distance), &ensemble_errors)?;
    drop(test);
    // 4. the OOD set.
    let entropy = prediction.predictive_entropy().to_vec();
    let mi = prediction.mutual_information();
    let (mut ood, mut auroc_ood_entropy, mut auroc_ood_mi, mut ood_details) =
        (None, None, None, None);
    if let Some(set) = &request.ood {
        let (grid, n, ham, name) = match set {
            OodSet::Grid(g) => {
                check_grid(g, base)?;
                (g.clone(), bands, None, format!("grid {}", grid_name(g)))
            }
            OodSet::Bands(b) => (request.grid.clone(), *b, None, format!("bands {b}")),
            OodSet::Hamiltonian(spec) => {
                (request.grid.clone(), bands, Some(*spec), spec.to_string())
            }
        };
        let data = draw(&grid, n, ham, request.seed ^ 0x6f6f_6400, request.samples)?;
        let ood_labels = chern_numbers(&data)?;
        let ood_pred =
            ChernPrediction::new(ensemble.outputs(&data, batch)?.view(), &ood_labels, sigma)?;
        let ood_entropy = ood_pred.predictive_entropy().to_vec();
        let ood_mi = ood_pred.mutual_information();
        let positive: Vec<bool> = std::iter::repeat_n(false, entropy.len())
            .chain(std::iter::repeat_n(true, ood_entropy.len()))
            .collect();
        let cat = |a: &[f64], b: &[f64]| a.iter().chain(b).copied().collect::<Vec<_>>();
        auroc_ood_entropy = Some(auroc(&cat(&entropy, &ood_entropy), &positive)?);
        auroc_ood_mi = Some(auroc(&cat(&mi, &ood_mi), &positive)?);
        ood = Some(DomainEvaluation {
            domain: name.clone(),
            grid,
            bands: n,
            uncertainty: ood_pred.uncertainty()?,
        });
        ood_details = Some((name, ood_entropy, ood_mi));
    }
    let calibration = prediction.calibration()?;
    let ranking = prediction.ensemble().selective_ranking()?;
    let manifest = ensemble.manifest();
    Ok(EnsembleEvaluation {
        kind: manifest.kind.name(),
        grid: request.grid.clone(),
        bands,
        data: crate::data::samples_name(request.hamiltonian),
        uncertainty,
        single_accuracy: single_u.accuracy,
        single_nll: single_u.nll,
        single_ece: single_u.ece,
        single_sigma,
        auroc_margin,
        accuracy_at_90_margin,
        auroc_eigenphase,
        auroc_eigenphase_ensemble,
        ood,
        auroc_ood_entropy,
        auroc_ood_mi,
        calibration_samples: request.calibration_samples,
        seconds_members,
        seconds_one_by_one,
        speedup: seconds_one_by_one.map(|s| s / seconds_members),
        seconds_single,
        epochs: manifest.epochs,
        train_seconds: manifest.train_seconds,
        seconds: start.elapsed().as_secs_f64(),
        details: EvalDetails {
            entropy,
            mutual_information: mi,
            ood: ood_details,
            reliability: calibration
                .bins
                .iter()
                .map(|b| (b.mean_confidence, b.accuracy, b.count))
                .collect(),
            risk: ranking.risk(),
            oracle_risk: ranking.oracle_risk(),
        },
    })
}
