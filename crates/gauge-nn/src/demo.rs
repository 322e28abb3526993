//! The demo run behind `make demo`: a GEBLNet with conjugation-odd outputs trained on $C=0$
//! samples only ($n=1$, $5\times5$), its output scale fitted on a separate labelled set, and
//! evaluations on fresh samples with every Chern number: on the training grid, on a grid four times
//! larger, and on QWZ insulators (a physical Bloch Hamiltonian, $12\times12$ k-grid).
//!
//! Every number is seeded: the run reproduces bit for bit on the same machine and thread count.
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::data::{HamiltonianConfig, HamiltonianSource, ModelSpec};
use crate::error::{Error, Result};
use crate::eval::{ChernBucket, EvalReport, evaluate_source};
use crate::loss::LossConfig;
use crate::model::NetConfig;
use crate::train::{AdamConfig, DataConfig, EpochMetrics, Schedule, TrainConfig, Trainer};

/// The demo's training run (`threads` is recorded in the configuration; the caller sets libtorch's
/// thread count).
pub fn demo_config(threads: usize) -> TrainConfig {
    TrainConfig {
        bands: 1,
        grid: vec![5, 5],
        trivial_only: true,
        data: DataConfig::default(),
        model: NetConfig {
            conjugation_odd: true,
            ..Default::default()
        },
        loss: LossConfig::ScaleInvariant,
        optimizer: AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
        schedule: Schedule::Cosine { min_factor: 0.05 },
        epochs: 8,
        samples_per_epoch: 1024,
        batch: 32,
        seed: 1,
        threads,
        calibration_samples: 512,
        validation_samples: 256,
        ..Default::default()
    }
}

/// One evaluation of the demo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoEvaluation {
    /// Fraction predicted exactly.
    pub accuracy: f64,
    /// The same on the samples with $C\ne0$.
    pub accuracy_nontrivial: Option<f64>,
    /// Accuracy by true Chern number.
    pub by_chern: Vec<ChernBucket>,
    /// `haar` (Haar-random links) or `qwz` (QWZ insulators).
    pub data: &'static str,
    /// The grid.
    pub grid: Vec<usize>,
    /// Mean $|kF-C|$.
    pub mean_abs_error: f64,
    /// Samples evaluated.
    pub samples: usize,
    /// Every prediction (not serialised).
    #[serde(skip)]
    pub report: EvalReport,
}

/// What the demo measured (serialises to its `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoReport {
    /// Accuracy on the training grid.
    pub accuracy: f64,
    /// The same on $C\ne0$.
    pub accuracy_nontrivial: Option<f64>,
    /// Filled bands.
    pub bands: usize,
    /// Accuracy by $C$ on the training grid.
    pub by_chern: Vec<ChernBucket>,
    /// The three evaluations: training grid, $10\times10$, QWZ on $12\times12$.
    pub evaluations: Vec<DemoEvaluation>,
    /// The training grid.
    pub grid: Vec<usize>,
    /// The fitted output scale $k$.
    pub rescale: f64,
    /// Samples on the training grid.
    pub samples: usize,
    /// Seconds from the start to the end of the last evaluation.
    pub total_seconds: f64,
    /// Seconds of training (with calibration and validation).
    pub train_seconds: f64,
    /// Real parameters of the network.
    #[serde(skip)]
    pub parameters: i64,
    /// The per-epoch metrics.
    #[serde(skip)]
    pub metrics: Vec<EpochMetrics>,
}

/// Files of an earlier demo in the output folder, removed before a new one starts.
pub const DEMO_FILES: [&str; 6] = [
    "checkpoint.safetensors",
    "config.json",
    "metrics.jsonl",
    "loss.svg",
    "predictions.svg",
    "report.json",
];

/// Runs the demo in `out` (an earlier demo's files there are replaced) and writes its
/// `report.json`; `progress` shows the training progress bar, `on_start` is called with the
/// trainer before training starts (to print what is trained, say). Figures are the caller's.
pub fn run_demo(
    out: &Path,
    threads: usize,
    progress: bool,
    on_start: impl FnOnce(&Trainer),
) -> Result<DemoReport> {
    for f in DEMO_FILES {
        let p = out.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|source| Error::Io { path: p, source })?;
        }
    }
    let cfg = demo_config(threads);
    let start = Instant::now();
    let mut trainer = Trainer::new(cfg.clone(), out)?;
    on_start(&trainer);
    let metrics = trainer.train(progress)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let rescale = trainer.state().rescale;
    let net = trainer.net();
    let summary = |report: EvalReport, grid: &[usize], data| DemoEvaluation {
        data,
        grid: grid.to_vec(),
        samples: report.samples,
        accuracy: report.accuracy,
        accuracy_nontrivial: report.accuracy_nontrivial,
        mean_abs_error: report.mean_abs_error,
        by_chern: report.by_chern.clone(),
        report,
    };
    // 1. Fresh Haar-random links with every Chern number, on the training grid.
    let mut test = cfg.all_chern_source(&cfg.grid, 20_251_127)?;
    let own = summary(
        evaluate_source(net, &mut test, 2000, 256, rescale)?,
        &cfg.grid,
        "haar",
    );
    // 2. The same on a grid four times larger.
    let big = [10, 10];
    let mut test = cfg.all_chern_source(&big, 20_251_128)?;
    let larger = summary(
        evaluate_source(net, &mut test, 500, 64, rescale)?,
        &big,
        "haar",
    );
    // 3. Occupied bands of the QWZ model (m uniform in [-3, 3]) on 12 x 12: smooth, physical data.
    let qwz_grid = [12, 12];
    let mut qwz = HamiltonianSource::new(HamiltonianConfig::new(
        qwz_grid.to_vec(),
        ModelSpec::Qwz.model(cfg.bands),
        cfg.bands,
        20_251_129,
    ))?;
    let qwz = summary(
        evaluate_source(net, &mut qwz, 200, 50, rescale)?,
        &qwz_grid,
        "qwz",
    );
    let report = DemoReport {
        accuracy: own.accuracy,
        accuracy_nontrivial: own.accuracy_nontrivial,
        bands: cfg.bands,
        by_chern: own.by_chern.clone(),
        grid: cfg.grid.clone(),
        rescale,
        samples: own.samples,
        evaluations: vec![own, larger, qwz],
        total_seconds: start.elapsed().as_secs_f64(),
        train_seconds,
        parameters: crate::model::parameter_count(trainer.var_store()),
        metrics,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::BadField {
        path: out.join("report.json"),
        field: "(report)".into(),
        expected: "serialisable".into(),
        found: e.to_string(),
    })?;
    crate::tensor_file::write_atomic(&out.join("report.json"), json.as_bytes())?;
    Ok(report)
}
