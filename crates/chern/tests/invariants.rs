//! Gauge invariance, sum rules, agreement of the formulas on random smooth models, and the
//! errors that replace undefined answers.
use chern::*;
use lattice_gauge::matrix;
use lattice_gauge::matrix::max_abs_difference_real;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cfg(method: Method) -> ChernConfig {
    ChernConfig {
        method,
        ..Default::default()
    }
}

#[test]
fn random_gauge_leaves_chern_numbers_and_plaquette_spectra_unchanged() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let h = Hofstadter::new(1, 5, 1.0).unwrap();
    for r in [1usize, 2, 3] {
        let set = BandSet::lowest(r);
        let bands = BandStructure::compute_for(&h, &[30, 30], &set).unwrap();
        let before = chern_number(&bands, &set, &cfg(Method::Determinant)).unwrap();
        let before_e = chern_number(&bands, &set, &cfg(Method::EigenphaseSum)).unwrap();
        let mut rotated = bands.clone();
        rotated
            .apply_gauge(|_| matrix::haar_unitary(&mut rng, r))
            .unwrap();
        // The eigenvectors really changed.
        let diff: f64 = bands
            .eigenvector_data()
            .iter()
            .zip(rotated.eigenvector_data())
            .map(|(a, b)| (a - b).norm())
            .sum();
        assert!(diff > 1.0);
        for (method, b) in [
            (Method::Determinant, &before),
            (Method::EigenphaseSum, &before_e),
        ] {
            let after = chern_number(&rotated, &set, &cfg(method)).unwrap();
            assert_eq!(after.chern, b.chern);
            let max_diff =
                max_abs_difference_real(after.flux.as_slice().unwrap(), b.flux.as_slice().unwrap());
            assert!(
                max_diff < 1e-10,
                "flux changed by {max_diff} under a gauge transformation (r = {r})"
            );
        }
        let w0 = wilson_loops(&bands, &set, 1, &Tolerances::default()).unwrap();
        let w1 = wilson_loops(&rotated, &set, 1, &Tolerances::default()).unwrap();
        let d = w0
            .phases
            .iter()
            .zip(w1.phases.iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(d < 1e-10, "Wilson-loop spectrum not gauge invariant: {d}");
        // Links transform covariantly: Tr of every plaquette is unchanged.
        let l0 = occupied_links(&bands, &set, &Tolerances::default())
            .unwrap()
            .plaquettes();
        let l1 = occupied_links(&rotated, &set, &Tolerances::default())
            .unwrap()
            .plaquettes();
        let (n0, n1) = (l0.as_array(), l1.as_array());
        for s in 0..bands.n_kpoints() {
            let t0: C64 = (0..r).map(|a| n0[[0, s, a, a]]).sum();
            let t1: C64 = (0..r).map(|a| n1[[0, s, a, a]]).sum();
            assert!((t0 - t1).norm() < 1e-10);
        }
    }
}

#[test]
fn band_chern_numbers_sum_to_zero_and_to_the_multiband_value() {
    for h in [
        Box::new(Hofstadter::new(1, 5, 1.0).unwrap()) as DynHamiltonian,
        Box::new(Hofstadter::new(2, 7, 1.0).unwrap()),
        Box::new(
            RandomSmooth::new(RandomSmoothConfig {
                n_bands: 4,
                max_harmonic: 2,
                decay: 0.6,
                spread: 3.0,
                seed: 1,
                ..Default::default()
            })
            .unwrap(),
        ),
    ] {
        let l = 6 * h.n_bands().max(7);
        let bands = BandStructure::compute(&h, &[l, l]).unwrap();
        let groups = band_chern_numbers(&bands, &ChernConfig::default()).unwrap();
        assert_eq!(groups.iter().map(|g| g.chern).sum::<i64>(), 0, "{groups:?}");
        let all = chern_number(
            &bands,
            &BandSet::lowest(h.n_bands()),
            &ChernConfig::default(),
        )
        .unwrap();
        assert_eq!(all.chern, 0);
        // Every lowest-r set that ends at a group boundary is the sum of its groups.
        let mut acc = 0;
        for g in &groups {
            acc += g.chern;
            let top = *g.bands.last().unwrap();
            if top + 1 < h.n_bands() {
                let c = chern_number(&bands, &BandSet::lowest(top + 1), &ChernConfig::default())
                    .unwrap();
                assert_eq!(c.chern, acc);
            }
        }
    }
}

