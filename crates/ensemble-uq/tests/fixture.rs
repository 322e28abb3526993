//! Every value of the golden fixture `tests/fixtures/uq_seed0.json` (made by
//! `tests/fixtures/uq_seed0.py` with torchmetrics 1.9.0, netcal 1.3.6, scikit-learn 1.9.1,
//! scipy 1.17.1, torch 2.1.2; see `tests/fixtures/README.md`), reproduced to 1e-12 against the
//! float64 anchors and to 1e-6 against torchmetrics' (and torch's) float32 values.

use std::path::PathBuf;

use ensemble_uq::{
    AnswerScoring, Binning, CalibrationConfig, ConfidenceOneRule, Detection, EnsembleConfig,
    EnsemblePrediction, EntropyConvention, FloatArray3, Labels, Logits, NllConvention,
    Probabilities, Uncertainty, UncertaintyScore, UncertaintyScores, answer_probabilities,
    binned_calibration, ensemble_mean, read_array3, read_labels,
};
use ndarray::{Array3, Axis};
use serde_json::Value;

const F64: f64 = 1e-12;
const F32: f64 = 1e-6;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/uq_seed0.json")
}

fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap()
}

#[track_caller]
fn close(got: f64, want: &Value, tol: f64, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {want}"));
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.17e}, fixture {want:.17e}, diff {:.3e} > {tol:e}",
        (got - want).abs()
    );
}

#[track_caller]
fn close_vec(got: &[f64], want: &Value, tol: f64, what: &str) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, w, tol, &format!("{what}[{i}]"));
    }
}

fn array3(v: &Value) -> Array3<f64> {
    let outer = v.as_array().unwrap();
    let (m, n, k) = (
        outer.len(),
        outer[0].as_array().unwrap().len(),
        outer[0][0].as_array().unwrap().len(),
    );
    let data: Vec<f64> = outer
        .iter()
        .flat_map(|a| a.as_array().unwrap().iter())
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    Array3::from_shape_vec((m, n, k), data).unwrap()
}

fn labels_of(v: &Value, k: usize) -> Labels {
    let y: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    Labels::from_signed(&y, k).unwrap()
}

struct Setup {
    fx: Value,
    logits: Logits,
    labels: Labels,
    pred: EnsemblePrediction,
}

fn setup() -> Setup {
    let fx = fixture();
    let logits = Logits::new(array3(&fx["inputs"]["logits_MNK"])).unwrap();
    let labels = labels_of(&fx["inputs"]["labels"], 4);
    let config = EnsembleConfig {
        classwise_bins: Some(15),
        ..EnsembleConfig::default()
    };
    let pred = EnsemblePrediction::new(&logits, &labels, config).unwrap();
    Setup {
        fx,
        logits,
        labels,
        pred,
    }
}

#[test]
fn inputs_read_through_the_json_reader() {
    let s = setup();
    let path = fixture_path();
    let FloatArray3::F64(a) = read_array3(&path, Some("/inputs/logits_MNK")).unwrap() else {
        panic!("JSON arrays are float64");
    };
    assert_eq!(a, s.logits.view());
    let y = read_labels(&path, Some("/inputs/labels")).unwrap();
    assert_eq!(Labels::from_signed(&y, 4).unwrap(), s.labels);
    assert_eq!(s.fx["meta"]["M"], 5);
    assert_eq!(s.logits.shape(), (5, 200, 4));
}

