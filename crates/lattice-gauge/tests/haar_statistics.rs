//! Statistical checks that `haar_unitary` samples the Haar measure on U(n) (the circular unitary
//! ensemble), and that `unitary_near_identity` samples its law (normal eigenphases of the given
//! spread, Haar eigenvectors), with fixed seeds and thresholds of about six standard errors. Each
//! check is also run on a deliberately wrong sampler or law to show that it can fail.

use std::f64::consts::PI;

use lattice_gauge::{C64, Error, Lattice, LinkField, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Kolmogorov–Smirnov distance of a sample from the law with distribution function `cdf`.
fn ks_distance(mut sample: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    sample.sort_by(f64::total_cmp);
    let m = sample.len() as f64;
    sample
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let f = cdf(t);
            (f - i as f64 / m).abs().max(((i + 1) as f64 / m - f).abs())
        })
        .fold(0.0, f64::max)
}

/// Kolmogorov–Smirnov distance of a sample from the uniform distribution on $(-\pi, \pi]$.
fn ks_uniform_circle(phases: Vec<f64>) -> f64 {
    ks_distance(phases, |t| (t + PI) / (2.0 * PI))
}

/// Pooled eigenphases of `samples` matrices from `sampler`.
fn pooled_phases(n: usize, samples: usize, mut sampler: impl FnMut() -> Vec<C64>) -> Vec<f64> {
    (0..samples)
        .flat_map(|_| matrix::eigenphases(&sampler(), n))
        .collect()
}

/// KS threshold for m pooled phases: the iid 0.1% critical value. CUE eigenphases repel each
/// other, which only makes the pooled empirical CDF closer to uniform, so this is conservative.
fn ks_threshold(m: usize) -> f64 {
    1.95 / (m as f64).sqrt()
}

#[test]
fn haar_eigenphases_are_uniform_on_the_circle() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for n in 1..=8 {
        let samples = 4000 / n;
        let phases = pooled_phases(n, samples, || matrix::haar_unitary(&mut rng, n));
        let d = ks_uniform_circle(phases);
        assert!(d < ks_threshold(samples * n), "n={n}: KS distance {d}");
    }
}

#[test]
fn the_ks_check_rejects_a_non_haar_sampler() {
    // Polar factors of 1 + G/2 cluster around the identity: eigenphases concentrate near 0.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = 3;
    let phases = pooled_phases(n, 1000, || {
        let mut m: Vec<C64> = (0..n * n)
            .map(|_| {
                C64::new(
                    StandardNormal.sample(&mut rng),
                    StandardNormal.sample(&mut rng),
                ) * 0.5
            })
            .collect();
        for i in 0..n {
            m[i * n + i] += 1.0;
        }
        matrix::polar_unitary(&m, n).unwrap()
    });
    let d = ks_uniform_circle(phases);
    assert!(d > 5.0 * ks_threshold(3000), "KS distance {d}");
}

/// Sample means of $\operatorname{Tr} U^k$ and $|\operatorname{Tr} U^k|^2$ for $k = 1..=kmax$.
fn trace_moments(
    n: usize,
    kmax: usize,
    samples: usize,
    mut sampler: impl FnMut() -> Vec<C64>,
) -> Vec<(C64, f64)> {
    let mut sums = vec![(C64::new(0.0, 0.0), 0.0); kmax];
    for _ in 0..samples {
        let u = sampler();
        let mut power = u.clone();
        let mut tmp = vec![C64::new(0.0, 0.0); n * n];
        for (k, sum) in sums.iter_mut().enumerate() {
            if k > 0 {
                matrix::mul(&power, &u, &mut tmp, n);
                std::mem::swap(&mut power, &mut tmp);
            }
            let t = matrix::trace(&power, n);
            sum.0 += t;
            sum.1 += t.norm_sqr();
        }
    }
    sums.into_iter()
        .map(|(t, t2)| (t / samples as f64, t2 / samples as f64))
        .collect()
}

#[test]
fn haar_trace_moments_match_diaconis_shahshahani() {
    // For Haar U(n): E Tr U^k = 0 and E |Tr U^k|^2 = min(k, n) (Diaconis & Shahshahani 1994).
    // |Tr U^k|^2 has standard deviation <= min(k, n), so 4000 samples give a relative standard
    // error of about 1/63; the thresholds are ~6 standard errors.
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let samples = 4000;
    for n in 1..=6 {
        let moments = trace_moments(n, n + 1, samples, || matrix::haar_unitary(&mut rng, n));
        for (k, (mean, mean_sq)) in moments.iter().enumerate() {
            let k = k + 1;
            let expected = k.min(n) as f64;
            assert!(
                (mean_sq / expected - 1.0).abs() < 0.1,
                "n={n}, k={k}: E|Tr U^k|^2 = {mean_sq}, expected {expected}"
            );
            assert!(
                mean.norm() < 6.0 * (expected / samples as f64).sqrt(),
                "n={n}, k={k}: E Tr U^k = {mean}"
            );
        }
    }
}

#[test]
fn the_moment_check_rejects_squared_haar_unitaries() {
    // U^2 for Haar U(3) is conjugation and phase invariant (uniform eigenphase marginal) but has
    // E |Tr U^2|^2 = 2 instead of 1.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 3;
    let moments = trace_moments(n, 1, 4000, || {
        let u = matrix::haar_unitary(&mut rng, n);
        matrix::product(&u, &u, n)
    });
    assert!(
        (moments[0].1 - 1.0).abs() > 0.5,
        "E|Tr U^2|^2 = {}",
        moments[0].1
    );
}

