//! Evaluating saved member predictions: one file per epoch, labels, optional out-of-distribution
//! inputs, in; the report of the last epoch, the per-epoch series and optional plots, out.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::ensemble::{BLOCK, EnsembleConfig, EnsemblePrediction, UncertaintyScores};
use crate::error::{Error, Result};
use crate::members::{LabelFile, MemberSource, PredictionKind};
use crate::report::{EpochSeries, Report, SummaryOptions};

/// A memory check for work of a given estimated size in bytes: `Err` with a message (the
/// estimate, the limit and how to raise it) to refuse. The command-line tools pass the shared
/// check of the workspace, which reads the limit from the environment.
pub type MemoryCheck = fn(what: &str, bytes: f64) -> std::result::Result<(), String>;

/// How [`evaluate`] reads and reduces its inputs.
#[derive(Debug, Clone)]
pub struct EvaluationConfig {
    /// What the member files hold.
    pub kind: PredictionKind,
    /// Entropy convention and class-wise bins of the pass.
    pub ensemble: EnsembleConfig,
    /// Calibration binning and NLL convention of the report.
    pub summary: SummaryOptions,
    /// Folder for SVG plots (created if missing, before any input is read); needs the `plots`
    /// feature.
    pub plots: Option<PathBuf>,
    /// Show a progress bar over the epochs when there are several (needs the `progress`
    /// feature; otherwise ignored).
    pub progress: bool,
    /// Refuses an epoch whose estimated memory ([`memory_estimate`]) is too large.
    pub memory_check: Option<MemoryCheck>,
}

impl EvaluationConfig {
    /// `bins` equal-width calibration bins (top-label and class-wise), exact conventions, no
    /// plots, no progress bar, no memory check.
    ///
    /// # Errors
    /// As [`crate::CalibrationConfig::new`].
    pub fn new(kind: PredictionKind, bins: usize) -> Result<Self> {
        Ok(Self {
            kind,
            ensemble: EnsembleConfig {
                classwise_bins: Some(bins),
                ..EnsembleConfig::default()
            },
            summary: SummaryOptions::new(bins)?,
            plots: None,
            progress: false,
            memory_check: None,
        })
    }
}

/// Wall times of an evaluation, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Opening the files, and reading and validating those read whole. A streamed file is read
    /// and validated block by block during the computation: its share here is its header's.
    pub read_and_validate_s: f64,
    /// The passes and the metrics, the out-of-distribution pass included.
    pub compute_s: f64,
    /// Whether some member file was streamed.
    pub streamed: bool,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// One summary per epoch, in input order.
    pub series: EpochSeries,
    /// The last epoch's report.
    pub report: Report,
    /// The last epoch's prediction (per-sample scores for histograms).
    pub prediction: EnsemblePrediction,
    /// Where the time went.
    pub timings: Timings,
}

/// Bytes an evaluation of $N$ samples of $K$ classes with the bins of `config` needs beyond the
/// input array: about 128 per sample (per-sample scores, and the sorts of the detection and
/// selective metrics), 72 per top-label bin, and 32 per class-wise cell
/// ($K \times B$, once per block of 4096 samples being reduced, as the blocks' bins are kept
/// until they are merged in order).
pub fn memory_estimate(samples: usize, classes: usize, config: &EvaluationConfig) -> f64 {
    let (n, k) = (samples as f64, classes as f64);
    let bins = config.summary.calibration.bins as f64;
    let blocks = (samples / BLOCK + 2) as f64;
    let classwise = config
        .ensemble
        .classwise_bins
        .map_or(0.0, |b| blocks * k * b as f64 * 32.0);
    128.0 * n + 72.0 * bins + classwise
}

