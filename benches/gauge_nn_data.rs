//! gauge-nn sample sources: samples per second of the general (Haar) dataset for n = 1, 2, 4 on
//! 5x5 (batches of 256, rayon's global pool), measured side by side with a batched libtorch
//! implementation of the same generator (complex Ginibre QR with phase fix, plaquettes by
//! `roll`/`matmul`, labels from `linalg_eigvals`), the way the GENet PyTorch code generates its
//! data; plus the diagonal source and 4D samples with second-Chern labels.
//!
//! Run: `cargo bench --bench gauge_nn_data` (or `-- haar` etc. to filter).
use std::f64::consts::TAU;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gauge_nn::data::{DiagonalConfig, DiagonalSource, GeneralConfig, HaarSource, SampleSource};
use tch::{Device, Kind, Tensor};

const BATCH: usize = 256;
const NS: [usize; 3] = [1, 2, 4];

/// The reference: one batch of the general dataset generated with batched libtorch ops.
fn torch_general(batch: i64, l: i64, n: i64) -> (Tensor, Tensor, Tensor) {
    let a = Tensor::randn([batch, 2, l, l, n, n], (Kind::ComplexDouble, Device::Cpu));
    let (q, r) = Tensor::linalg_qr(&a, "reduced");
    let d = r.diagonal(0, -2, -1);
    let phase = &d / d.abs();
    let u = q * phase.conj().unsqueeze(-2);
    let (ux, uy) = (u.select(1, 0), u.select(1, 1));
    let w = ux
        .matmul(&uy.roll([-1i64], [1]))
        .matmul(&ux.roll([-1i64], [2]).adjoint())
        .matmul(&uy.adjoint());
    let labels = w
        .linalg_eigvals()
        .angle()
        .sum_dim_intlist(-1, false, Kind::Double)
        / TAU;
    let chern = labels
        .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double)
        .round();
    (w, labels, chern)
}

fn haar(c: &mut Criterion) {
    let mut group = c.benchmark_group("haar_5x5");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(10);
    for n in NS {
        let mut source = HaarSource::new(GeneralConfig {
            extents: vec![5, 5],
            n,
            seed: 1,
            ..Default::default()
        })
        .expect("valid config");
        group.bench_function(BenchmarkId::new("gauge_nn", n), |b| {
            b.iter(|| black_box(source.sample(BATCH).expect("sampling works")))
        });
        let mut trivial = HaarSource::new(GeneralConfig {
            extents: vec![5, 5],
            n,
            trivial_only: true,
            seed: 1,
            ..Default::default()
        })
        .expect("valid config");
        group.bench_function(BenchmarkId::new("gauge_nn_trivial_only", n), |b| {
            b.iter(|| black_box(trivial.sample(BATCH).expect("sampling works")))
        });
    }
    group.finish();
}

fn diagonal(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagonal_5x5");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(10);
    for n in NS {
        let mut source = DiagonalSource::new(DiagonalConfig {
            extents: vec![5, 5],
            n,
            seed: 1,
            ..Default::default()
        })
        .expect("valid config");
        group.bench_function(BenchmarkId::new("cue_c0", n), |b| {
            b.iter(|| black_box(source.sample(BATCH).expect("sampling works")))
        });
    }
    group.finish();
}

/// Runs after the pure-Rust groups: libtorch's OpenMP workers keep spinning for a while after
/// a parallel op and would slow down whatever runs next on a small machine.
fn torch_reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("haar_5x5");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(10);
    for n in NS {
        group.bench_function(BenchmarkId::new("torch_batched", n), |b| {
            b.iter(|| black_box(torch_general(BATCH as i64, 5, n as i64)))
        });
    }
    group.finish();
}

fn four_d(c: &mut Criterion) {
    let mut group = c.benchmark_group("haar_3x3x3x3_second_chern");
    group.throughput(Throughput::Elements(16));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(10);
    let mut source = HaarSource::new(GeneralConfig {
        extents: vec![3, 3, 3, 3],
        n: 3,
        seed: 1,
        ..Default::default()
    })
    .expect("valid config");
    group.bench_function("n3", |b| {
        b.iter(|| black_box(source.sample(16).expect("sampling works")))
    });
    group.finish();
}

criterion_group!(benches, haar, diagonal, torch_reference, four_d);
criterion_main!(benches);
