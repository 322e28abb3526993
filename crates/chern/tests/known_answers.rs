//! Every model against the known answers listed in `chern::conventions`, at two grid sizes, with both
//! plaquette formulas and the Wilson-loop winding.
use chern::*;
use std::f64::consts::PI;

fn config(method: Method) -> ChernConfig {
    ChernConfig {
        method,
        ..Default::default()
    }
}

/// Chern number of `set` by both formulas and both Wilson-loop directions; asserts they agree.
fn all_methods<H: BlochHamiltonian + Sync>(h: &H, l: usize, set: &BandSet) -> i64 {
    let bands = BandStructure::compute_for(h, &[l, l], set).unwrap();
    let det = chern_number(&bands, set, &config(Method::Determinant)).unwrap();
    let eig = chern_number(&bands, set, &config(Method::EigenphaseSum)).unwrap();
    assert!(
        (det.raw - det.chern as f64).abs() < 1e-9,
        "det formula not an integer: {}",
        det.raw
    );
    assert!(
        (eig.raw - eig.chern as f64).abs() < 1e-9,
        "eigenphase sum not an integer: {}",
        eig.raw
    );
    assert_eq!(
        det.chern, eig.chern,
        "det and eigenphase formulas differ at L = {l}"
    );
    for dir in 0..2 {
        let w = wilson_loops(&bands, set, dir, &Tolerances::default()).unwrap();
        assert_eq!(
            w.chern, det.chern,
            "Wilson loops along {dir} disagree at L = {l}"
        );
    }
    det.chern
}

#[test]
fn qwz_phase_diagram() {
    for (m, c) in [
        (-3.0, 0),
        (-1.0, -1),
        (-0.5, -1),
        (0.5, 1),
        (1.0, 1),
        (1.5, 1),
        (3.0, 0),
    ] {
        for l in [24, 36] {
            assert_eq!(
                all_methods(&Qwz::new(m), l, &BandSet::lowest(1)),
                c,
                "QWZ m = {m}, L = {l}"
            );
        }
    }
}

#[test]
fn qwz_upper_band_and_both_bands() {
    for l in [24, 32] {
        assert_eq!(all_methods(&Qwz::new(1.0), l, &BandSet::new(vec![1])), -1);
        let both = chern_number_of(
            &Qwz::new(1.0),
            &[l, l],
            &BandSet::lowest(2),
            &ChernConfig::default(),
        )
        .unwrap();
        assert_eq!(both.chern, 0);
        assert!(both.min_gap.is_infinite());
    }
}

#[test]
fn haldane_known_cases() {
    let cases = [
        (0.0, PI / 2.0, 1),
        (0.0, -PI / 2.0, -1),
        (0.6, PI / 2.0, 0),
        (0.2, PI / 4.0, 1),
        (0.4, PI / 4.0, 0),
    ];
    for (mass, phi, c) in cases {
        for l in [24, 36] {
            let h = Haldane::new(1.0, 0.1, mass, phi);
            assert_eq!(
                all_methods(&h, l, &BandSet::lowest(1)),
                c,
                "Haldane M = {mass}, phi = {phi}, L = {l}"
            );
        }
    }
}

#[test]
fn haldane_matches_the_analytic_criterion() {
    // C = sgn(sin phi) if |M| < 3 sqrt 3 t2 |sin phi|, else 0, away from the boundary.
    for (mass, phi) in [
        (0.1, 1.0),
        (-0.3, 2.0),
        (0.3, -1.2),
        (0.7, 1.5),
        (-0.2, -0.4),
    ] {
        let t2 = 0.1f64;
        let bound = 3.0 * 3f64.sqrt() * t2 * f64::sin(phi).abs();
        let expected = if f64::abs(mass) < bound {
            f64::sin(phi).signum() as i64
        } else {
            0
        };
        let c = chern_number_of(
            &Haldane::new(1.0, t2, mass, phi),
            &[36, 36],
            &BandSet::lowest(1),
            &ChernConfig::default(),
        )
        .unwrap();
        assert_eq!(c.chern, expected, "M = {mass}, phi = {phi}");
    }
}

#[test]
fn hofstadter_tknn() {
    for (p, q, ls) in [(1, 3, [24, 30]), (1, 5, [30, 40]), (2, 5, [30, 40])] {
        let h = Hofstadter::new(p, q, 1.0).unwrap();
        for l in ls {
            for r in 1..q {
                let expected = h.tknn_chern(r).unwrap();
                assert_eq!(
                    all_methods(&h, l, &BandSet::lowest(r)),
                    expected,
                    "flux {p}/{q}, r = {r}, L = {l}"
                );
            }
        }
    }
    let h = Hofstadter::new(1, 3, 1.0).unwrap();
    assert_eq!(
        (1..3).map(|r| h.tknn_chern(r).unwrap()).collect::<Vec<_>>(),
        vec![-1, 1]
    );
    let h = Hofstadter::new(1, 5, 1.0).unwrap();
    assert_eq!(
        (1..5).map(|r| h.tknn_chern(r).unwrap()).collect::<Vec<_>>(),
        vec![-1, -2, 2, 1]
    );
}

#[test]
fn hofstadter_single_bands_and_even_q() {
    let h = Hofstadter::new(1, 3, 1.0).unwrap();
    let bands = BandStructure::compute(&h, &[24, 24]).unwrap();
    let groups = band_chern_numbers(&bands, &ChernConfig::default()).unwrap();
    let single: Vec<i64> = groups.iter().map(|g| g.chern).collect();
    assert_eq!(single, vec![-1, 2, -1]);
    // Even q: the central gap closes, so half filling is an error, not a number.
    let h = Hofstadter::new(1, 4, 1.0).unwrap();
    assert_eq!(h.tknn_chern(2), None);
    let err =
        chern_number_of(&h, &[24, 24], &BandSet::lowest(2), &ChernConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::GapClosed {
                lower_band: 1,
                upper_band: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        chern_number_of(&h, &[24, 24], &BandSet::lowest(1), &ChernConfig::default())
            .unwrap()
            .chern,
        -1
    );
}

#[test]
fn rotated_direct_sums_add() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for (m1, m2, c) in [
        (1.0, 1.0, 2),
        (1.0, -1.0, 0),
        (-1.0, 3.0, -1),
        (0.5, 1.5, 2),
    ] {
        let sum = DirectSum::new(vec![Box::new(Qwz::new(m1)), Box::new(Qwz::new(m2))]).unwrap();
        let h = if m1 > 0.0 {
            Rotated::new(sum, lattice_gauge::matrix::haar_unitary(&mut rng, 4)).unwrap()
        } else {
            Rotated::haar(sum, &mut rng)
        };
        for l in [24, 32] {
            assert_eq!(
                all_methods(&h, l, &BandSet::lowest(2)),
                c,
                "m1 = {m1}, m2 = {m2}, L = {l}"
            );
        }
    }
}
