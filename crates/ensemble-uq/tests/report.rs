//! Reports and plots on the golden fixture: JSON keys and round trip, Markdown, SVG files,
//! epoch series, OOD detection, and streaming of unlabelled scores.

use std::path::PathBuf;

use ensemble_uq::{
    EnsembleConfig, EnsemblePrediction, EntropyConvention, EpochSeries, FloatArray3, Labels,
    Logits, Report, SummaryOptions, UncertaintyScore, UncertaintyScores, plots, read_array3,
    read_labels,
};
use ndarray::s;

fn fixture() -> (Logits, Labels, serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/uq_seed0.json");
    let FloatArray3::F64(a) = read_array3(&path, Some("/inputs/logits_MNK")).unwrap() else {
        panic!("float64")
    };
    let y = read_labels(&path, Some("/inputs/labels")).unwrap();
    let fx = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (
        Logits::new(a).unwrap(),
        Labels::from_signed(&y, 4).unwrap(),
        fx,
    )
}

#[test]
fn summary_json_markdown_and_plots() {
    let (logits, labels, fx) = fixture();
    let config = EnsembleConfig {
        classwise_bins: Some(15),
        ..EnsembleConfig::default()
    };
    let pred = EnsemblePrediction::new(&logits, &labels, config).unwrap();
    let ood_logits = Logits::new(logits.view().slice(s![.., 100.., ..]).to_owned()).unwrap();
    let ood = UncertaintyScores::from_members(&ood_logits, EntropyConvention::Exact).unwrap();
    let report = Report::new(&pred, Some(&ood), SummaryOptions::new(15).unwrap()).unwrap();
    let json = serde_json::to_value(&report.summary).unwrap();
    for key in [
        "accuracy",
        "nll",
        "brier",
        "ece",
        "mce",
        "rmsce",
        "predictive_entropy",
        "expected_entropy",
        "mutual_information",
        "auroc_entropy",
        "auprc_entropy",
        "aurc",
        "e_aurc",
    ] {
        assert!(json[key].is_number(), "missing key {key}");
    }
    let v = &fx["values"];
    assert!(
        (json["ece"].as_f64().unwrap()
            - v["ece_15bins"]["netcal.metrics.ECE(bins=15).measure(p_bar, y) float64"]
                .as_f64()
                .unwrap())
        .abs()
            < 1e-12
    );
    assert!(
        (json["e_aurc"].as_f64().unwrap()
            - v["aurc_max_prob"]["numpy: E-AURC = AURC - oracle"]
                .as_f64()
                .unwrap())
        .abs()
            < 1e-12
    );
    let back: ensemble_uq::Summary = serde_json::from_value(json).unwrap();
    assert_eq!(back, report.summary);
    // OOD set = the second half of the in-distribution set: detection at chance for every score.
    let o = report.summary.ood_detection.unwrap();
    assert!((0.3..0.7).contains(&o.auroc_entropy.unwrap()));
    let md = report.summary.to_markdown();
    assert!(md.contains("| accuracy | 0.6350 |"), "{md}");

    let dir = std::env::temp_dir().join(format!("ensemble-uq-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    plots::reliability_diagram(&dir.join("r.svg"), &report.calibration).unwrap();
    plots::histogram(
        &dir.join("h.svg"),
        pred.scores().predictive_entropy(),
        "H",
        "nats",
        30,
    )
    .unwrap();
    plots::histogram(
        &dir.join("mi.svg"),
        &pred.scores().mutual_information(),
        "MI",
        "nats",
        30,
    )
    .unwrap();
    plots::accuracy_rejection(&dir.join("ar.svg"), &report.accuracy_rejection).unwrap();
    let mut series = EpochSeries::default();
    for (e, n) in [(0, 50), (1, 120), (2, 200)] {
        let l = Logits::new(logits.view().slice(s![.., ..n, ..]).to_owned()).unwrap();
        let y = Labels::new(labels.as_slice()[..n].to_vec(), 4).unwrap();
        let p = EnsemblePrediction::new(&l, &y, EnsembleConfig::default()).unwrap();
        series.push(
            format!("epoch {e}"),
            Report::new(&p, None, SummaryOptions::new(10).unwrap())
                .unwrap()
                .summary,
        );
    }
    plots::metrics_versus_epoch(&dir.join("e.svg"), &series).unwrap();
    for f in ["r.svg", "h.svg", "mi.svg", "ar.svg", "e.svg"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.starts_with("<svg") && text.len() > 1000, "{f}");
    }
    assert_eq!(series.series("accuracy").len(), 3);
    assert_eq!(series.series("accuracy")[2], Some(pred.accuracy()));
    assert_eq!(series.to_markdown().lines().count(), 5);
    // Writing into a missing folder is an error naming the file.
    let bad = dir.join("missing/r.svg");
    assert!(matches!(
        plots::reliability_diagram(&bad, &report.calibration),
        Err(ensemble_uq::Error::Write { .. })
    ));
}

#[test]
fn unlabelled_scores_stream_and_match_labelled_ones() {
    let (logits, labels, _) = fixture();
    let pred = EnsemblePrediction::new(&logits, &labels, EnsembleConfig::default()).unwrap();
    let mut streamed = UncertaintyScores::default();
    for (a, b) in [(0, 7), (7, 150), (150, 200)] {
        let part = Logits::new(logits.view().slice(s![.., a..b, ..]).to_owned()).unwrap();
        streamed.push(&part, EntropyConvention::Exact).unwrap();
    }
    assert_eq!(&streamed, pred.scores());
    assert_eq!(
        streamed.score(UncertaintyScore::NegativeMaxProbability)[3],
        -pred.scores().confidence()[3]
    );
}

/// An NLL of +inf (a true-class probability of exactly 0) is the string "inf" in JSON, not
/// `null`, and reads back as +inf; undefined metrics stay `null`.
#[test]
fn non_finite_values_are_explicit_in_json() {
    // One member; sample 1 puts probability exp(-1000) = 0 (underflow) on its label.
    let logits = Logits::new(
        ndarray::Array3::from_shape_vec((1, 3, 2), vec![2.0, 0.0, 0.0, -1000.0, 0.5, 0.0]).unwrap(),
    )
    .unwrap();
    let labels = Labels::new(vec![0, 1, 0], 2).unwrap();
    let pred = EnsemblePrediction::new(&logits, &labels, EnsembleConfig::default()).unwrap();
    assert_eq!(pred.true_class_probability()[1], 0.0);
    let report = Report::new(&pred, None, SummaryOptions::new(10).unwrap()).unwrap();
    assert_eq!(report.summary.nll, f64::INFINITY);
    let json = serde_json::to_value(&report.summary).unwrap();
    assert_eq!(json["nll"], serde_json::json!("inf"));
    assert!(json["brier"].is_number());
    assert!(json["ood_detection"].is_null());
    let back: ensemble_uq::Summary = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.nll, f64::INFINITY);
    assert_eq!(back, report.summary);
    // -inf and NaN have their strings too; other strings are errors.
    let mut other = json.clone();
    other["nll"] = serde_json::json!("-inf");
    other["brier"] = serde_json::json!("nan");
    let back: ensemble_uq::Summary = serde_json::from_value(other.clone()).unwrap();
    assert_eq!(back.nll, f64::NEG_INFINITY);
    assert!(back.brier.is_nan());
    assert_eq!(serde_json::to_value(&back).unwrap()["brier"], "nan");
    other["nll"] = serde_json::json!("infinity");
    assert!(serde_json::from_value::<ensemble_uq::Summary>(other).is_err());
    // The sklearn convention clips instead: a finite number.
    let mut options = SummaryOptions::new(10).unwrap();
    options.nll = ensemble_uq::NllConvention::SKLEARN;
    let clipped = Report::new(&pred, None, options).unwrap();
    let json = serde_json::to_value(&clipped.summary).unwrap();
    assert!(json["nll"].is_number());
}