#[test]
fn accuracy_nll_brier() {
    let s = setup();
    let v = &s.fx["values"];
    let acc = &v["accuracy"];
    close(s.pred.accuracy(), &acc["numpy"], F64, "accuracy");
    close(
        s.pred.accuracy(),
        &acc["sklearn.accuracy_score"],
        F64,
        "accuracy sklearn",
    );
    close(
        s.pred.accuracy(),
        &acc["torchmetrics.functional.accuracy(task=multiclass) [default average=micro]"],
        F32,
        "accuracy torchmetrics micro",
    );
    close(
        s.pred.macro_accuracy(),
        &acc["torchmetrics.multiclass_accuracy [default average=macro, NOT plain accuracy]"],
        F32,
        "macro accuracy",
    );
    // Contrast: logit averaging is a one-member "ensemble" of the mean logits.
    let mean_logits = Logits::new(
        s.logits
            .view()
            .mean_axis(Axis(0))
            .unwrap()
            .insert_axis(Axis(0)),
    )
    .unwrap();
    let logit_avg =
        EnsemblePrediction::new(&mean_logits, &s.labels, EnsembleConfig::default()).unwrap();
    close(
        logit_avg.accuracy(),
        &acc["numpy, logit-averaged ensemble (contrast)"],
        F64,
        "logit-avg accuracy",
    );
    let member_acc: f64 = (0..5)
        .map(|m| {
            let one = Logits::new(
                s.logits
                    .view()
                    .slice(ndarray::s![m..m + 1, .., ..])
                    .to_owned(),
            )
            .unwrap();
            EnsemblePrediction::new(&one, &s.labels, EnsembleConfig::default())
                .unwrap()
                .accuracy()
        })
        .sum::<f64>()
        / 5.0;
    close(
        member_acc,
        &acc["numpy, mean of member accuracies"],
        F64,
        "mean member accuracy",
    );

    let nll = &v["nll"];
    close(
        s.pred.nll(NllConvention::Exact),
        &nll["numpy (-mean log p_bar[y], no eps)"],
        F64,
        "nll",
    );
    close(
        s.pred.nll(NllConvention::SKLEARN),
        &nll["sklearn.log_loss (clip to [eps,1-eps], eps=finfo(float64).eps)"],
        F64,
        "nll sklearn",
    );
    close(
        s.pred.nll(NllConvention::Exact),
        &nll["torch.nn.functional.nll_loss(log p_bar) float64"],
        F64,
        "nll torch",
    );
    close(
        s.pred.nll(NllConvention::PAPER),
        &nll["paper notebook style: -mean log(p_bar[y] + 1e-9) in float32"],
        F32,
        "nll paper",
    );
    close(
        logit_avg.nll(NllConvention::Exact),
        &nll["numpy, logit-averaged ensemble (contrast)"],
        F64,
        "nll logit-avg",
    );

    let brier = &v["brier"];
    close(
        s.pred.brier(),
        &brier["numpy mean_i sum_k (p_bar_ik - onehot_ik)^2"],
        F64,
        "brier",
    );
    close(
        s.pred.brier(),
        &brier["sklearn.brier_score_loss (multiclass, scale_by_half=auto -> False for K>=3)"],
        F64,
        "brier sklearn",
    );
    close(
        s.pred.brier() / 4.0,
        &brier["numpy divided by K (alternative convention, e.g. 'mean over classes')"],
        F64,
        "brier / K",
    );
    close(1.0 - s.pred.accuracy(), &v["error_rate"], F64, "error rate");
}