#[test]
fn hofstadter_single_bands_follow_tknn_differences() {
    let h = Hofstadter::new(1, 5, 1.0).unwrap();
    let bands = BandStructure::compute(&h, &[40, 40]).unwrap();
    let groups = band_chern_numbers(&bands, &ChernConfig::default()).unwrap();
    assert_eq!(groups.len(), 5);
    let tknn = |r: usize| {
        if r == 0 || r == 5 {
            0
        } else {
            h.tknn_chern(r).unwrap()
        }
    };
    for (b, g) in groups.iter().enumerate() {
        assert_eq!(g.chern, tknn(b + 1) - tknn(b), "band {b}");
    }
}

/// Regression: the lowest three bands of this model made the polar factor's Jacobi SVD cycle
/// without converging (found by `formulas_agree_on_random_smooth_models`).
#[test]
fn eigenphase_method_converges_on_random_smooth_seed_616() {
    let h = RandomSmooth::new(RandomSmoothConfig {
        n_bands: 4,
        max_harmonic: 1,
        decay: 0.5,
        spread: 2.5,
        seed: 616,
        ..Default::default()
    })
    .unwrap();
    let bands = BandStructure::compute(&h, &[32, 32]).unwrap();
    for r in 1..4 {
        let set = BandSet::lowest(r);
        let det = chern_number(&bands, &set, &cfg(Method::Determinant)).unwrap();
        let eig = chern_number(&bands, &set, &cfg(Method::EigenphaseSum)).unwrap();
        assert!((eig.raw - eig.chern as f64).abs() < 1e-9);
        assert_eq!(det.chern, eig.chern, "r = {r}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    /// Random smooth multiband models: both formulas and the Wilson loops agree, for every
    /// isolated lowest-r set.
    #[test]
    fn formulas_agree_on_random_smooth_models(seed in 0u64..1000, n_bands in 2usize..5) {
        let h = RandomSmooth::new(RandomSmoothConfig { n_bands, max_harmonic: 1, decay: 0.5, spread: 2.5, seed, ..Default::default() }).unwrap();
        let bands = BandStructure::compute(&h, &[32, 32]).unwrap();
        for r in 1..n_bands {
            let set = BandSet::lowest(r);
            let det = chern_number(&bands, &set, &cfg(Method::Determinant));
            let eig = chern_number(&bands, &set, &cfg(Method::EigenphaseSum));
            match (det, eig) {
                (Ok(d), Ok(e)) => {
                    prop_assert!((d.raw - d.chern as f64).abs() < 1e-9);
                    prop_assert!((e.raw - e.chern as f64).abs() < 1e-9);
                    // On a grid that resolves the curvature both agree.
                    if d.max_abs_flux < 1.0 {
                        prop_assert_eq!(d.chern, e.chern);
                        let w = wilson_loops(&bands, &set, 0, &Tolerances::default()).unwrap();
                        prop_assert_eq!(w.chern, d.chern);
                    }
                }
                (Err(Error::GapClosed { .. }), Err(Error::GapClosed { .. })) => {}
                // A grid that does not resolve the curvature is refused by both.
                (Err(Error::Unresolved { flux, .. }), Err(Error::Unresolved { .. })) => {
                    prop_assert!(flux.abs() > chern::MAX_RESOLVED_FLUX);
                }
                (d, e) => prop_assert!(false, "unexpected outcome {d:?} / {e:?}"),
            }
        }
    }
}

#[test]
fn random_smooth_models_are_hermitian_periodic_and_seeded() {
    let c = RandomSmoothConfig {
        n_bands: 3,
        dim: 3,
        max_harmonic: 2,
        seed: 9,
        ..Default::default()
    };
    let a = RandomSmooth::new(c.clone()).unwrap();
    let b = RandomSmooth::new(c).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..10 {
        let k: Vec<f64> = (0..3).map(|_| rng.random_range(0.0..6.3)).collect();
        let shifted: Vec<f64> = k
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if i == 1 {
                    x + 2.0 * std::f64::consts::PI
                } else {
                    *x
                }
            })
            .collect();
        let (ha, hb, hs) = (
            a.hamiltonian(&k),
            b.hamiltonian(&k),
            a.hamiltonian(&shifted),
        );
        assert_eq!(ha, hb);
        for i in 0..3 {
            for j in 0..3 {
                assert!((ha[i * 3 + j] - ha[j * 3 + i].conj()).norm() < 1e-12);
                assert!((ha[i * 3 + j] - hs[i * 3 + j]).norm() < 1e-10);
            }
        }
    }
    let other = RandomSmooth::new(RandomSmoothConfig {
        seed: 10,
        n_bands: 3,
        dim: 3,
        max_harmonic: 2,
        ..Default::default()
    })
    .unwrap();
    assert_ne!(
        a.hamiltonian(&[0.3, 0.2, 0.1]),
        other.hamiltonian(&[0.3, 0.2, 0.1])
    );
}

