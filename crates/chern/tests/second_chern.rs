//! Second Chern number of the 4D lattice Dirac model (`chern::conventions`, second Chern number).
use chern::*;

#[test]
fn dirac4d_phase_diagram() {
    // The sum converges slowly: raw values at L = 10 are about -0.83, 2.52, -2.52, 0.83.
    let set = BandSet::lowest(2);
    for (m, c2) in [(-5.0, 0), (-3.0, -1), (-1.0, 3), (1.0, -3), (3.0, 1)] {
        let bands = BandStructure::compute_for(&Dirac4d::new(m), &[10; 4], &set).unwrap();
        let c = second_chern_number(&bands, &set, &Tolerances::default()).unwrap();
        assert_eq!(c.c2, c2, "m = {m}: raw {}", c.raw);
        assert!((c.raw - c2 as f64).abs() < 0.5);
    }
}

/// The rounded value is given out only where the grid resolves it: coarse grids whose rounding
/// is wrong (m = 1: -2 at L = 6 and 8; m = 3: 0 at L = 4) are refused, fine ones give the
/// integer.
#[test]
fn coarse_4d_grids_are_refused_not_rounded() {
    let set = BandSet::lowest(2);
    let c2 = |m: f64, l: usize| {
        let bands = BandStructure::compute_for(&Dirac4d::new(m), &[l; 4], &set).unwrap();
        second_chern_number(&bands, &set, &Tolerances::default()).unwrap()
    };
    for (m, l, wrong) in [(1.0, 6, -2), (1.0, 8, -2), (3.0, 4, 0)] {
        let c = c2(m, l);
        assert_eq!(c.c2, wrong, "m = {m}, L = {l}: raw {}", c.raw);
        match c.resolved() {
            Err(Error::SecondChernUnresolved {
                raw, max_abs_phase, ..
            }) => {
                assert_eq!(raw, c.raw);
                assert!(max_abs_phase > SECOND_CHERN_RESOLUTION, "m = {m}, L = {l}");
            }
            other => panic!("m = {m}, L = {l}: expected a refusal, got {other:?}"),
        }
    }
    // L = 10 at m = 1 is already right (-2.52 rounds to -3) but too far from the integer.
    assert!(c2(1.0, 10).resolved().is_err());
    assert_eq!(c2(1.0, 16).resolved().unwrap(), -3);
    assert_eq!(c2(3.0, 10).resolved().unwrap(), 1);
}

#[test]
fn dirac4d_converges_towards_the_integer_and_is_gauge_invariant() {
    let set = BandSet::lowest(2);
    let raw = |l: usize| {
        let bands = BandStructure::compute_for(&Dirac4d::new(-3.0), &[l; 4], &set).unwrap();
        second_chern_number(&bands, &set, &Tolerances::default())
            .unwrap()
            .raw
    };
    let (r6, r8) = (raw(6), raw(8));
    assert!(
        (r8 + 1.0).abs() < (r6 + 1.0).abs(),
        "no convergence: {r6} then {r8}"
    );
    // A random U(2) gauge per k-point leaves the value unchanged.
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut bands = BandStructure::compute_for(&Dirac4d::new(-3.0), &[6; 4], &set).unwrap();
    bands
        .apply_gauge(|_| lattice_gauge::matrix::haar_unitary(&mut rng, 2))
        .unwrap();
    let rotated = second_chern_number(&bands, &set, &Tolerances::default())
        .unwrap()
        .raw;
    assert!((rotated - r6).abs() < 1e-9, "{rotated} vs {r6}");
    // The gap closes at m = 0 on an even grid.
    let bands = BandStructure::compute_for(&Dirac4d::new(0.0), &[4; 4], &set).unwrap();
    assert!(matches!(
        second_chern_number(&bands, &set, &Tolerances::default()),
        Err(Error::GapClosed { .. })
    ));
    // A 2D grid is not a 4D one.
    let bands = BandStructure::compute(&Qwz::new(1.0), &[8, 8]).unwrap();
    assert!(matches!(
        second_chern_number(&bands, &BandSet::lowest(1), &Tolerances::default()),
        Err(Error::BadGrid { .. })
    ));
}