#[test]
fn calibration_15_and_10_bins() {
    let s = setup();
    let v = &s.fx["values"];
    let tm = CalibrationConfig::new(15)
        .unwrap()
        .with_confidence_one(ConfidenceOneRule::TorchmetricsExtraBin);
    let last = CalibrationConfig::new(15).unwrap();
    let c_tm = s.pred.calibration(tm).unwrap();
    let c_last = s.pred.calibration(last).unwrap();
    for (key, got_tm, got_last) in [
        ("ece_15bins", c_tm.ece, c_last.ece),
        ("mce_15bins", c_tm.mce, c_last.mce),
        ("rmsce_15bins", c_tm.rmsce, c_last.rmsce),
    ] {
        let e = &v[key];
        close(
            got_tm,
            &e["torchmetrics.multiclass_calibration_error float64 input (cast to float32 inside)"],
            F32,
            key,
        );
        close(
            got_tm,
            &e["torchmetrics.multiclass_calibration_error float32 input"],
            F32,
            key,
        );
        close(
            got_tm,
            &e["numpy re-implementation (torchmetrics bin rule, float64)"],
            F64,
            key,
        );
        // No confidence is exactly 1 here, so both rules agree.
        assert_eq!(got_tm, got_last, "{key}: rules differ without confidence 1");
    }
    close(
        c_last.ece,
        &v["ece_15bins"]["netcal.metrics.ECE(bins=15).measure(p_bar, y) float64"],
        F64,
        "netcal ECE",
    );
    close(
        c_last.mce,
        &v["mce_15bins"]["netcal.metrics.MCE(bins=15).measure(p_bar, y) float64"],
        F64,
        "netcal MCE",
    );

    let rel = &v["reliability_bins_15_numpy"];
    close_vec(
        &ensemble_uq::equal_width_edges(15).unwrap(),
        &rel["edges (np.linspace float64)"],
        0.0,
        "edges",
    );
    let counts: Vec<f64> = c_tm.bins.iter().map(|b| b.count as f64).collect();
    close_vec(
        &counts,
        &rel["count per bin [b_j, b_j+1) (+ extra bin for conf==1.0)"],
        0.0,
        "counts",
    );
    let acc: Vec<f64> = c_tm.bins.iter().map(|b| b.accuracy).collect();
    close_vec(
        &acc,
        &rel["mean accuracy per bin (0 if empty)"],
        F64,
        "bin accuracy",
    );
    let conf: Vec<f64> = c_tm.bins.iter().map(|b| b.mean_confidence).collect();
    close_vec(
        &conf,
        &rel["mean confidence per bin (0 if empty)"],
        F64,
        "bin confidence",
    );

    let ace = &v["ace_netcal_15bins"];
    close(
        c_last.average_calibration_error,
        &ace["netcal.metrics.ACE(bins=15) (= unweighted mean |acc-conf| over non-empty equal-width bins)"],
        F64,
        "netcal ACE",
    );
    let mass = s
        .pred
        .calibration(last.with_binning(Binning::EqualMass))
        .unwrap();
    close(
        mass.average_calibration_error,
        &ace["netcal.metrics.ACE(bins=15, equal_intervals=False) (equal-mass bins)"],
        F64,
        "netcal ACE equal mass",
    );
    // Equal-mass bins hold (nearly) equal counts.
    let (lo, hi) = mass.bins.iter().fold((usize::MAX, 0), |(a, b), x| {
        (a.min(x.count), b.max(x.count))
    });
    assert!(hi - lo <= 2, "equal-mass counts {lo}..{hi}");

    let p10 = &v["ece_10bins_paper_setting"];
    let c10_tm = s
        .pred
        .calibration(
            CalibrationConfig::new(10)
                .unwrap()
                .with_confidence_one(ConfidenceOneRule::TorchmetricsExtraBin),
        )
        .unwrap();
    close(
        c10_tm.ece,
        &p10["torchmetrics calibration_error(task=multiclass, n_bins=10) (as in paper repo)"],
        F32,
        "ECE10 tm",
    );
    let c10 = s
        .pred
        .calibration(CalibrationConfig::new(10).unwrap())
        .unwrap();
    close(
        c10.ece,
        &p10["netcal.metrics.ECE(bins=10)"],
        F64,
        "ECE10 netcal",
    );

    // Class-wise ECE against a slow direct computation from p_bar.
    let p_bar = ensemble_mean(&s.logits);
    let y = s.labels.as_slice();
    let edges = ensemble_uq::equal_width_edges(15).unwrap();
    let mut slow = 0.0;
    for k in 0..4 {
        for j in 0..15 {
            let in_bin: Vec<usize> = (0..200)
                .filter(|&i| {
                    let p = p_bar[[i, k]];
                    p >= edges[j] && (p < edges[j + 1] || (j == 14 && p <= 1.0))
                })
                .collect();
            if in_bin.is_empty() {
                continue;
            }
            let n = in_bin.len() as f64;
            let acc = in_bin.iter().filter(|&&i| y[i] == k).count() as f64 / n;
            let conf = in_bin.iter().map(|&i| p_bar[[i, k]]).sum::<f64>() / n;
            slow += n / 200.0 * (acc - conf).abs();
        }
    }
    slow /= 4.0;
    let fast = s.pred.classwise_bins().unwrap().ece();
    assert!((fast - slow).abs() < F64, "class-wise ECE {fast} vs {slow}");
}

