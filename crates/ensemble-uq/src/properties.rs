//! Property tests: bounds, invariances, streaming equals one pass, fast equals slow.

use ::proptest::prelude::*;
use ndarray::{Array3, Axis};

use crate::proptest::{labelled_logits, labels, probabilities};
use crate::*;

fn config() -> EnsembleConfig {
    EnsembleConfig {
        entropy: EntropyConvention::Exact,
        classwise_bins: Some(7),
    }
}

fn calibrations(p: &EnsemblePrediction) -> Vec<Calibration> {
    let mut out = Vec::new();
    for bins in [1, 2, 10, 15] {
        for binning in [Binning::EqualWidth, Binning::EqualMass] {
            for rule in [
                ConfidenceOneRule::LastBin,
                ConfidenceOneRule::TorchmetricsExtraBin,
            ] {
                let c = CalibrationConfig::new(bins)
                    .unwrap()
                    .with_binning(binning)
                    .with_confidence_one(rule);
                out.push(p.calibration(c).unwrap());
            }
        }
    }
    out
}

/// Slow AURC: for every k, count errors among the k most certain (stable order) directly.
fn aurc_slow(certainty: &[f64], correct: &[bool]) -> f64 {
    let n = certainty.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| certainty[b].partial_cmp(&certainty[a]).unwrap());
    (1..=n)
        .map(|k| idx[..k].iter().filter(|&&i| !correct[i]).count() as f64 / k as f64)
        .sum::<f64>()
        / n as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bounds_hold((logits, y) in labelled_logits(1..=4, 1..=40, 2..=6)) {
        let k = logits.shape().2 as f64;
        let p = EnsemblePrediction::new(&logits, &y, config()).unwrap();
        for c in calibrations(&p) {
            prop_assert!((0.0..=1.0).contains(&c.ece), "ECE {}", c.ece);
            prop_assert!((0.0..=1.0).contains(&c.mce));
            prop_assert!((0.0..=1.0).contains(&c.rmsce));
            prop_assert!(c.ece <= c.rmsce + 1e-15 && c.rmsce <= c.mce + 1e-15);
            prop_assert_eq!(c.bins.iter().map(|b| b.count).sum::<usize>(), p.len());
        }
        let cw = p.classwise_bins().unwrap().ece();
        prop_assert!((0.0..=1.0).contains(&cw));
        let s = p.scores();
        for (i, mi) in s.mutual_information().iter().enumerate() {
            prop_assert!(*mi >= 0.0);
            prop_assert!(s.predictive_entropy()[i] <= k.ln() + 1e-12);
            prop_assert!(s.expected_entropy()[i] <= k.ln() + 1e-12);
            prop_assert!(s.expected_entropy()[i] >= -1e-15);
        }
        prop_assert!((0.0..=2.0).contains(&p.brier()));
        prop_assert!(p.nll(NllConvention::Exact) >= 0.0);
    }

    #[test]
    fn probabilities_with_zeros_stay_finite(probs in probabilities(3, 12, 4), y in labels(12, 4)) {
        let p = EnsemblePrediction::new(&probs, &y, config()).unwrap();
        let s = p.scores();
        for i in 0..12 {
            let u = s.uncertainty(i).unwrap();
            prop_assert!(u.predictive_entropy.is_finite() && u.expected_entropy.is_finite());
            prop_assert!(u.mutual_information >= 0.0);
            prop_assert!(u.predictive_entropy <= 4f64.ln() + 1e-12);
        }
        prop_assert!(p.nll(NllConvention::SKLEARN).is_finite());
    }

    #[test]
    fn streaming_equals_one_pass_bit_for_bit(
        (logits, y) in labelled_logits(1..=3, 1..=60, 2..=5),
        cuts in ::proptest::collection::vec(0usize..60, 0..5),
    ) {
        let (_, n, _) = logits.shape();
        let one = EnsemblePrediction::new(&logits, &y, config()).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (n + 1)).collect();
        cuts.extend([0, n]);
        cuts.sort_unstable();
        cuts.dedup();
        let mut acc = EnsembleAccumulator::new(config()).unwrap();
        for w in cuts.windows(2) {
            let part = Logits::new(logits.view().slice(ndarray::s![.., w[0]..w[1], ..]).to_owned()).unwrap();
            let lab = Labels::new(y.as_slice()[w[0]..w[1]].to_vec(), y.classes()).unwrap();
            acc.push(&part, &lab).unwrap();
        }
        let streamed = acc.finish().unwrap();
        prop_assert_eq!(streamed.brier().to_bits(), one.brier().to_bits());
        prop_assert_eq!(streamed.nll(NllConvention::Exact).to_bits(), one.nll(NllConvention::Exact).to_bits());
        prop_assert_eq!(streamed.scores(), one.scores());
        prop_assert_eq!(streamed.correct(), one.correct());
        prop_assert_eq!(streamed.classwise_bins(), one.classwise_bins());
        prop_assert_eq!(streamed.class_counts(), one.class_counts());
    }

    #[test]
    fn invariant_to_sample_and_member_order(
        (logits, y) in labelled_logits(2..=4, 2..=40, 2..=5),
        seed in any::<u64>(),
    ) {
        let (m, n, k) = logits.shape();
        // A permutation from the seed (an LCG shuffle; no RNG crate needed).
        let shuffle = |len: usize, mut s: u64| {
            let mut p: Vec<usize> = (0..len).collect();
            for i in (1..len).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                p.swap(i, (s >> 33) as usize % (i + 1));
            }
            p
        };
        let (ps, pm) = (shuffle(n, seed), shuffle(m, seed ^ 0x9e37));
        let a = logits.view();
        let permuted = Array3::from_shape_fn((m, n, k), |(mm, i, c)| a[[pm[mm], ps[i], c]]);
        let y2 = Labels::new(ps.iter().map(|&i| y.as_slice()[i]).collect(), k).unwrap();
        let p1 = EnsemblePrediction::new(&logits, &y, config()).unwrap();
        let p2 = EnsemblePrediction::new(&Logits::new(permuted).unwrap(), &y2, config()).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + a.abs());
        prop_assert_eq!(p1.accuracy(), p2.accuracy());
        prop_assert!(close(p1.brier(), p2.brier()));
        prop_assert!(close(p1.nll(NllConvention::Exact), p2.nll(NllConvention::Exact)));
        let (u1, u2) = (p1.scores().mean_uncertainty(), p2.scores().mean_uncertainty());
        prop_assert!(close(u1.predictive_entropy, u2.predictive_entropy));
        prop_assert!(close(u1.expected_entropy, u2.expected_entropy));
        prop_assert!(close(u1.mutual_information, u2.mutual_information));
        for (i, &src) in ps.iter().enumerate() {
            prop_assert!(close(p1.scores().predictive_entropy()[src], p2.scores().predictive_entropy()[i]));
        }
        let (c1, c2) = (p1.calibration(CalibrationConfig::new(10).unwrap()).unwrap(), p2.calibration(CalibrationConfig::new(10).unwrap()).unwrap());
        prop_assert!(close(c1.ece, c2.ece) && close(c1.mce, c2.mce));
        if let (Ok(d1), Ok(d2)) = (p1.error_detection(UncertaintyScore::PredictiveEntropy), p2.error_detection(UncertaintyScore::PredictiveEntropy)) {
            prop_assert!(close(d1.auroc, d2.auroc) && close(d1.auprc, d2.auprc));
        }
        prop_assert!(close(p1.selective_ranking().unwrap().aurc().aurc, p2.selective_ranking().unwrap().aurc().aurc));
    }

    #[test]
    fn fast_metrics_match_slow_references(
        scores in ::proptest::collection::vec(0u8..12, 2..80),
        flags in ::proptest::collection::vec(any::<bool>(), 80),
    ) {
        let n = scores.len();
        let s: Vec<f64> = scores.iter().map(|&x| f64::from(x) / 4.0).collect(); // many ties
        let pos = &flags[..n];
        let (np, nn) = (pos.iter().filter(|&&p| p).count(), pos.iter().filter(|&&p| !p).count());
        if np > 0 && nn > 0 {
            let mut num = 0.0;
            for i in 0..n { for j in 0..n {
                if pos[i] && !pos[j] { num += if s[i] > s[j] { 1.0 } else if s[i] == s[j] { 0.5 } else { 0.0 }; }
            }}
            prop_assert!((auroc(&s, pos).unwrap() - num / (np * nn) as f64).abs() < 1e-12);
            // Average precision on distinct scores: mean over positives of the precision at their rank.
            let distinct: Vec<f64> = (0..n).map(|i| s[i] + i as f64 * 1e-6).collect();
            let slow = (0..n).filter(|&i| pos[i]).map(|i| {
                let above: Vec<usize> = (0..n).filter(|&j| distinct[j] >= distinct[i]).collect();
                above.iter().filter(|&&j| pos[j]).count() as f64 / above.len() as f64
            }).sum::<f64>() / np as f64;
            prop_assert!((average_precision(&distinct, pos).unwrap() - slow).abs() < 1e-12);
        } else {
            prop_assert!(auroc(&s, pos).is_err());
        }
        let correct: Vec<bool> = pos.iter().map(|&p| !p).collect();
        let distinct: Vec<f64> = (0..n).map(|i| s[i] + i as f64 * 1e-6).collect();
        let a = SelectiveRanking::new(&distinct, &correct).unwrap().aurc();
        prop_assert!((a.aurc - aurc_slow(&distinct, &correct)).abs() < 1e-12);
        prop_assert!(a.oracle <= a.aurc + 1e-15 && a.excess >= -1e-15);
    }
}

