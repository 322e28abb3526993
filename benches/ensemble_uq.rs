//! ensemble-uq: the one pass over (M, N, K) member logits, and the whole metric set from it.
//!
//! `cargo bench --bench ensemble_uq`. Side-by-side ratios against torchmetrics, netcal,
//! scikit-learn and scipy: `benches/compare/uq/run.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ensemble_uq::{
    EnsembleConfig, EnsemblePrediction, FloatArray3, Labels, Logits, MemberFile, PredictionKind,
    Probabilities, Report, SummaryOptions, read_array3,
};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;

const M: usize = 5;
const N: usize = 100_000;
const K: usize = 10;

fn inputs() -> (Logits<f32>, Labels) {
    let mut rng = StdRng::seed_from_u64(0);
    let base: Vec<f32> = (0..N * K).map(|_| rng.random_range(-4.0..4.0)).collect();
    let logits = Array3::from_shape_fn((M, N, K), |(_, i, k)| {
        base[i * K + k] + rng.random_range(-1.0f32..1.0)
    });
    let labels = (0..N).map(|_| rng.random_range(0..K)).collect();
    (
        Logits::new(logits).expect("finite"),
        Labels::new(labels, K).expect("in range"),
    )
}

/// Writes `logits` as a C-order little-endian float32 `.npy` (format 1.0) to a temporary file.
fn write_npy(logits: &Logits<f32>) -> std::path::PathBuf {
    let (m, n, k) = logits.shape();
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({m}, {n}, {k}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(logits.view().iter().flat_map(|v| v.to_le_bytes()));
    let path = std::env::temp_dir().join(format!("ensemble-uq-bench-{}.npy", std::process::id()));
    std::fs::write(&path, bytes).expect("writable temp dir");
    path
}

fn bench(c: &mut Criterion) {
    let (logits, labels) = inputs();
    let config = EnsembleConfig {
        classwise_bins: Some(15),
        ..EnsembleConfig::default()
    };
    let mut g = c.benchmark_group("ensemble_uq");
    g.throughput(Throughput::Elements((M * N * K) as u64));
    g.sample_size(20);
    g.bench_function("one_pass_logits_f32_5x1e5x10", |b| {
        b.iter(|| EnsemblePrediction::new(black_box(&logits), &labels, config).expect("valid"))
    });
    let probs = Probabilities::new(
        ensemble_uq::answer_member_probabilities(
            logits.view(),
            &(0..K).collect::<Vec<_>>(),
            ensemble_uq::AnswerScoring::Renormalised,
        )
        .expect("valid")
        .into_inner(),
    )
    .expect("valid");
    g.bench_function("one_pass_probabilities_f64_5x1e5x10", |b| {
        b.iter(|| EnsemblePrediction::new(black_box(&probs), &labels, config).expect("valid"))
    });
    let prediction = EnsemblePrediction::new(&logits, &labels, config).expect("valid");
    g.bench_function("report_from_prediction_1e5", |b| {
        b.iter(|| {
            Report::new(
                black_box(&prediction),
                None,
                SummaryOptions::new(15).expect("valid"),
            )
            .expect("valid")
        })
    });
    g.bench_function("validate_logits_f32_5x1e5x10", |b| {
        b.iter(|| Logits::new(black_box(logits.view().to_owned())).expect("finite"))
    });
    // From a .npy file (in the page cache): read whole, validate, one pass; or streamed.
    let path = write_npy(&logits);
    g.bench_function("npy_read_whole_then_one_pass_5x1e5x10", |b| {
        b.iter(|| {
            let FloatArray3::F32(a) = read_array3(black_box(&path), None).expect("readable") else {
                unreachable!("written as float32")
            };
            let l = Logits::new(a).expect("finite");
            EnsemblePrediction::new(&l, &labels, config).expect("valid")
        })
    });
    g.bench_function("npy_streamed_one_pass_5x1e5x10", |b| {
        b.iter(|| {
            let f = MemberFile::open(black_box(&path), None)
                .expect("readable")
                .expect("streamable");
            f.predict(PredictionKind::Logits, &labels, config)
                .expect("valid")
        })
    });
    let _ = std::fs::remove_file(&path);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