#[test]
fn entropy_decomposition() {
    let s = setup();
    let v = &s.fx["values"];
    let mean = s.pred.scores().mean_uncertainty();
    let h = &v["predictive_entropy_mean"];
    close(
        mean.predictive_entropy,
        &h["numpy/scipy.special.entr (exact, nats)"],
        F64,
        "H",
    );
    close(
        mean.predictive_entropy,
        &h["scipy.stats.entropy(p_bar, axis=1)"],
        F64,
        "H scipy.stats",
    );
    close(
        mean.predictive_entropy,
        &h["torch.distributions.Categorical(probs).entropy() float64"],
        F64,
        "H torch",
    );
    let eh = &v["expected_entropy_mean"];
    close(
        mean.expected_entropy,
        &eh["numpy/scipy.special.entr (exact, nats)"],
        F64,
        "E[H]",
    );
    close(
        mean.expected_entropy,
        &eh["scipy.stats.entropy(member_probs, axis=-1).mean(0)"],
        F64,
        "E[H] scipy.stats",
    );
    let mi = &v["mutual_information_mean"];
    close(
        mean.mutual_information,
        &mi["numpy/scipy.special.entr (exact, nats)"],
        F64,
        "MI",
    );
    close(
        mean.mutual_information,
        &mi["identity check: pred_entropy_mean - expected_entropy_mean"],
        F64,
        "MI identity",
    );
    let mi_min = s
        .pred
        .scores()
        .mutual_information()
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    close(
        mi_min,
        &v["mutual_information_min_per_sample_numpy"],
        F64,
        "MI min",
    );

    // The paper's epsilon conventions, against its float32 code.
    let paper = |c: EntropyConvention| {
        EnsemblePrediction::new(
            &s.logits,
            &s.labels,
            EnsembleConfig {
                entropy: c,
                classwise_bins: None,
            },
        )
        .unwrap()
        .scores()
        .mean_uncertainty()
    };
    let nb = paper(EntropyConvention::PAPER_NOTEBOOK);
    close(
        nb.predictive_entropy,
        &h["paper notebook style: -sum p log(p+1e-9), float32"],
        F32,
        "H paper",
    );
    close(
        nb.mutual_information,
        &mi["paper notebook style (eps=1e-9, float32)"],
        F32,
        "MI paper notebook",
    );
    let repo = paper(EntropyConvention::PAPER_REPOSITORY);
    close(
        repo.mutual_information,
        &mi["paper repo lib/uncertainty.py mutual_information (float32, +finfo(float32).eps inside log)"],
        F32,
        "MI paper repo",
    );
}

#[test]
fn per_sample_values() {
    let s = setup();
    let ps = &s.fx["per_sample"];
    let p_bar = ensemble_mean(&s.logits);
    close_vec(
        p_bar.as_slice().unwrap(),
        &Value::Array(
            ps["p_bar_NK"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().clone())
                .collect(),
        ),
        F64,
        "p_bar",
    );
    let pred: Vec<f64> = s.pred.prediction().iter().map(|&p| f64::from(p)).collect();
    close_vec(&pred, &ps["pred"], 0.0, "pred");
    let errors: Vec<f64> = s
        .pred
        .errors()
        .iter()
        .map(|&e| f64::from(u8::from(e)))
        .collect();
    close_vec(&errors, &ps["errors"], 0.0, "errors");
    close_vec(
        s.pred.scores().confidence(),
        &ps["max_prob"],
        F64,
        "max_prob",
    );
    close_vec(
        s.pred.scores().predictive_entropy(),
        &ps["predictive_entropy"],
        F64,
        "H",
    );
    close_vec(
        s.pred.scores().expected_entropy(),
        &ps["expected_entropy"],
        F64,
        "E[H]",
    );
    close_vec(
        &s.pred.scores().mutual_information(),
        &ps["mutual_information"],
        F64,
        "MI",
    );
}

