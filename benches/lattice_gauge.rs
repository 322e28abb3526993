//! lattice-gauge kernels: the plaquette field (all planes) and Wilson loop fields for
//! n = 1, 2, 4, 8 on 32 x 32 and 8^4, with a straightforward ndarray implementation (per-site
//! `Array2::dot`, allocating) measured side by side as the reference; plus the small-matrix
//! kernels (product, eigenphases, polar factor, Haar sampling).
//!
//! Run: `cargo bench --bench lattice_gauge` (or `-- plaquettes` etc. to filter).
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lattice_gauge::{C64, Dir, Lattice, LinkField, Site, matrix};
use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SHAPES: [&[usize]; 2] = [&[32, 32], &[8, 8, 8, 8]];
const NS: [usize; 4] = [1, 2, 4, 8];

fn label(extents: &[usize], n: usize) -> String {
    let shape: Vec<String> = extents.iter().map(|l| l.to_string()).collect();
    format!("{}/n{n}", shape.join("x"))
}

fn field(extents: &[usize], n: usize) -> LinkField {
    let lattice = Lattice::new(extents).expect("valid extents");
    LinkField::haar_random(&lattice, n, &mut ChaCha8Rng::seed_from_u64(1)).expect("n >= 1")
}

fn link_view(links: &LinkField, mu: Dir, s: Site) -> ArrayView2<'_, C64> {
    links.as_array().slice(s![mu.0, s.0, .., ..])
}

/// The reference: every plaquette of every plane with ndarray products, allocating per product.
fn naive_plaquettes(links: &LinkField) -> C64 {
    let lat = links.lattice();
    let mut total = C64::new(0.0, 0.0);
    for (mu, nu) in lat.planes() {
        for s in lat.sites() {
            let a = link_view(links, mu, s).dot(&link_view(links, nu, lat.forward(s, mu)));
            let b = link_view(links, nu, s).dot(&link_view(links, mu, lat.forward(s, nu)));
            let w: Array2<C64> = a.dot(&b.t().mapv(|z| z.conj()));
            total += w.diag().sum();
        }
    }
    total
}

/// A benchmark group of 10 samples with the given warm-up and measurement times.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    warm_up: Duration,
    measurement: Duration,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .sample_size(10);
    group
}

fn plaquettes(c: &mut Criterion) {
    let mut group = group(
        c,
        "plaquettes",
        Duration::from_millis(300),
        Duration::from_secs(1),
    );
    for extents in SHAPES {
        for n in NS {
            let links = field(extents, n);
            group.bench_function(BenchmarkId::new("lattice_gauge", label(extents, n)), |b| {
                b.iter(|| black_box(&links).plaquettes())
            });
            group.bench_function(
                BenchmarkId::new("ndarray_reference", label(extents, n)),
                |b| b.iter(|| naive_plaquettes(black_box(&links))),
            );
        }
    }
    group.finish();
}

fn wilson_loops(c: &mut Criterion) {
    let mut group = group(
        c,
        "wilson_loops",
        Duration::from_millis(300),
        Duration::from_secs(1),
    );
    for extents in SHAPES {
        for n in NS {
            let links = field(extents, n);
            for (r, t) in [(2, 2), (4, 3)] {
                let id = format!("{}/{r}x{t}", label(extents, n));
                group.bench_function(BenchmarkId::new("field_plane01", id), |b| {
                    b.iter(|| {
                        black_box(&links)
                            .wilson_loop_field(Dir(0), Dir(1), r, t)
                            .expect("valid loop")
                    })
                });
            }
            group.bench_function(
                BenchmarkId::new("polyakov_field_dir0", label(extents, n)),
                |b| {
                    b.iter(|| {
                        black_box(&links)
                            .polyakov_loop_field(Dir(0))
                            .expect("valid direction")
                    })
                },
            );
        }
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let mut group = group(
        c,
        "matrix",
        Duration::from_millis(200),
        Duration::from_millis(600),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for n in NS {
        let a = matrix::haar_unitary(&mut rng, n);
        let b = matrix::haar_unitary(&mut rng, n);
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        let near: Vec<C64> = a.iter().zip(&b).map(|(x, y)| x + y * 0.01).collect();
        group.bench_function(BenchmarkId::new("mul", n), |bench| {
            bench.iter(|| matrix::mul(black_box(&a), black_box(&b), &mut out, n))
        });
        let (av, bv) = (
            Array2::from_shape_vec((n, n), a.clone()).expect("n x n"),
            Array2::from_shape_vec((n, n), b.clone()).expect("n x n"),
        );
        group.bench_function(BenchmarkId::new("mul_ndarray_dot_reference", n), |bench| {
            bench.iter(|| black_box(&av).dot(black_box(&bv)))
        });
        group.bench_function(BenchmarkId::new("eigenphases", n), |bench| {
            bench.iter(|| matrix::eigenphases(black_box(&a), n))
        });
        group.bench_function(BenchmarkId::new("det", n), |bench| {
            bench.iter(|| matrix::det(black_box(&a), n))
        });
        group.bench_function(BenchmarkId::new("polar_unitary", n), |bench| {
            bench.iter(|| matrix::polar_unitary(black_box(&near), n).expect("regular"))
        });
        group.bench_function(BenchmarkId::new("haar_unitary", n), |bench| {
            bench.iter(|| matrix::haar_unitary_into(&mut rng, &mut out, n))
        });
    }
    group.finish();
}

criterion_group!(benches, plaquettes, wilson_loops, kernels);
criterion_main!(benches);
