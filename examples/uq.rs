//! `uq`: uncertainty metrics of an ensemble's predictions saved from Python.
//!
//! ```text
//! cargo run --release --example uq -- (--logits F... | --probs F...) --labels F
//!     [--bins B] [--json] [--plots DIR] [--ood F...]
//! ```
//! F is `.npy`, `.npz`, `.safetensors` or `.json` holding an (M, N, K) float32/float64 array
//! (`file.npz:name` picks a field); labels an N-vector of integers. Several `--logits`/`--probs`
//! files, in order, are epochs: the table (or the JSON's `epochs`) has one row per epoch, and the
//! top-level JSON keys are those of the last. `--ood` gives member predictions of the same kind
//! for out-of-distribution inputs, once per epoch or once for the last epoch. In the JSON,
//! non-finite values are strings (`"nll": "inf"` when the ensemble gives a true class
//! probability exactly 0 under the default exact NLL); `null` means "not defined".
//!
//! A C-order float32/float64 `.npy` or safetensors array is streamed in blocks of samples
//! ([`ensemble_uq::MemberFile`]: same values and errors, a few MiB instead of the whole array);
//! other files are read whole.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use ensemble_uq::{
    Binning, CalibrationConfig, ConfidenceOneRule, EnsembleConfig, EnsemblePrediction,
    EntropyConvention, EpochSeries, FloatArray3, Labels, Logits, MemberFile, NllConvention,
    PredictionKind, Probabilities, Report, SummaryOptions, UncertaintyScores, plots, read_array3,
    read_labels, split_field,
};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser, Debug)]
#[command(
    about = "Uncertainty metrics (entropy decomposition, calibration, selective prediction) of an ensemble"
)]
struct Args {
    /// Member logits (M, N, K); several files are epochs, in order.
    #[arg(long, num_args = 1.., required_unless_present = "probs", conflicts_with = "probs")]
    logits: Vec<String>,
    /// Member probabilities (M, N, K); several files are epochs, in order.
    #[arg(long, num_args = 1..)]
    probs: Vec<String>,
    /// Integer labels (N).
    #[arg(long)]
    labels: String,
    /// Calibration bins (equal width unless --equal-mass).
    #[arg(long, default_value_t = 15)]
    bins: usize,
    /// Equal-mass bins instead of equal-width.
    #[arg(long)]
    equal_mass: bool,
    /// Put confidence 1.0 into an extra bin, as torchmetrics does (default: last bin).
    #[arg(long)]
    torchmetrics_bins: bool,
    /// NLL convention: exact (+inf for p = 0), sklearn (clip to [eps, 1 - eps]), paper (+1e-9).
    #[arg(long, default_value = "exact")]
    nll: String,
    /// Entropy convention: exact (0 ln 0 = 0), paper-notebook (ln(p + 1e-9)), paper-repo (ln(p + eps_f32)).
    #[arg(long, default_value = "exact")]
    entropy: String,
    /// Print one JSON object instead of a Markdown table.
    #[arg(long)]
    json: bool,
    /// Write SVG plots into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Member predictions (same kind as the inputs) of out-of-distribution samples.
    #[arg(long, num_args = 1..)]
    ood: Vec<String>,
    /// Print wall times of reading and computing (JSON, one line) to stderr.
    #[arg(long)]
    timings: bool,
}

enum Members {
    Logits32(Logits<f32>),
    Logits64(Logits<f64>),
    Probs32(Probabilities<f32>),
    Probs64(Probabilities<f64>),
}

impl Members {
    fn read(spec: &str, logits: bool) -> Result<Self> {
        let (path, field) = split_field(spec);
        let array = read_array3(&path, field.as_deref())?;
        let what = || format!("{}: invalid member predictions", path.display());
        Ok(match (array, logits) {
            (FloatArray3::F32(a), true) => Self::Logits32(Logits::new(a).with_context(what)?),
            (FloatArray3::F64(a), true) => Self::Logits64(Logits::new(a).with_context(what)?),
            (FloatArray3::F32(a), false) => {
                Self::Probs32(Probabilities::new(a).with_context(what)?)
            }
            (FloatArray3::F64(a), false) => {
                Self::Probs64(Probabilities::new(a).with_context(what)?)
            }
        })
    }

