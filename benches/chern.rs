//! chern: band structures and Chern numbers on QWZ and Hofstadter grids, with the per-k-point
//! cost at L = 50, 100, 200 (it must stay flat: linear scaling), the eigen-solver against LAPACK
//! `zheev` through ndarray-linalg side by side, and the other invariants (eigenphase sum,
//! Wilson loops, 4D second Chern number).
//!
//! Run: `cargo bench --bench chern` (or `-- fhs` etc. to filter). The comparison with numpy and
//! PythTB is `benches/compare/chern/run.sh`.
use std::hint::black_box;
use std::time::Duration;

use chern::{
    BandSet, BandStructure, BlochHamiltonian, ChernConfig, Dirac4d, DynHamiltonian, Hofstadter,
    Method, Qwz, Tolerances, chern_number, chern_number_of, second_chern_number, wilson_loops,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, ShapeBuilder};
use ndarray_linalg::{Eigh, UPLO};

fn models() -> Vec<(&'static str, DynHamiltonian, usize)> {
    vec![
        ("qwz", Box::new(Qwz::new(1.0)), 1),
        (
            "hofstadter-1/3",
            Box::new(Hofstadter::new(1, 3, 1.0).expect("q > 0")),
            1,
        ),
        (
            "hofstadter-1/5",
            Box::new(Hofstadter::new(1, 5, 1.0).expect("q > 0")),
            2,
        ),
        (
            "hofstadter-1/7",
            Box::new(Hofstadter::new(1, 7, 1.0).expect("q > 0")),
            3,
        ),
    ]
}

/// A benchmark group of 10 samples over 3 s each: whole-grid computations take milliseconds.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group
}

/// Full FHS pipeline per model and grid; throughput in k-points shows linear scaling.
fn fhs(c: &mut Criterion) {
    let mut group = group(c, "fhs");
    for (name, h, r) in models() {
        for l in [50usize, 100, 200] {
            group.throughput(Throughput::Elements((l * l) as u64));
            group.bench_with_input(BenchmarkId::new(name, l), &l, |b, &l| {
                b.iter(|| {
                    chern_number_of(&h, &[l, l], &BandSet::lowest(r), &ChernConfig::default())
                        .expect("gapped")
                })
            });
        }
    }
    group.finish();
}

/// The band structure alone: our Householder + QL solver against LAPACK `zheev` via
/// ndarray-linalg (a Fortran-layout copy, LAPACK's native layout) on the same Hamiltonians.
fn eigensolver(c: &mut Criterion) {
    let mut group = group(c, "eigensolver");
    let l = 50;
    for (name, h, r) in models() {
        group.throughput(Throughput::Elements((l * l) as u64));
        group.bench_function(BenchmarkId::new("chern", name), |b| {
            b.iter(|| BandStructure::compute_for(&h, &[l, l], &BandSet::lowest(r)).expect("finite"))
        });
        let n = h.n_bands();
        group.bench_function(BenchmarkId::new("ndarray-linalg-eigh", name), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for i in 0..l {
                    for j in 0..l {
                        let k = [
                            2.0 * std::f64::consts::PI * i as f64 / l as f64,
                            2.0 * std::f64::consts::PI * j as f64 / l as f64,
                        ];
                        let hk = h.hamiltonian(&k);
                        let mut a = Array2::zeros((n, n).f());
                        a.assign(&Array2::from_shape_vec((n, n), hk).expect("n x n"));
                        let (e, v) = a.eigh(UPLO::Lower).expect("Hermitian");
                        acc += e[0] + v[[0, 0]].re;
                    }
                }
                black_box(acc)
            })
        });
    }
    group.finish();
}

fn other_invariants(c: &mut Criterion) {
    let mut group = group(c, "invariants");
    let h = Hofstadter::new(1, 7, 1.0).expect("q > 0");
    let set = BandSet::lowest(3);
    let bands = BandStructure::compute_for(&h, &[100, 100], &set).expect("finite");
    for method in [Method::Determinant, Method::EigenphaseSum] {
        let config = ChernConfig {
            method,
            ..Default::default()
        };
        group.bench_function(
            BenchmarkId::new("plaquettes-hofstadter-1/7-r3-L100", method.to_string()),
            |b| b.iter(|| chern_number(&bands, &set, &config).expect("gapped")),
        );
    }
    group.bench_function("wilson-loops-hofstadter-1/7-r3-L100", |b| {
        b.iter(|| wilson_loops(&bands, &set, 0, &Tolerances::default()).expect("gapped"))
    });
    let set2 = BandSet::lowest(2);
    group.bench_function("second-chern-dirac4d-L8", |b| {
        b.iter(|| {
            let bands =
                BandStructure::compute_for(&Dirac4d::new(-3.0), &[8; 4], &set2).expect("finite");
            second_chern_number(&bands, &set2, &Tolerances::default()).expect("gapped")
        })
    });
    group.finish();
}

criterion_group!(benches, fhs, eigensolver, other_invariants);
criterion_main!(benches);