#[test]
fn detection_of_errors_and_ood() {
    let s = setup();
    let v = &s.fx["values"];
    let h = s
        .pred
        .error_detection(UncertaintyScore::PredictiveEntropy)
        .unwrap();
    let a = &v["auroc_predictive_entropy_detect_errors"];
    close(
        h.auroc,
        &a["sklearn.roc_auc_score(errors, H_pred)"],
        F64,
        "AUROC H",
    );
    close(
        h.auroc,
        &a["numpy Mann-Whitney U / (n_pos*n_neg) with average ranks"],
        F64,
        "AUROC H MWU",
    );
    close(
        h.auroc,
        &a["torchmetrics.binary_auroc(H_pred, errors) [sigmoid applied since H>1 exists; rank-invariant]"],
        F32,
        "AUROC H torchmetrics",
    );
    let ap = &v["auprc_predictive_entropy_detect_errors"];
    close(
        h.auprc,
        &ap["sklearn.average_precision_score(errors, H_pred) (step sum, no interpolation)"],
        F64,
        "AUPRC H",
    );
    close(
        h.auprc,
        &ap["torchmetrics.binary_average_precision(H_pred, errors)"],
        F32,
        "AUPRC H torchmetrics",
    );
    let mi = s
        .pred
        .error_detection(UncertaintyScore::MutualInformation)
        .unwrap();
    close(
        mi.auroc,
        &v["auroc_mutual_information_detect_errors"]["sklearn.roc_auc_score(errors, MI)"],
        F64,
        "AUROC MI",
    );
    let c = s
        .pred
        .error_detection(UncertaintyScore::NegativeMaxProbability)
        .unwrap();
    close(
        c.auroc,
        &v["auroc_neg_max_prob_detect_errors"]["sklearn.roc_auc_score(errors, -conf)"],
        F64,
        "AUROC -conf",
    );

    // OOD: samples 100..200 play the OOD set, scored as separate inputs.
    let (a_in, a_out) = (
        Logits::new(s.logits.view().slice(ndarray::s![.., ..100, ..]).to_owned()).unwrap(),
        Logits::new(s.logits.view().slice(ndarray::s![.., 100.., ..]).to_owned()).unwrap(),
    );
    let si = UncertaintyScores::from_members(&a_in, EntropyConvention::Exact).unwrap();
    let so = UncertaintyScores::from_members(&a_out, EntropyConvention::Exact).unwrap();
    let ood = Detection::out_of_distribution(
        &si.score(UncertaintyScore::PredictiveEntropy),
        &so.score(UncertaintyScore::PredictiveEntropy),
    )
    .unwrap();
    close(
        ood.auroc,
        &v["auroc_ood_split_by_index_predictive_entropy"]["sklearn.roc_auc_score(ood, H_pred)"],
        F64,
        "OOD AUROC",
    );
}

fn trapezoid(y: &[f64], dx: f64) -> f64 {
    y.windows(2).map(|w| (w[0] + w[1]) * 0.5 * dx).sum()
}

