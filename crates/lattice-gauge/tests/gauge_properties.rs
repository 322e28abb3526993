//! Property tests: gauge covariance of plaquettes, Wilson loops, Polyakov loops and transport, and
//! gauge invariance of their traces and eigenphases, on 2D and 4D lattices with unequal extents and
//! n = 1..=4. Uses the crate's own `proptest-support` strategies.

use std::f64::consts::PI;

use lattice_gauge::proptest::{gauge_transform, link_field, links_and_transform, unitary};
use lattice_gauge::{C64, Dir, GaugeTransform, LinkField, MatrixField, matrix};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const TOL: f64 = 1e-10;

/// Links and a gauge transformation on a random 2D (extents 1..=5) or 4D (extents 1..=3) lattice,
/// for U(n) with n in 1..=4.
fn setup() -> impl Strategy<Value = (LinkField, GaugeTransform)> {
    (prop_oneof![Just(2usize), Just(4usize)], 1..=4usize)
        .prop_flat_map(|(dim, n)| links_and_transform(dim, if dim == 2 { 5 } else { 3 }, n))
}

/// Do two eigenphase lists agree as multisets on the circle (phases near +-pi may swap ends)?
fn phases_agree(a: &[f64], b: &[f64]) -> bool {
    let mut used = vec![false; b.len()];
    a.len() == b.len()
        && a.iter().all(|x| {
            let found = b.iter().enumerate().find(|(j, y)| {
                let d = (x - *y).rem_euclid(2.0 * PI);
                !used[*j] && d.min(2.0 * PI - d) < TOL
            });
            match found {
                Some((j, _)) => {
                    used[j] = true;
                    true
                }
                None => false,
            }
        })
}

