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
//! Everything is done by [`ensemble_uq::evaluate`]: a C-order float32/float64 `.npy` or
//! safetensors array is streamed in blocks of samples (same values and errors, a few MiB instead
//! of the whole array), other files are read whole. `--bins` is at most
//! `CalibrationConfig::MAX_BINS`, and an epoch whose estimated memory exceeds the limit
//! (`CHERNET_MEMORY_LIMIT`, default the physical memory) is refused before it is computed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chernet::cli;
use clap::{Parser, ValueEnum};
use ensemble_uq::{
    Binning, CalibrationConfig, ConfidenceOneRule, EntropyConvention, EvaluationConfig,
    NllConvention, PredictionKind, evaluate,
};

#[derive(Parser, Debug)]
#[command(
    about = "Uncertainty metrics (entropy decomposition, calibration, selective prediction) of an ensemble",
    allow_negative_numbers = true
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
    /// Calibration bins, 1 to 1000000 (equal width unless --equal-mass).
    #[arg(long, default_value_t = 15, value_parser = bins)]
    bins: usize,
    /// Equal-mass bins instead of equal-width.
    #[arg(long)]
    equal_mass: bool,
    /// Put confidence 1.0 into an extra bin, as torchmetrics does (default: last bin).
    #[arg(long)]
    torchmetrics_bins: bool,
    /// NLL convention: exact (+inf for p = 0), sklearn (clip to [eps, 1 - eps]), paper (+1e-9).
    #[arg(long, value_enum, default_value_t = Nll::Exact)]
    nll: Nll,
    /// Entropy convention: exact (0 ln 0 = 0), paper-notebook (ln(p + 1e-9)), paper-repo (ln(p + eps_f32)).
    #[arg(long, value_enum, default_value_t = Entropy::Exact)]
    entropy: Entropy,
    /// Print one JSON object instead of a Markdown table.
    #[arg(long)]
    json: bool,
    /// Write SVG plots into this folder (created if missing).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Member predictions (same kind as the inputs) of out-of-distribution samples.
    #[arg(long, num_args = 1..)]
    ood: Vec<String>,
    /// Print wall times of reading and computing (JSON, one line) to stderr.
    #[arg(long)]
    timings: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Nll {
    Exact,
    Sklearn,
    Paper,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Entropy {
    Exact,
    PaperNotebook,
    PaperRepo,
}

fn bins(s: &str) -> Result<usize, String> {
    cli::bounded_usize(s, CalibrationConfig::MAX_BINS)
}

fn run(args: Args) -> Result<()> {
    let (files, kind) = if args.logits.is_empty() {
        (&args.probs, PredictionKind::Probabilities)
    } else {
        (&args.logits, PredictionKind::Logits)
    };
    let mut config = EvaluationConfig::new(kind, args.bins)?;
    config.ensemble.entropy = match args.entropy {
        Entropy::Exact => EntropyConvention::Exact,
        Entropy::PaperNotebook => EntropyConvention::PAPER_NOTEBOOK,
        Entropy::PaperRepo => EntropyConvention::PAPER_REPOSITORY,
    };
    config.summary.nll = match args.nll {
        Nll::Exact => NllConvention::Exact,
        Nll::Sklearn => NllConvention::SKLEARN,
        Nll::Paper => NllConvention::PAPER,
    };
    if args.equal_mass {
        config.summary.calibration.binning = Binning::EqualMass;
    }
    if args.torchmetrics_bins {
        config.summary.calibration.confidence_one = ConfidenceOneRule::TorchmetricsExtraBin;
    }
    config.plots = args.plots;
    config.progress = true;
    config.memory_check = Some(cli::check_memory);

    let evaluation = evaluate(files, &args.labels, &args.ood, &config)?;

    if args.timings {
        eprintln!("{}", serde_json::to_string(&evaluation.timings)?);
    }
    let text = if args.json {
        evaluation.to_json()?
    } else {
        evaluation.to_markdown()
    };
    // A reader that stops early (`| head`) is not an error worth a panic.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing to stdout")?),
    }
}

fn main() {
    cli::exit_on_error("uq", run(cli::parse_args("uq")));
}