#[test]
fn selective_prediction() {
    let s = setup();
    let v = &s.fx["values"];
    let r = s.pred.selective_ranking().unwrap();
    let a = r.aurc();
    let av = &v["aurc_max_prob"];
    close(
        a.aurc,
        &av["numpy: mean_k risk(k), risk(k)=errors in top-k most confident / k (Geifman & El-Yaniv)"],
        F64,
        "AURC",
    );
    close(
        a.oracle,
        &av["numpy: oracle AURC (errors last)"],
        F64,
        "oracle AURC",
    );
    close(
        a.excess,
        &av["numpy: E-AURC = AURC - oracle"],
        F64,
        "E-AURC",
    );
    let rate = r.errors() as f64 / r.len() as f64;
    close(
        rate + (1.0 - rate) * (1.0 - rate).ln(),
        &av["closed-form continuous oracle r + (1-r) ln(1-r)"],
        F64,
        "continuous oracle",
    );
    let risk = r.risk();
    let n = risk.len() as f64;
    close(
        trapezoid(&risk, 1.0 / n),
        &av["numpy: trapezoid of risk(k) over coverage grid k/N, k=1..N (sklearn.auc-style)"],
        F64,
        "trapz AURC",
    );
    let excess: Vec<f64> = risk
        .iter()
        .zip(r.oracle_risk())
        .map(|(a, b)| a - b)
        .collect();
    close(
        trapezoid(&excess, 1.0 / n),
        &av["numpy: trapezoid of (risk - oracle risk) over k/N = torch-uncertainty AURC.compute formula (commit 18e7c217)"],
        F64,
        "torch-uncertainty AURC",
    );
    let by_h = s
        .pred
        .selective_ranking_by(UncertaintyScore::PredictiveEntropy)
        .unwrap()
        .aurc();
    close(
        by_h.aurc,
        &v["aurc_predictive_entropy"]["numpy mean_k risk(k), ranking by ascending H_pred"],
        F64,
        "AURC by H",
    );
    let curve = &v["accuracy_rejection_curve_max_prob"];
    for q in [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9] {
        let p = r.accuracy_rejection(&[q]).unwrap()[0];
        close(
            p.accuracy,
            &curve[format!("reject_{}pct", (100.0 * q) as i64)],
            F64,
            "accuracy-rejection",
        );
    }
}

#[test]
fn edge_case_one_hot_members() {
    let fx = fixture();
    let e = &fx["edge_cases"]["one_hot_members"];
    let probs = Probabilities::new(array3(&e["member_probs_MNK"])).unwrap();
    let scores = UncertaintyScores::from_members(&probs, EntropyConvention::Exact).unwrap();
    close_vec(
        scores.predictive_entropy(),
        &e["H_pred numpy entr"],
        F64,
        "H one-hot",
    );
    close_vec(
        scores.expected_entropy(),
        &e["H_exp numpy entr"],
        F64,
        "E[H] one-hot",
    );
    let mi = scores.mutual_information();
    close_vec(&mi, &e["MI numpy entr"], F64, "MI one-hot");
    // Where the naive p ln p gave NaN (written -999), ours is finite and exact.
    for (i, naive) in e["MI naive p*log(p) numpy (nan where p=0; nan written as -999.0)"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert!(mi[i].is_finite());
        if naive.as_f64() != Some(-999.0) {
            close(mi[i], naive, F64, "MI naive where defined");
        }
    }
    // torch's Categorical clamps probabilities to [eps, 1 - eps]: within its float32 eps of ours.
    close_vec(
        scores.predictive_entropy(),
        &e["H_pred torch.distributions.Categorical(probs).entropy() float32 (probs clamped to [eps,1-eps])"],
        F32,
        "H torch f32",
    );
    close_vec(
        scores.predictive_entropy(),
        &e["H_pred torch.distributions.Categorical(probs).entropy() float64"],
        F64,
        "H torch f64",
    );
    let repo =
        UncertaintyScores::from_members(&probs, EntropyConvention::PAPER_REPOSITORY).unwrap();
    close_vec(
        &repo.mutual_information(),
        &e["MI paper repo style float32 eps"],
        F32,
        "MI paper repo",
    );
    // And the per-sample decomposition helper agrees.
    let u = Uncertainty::of_members(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 3, EntropyConvention::Exact)
        .unwrap();
    close(
        u.mutual_information,
        &e["MI numpy entr"][1],
        F64,
        "Uncertainty::of_members",
    );
}