/// Checks that `after(x) = Omega(x) before(x) Omega(x)^dagger` and that traces and eigenphases agree.
fn assert_covariant(
    omega: &GaugeTransform,
    before: &MatrixField,
    after: &MatrixField,
) -> Result<(), TestCaseError> {
    let n = before.n();
    let expected = omega.apply_covariant(before).unwrap();
    let diff = expected.max_abs_diff(after).unwrap();
    prop_assert!(diff < TOL, "not covariant: {}", diff);
    for s in before.lattice().sites() {
        let (w0, w1) = (before.matrix(s), after.matrix(s));
        prop_assert!((matrix::trace(w0, n) - matrix::trace(w1, n)).norm() < TOL);
        prop_assert!((matrix::det(w0, n) - matrix::det(w1, n)).norm() < TOL);
        let (p0, p1) = (matrix::eigenphases(w0, n), matrix::eigenphases(w1, n));
        prop_assert!(
            phases_agree(&p0, &p1),
            "eigenphases differ: {:?} vs {:?}",
            p0,
            p1
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn plaquettes_transform_covariantly((links, omega) in setup()) {
        let transformed = omega.apply_links(&links).unwrap();
        let diff = omega
            .apply_plaquettes(&links.plaquettes())
            .unwrap()
            .max_abs_diff(&transformed.plaquettes())
            .unwrap();
        prop_assert!(diff < TOL);
        for (mu, nu) in links.lattice().planes() {
            assert_covariant(
                &omega,
                &links.plaquette_field(mu, nu).unwrap(),
                &transformed.plaquette_field(mu, nu).unwrap(),
            )?;
        }
        let mean = links.plaquettes().mean_trace();
        let mean_after = transformed.plaquettes().mean_trace();
        prop_assert!((mean - mean_after).norm() < TOL);
    }

    #[test]
    fn wilson_loops_are_gauge_covariant((links, omega) in setup(), r in 1..=3usize, t in 1..=3usize) {
        let transformed = omega.apply_links(&links).unwrap();
        for (mu, nu) in links.lattice().planes() {
            for (a, b) in [(mu, nu), (nu, mu)] {
                assert_covariant(
                    &omega,
                    &links.wilson_loop_field(a, b, r, t).unwrap(),
                    &transformed.wilson_loop_field(a, b, r, t).unwrap(),
                )?;
            }
        }
    }

    #[test]
    fn polyakov_loops_are_gauge_covariant((links, omega) in setup()) {
        let transformed = omega.apply_links(&links).unwrap();
        for mu in links.lattice().dirs() {
            assert_covariant(
                &omega,
                &links.polyakov_loop_field(mu).unwrap(),
                &transformed.polyakov_loop_field(mu).unwrap(),
            )?;
        }
    }

    #[test]
    fn transport_is_covariant((links, omega) in setup(), seed in any::<u64>()) {
        // Any covariant field will do; a Gaussian one exercises non-unitary input.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = links.n();
        let y = MatrixField::from_fn(links.lattice(), n, |_, out| {
            for z in out.iter_mut() {
                *z = C64::new(StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
            }
        })
        .unwrap();
        let transformed = omega.apply_links(&links).unwrap();
        let y_transformed = omega.apply_covariant(&y).unwrap();
        for mu in links.lattice().dirs() {
            for steps in [1isize, -1, 2] {
                let before = links.transport_steps(mu, steps, &y).unwrap();
                let after = transformed.transport_steps(mu, steps, &y_transformed).unwrap();
                let diff = omega.apply_covariant(&before).unwrap().max_abs_diff(&after).unwrap();
                prop_assert!(diff < TOL, "mu={:?} steps={}: {}", mu, steps, diff);
            }
        }
    }

    #[test]
    fn gauge_transformations_compose_and_invert((links, omega) in setup(), seed in any::<u64>()) {
        let lattice = links.lattice().clone();
        let second = GaugeTransform::random(&lattice, links.n(), &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let one_by_one = second.apply_links(&omega.apply_links(&links).unwrap()).unwrap();
        let composed = omega.then(&second).unwrap().apply_links(&links).unwrap();
        prop_assert!(one_by_one.max_abs_diff(&composed).unwrap() < TOL);
        let undone = omega.inverse().apply_links(&omega.apply_links(&links).unwrap()).unwrap();
        prop_assert!(undone.max_abs_diff(&links).unwrap() < TOL);
        // The transformed field is still unitary.
        prop_assert!(composed.max_unitarity_deviation().0 < TOL);
    }

    #[test]
    fn fixed_unequal_shapes_from_the_public_strategies(
        links2 in link_field(&[5, 3], 3),
        omega2 in gauge_transform(&[5, 3], 3),
        links4 in link_field(&[3, 2, 4, 2], 2),
        omega4 in gauge_transform(&[3, 2, 4, 2], 2),
    ) {
        for (links, omega) in [(links2, omega2), (links4, omega4)] {
            let transformed = omega.apply_links(&links).unwrap();
            for (mu, nu) in links.lattice().planes() {
                assert_covariant(
                    &omega,
                    &links.wilson_loop_field(mu, nu, 2, 1).unwrap(),
                    &transformed.wilson_loop_field(mu, nu, 2, 1).unwrap(),
                )?;
            }
            assert_covariant(
                &omega,
                &links.polyakov_loop_field(Dir(0)).unwrap(),
                &transformed.polyakov_loop_field(Dir(0)).unwrap(),
            )?;
        }
    }

    #[test]
    fn haar_samples_are_unitary(n in 1..=8usize, seed in any::<u64>()) {
        let u = matrix::haar_unitary(&mut ChaCha8Rng::seed_from_u64(seed), n);
        prop_assert!(matrix::unitarity_deviation(&u, n) < 1e-13);
        let phases = matrix::eigenphases(&u, n);
        prop_assert!(phases.iter().all(|&t| t > -PI && t <= PI));
    }

    #[test]
    fn unitary_strategy_gives_unitaries(u in unitary(4)) {
        prop_assert_eq!(u.len(), 16);
        prop_assert!(matrix::unitarity_deviation(&u, 4) < 1e-13);
        let ev = matrix::eigenvalues_unitary(&u, 4);
        prop_assert!(ev.iter().all(|z| (z.norm() - 1.0).abs() < 1e-12));
    }
}