#[test]
fn gap_closing_is_an_error_naming_the_k_point() {
    // m = 2: the gap closes at (pi, pi), which lies on every even grid.
    let err = chern_number_of(
        &Qwz::new(2.0),
        &[24, 24],
        &BandSet::lowest(1),
        &ChernConfig::default(),
    )
    .unwrap_err();
    match err {
        Error::GapClosed {
            k,
            index,
            gap,
            lower_band: 0,
            upper_band: 1,
            ..
        } => {
            assert_eq!(index, vec![12, 12]);
            assert!(
                (k[0] - std::f64::consts::PI).abs() < 1e-12
                    && (k[1] - std::f64::consts::PI).abs() < 1e-12
            );
            assert!(gap < 1e-12);
        }
        e => panic!("expected GapClosed, got {e}"),
    }
    // m = 0: closes at (0, pi) and (pi, 0).
    let err = chern_number_of(
        &Qwz::new(0.0),
        &[24, 24],
        &BandSet::lowest(1),
        &ChernConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::GapClosed { index, .. } if index == &vec![0, 12] || index == &vec![12, 0]),
        "{err}"
    );
    // A gap below a chosen tolerance is also an error, though not zero.
    let tight = ChernConfig {
        tolerances: Tolerances::new(0.5, 1e-6).unwrap(),
        ..Default::default()
    };
    let err = chern_number_of(&Qwz::new(1.9), &[24, 24], &BandSet::lowest(1), &tight).unwrap_err();
    assert!(matches!(err, Error::GapClosed { gap, .. } if gap > 0.1 && gap < 0.5));
}

#[test]
fn a_too_coarse_grid_is_an_error_naming_the_link() {
    // H(k) = cos k1 sigma_z + sin k1 sigma_x: on a 2-point axis the occupied states at k1 = 0
    // and pi are orthogonal, with the gap open everywhere.
    let h = FnHamiltonian::new(2, 2, |k: &[f64], h: &mut [C64]| {
        let (s, c) = k[0].sin_cos();
        h[0] = C64::new(c, 0.0);
        h[1] = C64::new(s, 0.0);
        h[2] = C64::new(s, 0.0);
        h[3] = C64::new(-c, 0.0);
    });
    // The Chern number refuses any axis of fewer than 3 points outright; the links report the
    // singular overlap.
    for grid in [[2, 4], [1, 8], [8, 1], [1, 1], [8, 2]] {
        let err =
            chern_number_of(&h, &grid, &BandSet::lowest(1), &ChernConfig::default()).unwrap_err();
        assert!(
            matches!(&err, Error::BadGrid { reason, .. } if reason.contains("too coarse")),
            "{grid:?}: {err}"
        );
    }
    let err = links_of(&h, &[2, 4], &BandSet::lowest(1), &Tolerances::default()).unwrap_err();
    assert!(
        matches!(err, Error::SingularOverlap { dir: 0, .. }),
        "{err}"
    );
    // On a finer grid it is fine (and trivial: H does not depend on k2).
    assert_eq!(
        chern_number_of(&h, &[8, 8], &BandSet::lowest(1), &ChernConfig::default())
            .unwrap()
            .chern,
        0
    );
}

