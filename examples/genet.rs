//! `genet`: train and evaluate gauge-equivariant networks that learn Chern numbers (GENet).
//!
//! ```text
//! genet demo                                   # trivial-only n = 1 on 5x5, calibrate, evaluate on all C
//! genet train --bands 2 --grid 5 --trivial-only --out runs/n2   # the measured recipe for n = 2
//! genet eval --checkpoint runs/n2 --grid 10 --samples 2000 --json
//! genet sweep --bands 1,2,3,4 --grid 5 --eval-grids 5,10,16 --epochs 8 --out runs/sweep
//! genet train --grid 3x3x3x3 --bands 2 --epochs 4 --out runs/4d   # second Chern number, 4D
//! genet reproduce --out runs/reproduce        # the paper's tables, resumable, shardable (--shard k/N)
//! genet bench --bands 4 --grid 5 --batch 32 --steps 10 --json   # training throughput and peak memory
//! genet ensemble train --base runs/n2 --members 5 --rank 4 --out runs/n2-lora   # LoRA ensemble
//! genet ensemble eval --ensemble runs/n2-lora --grid 10 --samples 1000 --ood-grid 16 --json
//! ```
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chernet::cli::{
    check_memory, non_negative_f64, non_negative_usize, positive_f64, positive_usize,
    unit_interval_f64,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gauge_nn::data::{EigenphaseDistribution, ModelSpec, NearIdentity, grid_name};
use gauge_nn::eval::EvalReport;
use gauge_nn::loss::LossConfig;
use gauge_nn::plot;
use gauge_nn::reproduce::{self, RowOptions, RowStatus, Shard};
use gauge_nn::sweep::{BandRun, BandSweepConfig, SweepStep, run_band_sweep};
use gauge_nn::train::{
    Checkpoint, DataConfig, DeviceChoice, EvalRequest, RunEvalOptions, RunStart, TrainConfig,
    TrainRunOptions, check_training_memory, evaluate_run, open_run, read_metrics,
};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "genet",
    about = "Gauge-equivariant networks for Chern numbers",
    after_help = "Work sized by the flags (grids, samples, channels) is refused up front when its \
                  memory estimate exceeds the machine's memory; CHERNET_MEMORY_LIMIT (e.g. 64G) \
                  sets another limit."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    /// L1 on the per-plaquette labels.
    Local,
    /// The paper's global loss with spread penalty (delta 0.5, weight 1).
    Global,
    /// The global loss with the spread penalty weighted 10.
    GlobalWeighted,
    /// Root-mean-square global error over the spread of the outputs.
    ScaleInvariant,
    /// L1 on the per-plaquette labels, plaquettes with an eigenphase within ~0.05 rad of the
    /// branch cut at +-pi weighted up to 11x (weight 10, width 0.05; other values in a config).
    /// Experimental: no gain measured at n = 2
    CutWeighted,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    /// CUDA when available, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device.
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
enum DataArg {
    /// Haar-random links.
    General,
    /// Diagonal plaquettes with CUE eigenphases, |C| <= 3.
    Diagonal,
}

/// The training run: a JSON config, or else the measured recipe for the band count
/// (`TrainConfig::recipe`), and flags overriding its fields.
#[derive(Args)]
struct RunArgs {
    /// Training grid: `L` for L x L, or `L1xL2[x..]` (four extents train on the second Chern
    /// density). Default: the config's, else 5 (5x5).
    #[arg(long, value_parser = parse_grid)]
    grid: Option<Grid>,
    /// Train on topologically trivial samples only (C = 0), as the paper's Table 3; the recipe
    /// then uses the scale-invariant loss and calibrates the output scale. Default: off (all C),
    /// or the config's.
    #[arg(long)]
    trivial_only: bool,
    /// Make the network odd under complex conjugation of the links (C -> -C). Default: on in the
    /// recipe for two extents; off in a config that does not set it.
    #[arg(long, conflicts_with = "published_layers")]
    conjugation_odd: bool,
    /// Use the paper's published network (not conjugation-odd) instead of the recipe's.
    #[arg(long)]
    published_layers: bool,
    /// Loss. Default: scale-invariant with --trivial-only, else local (or the config's).
    #[arg(long, value_enum)]
    loss: Option<LossArg>,
    /// Training samples: `general` (Haar-random links) or `diagonal` (diagonal plaquettes,
    /// CUE eigenphases, |C| <= 3). Default: general (or the config's).
    #[arg(long, value_enum)]
    data: Option<DataArg>,
    /// Mix weak fields into the general data: this share of the training samples (0 to 1) has
    /// links near the identity (eigenphase spread drawn up to --near-identity-spread), the small
    /// fluxes of smooth Bloch bundles that Haar-random links never give. Default: none (or the
    /// config's `data.near_identity`).
    #[arg(long, value_parser = unit_interval_f64)]
    near_identity: Option<f64>,
    /// Largest eigenphase spread of a weak-field link in radians (with --near-identity).
    /// Default: 1.0 (or the config's).
    #[arg(long, value_parser = positive_f64, requires = "near_identity")]
    near_identity_spread: Option<f64>,
    /// Epochs. Default: the config's, else 8 + 4n (12 for n = 1, 16 for n = 2, 24 for n = 4;
    /// also per n in `sweep` without a config).
    #[arg(long, value_parser = positive_usize)]
    epochs: Option<usize>,
    /// Fresh samples per epoch. Default: 1024 (or the config's).
    #[arg(long, value_parser = positive_usize)]
    samples_per_epoch: Option<usize>,
    /// Samples per optimiser step. Default: 32 (or the config's).
    #[arg(long, value_parser = positive_usize)]
    batch: Option<usize>,
    /// Adam learning rate before the cosine decay to 5% of it. Default: 1e-3 (or the config's).
    #[arg(long, value_parser = positive_f64)]
    lr: Option<f64>,
    /// Clip the gradient of all weights together to this Euclidean norm before each Adam update
    /// (torch's `clip_grad_norm_` rule). Default: no clipping (or the config's
    /// `optimizer.clip_grad_norm`).
    #[arg(long, value_parser = positive_f64)]
    clip_grad_norm: Option<f64>,
    /// Seed of the weights and of the sample stream. Default: 1 (or the config's).
    #[arg(long)]
    seed: Option<u64>,
    /// libtorch threads. Default: 1 (or the config's; 0 there is libtorch's choice).
    #[arg(long, value_parser = positive_usize)]
    threads: Option<usize>,
    /// Device: `auto` (CUDA when available, else the CPU), `cpu`, or `cuda` (an error without a
    /// CUDA device and a CUDA build of libtorch). Default: the config's, else auto.
    #[arg(long, value_enum)]
    device: Option<DeviceArg>,
    /// A JSON TrainConfig (see examples/genet-configs/); the flags override its fields.
    /// Default: none, the recipe for --bands.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Lattice extents given on the command line.
#[derive(Clone, Debug)]
struct Grid(Vec<usize>);

/// The largest lattice extent accepted on the command line (the memory check refuses most
/// grids far below it).
const MAX_EXTENT: usize = 1 << 20;

/// `5` -> [5, 5]; `3x3x3x3` -> [3, 3, 3, 3].
fn parse_grid(s: &str) -> std::result::Result<Grid, String> {
    let parts = s
        .split('x')
        .map(|p| chernet::cli::bounded_usize(p, MAX_EXTENT))
        .collect::<std::result::Result<Vec<usize>, String>>()
        .map_err(|e| format!("grid `{s}`: expected L or L1xL2[x..]: {e}"))?;
    let parts = if parts.len() == 1 {
        vec![parts[0]; 2]
    } else {
        parts
    };
    if parts.len() != 2 && parts.len() != 4 {
        return Err(format!(
            "grid `{s}`: give two extents (Chern number) or four (second Chern number)"
        ));
    }
    Ok(Grid(parts))
}

impl RunArgs {
    /// The TrainConfig: the --config file (or the recipe for the band count), then the flags.
    fn train_config(&self, bands: Option<usize>) -> Result<TrainConfig> {
        let mut cfg: TrainConfig = match &self.config {
            Some(path) => TrainConfig::from_json(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                path,
            )?,
            None => TrainConfig::recipe(
                bands.unwrap_or(1),
                self.grid
                    .as_ref()
                    .map_or_else(|| vec![5, 5], |g| g.0.clone()),
                self.trivial_only,
            ),
        };
        if let Some(b) = bands {
            cfg.bands = b;
        }
        if let Some(g) = &self.grid {
            cfg.grid = g.0.clone();
        }
        if self.trivial_only {
            cfg.trivial_only = true;
        }
        if self.published_layers {
            cfg.model.conjugation_odd = false;
        }
        if let Some(l) = self.loss {
            cfg.loss = loss_of(l);
        }
        if self.conjugation_odd {
            cfg.model.conjugation_odd = true;
        }
        match self.data {
            // A config's general data keeps its weak-field share.
            Some(DataArg::General) if !matches!(cfg.data, DataConfig::General { .. }) => {
                cfg.data = DataConfig::default();
            }
            Some(DataArg::Diagonal) => {
                cfg.data = DataConfig::Diagonal {
                    eigenphases: EigenphaseDistribution::Cue,
                    max_chern: 3,
                }
            }
            Some(DataArg::General) | None => {}
        }
        if let Some(fraction) = self.near_identity {
            let DataConfig::General { near_identity } = &mut cfg.data else {
                anyhow::bail!(
                    "--near-identity {fraction}: weak fields mix into the general data only, \
                     not the diagonal data"
                );
            };
            let max_spread = self
                .near_identity_spread
                .or(near_identity.map(|n| n.max_spread))
                .unwrap_or(1.0);
            *near_identity = Some(NearIdentity {
                fraction,
                max_spread,
            });
        }
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { cfg.$f = v; })* };
        }
        set!(epochs, samples_per_epoch, batch, seed, threads);
        if let Some(lr) = self.lr {
            cfg.optimizer.lr = lr;
        }
        if let Some(c) = self.clip_grad_norm {
            cfg.optimizer.clip_grad_norm = Some(c);
        }
        if let Some(d) = self.device {
            cfg.device = device_of(d);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a network (fresh samples every epoch), checkpoint and metrics in --out.
    #[command(allow_negative_numbers = true)]
    Train {
        /// Filled bands n (links in U(n)). Default: the config's, else 1.
        #[arg(long, value_parser = positive_usize)]
        bands: Option<usize>,
        #[command(flatten)]
        run: RunArgs,
        /// Continue the run in --out from its last checkpoint (the flags may raise --epochs and
        /// change --threads). Default: off (a fresh run).
        #[arg(long)]
        resume: bool,
        /// Run directory: config, checkpoint, metrics and loss curves (required).
        #[arg(long)]
        out: PathBuf,
    },
    /// Train one network per number of filled bands and evaluate each on several grids;
    /// writes sweep.json and sweep.svg in --out (rerun the same command to resume).
    #[command(allow_negative_numbers = true)]
    Sweep {
        /// Numbers of filled bands, comma-separated (required).
        #[arg(long, value_delimiter = ',', required = true, value_parser = positive_usize)]
        bands: Vec<usize>,
        #[command(flatten)]
        run: RunArgs,
        /// Evaluation grids, comma-separated, each `L` (L x L) or `L1xL2[x..]` (default: the training grid).
        #[arg(long, value_delimiter = ',', value_parser = parse_grid)]
        eval_grids: Vec<Grid>,
        /// Fresh all-C samples per network and grid.
        #[arg(long, default_value_t = 2000, value_parser = positive_usize)]
        eval_samples: usize,
        /// Seed of the evaluation samples.
        #[arg(long, default_value_t = 20_251_127)]
        eval_seed: u64,
        /// Sweep directory: one run directory per band count, sweep.json, sweep.svg (required).
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate a checkpoint on fresh all-C samples of the general dataset.
    #[command(allow_negative_numbers = true)]
    Eval {
        /// A run directory or its checkpoint.safetensors (required).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Evaluation grid, `L` or `L1xL2[x..]` (default: the training grid).
        #[arg(long, value_parser = parse_grid)]
        grid: Option<Grid>,
        /// Fresh samples to evaluate on.
        #[arg(long, default_value_t = 2000, value_parser = positive_usize)]
        samples: usize,
        /// Evaluate on Hamiltonian samples instead of Haar-random links. Accepted models: `qwz`
        /// (Qi-Wu-Zhang, n = 1), `random-smooth` (random smooth Bloch Hamiltonian, any n),
        /// `hofstadter:P/Q` (Hofstadter at flux P/Q, e.g. hofstadter:1/3). Default: none
        /// (Haar-random links of all C).
        #[arg(long, value_parser = parse_model)]
        hamiltonian: Option<ModelSpec>,
        /// Seed of the evaluation samples.
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        /// Samples per forward pass.
        #[arg(long, default_value_t = 64, value_parser = positive_usize)]
        batch: usize,
        /// libtorch threads. Default: libtorch's choice.
        #[arg(long, value_parser = positive_usize)]
        threads: Option<usize>,
        /// Device: `auto` (CUDA when available, else the CPU), `cpu`, or `cuda` (an error without a
        /// CUDA device and a CUDA build of libtorch). Default: auto.
        #[arg(long, value_enum, default_value = "auto")]
        device: DeviceArg,
        /// Print the report as JSON (no progress bar). Default: a text report.
        #[arg(long)]
        json: bool,
    },
    /// Reproduce the GENet paper's tables (Table 2, Table 3, grid and Hamiltonian
    /// generalisation, 4D): one resumable run directory per row, then results.json, results.md
    /// and figures in --out. Rerun the same command to resume; finished rows are skipped.
    #[command(allow_negative_numbers = true)]
    Reproduce {
        /// Rows to run, comma-separated ids; `prefix*` names a group (e.g.
        /// `table2_n4,grid_n4_*`; see --list). Default: every row.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Run shard k of N (k = 0..N-1): every N-th training row, with the rows that evaluate
        /// its network. Shards may share --out (each row is claimed atomically); a final run
        /// without --shard assembles the table. Default: no sharding (all selected rows).
        #[arg(long, value_parser = parse_shard, allow_hyphen_values = true)]
        shard: Option<Shard>,
        /// Training budget per row in minutes (all runs of the row together): training stops at
        /// the first epoch boundary past it, the row is evaluated and marked incomplete, and a
        /// rerun with a larger budget resumes it. Default: none (every row trains all its epochs).
        #[arg(long, value_parser = positive_f64)]
        budget_minutes: Option<f64>,
        /// Device: `auto` (CUDA when available, else the CPU), `cpu`, or `cuda`. Default: the
        /// row configs' (cpu).
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
        /// libtorch threads. Default: 1 (the row configs').
        #[arg(long, value_parser = positive_usize)]
        threads: Option<usize>,
        /// Samples per forward pass in evaluations on 5x5; larger grids pass proportionally
        /// fewer (64 -> 16 on 10x10, 1 on 32x32). Default: 64.
        #[arg(long, default_value_t = 64, value_parser = positive_usize)]
        eval_batch: usize,
        /// Only gather the finished rows into results.json, results.md and the figures; train
        /// and evaluate nothing. Default: off.
        #[arg(long, conflicts_with = "shard")]
        assemble_only: bool,
        /// Print the rows (id, what, paper, goal) and exit. Default: off.
        #[arg(long)]
        list: bool,
        /// Reproduction directory: one directory per row, results.json, results.md and the
        /// figures. Default: runs/reproduce.
        #[arg(long, default_value = "runs/reproduce")]
        out: PathBuf,
    },
    /// Give a checkpoint written before checkpoints carried a checksum its checksum, after
    /// checking its configuration, run state, finite weights and the network's shapes (an
    /// explicit decision to trust the file; one that has a checksum is left alone).
    UpgradeCheckpoint {
        /// A run directory or its checkpoint.safetensors.
        checkpoint: PathBuf,
    },
    /// Train trivial-only n = 1 on 5x5, calibrate, evaluate on all Chern numbers, explain.
    #[command(allow_negative_numbers = true)]
    Demo {
        /// Run directory of the demo's training.
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        /// libtorch threads; the demo's tensors are small, one thread is fastest.
        #[arg(long, default_value_t = 1, value_parser = positive_usize)]
        threads: usize,
    },
    /// Ensembles of a trained network (LoRA adapters, or M networks trained from scratch) and
    /// the calibrated uncertainty of their predictions.
    Ensemble {
        #[command(subcommand)]
        command: EnsembleCommand,
    },
    /// Training throughput (samples/s) and peak memory on one fixed batch.
    #[command(allow_negative_numbers = true)]
    Bench {
        /// Filled bands n.
        #[arg(long, default_value_t = 4, value_parser = positive_usize)]
        bands: usize,
        /// Grid extent L (L x L).
        #[arg(long, default_value_t = 5, value_parser = positive_usize)]
        grid: usize,
        /// Samples per optimiser step.
        #[arg(long, default_value_t = 32, value_parser = positive_usize)]
        batch: usize,
        /// Timed optimiser steps.
        #[arg(long, default_value_t = 10, value_parser = positive_usize)]
        steps: usize,
        /// libtorch threads.
        #[arg(long, default_value_t = 2, value_parser = positive_usize)]
        threads: usize,
        /// Accumulate gradients over chunks of this many samples (0: whole batch).
        #[arg(long, default_value_t = 0, value_parser = non_negative_usize)]
        micro_batch: usize,
        /// Print the result as JSON. Default: text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EnsembleCommand {
    /// Fine-tune an M-member LoRA ensemble around a trained, frozen network (or, with
    /// --explicit, train M networks from scratch); members, checkpoint, metrics and
    /// mi_per_epoch.svg in --out, whose ensemble.json is written last.
    #[command(allow_negative_numbers = true)]
    Train(Box<EnsembleTrainArgs>),
    /// Evaluate an ensemble: predictive distribution over integer Chern numbers per sample,
    /// calibration, error and out-of-distribution detection, single-model baselines.
    #[command(allow_negative_numbers = true)]
    Eval(Box<EnsembleEvalArgs>),
}

#[derive(Args)]
struct EnsembleTrainArgs {
    /// The trained base network: a run directory of `genet train` or its checkpoint file
    /// (required).
    #[arg(long)]
    base: PathBuf,
    /// Members M (at least 1). Default: 5.
    #[arg(long, default_value_t = 5, value_parser = non_negative_usize)]
    members: usize,
    /// Rank r of every adapter (at least 1; unused with --explicit). Default: 4.
    #[arg(long, default_value_t = 4, value_parser = non_negative_usize)]
    rank: usize,
    /// LoRA alpha: the update is (alpha / r) B A (unused with --explicit). Default: 8.
    #[arg(long, default_value_t = 8.0, value_parser = positive_f64)]
    alpha: f64,
    /// lambda of the regulariser lambda * sum ||B_m A_m||_F^2 (unused with --explicit).
    /// Default: 0.001.
    #[arg(long, default_value_t = 1e-3, value_parser = non_negative_f64)]
    lambda: f64,
    /// Train M full networks with the base run's configuration and seeds seed+1..seed+M
    /// instead of adapters (the explicit ensemble). Default: off (LoRA).
    #[arg(long)]
    explicit: bool,
    /// Epochs. Default: 4 for LoRA; the base run's for --explicit.
    #[arg(long, value_parser = non_negative_usize)]
    epochs: Option<usize>,
    /// Fresh samples per epoch, read by every member in its own order (LoRA). Default: 1024.
    #[arg(long, default_value_t = 1024, value_parser = non_negative_usize)]
    samples_per_epoch: usize,
    /// Samples per member and optimiser step (LoRA). Default: 32.
    #[arg(long, default_value_t = 32, value_parser = non_negative_usize)]
    batch: usize,
    /// Adam learning rate before the cosine decay to 5% of it (LoRA). Default: 0.002.
    #[arg(long, default_value_t = 2e-3, value_parser = positive_f64)]
    lr: f64,
    /// Per-member gradient clipping norm (LoRA; 0: none). Default: 1.
    #[arg(long, default_value_t = 1.0, value_parser = non_negative_f64)]
    max_grad_norm: f64,
    /// Seed: member m gets seed + 1 + m (adapter initialisation and data order, or the run's
    /// seed with --explicit). Default: the base run's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// The number of filled bands the base must have been trained on (a base of another band
    /// count is refused). Default: not checked.
    #[arg(long, value_parser = positive_usize)]
    bands: Option<usize>,
    /// libtorch threads. Default: 1.
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    threads: usize,
    /// Continue the interrupted LoRA training in --out with its stored settings (--epochs may
    /// raise the epoch count). --explicit always continues the member runs found in --out and
    /// keeps the complete ones. Default: off (a fresh ensemble; an existing one in --out is an
    /// error).
    #[arg(long)]
    resume: bool,
    /// Device of the LoRA training: `auto`, `cpu` or `cuda` (--explicit trains on the base
    /// run's device). Default: cpu.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Ensemble directory (required).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
#[group(id = "ood", multiple = false)]
struct OodArgs {
    /// Out-of-distribution set: Haar-random links on this grid (`L` or `L1xL2`). Default: none.
    #[arg(long, value_parser = parse_grid, group = "ood")]
    ood_grid: Option<Grid>,
    /// Out-of-distribution set: Haar-random U(n2) links (n2 filled bands) on --grid.
    /// Default: none.
    #[arg(long, group = "ood", value_parser = positive_usize)]
    ood_bands: Option<usize>,
    /// Out-of-distribution set: Hamiltonian samples (`qwz`, `random-smooth`,
    /// `hofstadter:P/Q`) on --grid. Default: none.
    #[arg(long, group = "ood", value_parser = parse_model)]
    ood_hamiltonian: Option<ModelSpec>,
}

#[derive(Args)]
struct EnsembleEvalArgs {
    /// Ensemble directory written by `genet ensemble train` (required).
    #[arg(long)]
    ensemble: PathBuf,
    /// Evaluation grid, `L` or `L1xL2` (required).
    #[arg(long, value_parser = parse_grid)]
    grid: Grid,
    /// Fresh test samples (and as many out-of-distribution samples). Default: 1000.
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    samples: usize,
    /// Filled bands of the test samples; must be the base's (other counts: --ood-bands).
    /// Default: the base's.
    #[arg(long, value_parser = positive_usize)]
    bands: Option<usize>,
    /// Test on Hamiltonian samples (`qwz`, `random-smooth`, `hofstadter:P/Q`). Default: none
    /// (Haar-random links of all C).
    #[arg(long, value_parser = parse_model)]
    hamiltonian: Option<ModelSpec>,
    #[command(flatten)]
    ood: OodArgs,
    /// Samples of the calibration set sigma is fitted on (same domain, another seed).
    /// Default: 500.
    #[arg(long, default_value_t = 500, value_parser = positive_usize)]
    calibration_samples: usize,
    /// Seed of the test samples. Default: 12345.
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Samples per forward pass (of every member), halved until the memory estimate fits the
    /// limit (CHERNET_MEMORY_LIMIT or the machine's memory); it changes the predictions by
    /// rounding only. Default: 64.
    #[arg(long, default_value_t = 64, value_parser = positive_usize)]
    batch: usize,
    /// libtorch threads. Default: 1.
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    threads: usize,
    /// Also evaluate the members one after another (LoRA: merged into the base one at a
    /// time) and report the speed-up of the batched pass. Default: off.
    #[arg(long)]
    time_one_by_one: bool,
    /// Write SVG figures into this directory (entropy and MI histograms per domain,
    /// risk-coverage, reliability, MI per epoch). Default: none.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Print the result as one JSON object. Default: a text summary.
    #[arg(long)]
    json: bool,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    s.parse().map_err(|e: gauge_nn::Error| e.to_string())
}

fn parse_model(s: &str) -> std::result::Result<ModelSpec, String> {
    s.parse().map_err(|e: gauge_nn::Error| e.to_string())
}

/// libtorch's intra-op thread count, set here (the library never changes it).
fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
}

fn device_of(arg: DeviceArg) -> DeviceChoice {
    match arg {
        DeviceArg::Auto => DeviceChoice::Auto,
        DeviceArg::Cpu => DeviceChoice::Cpu,
        DeviceArg::Cuda => DeviceChoice::Cuda,
    }
}

fn loss_of(arg: LossArg) -> LossConfig {
    match arg {
        LossArg::Local => LossConfig::Local,
        LossArg::Global => LossConfig::PAPER_GLOBAL,
        LossArg::GlobalWeighted => LossConfig::Global {
            delta: 0.5,
            spread_weight: 10.0,
        },
        LossArg::ScaleInvariant => LossConfig::ScaleInvariant,
        LossArg::CutWeighted => LossConfig::CutWeighted {
            weight: 10.0,
            width: 0.05,
        },
    }
}

fn main() {
    // Freed tensor memory is kept for the next step instead of being faulted in again (a third of
    // the CPU time of a training run on glibc; CHERNET_MALLOC=system keeps the defaults).
    gauge_nn::allocator::keep_freed_memory();
    chernet::cli::exit_on_error("genet", run(chernet::cli::parse_args("genet")));
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train {
            bands,
            run,
            resume,
            out,
        } => {
            let start = if resume {
                RunStart::Resume {
                    epochs: run.epochs,
                    threads: run.threads,
                }
            } else {
                RunStart::New(Box::new(run.train_config(bands)?))
            };
            let mut trainer = open_run(&TrainRunOptions {
                dir: out.clone(),
                start,
                memory_check: Some(check_memory),
            })?;
            set_threads(trainer.config().threads);
            println!("training on {:?}", trainer.var_store().device());
            let metrics = trainer.train(true)?;
            let last = metrics.last();
            println!(
                "trained {} epochs in {:.1} s (total {:.1} s); last loss {}; output scale {:.4}; checkpoint in {}",
                metrics.len(),
                metrics.iter().map(|m| m.seconds).sum::<f64>(),
                trainer.state().train_seconds,
                last.map(|m| format!("{:.4}", m.loss))
                    .unwrap_or_else(|| "-".into()),
                trainer.state().rescale,
                out.display()
            );
            plot::training_curves(&read_metrics(&out)?, &out.join("loss.svg"))?;
        }
        Command::Sweep {
            bands,
            run,
            eval_grids,
            eval_samples,
            eval_seed,
            out,
        } => {
            let config = BandSweepConfig {
                bands,
                epochs_grow_with_bands: run.config.is_none() && run.epochs.is_none(),
                train: run.train_config(None)?,
                grids: eval_grids.into_iter().map(|g| g.0).collect(),
                eval_samples,
                eval_seed,
                ..Default::default()
            };
            config.check_memory(Some(check_memory))?;
            set_threads(config.train.threads);
            sweep(&config, &out)?;
        }
        Command::Eval {
            checkpoint,
            grid,
            samples,
            hamiltonian,
            seed,
            batch,
            threads,
            device,
            json,
        } => {
            set_threads(threads.unwrap_or(0));
            let result = evaluate_run(&RunEvalOptions {
                checkpoint,
                request: EvalRequest {
                    grid: grid.map(|g| g.0),
                    samples,
                    hamiltonian,
                    seed,
                    batch,
                    progress: !json,
                },
                device: device_of(device).device()?,
                memory_check: Some(check_memory),
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print_report(&result.report, &result.grid, result.bands);
                if let Some(slope) = result.small_flux_slope {
                    println!(
                        "small-flux slope {slope:.4} (exact 1; predictions on fine grids of smooth \
                         bands are about slope x C)"
                    );
                }
            }
        }
        Command::Ensemble { command } => match command {
            // One line on failure: the message already names the file, key or value at fault.
            EnsembleCommand::Train(args) => {
                ensemble_train(&args).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            EnsembleCommand::Eval(args) => {
                ensemble_eval(&args).map_err(|e| anyhow::anyhow!("{e}"))?
            }
        },
        Command::Reproduce {
            only,
            shard,
            budget_minutes,
            device,
            threads,
            eval_batch,
            assemble_only,
            list,
            out,
        } => {
            let options = RowOptions {
                budget_seconds: budget_minutes.map(|m| 60.0 * m),
                device: device.map(device_of),
                threads,
                eval_batch,
                progress: true,
                ..RowOptions::new(out)
            };
            let only = (!only.is_empty()).then_some(only);
            run_reproduce(only.as_deref(), shard, &options, assemble_only, list)?;
        }
        Command::UpgradeCheckpoint { checkpoint } => {
            if Checkpoint::upgrade(&checkpoint)? {
                println!("{}: checked and given a checksum", checkpoint.display());
            } else {
                println!(
                    "{}: already has a checksum, left as it is",
                    checkpoint.display()
                );
            }
        }
        Command::Demo { out, threads } => {
            set_threads(threads);
            demo(&out, threads)?
        }
        Command::Bench {
            bands,
            grid,
            batch,
            steps,
            threads,
            micro_batch,
            json,
        } => {
            set_threads(threads);
            bench(bands, grid, batch, steps, threads, micro_batch, json)?;
        }
    }
    Ok(())
}

/// A measured value as text: a percentage for accuracies, else the mean absolute error.
fn shown(metric: reproduce::Metric, v: f64) -> String {
    match metric {
        reproduce::Metric::Accuracy => format!("{:.2}%", 100.0 * v),
        reproduce::Metric::MeanAbsError => format!("MAE {v:.3}"),
    }
}

/// `genet reproduce`: lists, runs or assembles the paper's rows, one status line per row.
fn run_reproduce(
    only: Option<&[String]>,
    shard: Option<Shard>,
    options: &RowOptions,
    assemble_only: bool,
    list: bool,
) -> Result<()> {
    let plan = reproduce::paper_plan();
    let rows = reproduce::plan::select(&plan, only, shard)?;
    if list {
        for r in &rows {
            println!(
                "{:<26} {}{}{}",
                r.id,
                r.what,
                r.paper
                    .map(|p| format!("; paper {}", shown(r.metric(), p)))
                    .unwrap_or_default(),
                r.goal
                    .map(|g| format!("; goal {}", shown(r.metric(), g.value)))
                    .unwrap_or_default()
            );
        }
        return Ok(());
    }
    if !assemble_only {
        reproduce::check_memory(&plan, &rows, options, Some(check_memory))?;
        set_threads(options.threads.unwrap_or(1));
        println!(
            "{} rows{} in {}",
            rows.len(),
            shard
                .map(|s| format!(" (shard {}/{})", s.index, s.count))
                .unwrap_or_default(),
            options.out.display()
        );
        reproduce::run_rows(&plan, &rows, options, |row, status| {
            match status {
                RowStatus::Measured(r) | RowStatus::Finished(r) => println!(
                    "{:<26} {} ± {} (paper {}), {}/{} epochs, {:.0} s training{}",
                    row.id,
                    shown(r.metric, r.value),
                    shown(r.metric, r.standard_error).trim_start_matches("MAE "),
                    r.paper
                        .map(|p| shown(r.metric, p))
                        .unwrap_or_else(|| "-".into()),
                    r.epochs,
                    r.planned_epochs,
                    r.train_seconds,
                    if matches!(status, RowStatus::Finished(_)) {
                        " [finished earlier]"
                    } else {
                        ""
                    }
                ),
                RowStatus::ClaimedElsewhere { path, holder } => println!(
                    "{:<26} skipped: claimed by {} ({}; delete it if that job is gone)",
                    row.id,
                    holder
                        .as_ref()
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another process".into()),
                    path.display()
                ),
                RowStatus::Waiting { model } => println!(
                    "{:<26} waiting: its network ({model}) is not trained yet",
                    row.id
                ),
            }
            Ok(())
        })?;
    }
    if shard.is_some() {
        println!(
            "shard done; run `genet reproduce --assemble-only --out {}` once every shard has finished",
            options.out.display()
        );
        return Ok(());
    }
    let results = reproduce::assemble(&plan, &options.out)?;
    plot::reproduce_figures(&results, &options.out)?;
    println!(
        "{} of {} rows measured; wrote {}, {} and the figures in {}",
        results.rows.len(),
        plan.len(),
        options.out.join(reproduce::report::RESULTS_JSON).display(),
        options.out.join(reproduce::report::RESULTS_MD).display(),
        options.out.display()
    );
    Ok(())
}

/// Runs the demo, prints its evaluations and what they mean, and draws its figures.
fn demo(out: &Path, threads: usize) -> Result<()> {
    let cfg = gauge_nn::demo::demo_config(threads);
    let r = gauge_nn::demo::run_demo(out, threads, true, |trainer| {
        println!(
            "GENet demo: GEBLNet ({} real parameters, outputs odd under complex conjugation) on U({}) links, \
             {} grid, trained on samples with Chern number 0 only.",
            gauge_nn::model::parameter_count(trainer.var_store()),
            cfg.bands,
            grid_name(&cfg.grid)
        );
    })?;
    for e in &r.evaluations {
        print_report(&e.report, &e.grid, r.bands);
    }
    plot::training_curves(&r.metrics, &out.join("loss.svg"))?;
    plot::predictions(&r.evaluations[0].report, &out.join("predictions.svg"))?;
    let [own, big, qwz] = [&r.evaluations[0], &r.evaluations[1], &r.evaluations[2]];
    let pct = |x: f64| 100.0 * x;
    println!(
        "\nWhat this means: the network never saw a sample with a non-zero Chern number. It was trained \
         only to make its per-plaquette outputs sum to zero on trivial samples, without collapsing to a \
         constant. Because every layer is gauge equivariant and acts site by site, the only way to do that \
         on all inputs is to output (a multiple of) the local Berry flux of each plaquette, so the sum is \
         proportional to the Chern number. One scalar, k = {:.3}, fitted by least squares on 512 \
         separate labelled samples, fixes that multiple. With it, round(k * sum f) equals the true Chern \
         number on {:.1}% of {} fresh random samples with C from {} to {} ({:.1}% of those with C != 0), \
         on {:.1}% of {} samples on a 10x10 grid it was never trained on, and on {:.1}% of {} QWZ insulators \
         (occupied band of a real Bloch Hamiltonian, 12x12 k-grid). Training took {:.0} s, \
         everything {:.0} s; outputs are in {}.",
        r.rescale,
        pct(own.accuracy),
        own.samples,
        own.by_chern.first().map(|b| b.chern).unwrap_or(0),
        own.by_chern.last().map(|b| b.chern).unwrap_or(0),
        pct(own.accuracy_nontrivial.unwrap_or(f64::NAN)),
        pct(big.accuracy),
        big.samples,
        pct(qwz.accuracy),
        qwz.samples,
        r.train_seconds,
        r.total_seconds,
        out.display()
    );
    Ok(())
}

fn print_report(r: &EvalReport, grid: &[usize], bands: usize) {
    println!(
        "\nbands {bands}, grid {}, {} samples, output scale {:.4}",
        grid_name(grid),
        r.samples,
        r.rescale
    );
    println!(
        "accuracy {:.2}% (C != 0: {}), mean |kF - C| = {:.3}",
        100.0 * r.accuracy,
        r.accuracy_nontrivial
            .map(|a| format!("{:.2}%", 100.0 * a))
            .unwrap_or_else(|| "-".into()),
        r.mean_abs_error
    );
    println!("   C  samples  correct  accuracy");
    for b in &r.by_chern {
        println!(
            "{:>4} {:>8} {:>8} {:>8.1}%",
            b.chern,
            b.samples,
            b.correct,
            100.0 * b.correct as f64 / b.samples as f64
        );
    }
}

/// Runs the sweep, printing one table row per network as it finishes.
fn sweep(config: &BandSweepConfig, out: &Path) -> Result<()> {
    config.validate()?;
    let grids = config.eval_grids();
    println!(
        "sweep over filled bands {:?}: training on {}{}, {} epochs x {} samples each; evaluating on {} \
         ({} fresh all-C samples each); results in {}",
        config.bands,
        grid_name(&config.train.grid),
        if config.train.trivial_only {
            " (C = 0 samples only)"
        } else {
            ""
        },
        config.train.epochs,
        config.train.samples_per_epoch,
        grids
            .iter()
            .map(|g| grid_name(g))
            .collect::<Vec<_>>()
            .join(", "),
        config.eval_samples,
        out.display()
    );
    let row = |step: &SweepStep<'_>| {
        let run: &BandRun = step.run;
        let accs: Vec<String> = run
            .evaluations
            .iter()
            .map(|e| {
                format!(
                    "{:>8.2}% / {:>7}",
                    100.0 * e.accuracy,
                    e.accuracy_nontrivial
                        .map(|a| format!("{:.2}%", 100.0 * a))
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect();
        println!(
            "n = {:<2} {:>5} epochs {:>8.0} s  loss {:>8}  k {:>7.4}  | {}",
            run.bands,
            run.epochs,
            run.train_seconds,
            run.final_loss
                .map(|l| format!("{l:.4}"))
                .unwrap_or_else(|| "-".into()),
            run.rescale,
            accs.join(" | ")
        );
        plot::sweep_step(step)?;
        Ok(())
    };
    println!(
        "accuracy on all C / on C != 0, per evaluation grid: {}",
        grids
            .iter()
            .map(|g| grid_name(g))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    run_band_sweep(config, out, true, row)?;
    println!(
        "wrote {} and {} (per-run checkpoints, metrics and plots in {}/n*/)",
        out.join(gauge_nn::sweep::SWEEP_JSON).display(),
        out.join(gauge_nn::sweep::SWEEP_SVG).display(),
        out.display()
    );
    Ok(())
}

/// The bench's JSON line.
#[derive(Serialize)]
struct BenchReport {
    #[serde(rename = "impl")]
    implementation: &'static str,
    bands: usize,
    grid: usize,
    batch: usize,
    micro_batch: usize,
    threads: usize,
    steps: usize,
    seconds_per_step: f64,
    samples_per_second: f64,
    peak_rss_bytes: u64,
    /// `keep_freed_memory` when `gauge_nn::allocator` set glibc's `malloc` up, `default` otherwise.
    allocator: &'static str,
    /// The same allocator settings as a `GLIBC_TUNABLES` value, for a reference process that
    /// should allocate the same way (absent when the settings are not in effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    glibc_tunables: Option<String>,
}

/// Peak resident memory of this process in bytes (VmHWM), if the kernel reports it.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn bench(
    bands: usize,
    grid: usize,
    batch: usize,
    steps: usize,
    threads: usize,
    micro_batch: usize,
    json: bool,
) -> Result<()> {
    let cfg = TrainConfig {
        bands,
        grid: vec![grid, grid],
        loss: LossConfig::Local,
        batch,
        micro_batch,
        threads,
        calibration_samples: 0,
        validation_samples: 0,
        ..Default::default()
    };
    check_training_memory(Some(check_memory), &cfg)?;
    let per_step = gauge_nn::train::seconds_per_step(&cfg, steps)?;
    let secs = per_step * steps as f64;
    let rate = batch as f64 / per_step;
    let peak = peak_rss().unwrap_or(0);
    let kept = gauge_nn::allocator::keeps_freed_memory();
    let allocator = if kept { "keep_freed_memory" } else { "default" };
    if json {
        println!(
            "{}",
            serde_json::to_string(&BenchReport {
                implementation: "gauge-nn",
                bands,
                grid,
                batch,
                micro_batch,
                threads,
                steps,
                seconds_per_step: secs / steps as f64,
                samples_per_second: rate,
                peak_rss_bytes: peak,
                allocator,
                glibc_tunables: kept.then(gauge_nn::allocator::glibc_tunables),
            })?
        );
    } else {
        println!(
            "gauge-nn GEBLNet train step, n = {bands}, {grid}x{grid}, batch {batch}, {threads} threads: \
             {:.3} s/step, {rate:.1} samples/s, peak RSS {:.2} GiB, {allocator} allocator",
            secs / steps as f64,
            peak as f64 / (1u64 << 30) as f64
        );
    }
    Ok(())
}

/// `genet ensemble train`.
fn ensemble_train(a: &EnsembleTrainArgs) -> Result<()> {
    use gauge_nn::ensemble::{EnsembleKind, EnsembleTrainOptions, train_ensemble};
    set_threads(a.threads);
    let options = EnsembleTrainOptions {
        kind: if a.explicit {
            EnsembleKind::Explicit
        } else {
            EnsembleKind::Lora
        },
        members: a.members,
        seed: a.seed,
        bands: a.bands,
        epochs: a.epochs,
        rank: a.rank,
        alpha: a.alpha,
        lambda: a.lambda,
        samples_per_epoch: a.samples_per_epoch,
        batch: a.batch,
        lr: a.lr,
        max_grad_norm: (a.max_grad_norm > 0.0).then_some(a.max_grad_norm),
        threads: a.threads,
        device: device_of(a.device),
        resume: a.resume,
        progress: true,
        memory_check: Some(check_memory),
        ..EnsembleTrainOptions::new(&a.base, &a.out)
    };
    let r = train_ensemble(&options)?;
    match r.kind {
        EnsembleKind::Explicit => println!(
            "trained {} networks of {} epochs each in {:.1} s; explicit ensemble in {}",
            r.members,
            r.epochs,
            r.train_seconds,
            a.out.display()
        ),
        EnsembleKind::Lora => println!(
            "fine-tuned {} LoRA members (rank {}) for {} epochs ({} now) in {:.1} s; validation on \
             {}: accuracy {}, mean MI {}; ensemble in {}",
            r.members,
            r.rank.unwrap_or_default(),
            r.epochs,
            r.epochs_now.unwrap_or_default(),
            r.train_seconds,
            grid_name(&r.base_grid),
            r.last
                .as_ref()
                .map(|m| format!("{:.2}%", 100.0 * m.accuracy))
                .unwrap_or_else(|| "-".into()),
            r.last
                .as_ref()
                .map(|m| format!("{:.4}", m.mutual_information))
                .unwrap_or_else(|| "-".into()),
            a.out.display()
        ),
    }
    Ok(())
}

/// `genet ensemble eval`.
fn ensemble_eval(a: &EnsembleEvalArgs) -> Result<()> {
    use gauge_nn::ensemble::{
        EnsembleEvalOptions, EnsembleEvalRequest, OodSet, evaluate_ensemble_dir,
    };
    set_threads(a.threads);
    let ood = match (&a.ood.ood_grid, a.ood.ood_bands, a.ood.ood_hamiltonian) {
        (Some(g), _, _) => Some(OodSet::Grid(g.0.clone())),
        (_, Some(n), _) => Some(OodSet::Bands(n)),
        (_, _, Some(h)) => Some(OodSet::Hamiltonian(h)),
        _ => None,
    };
    let request = EnsembleEvalRequest {
        grid: a.grid.0.clone(),
        samples: a.samples,
        bands: a.bands,
        hamiltonian: a.hamiltonian,
        ood,
        calibration_samples: a.calibration_samples,
        seed: a.seed,
        batch: a.batch,
        time_one_by_one: a.time_one_by_one,
    };
    let options = EnsembleEvalOptions {
        plots: a.plots.clone(),
        memory_check: Some(check_memory),
        ..EnsembleEvalOptions::new(&a.ensemble, request)
    };
    let eval = evaluate_ensemble_dir(&options)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&eval)?);
        return Ok(());
    }
    let u = &eval.uncertainty;
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    println!(
        "{} ensemble of {} members on {} samples ({}, n = {}, {}), sigma {:.3}",
        eval.kind,
        u.members,
        u.samples,
        grid_name(&eval.grid),
        eval.bands,
        eval.data,
        u.sigma
    );
    println!(
        "accuracy {:.2}% (members {:.2}%, single model {:.2}%); NLL {:.4} (single {:.4}); \
         ECE {:.4} (members {:.4}, single {:.4}); Brier {:.4}",
        100.0 * u.accuracy,
        100.0 * u.member_accuracy,
        100.0 * eval.single_accuracy,
        u.nll,
        eval.single_nll,
        u.ece,
        u.member_ece,
        eval.single_ece,
        u.brier
    );
    println!(
        "errors detected: AUROC entropy {}, MI {} (single model: margin {}, eigenphase distance {}); \
         accuracy at 90% coverage {:.2}% (margin {:.2}%); AURC {:.4}",
        opt(u.auroc_entropy),
        opt(u.auroc_mi),
        opt(eval.auroc_margin),
        opt(eval.auroc_eigenphase),
        100.0 * u.accuracy_at_90,
        100.0 * eval.accuracy_at_90_margin,
        u.aurc
    );
    println!(
        "mean predictive entropy {:.4}, mutual information {:.4} nats",
        u.predictive_entropy, u.mutual_information
    );
    if let Some(o) = &eval.ood {
        println!(
            "OOD {}: accuracy {:.2}%, entropy {:.4}, MI {:.4}; AUROC vs test: entropy {}, MI {}",
            o.domain,
            100.0 * o.uncertainty.accuracy,
            o.uncertainty.predictive_entropy,
            o.uncertainty.mutual_information,
            opt(eval.auroc_ood_entropy),
            opt(eval.auroc_ood_mi)
        );
    }
    if let Some(s) = eval.seconds_one_by_one {
        println!(
            "members: {:.3} s together, {s:.3} s one by one ({:.2}x); single model {:.3} s",
            eval.seconds_members,
            s / eval.seconds_members,
            eval.seconds_single
        );
    }
    Ok(())
}