#[test]
fn streaming_across_block_boundaries_is_bit_for_bit() {
    // Deterministic logits, N spanning several summation blocks, cut at awkward places.
    let (m, n, k) = (3, 3 * crate::ensemble::BLOCK + 777, 5);
    let logits = Logits::new(Array3::from_shape_fn((m, n, k), |(a, i, c)| {
        ((a * 7919 + i * 104_729 + c * 1_299_709) % 1000) as f64 / 125.0 - 4.0
    }))
    .unwrap();
    let y = Labels::new((0..n).map(|i| (i * 31 + i / 7) % k).collect(), k).unwrap();
    let one = EnsemblePrediction::new(&logits, &y, config()).unwrap();
    let mut acc = EnsembleAccumulator::new(config()).unwrap();
    let cuts = [0, 1, 4095, 4096, 4097, 9000, 12_288, n];
    for w in cuts.windows(2) {
        let part = Logits::new(
            logits
                .view()
                .slice(ndarray::s![.., w[0]..w[1], ..])
                .to_owned(),
        )
        .unwrap();
        let lab = Labels::new(y.as_slice()[w[0]..w[1]].to_vec(), k).unwrap();
        acc.push(&part, &lab).unwrap();
    }
    let s = acc.finish().unwrap();
    assert_eq!(s.brier().to_bits(), one.brier().to_bits());
    assert_eq!(s.scores(), one.scores());
    assert_eq!(s.classwise_bins(), one.classwise_bins());
    // And a slow single-threaded Brier agrees to rounding.
    let p_bar = ensemble_mean(&logits);
    let slow: f64 = p_bar
        .axis_iter(Axis(0))
        .zip(y.as_slice())
        .map(|(row, &l)| {
            row.iter()
                .enumerate()
                .map(|(c, &p)| (p - f64::from(u8::from(c == l))).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    assert!((slow - one.brier()).abs() < 1e-12);
    // Mismatched members in a later batch are an error, not a panic.
    let two = Logits::new(Array3::<f64>::zeros((2, 1, k))).unwrap();
    let mut acc = EnsembleAccumulator::new(config()).unwrap();
    acc.push(&logits, &y).unwrap();
    assert!(matches!(
        acc.push(&two, &Labels::new(vec![0], k).unwrap()),
        Err(Error::Inconsistent {
            what: "members",
            ..
        })
    ));
}
