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
