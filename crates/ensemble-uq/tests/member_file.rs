//! Streaming a member file block by block ([`MemberFile`]) gives bit for bit the prediction,
//! scores and errors of reading the whole array and making one pass.

use std::path::{Path, PathBuf};

use ensemble_uq::{
    EnsembleConfig, EnsemblePrediction, EntropyConvention, Error, FloatArray3, Labels, Logits,
    MemberFile, PredictionKind, Probabilities, Report, SummaryOptions, UncertaintyScores,
    read_array3,
};
use ndarray::Array3;
use ndarray_npy::{NpzWriter, WriteNpyExt};
use safetensors::tensor::{Dtype, TensorView};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-uq-mf-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Two full blocks and an odd last one.
fn samples() -> usize {
    2 * MemberFile::BLOCK_SAMPLES + 123
}

/// Deterministic scrambled logits with some ties and extreme rows.
fn logits(m: usize, n: usize, k: usize) -> Array3<f32> {
    Array3::from_shape_fn((m, n, k), |(a, i, c)| {
        let u = ((a * 31 + i * 7919 + c * 104_729) % 1000) as f32 / 1000.0;
        match i % 97 {
            0 => 1.5,
            1 => 400.0 * u - 200.0,
            _ => 6.0 * u - 3.0 + (c % 3) as f32,
        }
    })
}

