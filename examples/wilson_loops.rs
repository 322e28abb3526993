//! Gauge invariance, shown: build a Haar-random U(n) link field, apply a random gauge
//! transformation, and compare the average plaquette trace, a few Wilson loops and the Polyakov
//! loops before and after. Traces and eigenphases agree to rounding.
//!
//! ```text
//! cargo run --release --example wilson_loops -- --n 3 --extents 8,6 --seed 1
//! cargo run --release --example wilson_loops -- --n 2 --extents 4,4,4,6
//! ```
use anyhow::{Context, Result, ensure};
use chernet::cli::{check_memory, positive_usize};
use clap::Parser;
use lattice_gauge::{C64, Dir, GaugeTransform, Lattice, LinkField, Site, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(
    about = "Wilson loops of a Haar-random U(n) gauge field before and after a random gauge transformation",
    allow_negative_numbers = true,
    after_help = "A lattice whose fields would not fit in memory is refused up front; the \
                  environment variable CHERNET_MEMORY_LIMIT (for example 64G) sets the limit."
)]
struct Args {
    /// Gauge group U(n).
    #[arg(long, default_value_t = 3, value_parser = positive_usize)]
    n: usize,
    /// Lattice extents, comma separated (any dimension >= 2; unequal extents are fine).
    #[arg(long, value_delimiter = ',', default_value = "8,6", value_parser = positive_usize)]
    extents: Vec<usize>,
    /// Seed of the random links and gauge transformation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One observable before and after, with how far apart they are.
struct Row {
    name: String,
    before: C64,
    after: C64,
    phases_before: Vec<f64>,
    phases_after: Vec<f64>,
}

impl Row {
    fn new(name: String, n: usize, before: &[C64], after: &[C64]) -> Row {
        Row {
            name,
            before: matrix::trace(before, n),
            after: matrix::trace(after, n),
            phases_before: matrix::eigenphases(before, n),
            phases_after: matrix::eigenphases(after, n),
        }
    }

    fn difference(&self) -> f64 {
        let phases = self
            .phases_before
            .iter()
            .zip(&self.phases_after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        (self.before - self.after).norm().max(phases)
    }
}

fn fmt_c(z: C64) -> String {
    format!("{:+.6}{:+.6}i", z.re, z.im)
}

fn main() {
    chernet::cli::exit_on_error(
        "wilson_loops",
        run(chernet::cli::parse_args("wilson_loops")),
    );
}

fn run(args: Args) -> Result<()> {
    let lattice = Lattice::new(&args.extents).context("invalid --extents")?;
    ensure!(
        lattice.dim() >= 2,
        "Wilson loops need at least two axes, got {:?}",
        args.extents
    );
    let n = args.n;
    // The links before and after, the plaquettes of both and their transform, and the gauge
    // transformation: n x n complex matrices on every link, plaquette and site.
    let matrices = (2 * lattice.dim() + 3 * lattice.planes().len() + 1) as f64;
    let bytes = matrices * lattice.volume() as f64 * (n as f64).powi(2) * 16.0;
    check_memory(
        &format!("U({n}) fields on a {:?} lattice", args.extents),
        bytes,
    )
    .map_err(anyhow::Error::msg)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let links = LinkField::haar_random(&lattice, n, &mut rng).context("invalid --n")?;
    let omega = GaugeTransform::random(&lattice, n, &mut rng)?;
    let transformed = omega.apply_links(&links)?;

    println!(
        "U({n}) on a periodic {:?} lattice: {} sites, {} plane(s), seed {}",
        lattice.extents(),
        lattice.volume(),
        lattice.planes().len(),
        args.seed
    );
    let (p0, p1) = (
        links.plaquettes().mean_trace(),
        transformed.plaquettes().mean_trace(),
    );
    println!(
        "links changed by the gauge transformation: max |U - U'| = {:.3}",
        links.max_abs_diff(&transformed)?
    );
    println!(
        "\naverage plaquette trace  before {}  after {}  |diff| {:.2e}",
        fmt_c(p0),
        fmt_c(p1),
        (p0 - p1).norm()
    );

    let x = Site(0);
    let y = lattice.shift(lattice.shift(x, Dir(0), 1), Dir(1), 2);
    let mut rows = Vec::new();
    for (r, t, s) in [
        (1, 1, x),
        (2, 2, x),
        (3, 2, y),
        (lattice.extents()[0], 1, y),
    ] {
        let before = links.wilson_loop(Dir(0), Dir(1), r, t, s)?;
        let after = transformed.wilson_loop(Dir(0), Dir(1), r, t, s)?;
        rows.push(Row::new(
            format!("W {r}x{t} plane (0,1) at {:?}", lattice.coords(s)),
            n,
            &before,
            &after,
        ));
    }
    if lattice.dim() >= 4 {
        let before = links.wilson_loop(Dir(1), Dir(3), 2, 1, y)?;
        let after = transformed.wilson_loop(Dir(1), Dir(3), 2, 1, y)?;
        rows.push(Row::new(
            format!("W 2x1 plane (1,3) at {:?}", lattice.coords(y)),
            n,
            &before,
            &after,
        ));
    }
    for mu in lattice.dirs() {
        let before = links.polyakov_loop(mu, y)?;
        let after = transformed.polyakov_loop(mu, y)?;
        rows.push(Row::new(
            format!("Polyakov loop axis {} at {:?}", mu.0, lattice.coords(y)),
            n,
            &before,
            &after,
        ));
    }

    println!("\n{:<36} {:>28} {:>28}", "loop", "Tr before", "Tr after");
    for row in &rows {
        println!(
            "{:<36} {:>28} {:>28}",
            row.name,
            fmt_c(row.before),
            fmt_c(row.after)
        );
        let phases = |p: &[f64]| {
            p.iter()
                .map(|t| format!("{t:+.6}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{:<36} {:>57}",
            "  eigenphases before",
            phases(&row.phases_before)
        );
        println!(
            "{:<36} {:>57}",
            "  eigenphases after",
            phases(&row.phases_after)
        );
    }

    // Over every plaquette of every plane, not only those printed.
    let covariance = omega
        .apply_plaquettes(&links.plaquettes())?
        .max_abs_diff(&transformed.plaquettes())?;
    let max_row = rows
        .iter()
        .map(Row::difference)
        .fold((p0 - p1).norm(), f64::max);
    println!("\nmax difference of the printed traces and eigenphases: {max_row:.2e}");
    println!("max |Omega W Omega^dagger - W'| over all plaquettes:   {covariance:.2e}");
    ensure!(
        max_row < 1e-9 && covariance < 1e-9,
        "gauge invariance violated beyond rounding"
    );
    Ok(())
}