#[test]
fn bad_hamiltonians_and_band_sets_are_errors() {
    let non_hermitian = FnHamiltonian::new(2, 2, |k: &[f64], h: &mut [C64]| {
        h.fill(C64::new(0.0, 0.0));
        h[0] = C64::new(1.0, 0.0);
        h[3] = C64::new(-1.0, 0.0);
        h[1] = C64::new(0.5 * k[0], 0.0);
    });
    let err = BandStructure::compute(&non_hermitian, &[4, 4]).unwrap_err();
    assert!(
        matches!(err, Error::NonHermitian { deviation, .. } if deviation > 0.1),
        "{err}"
    );
    let nan = FnHamiltonian::new(2, 3, |k: &[f64], h: &mut [C64]| {
        h.fill(C64::new(0.0, 0.0));
        if k[1] > 1.0 {
            h[4] = C64::new(f64::NAN, 0.0);
        }
    });
    let err = BandStructure::compute(&nan, &[4, 4]).unwrap_err();
    assert!(
        matches!(err, Error::NonFinite { row: 1, col: 1, .. }),
        "{err}"
    );
    let q = Qwz::new(1.0);
    for (set, what) in [
        (vec![], "empty"),
        (vec![2], "out of range"),
        (vec![0, 0], "repeated"),
    ] {
        let err =
            chern_number_of(&q, &[8, 8], &BandSet::new(set), &ChernConfig::default()).unwrap_err();
        assert!(matches!(err, Error::BadBandSet { .. }), "{what}: {err}");
    }
    assert!(matches!(
        BandStructure::compute(&q, &[8, 0]),
        Err(Error::BadGrid { .. })
    ));
    assert!(matches!(
        BandStructure::compute(&q, &[8, 8, 8]),
        Err(Error::BadGrid { .. })
    ));
    // A band structure that does not store the requested eigenvectors.
    let bands = BandStructure::compute_for(&q, &[8, 8], &BandSet::lowest(1)).unwrap();
    assert!(matches!(
        chern_number(&bands, &BandSet::new(vec![1]), &ChernConfig::default()),
        Err(Error::BadBandSet { .. })
    ));
    assert!(matches!(
        Hofstadter::new(1, 0, 1.0),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Rotated::new(Qwz::new(1.0), vec![C64::new(2.0, 0.0); 4]),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn non_contiguous_band_sets_need_both_gaps() {
    // Bands {0, 2} of Hofstadter 1/3: isolated, and C = C_0 + C_2 = -2.
    let h = Hofstadter::new(1, 3, 1.0).unwrap();
    let c = chern_number_of(
        &h,
        &[24, 24],
        &BandSet::new(vec![0, 2]),
        &ChernConfig::default(),
    )
    .unwrap();
    assert_eq!(c.chern, -2);
}

#[test]
fn links_of_a_band_structure_give_the_same_chern_number() {
    let h = Hofstadter::new(1, 3, 1.0).unwrap();
    let set = BandSet::lowest(2);
    let direct = chern_number_of(&h, &[24, 24], &set, &ChernConfig::default()).unwrap();
    let links = links_of(&h, &[24, 24], &set, &Tolerances::default()).unwrap();
    for method in [Method::Determinant, Method::EigenphaseSum] {
        let c = chern_number_of_links(&links, method).unwrap();
        assert_eq!(c.chern, direct.chern);
        assert!(c.min_gap.is_nan());
    }
    let lattice = lattice_gauge::Lattice::new(&[4, 4, 4]).unwrap();
    let identity = lattice_gauge::LinkField::identity(&lattice, 1).unwrap();
    assert!(matches!(
        chern_number_of_links(&identity, Method::Determinant),
        Err(Error::BadGrid { .. })
    ));
}