// `matrix::unitary_near_identity` and `LinkField::random_near_identity`: exact limits, the
// normal law of the eigenphases (shown to reject a wrong spread), the Haar-random eigenvectors
// (a moment that a fixed basis gets wrong), and the errors for a bad spread.

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, absolute error below 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Mean of a sample and its standard error.
fn mean_and_standard_error(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let values: Vec<f64> = values.collect();
    let m = values.len() as f64;
    let mean = values.iter().sum::<f64>() / m;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
    (mean, (var / m).sqrt())
}

#[test]
fn zero_spread_is_the_identity_and_every_draw_is_unitary() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for n in 1..=9 {
        let u = matrix::unitary_near_identity(&mut rng, n, 0.0).unwrap();
        assert!(
            matrix::max_abs_difference(&u, &matrix::identity(n)) < 1e-13,
            "n = {n}"
        );
        for spread in [1e-3, 0.3, 2.0, 50.0] {
            let u = matrix::unitary_near_identity(&mut rng, n, spread).unwrap();
            assert!(
                matrix::unitarity_deviation(&u, n) < 1e-12,
                "n = {n}, spread {spread}"
            );
        }
    }
}

#[test]
fn eigenphases_follow_the_normal_law_of_the_spread() {
    // sigma = 0.4: wrapping at +-pi has probability below 1e-14, so the eigenphases are the draws.
    let (n, samples, sigma) = (3, 1500, 0.4);
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let phases: Vec<f64> = (0..samples)
        .flat_map(|_| {
            let u = matrix::unitary_near_identity(&mut rng, n, sigma).unwrap();
            matrix::eigenphases(&u, n)
        })
        .collect();
    let threshold = 1.95 / ((n * samples) as f64).sqrt();
    let d = ks_distance(phases.clone(), |t| normal_cdf(t / sigma));
    assert!(d < threshold, "KS distance {d} >= {threshold}");
    // The same check rejects a spread 15% off.
    let wrong = ks_distance(phases, |t| normal_cdf(t / (1.15 * sigma)));
    assert!(
        wrong > threshold,
        "KS distance {wrong} for the wrong spread"
    );
}

#[test]
fn eigenvectors_are_haar_random() {
    // U_00 = sum_j e^{i phi_j} |V_0j|^2 with (|V_0j|^2)_j uniform on the simplex for Haar V:
    // E |U_00|^2 = (2 + (n - 1) rho^2) / (n + 1), rho = E e^{i sigma g} = e^{-sigma^2 / 2}.
    // A fixed eigenbasis (V = 1) would give 1.
    let (n, samples, sigma) = (3usize, 6000, 1.0f64);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (mean, se) = mean_and_standard_error(
        (0..samples)
            .map(|_| matrix::unitary_near_identity(&mut rng, n, sigma).unwrap()[0].norm_sqr()),
    );
    let rho2 = (-sigma * sigma).exp();
    let expected = (2.0 + (n as f64 - 1.0) * rho2) / (n as f64 + 1.0);
    assert!(
        (mean - expected).abs() < 6.0 * se,
        "E|U_00|^2 = {mean} +- {se}, expected {expected}"
    );
    // Each row has norm 1 and the n - 1 off-diagonal entries are alike:
    // E |U_01|^2 = (1 - E |U_00|^2) / (n - 1) (zero for a fixed basis).
    let mut rng = ChaCha8Rng::seed_from_u64(100);
    let (mean, se) = mean_and_standard_error(
        (0..samples)
            .map(|_| matrix::unitary_near_identity(&mut rng, n, sigma).unwrap()[1].norm_sqr()),
    );
    let expected = (1.0 - expected) / (n as f64 - 1.0);
    assert!(
        (mean - expected).abs() < 6.0 * se,
        "E|U_01|^2 = {mean} +- {se}, expected {expected}"
    );
}

#[test]
fn a_bad_spread_is_an_error_naming_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for spread in [-0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = matrix::unitary_near_identity(&mut rng, 2, spread).unwrap_err();
        assert!(matches!(err, Error::InvalidSpread { .. }), "{err:?}");
        assert!(err.to_string().contains(&format!("{spread}")), "{err}");
        let lattice = Lattice::new(&[3, 3]).unwrap();
        let err = LinkField::random_near_identity(lattice, 2, spread, &mut rng).unwrap_err();
        assert!(matches!(err, Error::InvalidSpread { .. }), "{err:?}");
    }
    let lattice = Lattice::new(&[3, 3]).unwrap();
    assert_eq!(
        LinkField::random_near_identity(lattice, 0, 0.1, &mut rng).unwrap_err(),
        Error::ZeroMatrixSize
    );
}

#[test]
fn a_weak_field_has_small_plaquettes_and_a_seeded_draw_repeats() {
    let lattice = Lattice::new(&[6, 5]).unwrap();
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        LinkField::random_near_identity(lattice.clone(), 3, 0.01, &mut rng).unwrap()
    };
    let field = draw(5);
    assert!(field.max_unitarity_deviation().0 < 1e-12);
    assert_eq!(field.max_abs_diff(&draw(5)).unwrap(), 0.0);
    assert!(field.max_abs_diff(&draw(6)).unwrap() > 0.0);
    // Four links of eigenphases ~0.01 give plaquette eigenphases of a few hundredths at most.
    let plaquettes = field.plaquettes();
    let largest = plaquettes
        .as_slice()
        .chunks_exact(9)
        .flat_map(|w| matrix::eigenphases(w, 3))
        .fold(0.0f64, |m, t| m.max(t.abs()));
    assert!(
        largest > 0.0 && largest < 0.2,
        "largest plaquette eigenphase {largest}"
    );
}
