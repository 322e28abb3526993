//! `chern`: Chern numbers of built-in and user models from the command line.
//!
//! ```text
//! cargo run --release --example chern -- qwz --m 1 --grid 48 --filled 1 --json
//! cargo run --release --example chern -- hofstadter --p 1 --q 5 --grid 60 --filled 2
//! cargo run --release --example chern -- dirac4d --m 1 --grid 10 --filled 2
//! cargo run --release --example chern -- tb --file model.toml --grid 48 --filled 1 --plot berry.svg
//! cargo run --release --example chern -- w90 --file wannier90_hr.dat --k3 0.5 --grid 48 --bands 0,1
//! cargo run --release --example chern -- scan qwz --m -3:3:0.05 --grid 48 --filled 1 --plot phase.svg
//! cargo run --release --example chern -- z2 kane-mele --lambda-so 0.06 --lambda-r 0.05 --lambda-v 0.1 --grid 30 --json
//! cargo run --release --example chern -- z2 fu-kane-mele --lambda-so 0.125 --dt 0.4 --grid 12 --json
//! cargo run --release --example chern -- scan z2 kane-mele --lambda-so 0.06 --lambda-v 0:0.6:0.02 --lambda-r 0:0.1:0.005 --grid 30 --plot z2.svg
//! ```
//! Parsing and printing only: every number comes from the `chern` crate.
use anyhow::{Context, Result, bail};
use chern::{
    BandSet, ChernConfig, Invariant, Method, ModelSpec, Occupation, Setup, SignConvention,
    SpinOrdering, Sweep, Tolerances, Z2Config, Z2Method, Z2Model, Z2Report,
};
use chernet::cli::{
    check_memory, finite_f64, non_negative_f64, non_negative_usize, positive_f64, positive_usize,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "chern",
    about = "Exact Fukui-Hatsugai-Suzuki Chern numbers of Bloch Hamiltonians",
    after_help = "Work whose memory estimate exceeds the machine's memory is refused up front; \
                  the environment variable CHERNET_MEMORY_LIMIT (for example 64G) sets the limit."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Qi-Wu-Zhang model.
    #[command(allow_negative_numbers = true)]
    Qwz {
        /// Mass m.
        #[arg(long, value_parser = finite_f64)]
        m: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Haldane model (reduced coordinates).
    #[command(allow_negative_numbers = true)]
    Haldane {
        #[command(flatten)]
        p: HaldaneArgs<f64>,
        #[command(flatten)]
        common: Common,
    },
    /// Hofstadter model at flux p/q (q bands).
    #[command(allow_negative_numbers = true)]
    Hofstadter {
        /// Flux numerator.
        #[arg(long)]
        p: i64,
        /// Flux denominator (number of bands).
        #[arg(long, value_parser = positive_usize)]
        q: usize,
        /// Hopping.
        #[arg(long, default_value_t = 1.0, value_parser = finite_f64)]
        t: f64,
        #[command(flatten)]
        common: Common,
    },
    /// 4D lattice Dirac model: second Chern number of the occupied bands.
    #[command(allow_negative_numbers = true)]
    Dirac4d {
        /// Mass m.
        #[arg(long, value_parser = finite_f64)]
        m: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Tight-binding model from a hopping list (.json or .toml). PythTB reports the opposite
    /// sign for the same hoppings (textbook Berry connection): `--sign textbook` gives its number.
    #[command(allow_negative_numbers = true)]
    Tb {
        /// Model file.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Wannier90 _hr.dat model, on the plane k3 = 2 pi K.
    #[command(allow_negative_numbers = true)]
    W90 {
        /// The _hr.dat file.
        #[arg(long)]
        file: PathBuf,
        /// Fixed third momentum in reduced units (k3 = 2 pi K).
        #[arg(long, default_value_t = 0.0, value_parser = finite_f64)]
        k3: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Sweep one parameter (written a:b:step) and print/plot the phase diagram; `scan z2`
    /// sweeps two.
    Scan {
        #[command(subcommand)]
        model: ScanModel,
    },
    /// Z2 invariant of a time-reversal-invariant insulator (2D), or the strong and weak indices
    /// (nu0; nu1 nu2 nu3) of a 3D one.
    Z2 {
        #[command(subcommand)]
        model: Z2Command,
    },
}

#[derive(Subcommand)]
enum Z2Command {
    /// Kane-Mele model: graphene with spin-orbit coupling (Kane and Mele, PRL 95, 146802).
    #[command(allow_negative_numbers = true)]
    KaneMele {
        #[command(flatten)]
        p: KaneMeleArgs<f64>,
        #[command(flatten)]
        common: Z2Common,
    },
    /// Bernevig-Hughes-Zhang model on the square lattice.
    #[command(allow_negative_numbers = true)]
    Bhz {
        #[command(flatten)]
        p: BhzArgs<f64>,
        #[command(flatten)]
        common: Z2Common,
    },
    /// Fu-Kane-Mele model on the diamond lattice (3D: strong and weak indices).
    #[command(allow_negative_numbers = true)]
    FuKaneMele {
        #[command(flatten)]
        p: FuKaneMeleArgs<f64>,
        #[command(flatten)]
        common: Z2Common,
    },
    /// QWZ read as one spinful orbital: a Chern insulator, which breaks time reversal.
    #[command(allow_negative_numbers = true)]
    Qwz {
        /// Mass m.
        #[arg(long, value_parser = finite_f64)]
        m: f64,
        #[command(flatten)]
        common: Z2Common,
    },
    /// Spinful hopping list (.json or .toml), 2D or 3D; time reversal 1 x i s_y.
    #[command(allow_negative_numbers = true)]
    Tb {
        /// Model file.
        #[arg(long)]
        file: PathBuf,
        /// Basis order of spin: interleaved (o1 up, o1 down, o2 up, ...) or blocks (all up, then all down).
        #[arg(long, value_enum, default_value_t = SpinArg::Interleaved)]
        spin: SpinArg,
        #[command(flatten)]
        common: Z2Common,
    },
    /// Spinful Wannier90 _hr.dat model (3D indices); time reversal 1 x i s_y.
    #[command(allow_negative_numbers = true)]
    W90 {
        /// The _hr.dat file.
        #[arg(long)]
        file: PathBuf,
        /// Basis order of spin: interleaved (o1 up, o1 down, ...) or blocks (all up, then all
        /// down); a wrong order is reported as broken time reversal.
        #[arg(long, value_enum, default_value_t = SpinArg::Interleaved)]
        spin: SpinArg,
        #[command(flatten)]
        common: Z2Common,
    },
}

#[derive(Subcommand)]
enum Z2ScanCommand {
    /// Kane-Mele: two of --lambda-v, --lambda-r, --lambda-so, --t as ranges a:b:step (the
    /// first in that order is the horizontal axis).
    #[command(allow_negative_numbers = true)]
    KaneMele {
        #[command(flatten)]
        p: KaneMeleArgs<Range>,
        #[command(flatten)]
        common: Z2Common,
    },
    /// BHZ: two of --m, --b, --a as ranges.
    #[command(allow_negative_numbers = true)]
    Bhz {
        #[command(flatten)]
        p: BhzArgs<Range>,
        #[command(flatten)]
        common: Z2Common,
    },
    /// Fu-Kane-Mele: two of --dt, --lambda-so, --t as ranges (the strong index).
    #[command(allow_negative_numbers = true)]
    FuKaneMele {
        #[command(flatten)]
        p: FuKaneMeleArgs<Range>,
        #[command(flatten)]
        common: Z2Common,
    },
}

#[derive(Args, Clone)]
struct KaneMeleArgs<T: Parsed + Clone + Send + Sync + 'static> {
    /// Nearest-neighbour hopping t.
    #[arg(long, default_value = "1", value_parser = T::parser())]
    t: T,
    /// Intrinsic spin-orbit coupling lambda_SO.
    #[arg(long, value_parser = T::parser())]
    lambda_so: T,
    /// Rashba coupling lambda_R.
    #[arg(long, default_value = "0", value_parser = T::parser())]
    lambda_r: T,
    /// Staggered sublattice potential lambda_v.
    #[arg(long, default_value = "0", value_parser = T::parser())]
    lambda_v: T,
}

#[derive(Args, Clone)]
struct BhzArgs<T: Parsed + Clone + Send + Sync + 'static> {
    /// Spin-orbit velocity A.
    #[arg(long, default_value = "1", value_parser = T::parser())]
    a: T,
    /// Band curvature B.
    #[arg(long, default_value = "0.5", value_parser = T::parser())]
    b: T,
    /// Mass M (Z2 = 1 for 0 < M/B < 8, M/B != 4).
    #[arg(long, value_parser = T::parser())]
    m: T,
}

#[derive(Args, Clone)]
struct FuKaneMeleArgs<T: Parsed + Clone + Send + Sync + 'static> {
    /// Nearest-neighbour hopping t.
    #[arg(long, default_value = "1", value_parser = T::parser())]
    t: T,
    /// Spin-orbit coupling lambda_SO.
    #[arg(long, default_value = "0.125", value_parser = T::parser())]
    lambda_so: T,
    /// Change dt of the (111) bond inside the unit cell.
    #[arg(long, value_parser = T::parser())]
    dt: T,
}

#[derive(Args, Clone)]
struct Z2Common {
    /// Grid size L (L x L in 2D, L^3 in 3D); even.
    #[arg(long, value_parser = positive_usize)]
    grid: usize,
    /// Method: Fukui-Hatsugai's lattice Z2, the Wannier-charge-centre flow (largest gap, as
    /// Z2Pack), or Fu-Kane parities (inversion-symmetric models).
    #[arg(long, value_enum, default_value_t = Z2MethodArg::FukuiHatsugai)]
    method: Z2MethodArg,
    /// Number of occupied bands (even); default half the bands.
    #[arg(long, value_parser = positive_usize)]
    occupied: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Write an SVG: the Wannier-centre flow (`z2 ... --method wilson-loop`, 2D models) or the
    /// phase diagram (`scan z2`).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Smallest admissible gap between occupied and empty bands (a positive number).
    #[arg(long, default_value_t = 1e-6, value_parser = positive_f64)]
    gap_tol: f64,
    /// Smallest admissible |det| of an overlap matrix (in (0, 1)).
    #[arg(long, default_value_t = 1e-6, value_parser = positive_f64)]
    overlap_tol: f64,
    /// Largest admissible violation of Theta H(k) Theta^-1 = H(-k) (and of inversion for
    /// --method parity), relative to max(1, |H|).
    #[arg(long, default_value_t = 1e-8, value_parser = non_negative_f64)]
    symmetry_tol: f64,
    /// --method wilson-loop: largest admissible movement of a Wannier charge centre (in (0, 1),
    /// units of the lattice constant) between a loop and the same loop on half its points, as
    /// Z2Pack's pos_tol; a loop that moves more is solved again on twice the points (up to 8x).
    #[arg(long, default_value_t = 0.01, value_parser = positive_f64)]
    position_tol: f64,
    /// Repeat the computation this many times and report the fastest (for benchmarks).
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    repeat: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Z2MethodArg {
    FukuiHatsugai,
    WilsonLoop,
    Parity,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpinArg {
    Interleaved,
    Blocks,
}

impl SpinArg {
    fn ordering(self) -> SpinOrdering {
        match self {
            SpinArg::Interleaved => SpinOrdering::Interleaved,
            SpinArg::Blocks => SpinOrdering::Blocks,
        }
    }
}

impl Z2Common {
    fn config(&self) -> Result<Z2Config> {
        Ok(Z2Config {
            method: match self.method {
                Z2MethodArg::FukuiHatsugai => Z2Method::FukuiHatsugai,
                Z2MethodArg::WilsonLoop => Z2Method::WilsonLoop,
                Z2MethodArg::Parity => Z2Method::Parity,
            },
            occupied: self.occupied,
            tolerances: Tolerances::new(self.gap_tol, self.overlap_tol)?,
            symmetry_tolerance: self.symmetry_tol,
            position_tolerance: self.position_tol,
            ..Z2Config::default()
        })
    }
}

#[derive(Args, Clone)]
struct HaldaneArgs<T: Parsed + Clone + Send + Sync + 'static> {
    /// Nearest-neighbour hopping t1.
    #[arg(long, value_parser = T::parser())]
    t1: T,
    /// Next-nearest-neighbour hopping t2.
    #[arg(long, value_parser = T::parser())]
    t2: T,
    /// Sublattice mass M.
    #[arg(long, value_parser = T::parser())]
    mass: T,
    /// Flux phase phi (radians).
    #[arg(long, value_parser = T::parser())]
    phi: T,
}

/// The value parser of a Haldane parameter: a number, or for scans a number or a range.
trait Parsed: Sized {
    fn parser() -> fn(&str) -> std::result::Result<Self, String>;
}
impl Parsed for f64 {
    fn parser() -> fn(&str) -> std::result::Result<Self, String> {
        finite_f64
    }
}
impl Parsed for Range {
    fn parser() -> fn(&str) -> std::result::Result<Self, String> {
        Range::parse
    }
}

#[derive(Subcommand)]
enum ScanModel {
    /// Scan the QWZ mass: --m a:b:step.
    #[command(allow_negative_numbers = true)]
    Qwz {
        #[arg(long, value_parser = Range::parse)]
        m: Range,
        #[command(flatten)]
        common: Common,
    },
    /// Scan one Haldane parameter (exactly one given as a:b:step).
    #[command(allow_negative_numbers = true)]
    Haldane {
        #[command(flatten)]
        p: HaldaneArgs<Range>,
        #[command(flatten)]
        common: Common,
    },
    /// Scan the 4D Dirac mass: --m a:b:step (second Chern number).
    #[command(allow_negative_numbers = true)]
    Dirac4d {
        #[arg(long, value_parser = Range::parse)]
        m: Range,
        #[command(flatten)]
        common: Common,
    },
    /// Z2 phase diagram over two parameters (each written a:b:step) as text or JSON and SVG.
    Z2 {
        #[command(subcommand)]
        model: Z2ScanCommand,
    },
    /// Scan k3 (reduced units) of a Wannier90 model.
    #[command(allow_negative_numbers = true)]
    W90 {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, value_parser = Range::parse)]
        k3: Range,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Grid size L (L x L in 2D, L^4 in 4D); at least 3.
    #[arg(long, value_parser = positive_usize)]
    grid: usize,
    /// Occupy the r lowest bands.
    #[arg(long, conflicts_with = "bands", required_unless_present = "bands", value_parser = positive_usize)]
    filled: Option<usize>,
    /// Occupy an explicit set of bands (0-based, comma separated), isolated by gaps.
    #[arg(long, value_delimiter = ',', value_parser = non_negative_usize)]
    bands: Option<Vec<usize>>,
    /// Plaquette formula.
    #[arg(long, value_enum, default_value_t = MethodArg::Det)]
    method: MethodArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Write an SVG: the Berry-curvature heat map, or the phase diagram for `scan`.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Smallest admissible gap between occupied and empty bands (a positive number).
    #[arg(long, default_value_t = 1e-6, value_parser = positive_f64)]
    gap_tol: f64,
    /// Smallest admissible |det| of an overlap matrix (in (0, 1)).
    #[arg(long, default_value_t = 1e-6, value_parser = positive_f64)]
    overlap_tol: f64,
    /// Also compute the Wilson-loop winding along k1 (2D only).
    #[arg(long)]
    wilson: bool,
    /// Repeat the computation this many times and report the fastest (for benchmarks).
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    repeat: usize,
    /// Sign convention of first Chern numbers: fhs (ours, Fukui-Hatsugai-Suzuki; QWZ's lower
    /// band has C = +1 for 0 < m < 2) or textbook (A = i<u|grad u>, PythTB's berry_flux: the
    /// opposite sign).
    #[arg(long, value_enum, default_value_t = SignArg::Fhs)]
    sign: SignArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum SignArg {
    Fhs,
    Textbook,
}

impl SignArg {
    fn convention(self) -> SignConvention {
        match self {
            SignArg::Fhs => SignConvention::Fhs,
            SignArg::Textbook => SignConvention::Textbook,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Det,
    Eigenphase,
}

/// A number or a sweep `a:b:step`.
#[derive(Clone, Debug)]
enum Range {
    Value(f64),
    Sweep(Sweep),
}

impl Range {
    fn parse(s: &str) -> std::result::Result<Self, String> {
        if s.contains(':') {
            s.parse()
                .map(Range::Sweep)
                .map_err(|e: chern::Error| e.to_string())
        } else {
            finite_f64(s).map(Range::Value)
        }
    }
    /// The fixed value (the first of a sweep).
    fn first(&self) -> f64 {
        match self {
            Range::Value(x) => *x,
            Range::Sweep(s) => s.values()[0],
        }
    }
}

impl Common {
    fn setup(&self) -> Result<Setup> {
        Ok(Setup {
            grid: self.grid,
            occupation: match (&self.bands, self.filled) {
                (Some(b), _) => Occupation::Bands(BandSet::new(b.clone())),
                (None, Some(r)) => Occupation::Lowest(r),
                (None, None) => Occupation::Bands(BandSet::new(vec![])),
            },
            config: ChernConfig {
                method: match self.method {
                    MethodArg::Det => Method::Determinant,
                    MethodArg::Eigenphase => Method::EigenphaseSum,
                },
                tolerances: Tolerances::new(self.gap_tol, self.overlap_tol)?,
            },
            wilson: self.wilson,
        })
    }
}

/// Refuses a computation whose memory estimate exceeds the limit (`CHERNET_MEMORY_LIMIT`).
fn check_size(model: &ModelSpec, setup: &Setup) -> Result<()> {
    let h = model.build()?;
    let estimate = setup
        .memory_estimate(h.dim(), h.n_bands(), rayon::current_num_threads())
        .map_or(f64::INFINITY, |b| b as f64);
    let what = format!(
        "a {}-band model on a grid of {}^{}",
        h.n_bands(),
        setup.grid,
        h.dim()
    );
    check_memory(&what, estimate).map_err(anyhow::Error::msg)
}

fn model_of(command: &Command) -> (ModelSpec, &Common) {
    match command {
        Command::Qwz { m, common } => (ModelSpec::Qwz { m: *m }, common),
        Command::Haldane { p, common } => (
            ModelSpec::Haldane {
                t1: p.t1,
                t2: p.t2,
                mass: p.mass,
                phi: p.phi,
            },
            common,
        ),
        Command::Hofstadter { p, q, t, common } => (
            ModelSpec::Hofstadter {
                p: *p,
                q: *q,
                t: *t,
            },
            common,
        ),
        Command::Dirac4d { m, common } => (ModelSpec::Dirac4d { m: *m }, common),
        Command::Tb { file, common } => (ModelSpec::Tb { file: file.clone() }, common),
        Command::W90 { file, k3, common } => (
            ModelSpec::W90 {
                file: file.clone(),
                k3: *k3,
            },
            common,
        ),
        Command::Scan { .. } | Command::Z2 { .. } => {
            unreachable!("scan and z2 are handled separately")
        }
    }
}

fn main() {
    let cli: Cli = chernet::cli::parse_args("chern");
    // The main thread is the pool's first worker: parallel loops start on it directly instead of
    // waking a pool thread for each one (which costs more than a whole 2-band 50 x 50 grid).
    // RAYON_NUM_THREADS still sets the number of threads.
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
    {
        eprintln!("warning: default thread pool: {e}");
    }
    chernet::cli::exit_on_error("chern", run(cli));
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Scan {
            model: ScanModel::Z2 { model },
        } => scan_z2(model),
        Command::Scan { model } => scan(model),
        Command::Z2 { model } => z2(model),
        command => {
            let (model, common) = model_of(command);
            let setup = common.setup()?;
            check_size(&model, &setup)?;
            let h = model.build()?;
            // The fastest of `repeat` runs of the one library call, in wall and CPU time.
            let (mut best, mut best_cpu, mut out) = (f64::INFINITY, f64::INFINITY, None);
            for _ in 0..common.repeat {
                let cpu_start = cpu_seconds();
                let start = Instant::now();
                out =
                    Some(chern::invariant(h.as_ref(), &setup)?.with_sign(common.sign.convention()));
                best = best.min(start.elapsed().as_secs_f64());
                if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
                    best_cpu = best_cpu.min(b - a);
                }
            }
            let out: Invariant = out.context("at least one repetition")?;
            if let Some(path) = &common.plot {
                let c = out
                    .first
                    .as_ref()
                    .context("--plot draws the Berry curvature of a 2D model")?;
                chern::plots::berry_curvature(c, path)?;
            }
            if common.json {
                let mut obj = serde_json::to_value(&out)?;
                obj["model"] = serde_json::to_value(&model)?;
                obj["elapsed_s"] = best.into();
                obj["cpu_s"] = best_cpu.is_finite().then_some(best_cpu).into();
                obj["threads"] = rayon_threads().into();
                println!("{obj}");
            } else {
                println!(
                    "C = {} (raw {:.12}, {}, grid {:?}, bands {:?}, min gap {:.4e}, {:.3} ms)",
                    out.chern,
                    out.raw,
                    out.method,
                    out.grid,
                    out.bands,
                    out.min_gap,
                    best * 1e3
                );
                if let Some(w) = out.wilson_chern {
                    println!("Wilson-loop winding gives C = {w}");
                }
            }
            Ok(())
        }
    }
}

/// CPU time of all threads of this process (Linux `/proc/self/task/*/schedstat`, nanoseconds
/// on the CPU), which a loaded machine distorts far less than wall time.
fn cpu_seconds() -> Option<f64> {
    // The kernel brings a running thread's schedstat up to date only when it is scheduled: a
    // yield does that for this thread (the others are asleep, theirs is current).
    std::thread::yield_now();
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 * 1e-9)
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn scan(model: &ScanModel) -> Result<()> {
    let (spec, parameter, range, common) = match model {
        ScanModel::Z2 { .. } => unreachable!("scan z2 is handled by scan_z2"),
        ScanModel::Qwz { m, common } => (ModelSpec::Qwz { m: m.first() }, "m", m, common),
        ScanModel::Dirac4d { m, common } => (ModelSpec::Dirac4d { m: m.first() }, "m", m, common),
        ScanModel::W90 { file, k3, common } => (
            ModelSpec::W90 {
                file: file.clone(),
                k3: k3.first(),
            },
            "k3",
            k3,
            common,
        ),
        ScanModel::Haldane { p, common } => {
            let named = [
                ("t1", &p.t1),
                ("t2", &p.t2),
                ("mass", &p.mass),
                ("phi", &p.phi),
            ];
            let sweeps: Vec<_> = named
                .iter()
                .filter(|(_, r)| matches!(r, Range::Sweep(_)))
                .collect();
            if sweeps.len() != 1 {
                bail!("give exactly one Haldane parameter as a range a:b:step");
            }
            let spec = ModelSpec::Haldane {
                t1: p.t1.first(),
                t2: p.t2.first(),
                mass: p.mass.first(),
                phi: p.phi.first(),
            };
            (spec, sweeps[0].0, sweeps[0].1, common)
        }
    };
    let sweep = match range {
        Range::Sweep(sweep) => *sweep,
        Range::Value(x) => Sweep::new(*x, *x, 1.0)?,
    };
    let setup = common.setup()?;
    check_size(&spec, &setup)?;
    let mut diagram = chern::phase_diagram(&spec, parameter, &sweep, &setup, !common.json)?;
    // A second Chern number is quadratic in the curvature: the same in either convention.
    if !matches!(spec, ModelSpec::Dirac4d { .. }) {
        diagram = diagram.with_sign(common.sign.convention());
    }
    if let Some(path) = &common.plot {
        chern::plots::phase_diagram(&diagram, path)?;
    }
    if common.json {
        println!("{}", serde_json::to_value(&diagram)?);
    } else {
        for p in &diagram.points {
            match (p.chern, &p.error) {
                (Some(c), _) => println!(
                    "{parameter} = {:>8.4}  C = {c:>3}  (raw {:.6})",
                    p.value,
                    p.raw.unwrap_or(f64::NAN)
                ),
                (None, error) => println!(
                    "{parameter} = {:>8.4}  undefined: {}",
                    p.value,
                    error.as_deref().unwrap_or("")
                ),
            }
        }
    }
    Ok(())
}

/// The model of a `z2` command.
fn z2_model_of(command: &Z2Command) -> (Z2Model, &Z2Common) {
    match command {
        Z2Command::KaneMele { p, common } => (
            Z2Model::KaneMele {
                t: p.t,
                lambda_so: p.lambda_so,
                lambda_r: p.lambda_r,
                lambda_v: p.lambda_v,
            },
            common,
        ),
        Z2Command::Bhz { p, common } => (
            Z2Model::Bhz {
                a: p.a,
                b: p.b,
                m: p.m,
            },
            common,
        ),
        Z2Command::FuKaneMele { p, common } => (
            Z2Model::FuKaneMele {
                t: p.t,
                lambda_so: p.lambda_so,
                dt: p.dt,
            },
            common,
        ),
        Z2Command::Qwz { m, common } => (Z2Model::Qwz { m: *m }, common),
        Z2Command::Tb { file, spin, common } => (
            Z2Model::Tb {
                file: file.clone(),
                spin: spin.ordering(),
            },
            common,
        ),
        Z2Command::W90 { file, spin, common } => (
            Z2Model::W90 {
                file: file.clone(),
                spin: spin.ordering(),
            },
            common,
        ),
    }
}

/// Refuses a Z2 computation whose memory estimate exceeds the limit (`CHERNET_MEMORY_LIMIT`).
fn check_z2_size(model: &Z2Model, grid: usize) -> Result<()> {
    let h = model.build()?.hamiltonian;
    let estimate =
        chern::z2_memory_estimate(h.dim(), h.n_bands(), grid).map_or(f64::INFINITY, |b| b as f64);
    let what = format!(
        "a Z2 invariant of a {}-band model on a grid of {grid}^{}",
        h.n_bands(),
        h.dim()
    );
    check_memory(&what, estimate).map_err(anyhow::Error::msg)
}

fn z2(command: &Z2Command) -> Result<()> {
    let (model, common) = z2_model_of(command);
    if common.plot.is_some() && !matches!(common.method, Z2MethodArg::WilsonLoop) {
        bail!(
            "--plot draws the Wannier-centre flow of --method wilson-loop, or the phase diagram of `scan z2`"
        );
    }
    let config = common.config()?;
    check_z2_size(&model, common.grid)?;
    // The fastest of `repeat` runs of the one library call, in wall and CPU time.
    let (mut best, mut best_cpu, mut out) = (f64::INFINITY, f64::INFINITY, None);
    for _ in 0..common.repeat {
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        out = Some(chern::z2_of(&model, common.grid, &config)?);
        best = best.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            best_cpu = best_cpu.min(b - a);
        }
    }
    let out: Z2Report = out.context("at least one repetition")?;
    if let Some(path) = &common.plot {
        let chern::Z2Details::Plane(z) = &out.details else {
            bail!("--plot draws the Wannier-centre flow of a 2D model; this one is 3D");
        };
        let flow = z
            .wcc
            .as_ref()
            .context("the Wilson-loop method keeps its flow")?;
        chern::plots::wcc_flow(flow, out.z2, path)?;
    }
    if common.json {
        let mut obj = serde_json::to_value(&out)?;
        obj["elapsed_s"] = best.into();
        obj["cpu_s"] = best_cpu.is_finite().then_some(best_cpu).into();
        obj["threads"] = rayon_threads().into();
        println!("{obj}");
    } else {
        let what = match out.indices {
            Some([n0, n1, n2, n3]) => format!("(nu0; nu1 nu2 nu3) = ({n0}; {n1}{n2}{n3})"),
            None => format!("Z2 = {}", out.z2),
        };
        println!(
            "{what} ({}, grid {:?}, {} occupied bands, min gap {:.4e}, time-reversal violation {:.1e}, {:.3} ms)",
            out.method,
            out.grid,
            out.occupied,
            out.min_gap,
            out.time_reversal_violation,
            best * 1e3
        );
    }
    Ok(())
}

fn scan_z2(command: &Z2ScanCommand) -> Result<()> {
    let (model, named, common): (Z2Model, Vec<(&str, &Range)>, &Z2Common) = match command {
        Z2ScanCommand::KaneMele { p, common } => (
            Z2Model::KaneMele {
                t: p.t.first(),
                lambda_so: p.lambda_so.first(),
                lambda_r: p.lambda_r.first(),
                lambda_v: p.lambda_v.first(),
            },
            vec![
                ("lambda_v", &p.lambda_v),
                ("lambda_r", &p.lambda_r),
                ("lambda_so", &p.lambda_so),
                ("t", &p.t),
            ],
            common,
        ),
        Z2ScanCommand::Bhz { p, common } => (
            Z2Model::Bhz {
                a: p.a.first(),
                b: p.b.first(),
                m: p.m.first(),
            },
            vec![("m", &p.m), ("b", &p.b), ("a", &p.a)],
            common,
        ),
        Z2ScanCommand::FuKaneMele { p, common } => (
            Z2Model::FuKaneMele {
                t: p.t.first(),
                lambda_so: p.lambda_so.first(),
                dt: p.dt.first(),
            },
            vec![("dt", &p.dt), ("lambda_so", &p.lambda_so), ("t", &p.t)],
            common,
        ),
    };
    let sweeps: Vec<(&str, Sweep)> = named
        .iter()
        .filter_map(|(name, r)| match r {
            Range::Sweep(s) => Some((*name, *s)),
            Range::Value(_) => None,
        })
        .collect();
    let [(x_name, xs), (y_name, ys)] = sweeps[..] else {
        bail!(
            "give exactly two parameters of {} as ranges a:b:step (got {})",
            model.name(),
            sweeps.len()
        );
    };
    if xs.len().saturating_mul(ys.len()) > chern::MAX_SCAN_POINTS {
        bail!(
            "{} x {} points, more than the {} a scan allows: use larger steps",
            xs.len(),
            ys.len(),
            chern::MAX_SCAN_POINTS
        );
    }
    let config = common.config()?;
    check_z2_size(&model, common.grid)?;
    let diagram = chern::z2_phase_diagram(
        &model,
        x_name,
        &xs.values(),
        y_name,
        &ys.values(),
        common.grid,
        &config,
    )?;
    if let Some(path) = &common.plot {
        chern::plots::z2_phase_diagram(&diagram, path)?;
    }
    if common.json {
        println!("{}", serde_json::to_value(&diagram)?);
    } else {
        // One row per value of the second parameter (largest on top): 1, 0, or . where the
        // invariant is undefined on the grid (a closed gap, a singular overlap, or a grid too
        // coarse; `--json` gives each point's reason).
        println!(
            "Z2 of {} over {x_name} (columns) and {y_name} (rows); . = undefined on the grid (gap closes or grid too coarse; --json says which)",
            model.name()
        );
        let nx = diagram.x.len();
        for (j, y) in diagram.y.iter().enumerate().rev() {
            let row: String = diagram.points[j * nx..(j + 1) * nx]
                .iter()
                .map(|p| match p.z2 {
                    Some(1) => '1',
                    Some(_) => '0',
                    None => '.',
                })
                .collect();
            println!("{y_name} = {y:>9.4}  {row}");
        }
        println!(
            "{x_name} from {:.6} to {:.6} in {} steps",
            diagram.x[0],
            diagram.x[nx - 1],
            nx
        );
    }
    Ok(())
}
