//! `chern`: Chern numbers of built-in and user models from the command line.
//!
//! ```text
//! cargo run --release --example chern -- qwz --m 1 --grid 48 --filled 1 --json
//! cargo run --release --example chern -- hofstadter --p 1 --q 5 --grid 60 --filled 2
//! cargo run --release --example chern -- dirac4d --m 1 --grid 10 --filled 2
//! cargo run --release --example chern -- tb --file model.toml --grid 48 --filled 1 --plot berry.svg
//! cargo run --release --example chern -- w90 --file wannier90_hr.dat --k3 0.5 --grid 48 --bands 0,1
//! cargo run --release --example chern -- scan qwz --m -3:3:0.05 --grid 48 --filled 1 --plot phase.svg
//! ```
//! Parsing and printing only: every number comes from the `chern` crate.
use anyhow::{Context, Result, bail};
use chart_svg::plotters::prelude::*;
use chern::{
    BandSet, BandStructure, BlochHamiltonian, ChernConfig, ChernNumber, Dirac4d, DynHamiltonian,
    Haldane, Hofstadter, Method, Qwz, TightBinding, Tolerances, Wannier90, chern_number,
    second_chern_number, wilson_loops,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::f64::consts::PI;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "chern",
    about = "Exact Fukui-Hatsugai-Suzuki Chern numbers of Bloch Hamiltonians"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Qi-Wu-Zhang model.
    Qwz {
        /// Mass m.
        #[arg(long, allow_hyphen_values = true)]
        m: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Haldane model (reduced coordinates).
    Haldane {
        #[command(flatten)]
        p: HaldaneArgs<f64>,
        #[command(flatten)]
        common: Common,
    },
    /// Hofstadter model at flux p/q (q bands).
    Hofstadter {
        /// Flux numerator.
        #[arg(long, allow_hyphen_values = true)]
        p: i64,
        /// Flux denominator (number of bands).
        #[arg(long)]
        q: usize,
        /// Hopping.
        #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
        t: f64,
        #[command(flatten)]
        common: Common,
    },
    /// 4D lattice Dirac model: second Chern number of the occupied bands.
    Dirac4d {
        /// Mass m.
        #[arg(long, allow_hyphen_values = true)]
        m: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Tight-binding model from a hopping list (.json or .toml).
    Tb {
        /// Model file.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Wannier90 _hr.dat model, on the plane k3 = 2 pi K.
    W90 {
        /// The _hr.dat file.
        #[arg(long)]
        file: PathBuf,
        /// Fixed third momentum in reduced units (k3 = 2 pi K).
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        k3: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Sweep one parameter (written a:b:step) and print/plot the phase diagram.
    Scan {
        #[command(subcommand)]
        model: ScanModel,
    },
}

#[derive(Args, Clone)]
struct HaldaneArgs<T: Clone + Send + Sync + std::str::FromStr + 'static>
where
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    /// Nearest-neighbour hopping t1.
    #[arg(long, allow_hyphen_values = true)]
    t1: T,
    /// Next-nearest-neighbour hopping t2.
    #[arg(long, allow_hyphen_values = true)]
    t2: T,
    /// Sublattice mass M.
    #[arg(long, allow_hyphen_values = true)]
    mass: T,
    /// Flux phase phi (radians).
    #[arg(long, allow_hyphen_values = true)]
    phi: T,
}

#[derive(Subcommand)]
enum ScanModel {
    /// Scan the QWZ mass: --m a:b:step.
    Qwz {
        #[arg(long, allow_hyphen_values = true)]
        m: Range,
        #[command(flatten)]
        common: Common,
    },
    /// Scan one Haldane parameter (exactly one given as a:b:step).
    Haldane {
        #[command(flatten)]
        p: HaldaneArgs<Range>,
        #[command(flatten)]
        common: Common,
    },
    /// Scan the 4D Dirac mass: --m a:b:step (second Chern number).
    Dirac4d {
        #[arg(long, allow_hyphen_values = true)]
        m: Range,
        #[command(flatten)]
        common: Common,
    },
    /// Scan k3 (reduced units) of a Wannier90 model.
    W90 {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        k3: Range,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Grid size L (L x L in 2D, L^4 in 4D).
    #[arg(long)]
    grid: usize,
    /// Occupy the r lowest bands.
    #[arg(long, conflicts_with = "bands", required_unless_present = "bands")]
    filled: Option<usize>,
    /// Occupy an explicit set of bands (0-based, comma separated), isolated by gaps.
    #[arg(long, value_delimiter = ',')]
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
    /// Smallest admissible gap between occupied and empty bands.
    #[arg(long, default_value_t = 1e-6)]
    gap_tol: f64,
    /// Smallest admissible |det| of an overlap matrix.
    #[arg(long, default_value_t = 1e-6)]
    overlap_tol: f64,
    /// Also compute the Wilson-loop winding along k1 (2D only).
    #[arg(long)]
    wilson: bool,
    /// Repeat the computation this many times and report the fastest (for benchmarks).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Det,
    Eigenphase,
}

/// A number or a range `a:b:step`.
#[derive(Clone, Debug)]
enum Range {
    Value(f64),
    Sweep(f64, f64, f64),
}

impl std::str::FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let num = |x: &str| x.trim().parse::<f64>().map_err(|e| format!("`{x}`: {e}"));
        match s.split(':').collect::<Vec<_>>().as_slice() {
            [x] => Ok(Range::Value(num(x)?)),
            [a, b, step] => {
                let (a, b, step) = (num(a)?, num(b)?, num(step)?);
                if step.is_nan() || step <= 0.0 || b.is_nan() || a.is_nan() || b < a {
                    return Err(format!("range {s}: need a <= b and step > 0"));
                }
                Ok(Range::Sweep(a, b, step))
            }
            _ => Err(format!("`{s}` is neither a number nor a range a:b:step")),
        }
    }
}

impl Range {
    fn values(&self) -> Vec<f64> {
        match *self {
            Range::Value(x) => vec![x],
            Range::Sweep(a, b, step) => {
                let n = ((b - a) / step + 1e-9).floor() as usize;
                (0..=n).map(|i| a + i as f64 * step).collect()
            }
        }
    }
    fn is_sweep(&self) -> bool {
        matches!(self, Range::Sweep(..))
    }
}

impl Common {
    fn config(&self) -> ChernConfig {
        ChernConfig {
            method: match self.method {
                MethodArg::Det => Method::Determinant,
                MethodArg::Eigenphase => Method::EigenphaseSum,
            },
            tolerances: Tolerances {
                gap: self.gap_tol,
                overlap: self.overlap_tol,
            },
        }
    }
    fn band_set(&self) -> BandSet {
        match (&self.bands, self.filled) {
            (Some(b), _) => BandSet::new(b.clone()),
            (None, Some(r)) => BandSet::lowest(r),
            (None, None) => BandSet::new(vec![]),
        }
    }
}

/// The outcome of one model evaluation.
struct Outcome {
    chern: i64,
    raw: f64,
    min_gap: f64,
    elapsed: f64,
    cpu: Option<f64>,
    grid: Vec<usize>,
    method: String,
    extra: Value,
    first: Option<ChernNumber>,
}

fn json_gap(g: f64) -> Value {
    if g.is_finite() { json!(g) } else { Value::Null }
}

/// First Chern number (2D) or second (4D) of `h`, best time of `common.repeat` runs.
fn evaluate(h: &(dyn BlochHamiltonian + Sync), common: &Common) -> chern::Result<Outcome> {
    let set = common.band_set();
    let config = common.config();
    let grid = vec![common.grid; h.dim()];
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut result = None;
    for _ in 0..common.repeat.max(1) {
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        let bands = BandStructure::compute_for(h, &grid, &set)?;
        let out = match h.dim() {
            4 => {
                let c2 = second_chern_number(&bands, &set, &config.tolerances)?;
                Outcome {
                    chern: c2.c2,
                    raw: c2.raw,
                    min_gap: c2.min_gap,
                    elapsed: 0.0,
                    cpu: None,
                    grid: grid.clone(),
                    method: "second-chern".into(),
                    extra: json!({"invariant": "second Chern number"}),
                    first: None,
                }
            }
            _ => {
                let c = chern_number(&bands, &set, &config)?;
                let mut extra =
                    json!({"max_abs_flux": c.max_abs_flux, "invariant": "first Chern number"});
                if common.wilson {
                    let w = wilson_loops(&bands, &set, 0, &config.tolerances)?;
                    extra["wilson_chern"] = json!(w.chern);
                }
                Outcome {
                    chern: c.chern,
                    raw: c.raw,
                    min_gap: c.min_gap,
                    elapsed: 0.0,
                    cpu: None,
                    grid: grid.clone(),
                    method: c.method.to_string(),
                    extra,
                    first: Some(c),
                }
            }
        };
        best = best.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            best_cpu = best_cpu.min(b - a);
        }
        result = Some(out);
    }
    let mut out = result.expect("at least one repetition");
    out.elapsed = best;
    out.cpu = best_cpu.is_finite().then_some(best_cpu);
    Ok(out)
}

fn model_of(command: &Command) -> Result<(DynHamiltonian, Value, &Common)> {
    Ok(match command {
        Command::Qwz { m, common } => (
            Box::new(Qwz::new(*m)),
            json!({"name": "qwz", "m": m}),
            common,
        ),
        Command::Haldane { p, common } => (
            Box::new(Haldane::new(p.t1, p.t2, p.mass, p.phi)),
            json!({"name": "haldane", "t1": p.t1, "t2": p.t2, "mass": p.mass, "phi": p.phi}),
            common,
        ),
        Command::Hofstadter { p, q, t, common } => (
            Box::new(Hofstadter::new(*p, *q, *t)?),
            json!({"name": "hofstadter", "p": p, "q": q, "t": t}),
            common,
        ),
        Command::Dirac4d { m, common } => (
            Box::new(Dirac4d::new(*m)),
            json!({"name": "dirac4d", "m": m}),
            common,
        ),
        Command::Tb { file, common } => (
            Box::new(TightBinding::from_file(file)?),
            json!({"name": "tb", "file": file}),
            common,
        ),
        Command::W90 { file, k3, common } => (
            Box::new(Wannier90::from_file(file)?.plane_k3(2.0 * PI * k3)?),
            json!({"name": "w90", "file": file, "k3": k3}),
            common,
        ),
        Command::Scan { .. } => unreachable!("scan is handled separately"),
    })
}

fn main() {
    let cli = Cli::parse();
    // The main thread is the pool's first worker: parallel loops start on it directly instead of
    // waking a pool thread for each one (which costs more than a whole 2-band 50 x 50 grid).
    // RAYON_NUM_THREADS still sets the number of threads.
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
    {
        eprintln!("warning: default thread pool: {e}");
    }
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Scan { model } => scan(model),
        command => {
            let (h, model, common) = model_of(command)?;
            let out = evaluate(h.as_ref(), common)?;
            if let Some(path) = &common.plot {
                let c = out
                    .first
                    .as_ref()
                    .context("--plot draws the Berry curvature of a 2D model")?;
                plot_curvature(c, path)?;
            }
            if common.json {
                let mut obj = json!({
                    "chern": out.chern, "raw": out.raw, "min_gap": json_gap(out.min_gap), "grid": out.grid,
                    "bands": common.band_set().bands(), "method": out.method, "model": model,
                    "elapsed_s": out.elapsed, "cpu_s": out.cpu, "threads": rayon_threads(),
                });
                merge(&mut obj, out.extra);
                println!("{obj}");
            } else {
                println!(
                    "C = {} (raw {:.12}, {}, grid {:?}, bands {:?}, min gap {:.4e}, {:.3} ms)",
                    out.chern,
                    out.raw,
                    out.method,
                    out.grid,
                    common.band_set().bands(),
                    out.min_gap,
                    out.elapsed * 1e3
                );
                if let Some(w) = out.extra.get("wilson_chern") {
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

fn merge(obj: &mut Value, extra: Value) {
    if let (Value::Object(o), Value::Object(e)) = (obj, extra) {
        o.extend(e);
    }
}

fn scan(model: &ScanModel) -> Result<()> {
    // (parameter name, values, model for a value)
    type Build<'a> = Box<dyn Fn(f64) -> Result<DynHamiltonian> + 'a>;
    let (name, range, build, common): (&str, &Range, Build, &Common) = match model {
        ScanModel::Qwz { m, common } => (
            "m",
            m,
            Box::new(|x| Ok(Box::new(Qwz::new(x)) as DynHamiltonian)),
            common,
        ),
        ScanModel::Dirac4d { m, common } => (
            "m",
            m,
            Box::new(|x| Ok(Box::new(Dirac4d::new(x)) as DynHamiltonian)),
            common,
        ),
        ScanModel::W90 { file, k3, common } => {
            let w = Wannier90::from_file(file)?;
            (
                "k3",
                k3,
                Box::new(
                    move |x| Ok(Box::new(w.clone().plane_k3(2.0 * PI * x)?) as DynHamiltonian),
                ),
                common,
            )
        }
        ScanModel::Haldane { p, common } => {
            let named = [
                ("t1", &p.t1),
                ("t2", &p.t2),
                ("mass", &p.mass),
                ("phi", &p.phi),
            ];
            let sweeps: Vec<_> = named.iter().filter(|(_, r)| r.is_sweep()).collect();
            if sweeps.len() != 1 {
                bail!("give exactly one Haldane parameter as a range a:b:step");
            }
            let (name, range) = *sweeps[0];
            let fixed = |r: &Range| r.values()[0];
            let (t1, t2, mass, phi) = (fixed(&p.t1), fixed(&p.t2), fixed(&p.mass), fixed(&p.phi));
            let build: Build = Box::new(move |x| {
                let v = |n: &str, f: f64| if n == name { x } else { f };
                Ok(Box::new(Haldane::new(
                    v("t1", t1),
                    v("t2", t2),
                    v("mass", mass),
                    v("phi", phi),
                )) as DynHamiltonian)
            });
            (name, range, build, common)
        }
    };
    let values = range.values();
    let bar = indicatif::ProgressBar::new(values.len() as u64);
    if common.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut points = Vec::new();
    for &x in &values {
        let h = build(x)?;
        let point = match evaluate(h.as_ref(), common) {
            Ok(out) => {
                json!({"value": x, "chern": out.chern, "raw": out.raw, "min_gap": json_gap(out.min_gap)})
            }
            Err(e @ (chern::Error::GapClosed { .. } | chern::Error::SingularOverlap { .. })) => {
                json!({"value": x, "chern": Value::Null, "gap_closed": true, "error": e.to_string()})
            }
            Err(e) => return Err(e.into()),
        };
        points.push(point);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(path) = &common.plot {
        plot_phase_diagram(name, &points, path)?;
    }
    if common.json {
        println!(
            "{}",
            json!({"parameter": name, "grid": common.grid, "bands": common.band_set().bands(), "points": points})
        );
    } else {
        for p in &points {
            match p["chern"].as_i64() {
                Some(c) => println!(
                    "{name} = {:>8.4}  C = {c:>3}  (raw {:.6})",
                    p["value"].as_f64().unwrap_or(f64::NAN),
                    p["raw"].as_f64().unwrap_or(f64::NAN)
                ),
                None => println!(
                    "{name} = {:>8.4}  gap closes: {}",
                    p["value"].as_f64().unwrap_or(f64::NAN),
                    p["error"].as_str().unwrap_or("")
                ),
            }
        }
    }
    Ok(())
}

fn plot_curvature(c: &ChernNumber, path: &std::path::Path) -> Result<()> {
    let omega = c.curvature();
    let (l1, l2) = (c.grid[0], c.grid[1]);
    let scale = omega.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    chart_svg::write_svg(path, (720, 640), |root| {
        let title = format!(
            "Berry curvature, C = {} ({}), max |Ω| = {:.3}",
            c.chern, c.method, scale
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..2.0 * PI, 0.0..2.0 * PI)?;
        chart
            .configure_mesh()
            .x_desc("k1")
            .y_desc("k2")
            .disable_mesh()
            .draw()?;
        let (d1, d2) = (2.0 * PI / l1 as f64, 2.0 * PI / l2 as f64);
        chart.draw_series(
            (0..l1)
                .flat_map(|i| (0..l2).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let (x, y) = (i as f64 * d1, j as f64 * d2);
                    Rectangle::new(
                        [(x, y), (x + d1, y + d2)],
                        chart_svg::diverging(omega[[i, j]] / scale).filled(),
                    )
                }),
        )?;
        Ok(())
    })?;
    Ok(())
}

fn plot_phase_diagram(name: &str, points: &[Value], path: &std::path::Path) -> Result<()> {
    let xs: Vec<f64> = points.iter().filter_map(|p| p["value"].as_f64()).collect();
    let (x0, x1) = (
        xs.iter().cloned().fold(f64::INFINITY, f64::min),
        xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    let cs: Vec<i64> = points.iter().filter_map(|p| p["chern"].as_i64()).collect();
    let (c0, c1) = (
        cs.iter().copied().min().unwrap_or(0).min(0) - 1,
        cs.iter().copied().max().unwrap_or(0).max(0) + 1,
    );
    chart_svg::write_svg(path, (800, 480), |root| {
        let pad = ((x1 - x0) * 0.02).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Phase diagram: Chern number vs {name}"),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(40)
            .build_cartesian_2d(x0 - pad..x1 + pad, c0 as f64..c1 as f64)?;
        chart.configure_mesh().x_desc(name).y_desc("C").draw()?;
        chart
            .draw_series(points.iter().filter_map(|p| {
                Some(Circle::new(
                    (p["value"].as_f64()?, p["chern"].as_i64()? as f64),
                    3,
                    BLUE.filled(),
                ))
            }))?
            .label("Chern number")
            .legend(chart_svg::dot_marker(3, BLUE.filled()));
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p["chern"].is_null())
                    .filter_map(|p| {
                        Some(Cross::new(
                            (p["value"].as_f64()?, 0.0),
                            6,
                            RED.stroke_width(2),
                        ))
                    }),
            )?
            .label("gap closes on the grid")
            .legend(chart_svg::cross_marker(6, RED.stroke_width(2)));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    })?;
    Ok(())
}