    fn classes(&self) -> usize {
        match self {
            Self::Logits32(x) => x.shape().2,
            Self::Logits64(x) => x.shape().2,
            Self::Probs32(x) => x.shape().2,
            Self::Probs64(x) => x.shape().2,
        }
    }

    fn predict(
        &self,
        labels: &Labels,
        config: EnsembleConfig,
    ) -> ensemble_uq::Result<EnsemblePrediction> {
        match self {
            Self::Logits32(x) => EnsemblePrediction::new(x, labels, config),
            Self::Logits64(x) => EnsemblePrediction::new(x, labels, config),
            Self::Probs32(x) => EnsemblePrediction::new(x, labels, config),
            Self::Probs64(x) => EnsemblePrediction::new(x, labels, config),
        }
    }

    fn scores(&self, c: EntropyConvention) -> ensemble_uq::Result<UncertaintyScores> {
        match self {
            Self::Logits32(x) => UncertaintyScores::from_members(x, c),
            Self::Logits64(x) => UncertaintyScores::from_members(x, c),
            Self::Probs32(x) => UncertaintyScores::from_members(x, c),
            Self::Probs64(x) => UncertaintyScores::from_members(x, c),
        }
    }
}

/// The context the whole-array path gives an error of a streamed file: validation errors are
/// the file's ("invalid member predictions"), others get `otherwise`.
fn member_context(
    e: ensemble_uq::Error,
    path: &std::path::Path,
    otherwise: Option<String>,
) -> anyhow::Error {
    use ensemble_uq::Error as E;
    let context = match e {
        E::NonFinite { .. } | E::NegativeProbability { .. } | E::RowSum { .. } => {
            Some(format!("{}: invalid member predictions", path.display()))
        }
        _ => otherwise,
    };
    match context {
        Some(c) => anyhow::Error::new(e).context(c),
        None => anyhow::Error::new(e),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (files, logits) = if args.logits.is_empty() {
        (&args.probs, false)
    } else {
        (&args.logits, true)
    };
    if files.is_empty() {
        bail!("give --logits or --probs");
    }
    if !args.ood.is_empty() && args.ood.len() != 1 && args.ood.len() != files.len() {
        bail!(
            "--ood needs one file per epoch ({}) or one file for the last epoch, got {}",
            files.len(),
            args.ood.len()
        );
    }
    if args.bins == 0 {
        bail!("--bins must be at least 1");
    }
    let entropy = match args.entropy.as_str() {
        "exact" => EntropyConvention::Exact,
        "paper-notebook" => EntropyConvention::PAPER_NOTEBOOK,
        "paper-repo" => EntropyConvention::PAPER_REPOSITORY,
        other => bail!("unknown --entropy {other:?} (exact, paper-notebook, paper-repo)"),
    };
    let nll = match args.nll.as_str() {
        "exact" => NllConvention::Exact,
        "sklearn" => NllConvention::SKLEARN,
        "paper" => NllConvention::PAPER,
        other => bail!("unknown --nll {other:?} (exact, sklearn, paper)"),
    };
    let mut options = SummaryOptions::new(args.bins);
    options.nll = nll;
    options.calibration = CalibrationConfig::new(args.bins)
        .with_binning(if args.equal_mass {
            Binning::EqualMass
        } else {
            Binning::EqualWidth
        })
        .with_confidence_one(if args.torchmetrics_bins {
            ConfidenceOneRule::TorchmetricsExtraBin
        } else {
            ConfidenceOneRule::LastBin
        });
    let config = EnsembleConfig {
        entropy,
        classwise_bins: Some(args.bins),
    };

    let (label_path, label_field) = split_field(&args.labels);
    let raw_labels = read_labels(&label_path, label_field.as_deref())?;

    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} epochs {msg}",
    )?);
    if files.len() == 1 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut series = EpochSeries::default();
    let mut last: Option<(EnsemblePrediction, Report)> = None;
    let (mut read_s, mut compute_s) = (0.0, 0.0);
    let mut streamed = false;
    let kind = if logits {
        PredictionKind::Logits
    } else {
        PredictionKind::Probabilities
    };
    for (e, file) in files.iter().enumerate() {
        progress.set_message(file.clone());
        let clock = std::time::Instant::now();
        let with_labels = || format!("{file} with labels {}", label_path.display());
        // A plain .npy or safetensors file with fitting labels is streamed in blocks of
        // samples; anything else (and every label error) goes through the whole-array path,
        // which words the errors.
        let (path, field) = split_field(file);
        let stream = MemberFile::open(&path, field.as_deref())?.and_then(|f| {
            let labels = Labels::from_signed(&raw_labels, f.shape().2).ok()?;
            Some((f, labels))
        });
        let prediction = if let Some((f, labels)) = stream {
            read_s += clock.elapsed().as_secs_f64();
            streamed = true;
            f.predict(kind, &labels, config)
                .map_err(|e| member_context(e, &path, Some(with_labels())))?
        } else {
            let members = Members::read(file, logits)?;
            read_s += clock.elapsed().as_secs_f64();
            let labels = Labels::from_signed(&raw_labels, members.classes())
                .with_context(|| format!("{}: labels do not fit {}", label_path.display(), file))?;
            members.predict(&labels, config).with_context(with_labels)?
        };
        let ood_file = match args.ood.len() {
            0 => None,
            1 if e + 1 == files.len() => Some(&args.ood[0]),
            1 => None,
            _ => Some(&args.ood[e]),
        };
        let ood = ood_file
            .map(|f| -> Result<UncertaintyScores> {
                let (path, field) = split_field(f);
                // Streamed unless the class count disagrees (that error comes after the
                // values' validation, as the whole-array path gives it).
                if let Some(stream) = MemberFile::open(&path, field.as_deref())?
                    && stream.shape().2 == prediction.classes()
                {
                    return stream
                        .scores(kind, entropy)
                        .map_err(|e| member_context(e, &path, None));
                }
                let m = Members::read(f, logits)?;
                if m.classes() != prediction.classes() {
                    bail!(
                        "{f}: {} classes, the in-distribution inputs have {}",
                        m.classes(),
                        prediction.classes()
                    );
                }
                Ok(m.scores(entropy)?)
            })
            .transpose()?;
        let report = Report::new(&prediction, ood.as_ref(), options)?;
        compute_s += clock.elapsed().as_secs_f64();
        series.push(file.clone(), report.summary.clone());
        last = Some((prediction, report));
        progress.inc(1);
    }
    progress.finish_and_clear();
    if args.timings {
        // Reading includes validation; computing includes the OOD file's pass, if any. A
        // streamed file is read and validated block by block during the computation: its
        // reading time is then the header's only.
        eprintln!(
            "{{\"read_and_validate_s\": {read_s:.6}, \"compute_s\": {compute_s:.6}, \"streamed\": {streamed}}}"
        );
    }
    let Some((prediction, report)) = last else {
        bail!("no input");
    };

    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        plots::reliability_diagram(&dir.join("reliability.svg"), &report.calibration)?;
        plots::histogram(
            &dir.join("predictive_entropy.svg"),
            prediction.scores().predictive_entropy(),
            "Predictive entropy H[p̄]",
            "nats",
            50,
        )?;
        plots::histogram(
            &dir.join("mutual_information.svg"),
            &prediction.scores().mutual_information(),
            "Mutual information (epistemic)",
            "nats",
            50,
        )?;
        plots::accuracy_rejection(
            &dir.join("accuracy_rejection.svg"),
            &report.accuracy_rejection,
        )?;
        if series.len() > 1 {
            plots::metrics_versus_epoch(&dir.join("metrics_vs_epoch.svg"), &series)?;
        }
    }

    let text = if args.json {
        let mut object = serde_json::to_value(&report.summary)?;
        if series.len() > 1 {
            object["epochs"] = serde_json::to_value(&series)?;
        }
        serde_json::to_string_pretty(&object)? + "\n"
    } else if series.len() > 1 {
        series.to_markdown()
    } else {
        report.summary.to_markdown()
    };
    // A reader that stops early (`| head`) is not an error worth a panic.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing to stdout")?),
    }
}
