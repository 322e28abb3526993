//! `matrix::unitary_near_identity` and `LinkField::random_near_identity`: exact limits, the law
//! of the eigenphases (a Kolmogorov–Smirnov check against the normal law, shown to reject a wrong
//! spread), the Haar-random eigenvectors (a moment that a fixed basis gets wrong), and the
//! errors for a bad spread. Fixed seeds, thresholds of about six standard errors.

use lattice_gauge::{Error, Lattice, LinkField, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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

/// KS distance of `phases` from the normal law of standard deviation `sigma`.
fn ks_normal(mut phases: Vec<f64>, sigma: f64) -> f64 {
    phases.sort_by(f64::total_cmp);
    let m = phases.len() as f64;
    phases
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let cdf = normal_cdf(t / sigma);
            (cdf - i as f64 / m)
                .abs()
                .max(((i + 1) as f64 / m - cdf).abs())
        })
        .fold(0.0, f64::max)
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
    let d = ks_normal(phases.clone(), sigma);
    assert!(d < threshold, "KS distance {d} >= {threshold}");
    // The same check rejects a spread 15% off.
    let wrong = ks_normal(phases, 1.15 * sigma);
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
    let values: Vec<f64> = (0..samples)
        .map(|_| matrix::unitary_near_identity(&mut rng, n, sigma).unwrap()[0].norm_sqr())
        .collect();
    let mean = values.iter().sum::<f64>() / samples as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
    let se = (var / samples as f64).sqrt();
    let rho2 = (-sigma * sigma).exp();
    let expected = (2.0 + (n as f64 - 1.0) * rho2) / (n as f64 + 1.0);
    assert!(
        (mean - expected).abs() < 6.0 * se,
        "E|U_00|^2 = {mean} +- {se}, expected {expected}"
    );
    // Each row has norm 1 and the n - 1 off-diagonal entries are alike:
    // E |U_01|^2 = (1 - E |U_00|^2) / (n - 1) (zero for a fixed basis).
    let mut rng = ChaCha8Rng::seed_from_u64(100);
    let off: Vec<f64> = (0..samples)
        .map(|_| matrix::unitary_near_identity(&mut rng, n, sigma).unwrap()[1].norm_sqr())
        .collect();
    let mean = off.iter().sum::<f64>() / samples as f64;
    let var = off.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
    let se = (var / samples as f64).sqrt();
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
