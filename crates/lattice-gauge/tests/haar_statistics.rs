//! Statistical checks that `haar_unitary` samples the Haar measure on U(n) (the circular unitary
//! ensemble), with fixed seeds and thresholds of about six standard errors. Each check is also run on
//! a deliberately wrong sampler to show that it can fail.

use std::f64::consts::PI;

use lattice_gauge::{C64, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Kolmogorov–Smirnov distance of a sample from the uniform distribution on $(-\pi, \pi]$.
fn ks_uniform_circle(mut phases: Vec<f64>) -> f64 {
    phases.sort_by(f64::total_cmp);
    let m = phases.len() as f64;
    phases
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let cdf = (t + PI) / (2.0 * PI);
            (cdf - i as f64 / m)
                .abs()
                .max(((i + 1) as f64 / m - cdf).abs())
        })
        .fold(0.0, f64::max)
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