fn labels(n: usize, k: usize) -> Labels {
    Labels::new((0..n).map(|i| (i * 13 + i / 7) % k).collect(), k).unwrap()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_same_prediction(a: &EnsemblePrediction, b: &EnsemblePrediction) {
    assert_same_scores(a.scores(), b.scores());
    assert_eq!(a.prediction(), b.prediction());
    assert_eq!(a.correct(), b.correct());
    assert_eq!(
        bits(a.true_class_probability()),
        bits(b.true_class_probability())
    );
    assert_eq!(a.brier().to_bits(), b.brier().to_bits());
    assert_eq!(a.class_counts(), b.class_counts());
    assert_eq!(a.classwise_bins(), b.classwise_bins());
    let options = SummaryOptions::new(15).unwrap();
    let json = |p| serde_json::to_string(&Report::new(p, None, options).unwrap()).unwrap();
    assert_eq!(json(a), json(b));
}

fn assert_same_scores(a: &UncertaintyScores, b: &UncertaintyScores) {
    assert_eq!(bits(a.predictive_entropy()), bits(b.predictive_entropy()));
    assert_eq!(bits(a.expected_entropy()), bits(b.expected_entropy()));
    assert_eq!(bits(a.confidence()), bits(b.confidence()));
}

fn write_npy<T: ndarray_npy::WritableElement>(path: &Path, a: &Array3<T>) {
    a.write_npy(std::fs::File::create(path).unwrap()).unwrap();
}

#[test]
fn streamed_npy_equals_one_shot_bit_for_bit() {
    let d = dir("npy");
    let (m, n, k) = (3, samples(), 5);
    let z = logits(m, n, k);
    let y = labels(n, k);
    let config = EnsembleConfig {
        entropy: EntropyConvention::Exact,
        classwise_bins: Some(10),
    };
    // float32 and float64 logits.
    write_npy(&d.join("z32.npy"), &z);
    let z64 = z.mapv(|v| f64::from(v) * 1.25);
    write_npy(&d.join("z64.npy"), &z64);
    for (file, whole) in [
        ("z32.npy", FloatArray3::F32(z.clone())),
        ("z64.npy", FloatArray3::F64(z64.clone())),
    ] {
        let f = MemberFile::open(d.join(file), None).unwrap().unwrap();
        assert_eq!(f.shape(), (m, n, k));
        assert_eq!(f.is_f64(), matches!(whole, FloatArray3::F64(_)));
        assert_eq!(read_array3(d.join(file), None).unwrap(), whole);
        let streamed = f.predict(PredictionKind::Logits, &y, config).unwrap();
        let (one_shot, scores) = match &whole {
            FloatArray3::F32(a) => {
                let l = Logits::new(a.clone()).unwrap();
                (
                    EnsemblePrediction::new(&l, &y, config).unwrap(),
                    UncertaintyScores::from_members(&l, EntropyConvention::PAPER_NOTEBOOK),
                )
            }
            FloatArray3::F64(a) => {
                let l = Logits::new(a.clone()).unwrap();
                (
                    EnsemblePrediction::new(&l, &y, config).unwrap(),
                    UncertaintyScores::from_members(&l, EntropyConvention::PAPER_NOTEBOOK),
                )
            }
        };
        assert_same_prediction(&streamed, &one_shot);
        let s = f
            .scores(PredictionKind::Logits, EntropyConvention::PAPER_NOTEBOOK)
            .unwrap();
        assert_same_scores(&s, &scores.unwrap());
        assert_eq!(s.len(), n);
    }
}

#[test]
fn streamed_safetensors_probabilities_equal_one_shot() {
    let d = dir("st");
    let (m, n, k) = (2, samples(), 4);
    let mut p = logits(m, n, k).mapv(|v| f64::from(v).exp());
    for mut row in p.lanes_mut(ndarray::Axis(2)) {
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    // Exact zeros (0 ln 0 = 0) in some rows.
    for i in (0..n).step_by(11) {
        let c = p[[0, i, 0]];
        p[[0, i, 0]] = 0.0;
        p[[0, i, 1]] += c;
    }
    let bytes: Vec<u8> = p.iter().flat_map(|x| x.to_le_bytes()).collect();
    let other: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let views = vec![
        (
            "probs",
            TensorView::new(Dtype::F64, vec![m, n, k], &bytes).unwrap(),
        ),
        (
            "other",
            TensorView::new(Dtype::F32, vec![2], &other).unwrap(),
        ),
    ];
    let path = d.join("p.safetensors");
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let y = labels(n, k);
    let whole = Probabilities::new(p.clone()).unwrap();
    let config = EnsembleConfig::default();
    for field in [None, Some("probs")] {
        let f = MemberFile::open(&path, field).unwrap().unwrap();
        assert!(f.is_f64());
        let streamed = f
            .predict(PredictionKind::Probabilities, &y, config)
            .unwrap();
        assert_same_prediction(
            &streamed,
            &EnsemblePrediction::new(&whole, &y, config).unwrap(),
        );
        assert_same_scores(
            &f.scores(PredictionKind::Probabilities, EntropyConvention::Exact)
                .unwrap(),
            &UncertaintyScores::from_members(&whole, EntropyConvention::Exact).unwrap(),
        );
    }
    // Tensor errors are those of the whole-array reader.
    let e = MemberFile::open(&path, Some("nope")).unwrap_err();
    assert!(
        matches!(&e, Error::Format { field, .. } if field == "nope"),
        "{e}"
    );
    assert!(MemberFile::open(&path, Some("other")).unwrap().is_none());
}

/// The first offending entry in member, sample, class order over the whole array, with its
/// global sample index, whichever block holds it.
#[test]
fn validation_errors_are_those_of_the_whole_array() {
    let d = dir("errors");
    let (m, n, k) = (3, samples(), 4);
    let b = MemberFile::BLOCK_SAMPLES;
    let y = labels(n, k);
    let config = EnsembleConfig::default();
    let mut z = logits(m, n, k);
    z[[2, 100, 1]] = f32::NAN; // block 0, found first
    z[[1, b + 50, 3]] = f32::INFINITY; // block 1, an earlier member: comes first
    z[[1, 2 * b + 7, 0]] = f32::NAN; // block 2, same member, later sample
    let check = |z: &Array3<f32>, name: &str, want: (usize, usize, usize)| {
        let path = d.join(name);
        write_npy(&path, z);
        let f = MemberFile::open(&path, None).unwrap().unwrap();
        let streamed = f.predict(PredictionKind::Logits, &y, config).unwrap_err();
        let scored = f
            .scores(PredictionKind::Logits, EntropyConvention::Exact)
            .unwrap_err();
        let whole = Logits::new(z.clone()).unwrap_err();
        for e in [&streamed, &scored] {
            match (e, &whole) {
                (
                    Error::NonFinite {
                        member,
                        sample,
                        class,
                        value,
                    },
                    Error::NonFinite {
                        member: m0,
                        sample: s0,
                        class: c0,
                        value: v0,
                    },
                ) => {
                    assert_eq!((*member, *sample, *class), want);
                    assert_eq!((*m0, *s0, *c0), want);
                    assert_eq!(value.to_bits(), v0.to_bits());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    check(&z, "a.npy", (1, b + 50, 3));
    // A member-0 entry in the odd last block comes before all of them.
    z[[0, 2 * b + 100, 2]] = f32::NEG_INFINITY;
    check(&z, "b.npy", (0, 2 * b + 100, 2));

    // Probabilities: a negative value in the last block of member 0 and a bad row sum earlier
    // in member 1.
    let mut p = Array3::<f32>::from_elem((2, n, 4), 0.25);
    p[[1, 5, 0]] = 0.5;
    p[[0, 2 * b + 1, 1]] = -0.25;
    p[[0, 2 * b + 1, 2]] = 0.75;
    let path = d.join("p.npy");
    write_npy(&path, &p);
    let f = MemberFile::open(&path, None).unwrap().unwrap();
    let e = f
        .predict(PredictionKind::Probabilities, &y, config)
        .unwrap_err();
    assert!(
        matches!(e, Error::NegativeProbability { member: 0, sample, class: 1, value }
            if sample == 2 * b + 1 && value == -0.25),
        "{e}"
    );
    assert!(matches!(
        Probabilities::new(p).unwrap_err(),
        Error::NegativeProbability { member: 0, sample, class: 1, .. } if sample == 2 * b + 1
    ));
}

/// Labels that do not fit give the one-shot errors, after the values' validation.
#[test]
fn label_mismatch_and_invalid_config_errors() {
    let d = dir("labels");
    let (m, n, k) = (2, MemberFile::BLOCK_SAMPLES + 3, 3);
    let mut z = logits(m, n, k);
    let path = d.join("z.npy");
    write_npy(&path, &z);
    let f = MemberFile::open(&path, None).unwrap().unwrap();
    let config = EnsembleConfig::default();
    let short = labels(n - 1, k);
    let l = Logits::new(z.clone()).unwrap();
    let want = EnsemblePrediction::new(&l, &short, config).unwrap_err();
    let got = f
        .predict(PredictionKind::Logits, &short, config)
        .unwrap_err();
    assert_eq!(got.to_string(), want.to_string());
    assert!(matches!(got, Error::ShapeMismatch { found, .. } if found == (n - 1).to_string()));
    let wide = labels(n, k + 1);
    assert!(matches!(
        f.predict(PredictionKind::Logits, &wide, config),
        Err(Error::ShapeMismatch { found, .. }) if found == (k + 1).to_string()
    ));
    let bad = EnsembleConfig {
        classwise_bins: Some(0),
        ..config
    };
    assert!(matches!(
        f.predict(PredictionKind::Logits, &labels(n, k), bad),
        Err(Error::InvalidParameter {
            name: "classwise_bins",
            ..
        })
    ));
    // With bad values as well, the values' error comes first (as from Logits::new).
    z[[1, n - 1, 0]] = f32::NAN;
    write_npy(&path, &z);
    let f = MemberFile::open(&path, None).unwrap().unwrap();
    for (y, c) in [(&short, config), (&labels(n, k), bad)] {
        assert!(matches!(
            f.predict(PredictionKind::Logits, y, c),
            Err(Error::NonFinite { member: 1, sample, class: 0, .. }) if sample == n - 1
        ));
    }
}

/// Files that cannot be streamed are left to the whole-array reader.
#[test]
fn other_layouts_are_not_streamed() {
    let d = dir("other");
    let z = logits(2, 5, 3);
    // Fortran order.
    let f = z.t().as_standard_layout().into_owned().reversed_axes();
    write_npy(&d.join("fortran.npy"), &f);
    assert!(
        MemberFile::open(d.join("fortran.npy"), None)
            .unwrap()
            .is_none()
    );
    // Big-endian descriptor, padded and truncated files, other dtypes and ranks.
    write_npy(&d.join("ok.npy"), &z);
    let bytes = std::fs::read(d.join("ok.npy")).unwrap();
    let mut be = bytes.clone();
    let at = be.windows(3).position(|w| w == b"<f4").unwrap();
    be[at] = b'>';
    std::fs::write(d.join("be.npy"), &be).unwrap();
    std::fs::write(d.join("short.npy"), &bytes[..bytes.len() - 4]).unwrap();
    let mut long = bytes.clone();
    long.extend([0u8; 4]);
    std::fs::write(d.join("long.npy"), &long).unwrap();
    write_npy(&d.join("int.npy"), &z.mapv(|v| v as i32));
    ndarray::Array2::<f32>::zeros((3, 4))
        .write_npy(std::fs::File::create(d.join("2d.npy")).unwrap())
        .unwrap();
    write_npy(&d.join("empty.npy"), &Array3::<f32>::zeros((2, 0, 3)));
    for file in [
        "be.npy",
        "short.npy",
        "long.npy",
        "int.npy",
        "2d.npy",
        "empty.npy",
    ] {
        assert!(
            MemberFile::open(d.join(file), None).unwrap().is_none(),
            "{file}"
        );
    }
    assert!(MemberFile::open(d.join("ok.npy"), None).unwrap().is_some());
    // A field on a .npy, .npz and JSON files.
    assert!(
        MemberFile::open(d.join("ok.npy"), Some("x"))
            .unwrap()
            .is_none()
    );
    let mut w = NpzWriter::new(std::fs::File::create(d.join("z.npz")).unwrap());
    w.add_array("z", &z).unwrap();
    w.finish().unwrap();
    assert!(MemberFile::open(d.join("z.npz"), None).unwrap().is_none());
    assert!(matches!(
        MemberFile::open(d.join("missing.npy"), None),
        Err(Error::Io { .. })
    ));
}