/// Evaluates one file of member predictions per epoch (`epochs`, in order; each a path with an
/// optional `:field`) against `labels`, with `ood` (none, one per epoch, or one for the last
/// epoch) as out-of-distribution inputs of the same kind.
///
/// Files that can be streamed are ([`MemberSource`]); the results do not depend on it.
///
/// # Errors
/// [`Error::InvalidParameter`] for no epochs, a wrong number of OOD files, or plots without the
/// `plots` feature; [`Error::MemoryLimit`] when the memory check refuses an epoch; the errors of
/// [`MemberSource`], [`LabelFile::read`], [`Report::new`] and the plots; a class count of an
/// OOD file that differs from the epoch's, as [`Error::InFile`].
pub fn evaluate(
    epochs: &[String],
    labels: &str,
    ood: &[String],
    config: &EvaluationConfig,
) -> Result<Evaluation> {
    if epochs.is_empty() {
        return Err(Error::invalid(
            "epochs",
            0,
            "give at least one file of member predictions",
        ));
    }
    if !(ood.len() <= 1 || ood.len() == epochs.len()) {
        return Err(Error::invalid(
            "out-of-distribution files",
            ood.len(),
            format!(
                "give one per epoch ({}) or one for the last epoch",
                epochs.len()
            ),
        ));
    }
    config.summary.calibration.validate()?;
    config.summary.nll.validate()?;
    if let Some(dir) = &config.plots {
        prepare_plots(dir)?;
    }
    let labels = LabelFile::read(labels)?;
    let mut series = EpochSeries::default();
    let mut timings = Timings::default();
    let mut last = None;
    let progress = Progress::new(epochs.len(), config.progress);
    for (e, file) in epochs.iter().enumerate() {
        progress.start(file);
        let clock = Instant::now();
        let members = MemberSource::open_spec(file, config.kind)?;
        timings.read_and_validate_s += clock.elapsed().as_secs_f64();
        timings.streamed |= members.is_streamed();
        let (_, n, k) = members.shape();
        if let Some(check) = config.memory_check {
            check(
                &format!("evaluating {file} ({n} samples, {k} classes)"),
                memory_estimate(n, k, config),
            )
            .map_err(|reason| Error::MemoryLimit { reason })?;
        }
        let prediction = members.predict(&labels, config.ensemble)?;
        let ood_file = match ood.len() {
            0 => None,
            1 => (e + 1 == epochs.len()).then(|| &ood[0]),
            _ => Some(&ood[e]),
        };
        let ood_scores = ood_file.map(|f| ood_scores(f, k, config)).transpose()?;
        let report = Report::new(&prediction, ood_scores.as_ref(), config.summary)?;
        timings.compute_s += clock.elapsed().as_secs_f64();
        series.push(file.clone(), report.summary.clone());
        last = Some((prediction, report));
        progress.done();
    }
    progress.finish();
    let (prediction, report) = last.ok_or_else(|| Error::empty("epochs"))?;
    let evaluation = Evaluation {
        series,
        report,
        prediction,
        timings,
    };
    if let Some(dir) = &config.plots {
        write_plots(dir, &evaluation)?;
    }
    Ok(evaluation)
}

/// Scores of an out-of-distribution file, whose class count must be the epoch's.
fn ood_scores(spec: &str, classes: usize, config: &EvaluationConfig) -> Result<UncertaintyScores> {
    let source = MemberSource::open_spec(spec, config.kind)?;
    // Its values are validated (and their errors reported) before the class counts are compared.
    let scores = source.scores(config.ensemble.entropy)?;
    let found = source.shape().2;
    if found != classes {
        let (path, field) = crate::io::split_field(spec);
        return Err(Error::mismatch(
            "classes of out-of-distribution vs in-distribution inputs",
            classes,
            found,
        )
        .in_file(&path, field.as_deref().unwrap_or_default()));
    }
    Ok(scores)
}

impl Evaluation {
    /// The last epoch's summary as pretty JSON (keys in alphabetical order), with the whole
    /// series under `"epochs"` when there are several epochs; non-finite values as strings
    /// (`"inf"`), `null` for "not defined".
    ///
    /// # Errors
    /// [`Error::Format`] if serialisation fails (it does not for the report's types).
    pub fn to_json(&self) -> Result<String> {
        let failed = |e: serde_json::Error| Error::Format {
            path: PathBuf::from("<report>"),
            field: String::new(),
            reason: e.to_string(),
        };
        let mut object = serde_json::to_value(&self.report.summary).map_err(failed)?;
        if self.series.len() > 1
            && let Some(map) = object.as_object_mut()
        {
            map.insert(
                "epochs".to_owned(),
                serde_json::to_value(&self.series).map_err(failed)?,
            );
        }
        Ok(serde_json::to_string_pretty(&object).map_err(failed)? + "\n")
    }

    /// A Markdown table: the summary of a single epoch, or one row per epoch.
    pub fn to_markdown(&self) -> String {
        if self.series.len() > 1 {
            self.series.to_markdown()
        } else {
            self.report.summary.to_markdown()
        }
    }
}

#[cfg(feature = "plots")]
fn prepare_plots(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(not(feature = "plots"))]
fn prepare_plots(dir: &std::path::Path) -> Result<()> {
    Err(Error::invalid(
        "plots",
        dir.display(),
        "this build of ensemble-uq has no `plots` feature",
    ))
}

#[cfg(feature = "plots")]
fn write_plots(dir: &std::path::Path, evaluation: &Evaluation) -> Result<()> {
    crate::plots::evaluation(dir, evaluation)
}

#[cfg(not(feature = "plots"))]
fn write_plots(dir: &std::path::Path, _evaluation: &Evaluation) -> Result<()> {
    prepare_plots(dir)
}

/// A progress bar over epochs (the `progress` feature), drawn only for several epochs.
struct Progress {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    #[cfg(feature = "progress")]
    fn new(epochs: usize, enabled: bool) -> Self {
        let bar = (enabled && epochs > 1).then(|| {
            let bar = indicatif::ProgressBar::new(epochs as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} epochs {msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Self { bar }
    }

    #[cfg(not(feature = "progress"))]
    fn new(_epochs: usize, _enabled: bool) -> Self {
        Self {}
    }

    fn start(&self, _file: &str) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_message(_file.to_owned());
        }
    }

    fn done(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