#[test]
fn edge_case_binning_ties() {
    let fx = fixture();
    let e = &fx["edge_cases"]["binning_ties_n_bins_2"];
    let rows: Vec<Vec<f64>> = e["probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let probs = Probabilities::new(Array3::from_shape_vec((1, 4, 2), flat).unwrap()).unwrap();
    let labels = labels_of(&e["labels"], 2);
    let pred = EnsemblePrediction::new(&probs, &labels, EnsembleConfig::default()).unwrap();
    let tm = pred
        .calibration(
            CalibrationConfig::new(2)
                .unwrap()
                .with_confidence_one(ConfidenceOneRule::TorchmetricsExtraBin),
        )
        .unwrap();
    let last = pred
        .calibration(CalibrationConfig::new(2).unwrap())
        .unwrap();
    close(tm.ece, &e["torchmetrics multiclass ECE l1"], F32, "tm ECE");
    close(tm.mce, &e["torchmetrics multiclass MCE max"], F32, "tm MCE");
    close(
        tm.ece,
        &e["numpy torchmetrics-rule ECE"],
        F64,
        "numpy tm-rule ECE",
    );
    close(
        tm.mce,
        &e["numpy torchmetrics-rule MCE"],
        F64,
        "numpy tm-rule MCE",
    );
    close(
        last.ece,
        &e["numpy np.histogram-rule ECE (1.0 in last bin)"],
        F64,
        "last-bin ECE",
    );
    close(
        last.mce,
        &e["numpy np.histogram-rule MCE"],
        F64,
        "last-bin MCE",
    );
    // Positive-class (binary) reliability, asked for explicitly rather than switched silently.
    let p1: Vec<f64> = rows.iter().map(|r| r[1]).collect();
    let y1: Vec<bool> = labels.as_slice().iter().map(|&y| y == 1).collect();
    let bin = binned_calibration(&p1, &y1, CalibrationConfig::new(2).unwrap()).unwrap();
    close(
        bin.ece,
        &e["netcal ECE(bins=2) (binary path: y has <=2 unique values -> conf = p[:,1], acc = y)"],
        F64,
        "netcal binary",
    );
    close(
        bin.ece,
        &e["torchmetrics binary_calibration_error(p[:,1], y) (positive-class, not top-label)"],
        F32,
        "tm binary",
    );
}

#[test]
fn edge_case_log_loss_zero_probability() {
    let fx = fixture();
    let e = &fx["edge_cases"]["log_loss_zero_prob"];
    let probs =
        Probabilities::new(Array3::from_shape_vec((1, 2, 2), vec![1.0, 0.0, 0.3, 0.7]).unwrap())
            .unwrap();
    let labels = labels_of(&e["labels"], 2);
    let pred = EnsemblePrediction::new(&probs, &labels, EnsembleConfig::default()).unwrap();
    assert_eq!(e["numpy -mean log p[y] (inf)"], "inf");
    assert_eq!(pred.nll(NllConvention::Exact), f64::INFINITY);
    close(
        pred.nll(NllConvention::SKLEARN),
        &e["sklearn.log_loss (clipped, finite)"],
        F64,
        "sklearn clip",
    );
    close(
        pred.nll(NllConvention::PAPER),
        &e["paper style -mean log(p[y]+1e-9)"],
        F64,
        "paper eps",
    );
}

#[test]
fn edge_case_answer_token_scoring() {
    let fx = fixture();
    let e = &fx["edge_cases"]["answer_token_scoring"];
    let logits: Vec<f64> = e["vocab_logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let ans: Vec<usize> = e["answer_token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let renorm = answer_probabilities(&logits, &ans, AnswerScoring::Renormalised).unwrap();
    close_vec(
        &renorm,
        &e["renormalised_over_answers = softmax(logits[ans])"],
        F64,
        "renormalised",
    );
    let resid = answer_probabilities(&logits, &ans, AnswerScoring::WithResidual).unwrap();
    close_vec(
        &resid,
        &e["paper repo K+1 = [full_softmax[ans], 1 - sum(full_softmax[ans])]"],
        F64,
        "K+1",
    );
    assert!(answer_probabilities(&logits, &[3, 12], AnswerScoring::Renormalised).is_err());
    assert!(answer_probabilities(&logits, &[3, 3], AnswerScoring::Renormalised).is_err());
}
