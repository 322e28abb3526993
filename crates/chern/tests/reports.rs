//! The reports of [`chern::invariant`] and [`chern::phase_diagram`] as the `chern` command line
//! prints them: the same JSON, byte for byte, as before the logic moved into the library
//! (`tests/fixtures`), and the same numbers as the lower-level functions.
use chern::*;

fn setup(grid: usize, r: usize) -> Setup {
    Setup {
        grid,
        occupation: Occupation::Lowest(r),
        config: ChernConfig::default(),
        wilson: false,
    }
}

#[test]
fn phase_diagrams_are_written_as_before() {
    for (model, sweep, grid, r, fixture) in [
        (
            ModelSpec::Qwz { m: 0.0 },
            "-3:3:0.25",
            16,
            1,
            include_str!("fixtures/scan_qwz_grid16.json"),
        ),
        (
            ModelSpec::Dirac4d { m: 0.0 },
            "-5:5:1",
            4,
            2,
            include_str!("fixtures/scan_dirac4d_grid4.json"),
        ),
    ] {
        let d =
            phase_diagram(&model, "m", &sweep.parse().unwrap(), &setup(grid, r), false).unwrap();
        let json = serde_json::to_value(&d).unwrap().to_string();
        assert_eq!(json, fixture.trim(), "{}", model.name());
    }
}

#[test]
fn invariants_match_the_functions_behind_them() {
    let c = invariant(
        &Qwz::new(1.0),
        &Setup {
            wilson: true,
            ..setup(48, 1)
        },
    )
    .unwrap();
    let direct = chern_number_of(
        &Qwz::new(1.0),
        &[48, 48],
        &BandSet::lowest(1),
        &ChernConfig::default(),
    )
    .unwrap();
    assert_eq!(
        (c.chern, c.raw, c.min_gap),
        (direct.chern, direct.raw, direct.min_gap)
    );
    assert_eq!(
        (c.max_abs_flux, c.wilson_chern),
        (Some(direct.max_abs_flux), Some(1))
    );
    // The values the command line printed before: raw 0.9999999999999997, min gap
    // 1.9999999999999998, max |F| 0.008591522437625855.
    assert_eq!(c.raw, 0.9999999999999997);
    assert_eq!(c.max_abs_flux, Some(0.008591522437625855));

    // The command line printed C2 = -2 (raw -1.92880999811227) here before; the true value is
    // -3, and the grid is now refused with the raw sum.
    match invariant(&Dirac4d::new(1.0), &setup(6, 2)) {
        Err(Error::SecondChernUnresolved { raw, .. }) => assert_eq!(raw, -1.92880999811227),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let c2 = invariant(&Dirac4d::new(3.0), &setup(10, 2)).unwrap();
    let set = BandSet::lowest(2);
    let bands = BandStructure::compute_for(&Dirac4d::new(3.0), &[10; 4], &set).unwrap();
    let direct = second_chern_number(&bands, &set, &Tolerances::default()).unwrap();
    assert_eq!((c2.chern, c2.raw), (1, direct.raw));
    assert_eq!(c2.method, "second-chern");
    assert!(c2.first.is_none() && c2.max_abs_flux.is_none());

    // Occupations are checked against the model before anything is allocated.
    let err = invariant(&Qwz::new(1.0), &setup(8, usize::MAX)).unwrap_err();
    assert!(matches!(err, Error::BadBandSet { .. }), "{err}");
    // A 3D model has no invariant here.
    let weyl = FnHamiltonian::new(3, 2, |k: &[f64], h: &mut [C64]| {
        h.copy_from_slice(&Qwz::new(0.5 + k[2].cos()).hamiltonian(&k[..2]));
    });
    let err = invariant(&weyl, &setup(8, 1)).unwrap_err();
    assert!(matches!(err, Error::BadGrid { .. }), "{err}");
}

#[test]
fn sweeps_and_scan_parameters_are_validated() {
    for bad in [
        "0:inf:1",
        "0:1:1e-300",
        "0:1000000000:1",
        "1:0:0.1",
        "0:1:0",
        "0:1:-1",
        "a:1:1",
        "0:1",
    ] {
        let err = bad.parse::<Sweep>().unwrap_err();
        assert!(
            matches!(&err, Error::InvalidParameter { value, .. } if value == bad),
            "{bad}: {err}"
        );
    }
    assert_eq!("0:1:0.25".parse::<Sweep>().unwrap().len(), 5);
    let err = phase_diagram(
        &ModelSpec::Qwz { m: 0.0 },
        "t",
        &"0:1:1".parse().unwrap(),
        &setup(8, 1),
        false,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
}

#[test]
fn memory_estimates_cover_the_band_structure() {
    // With the Wilson-loop winding the whole grid is stored: at least the energies (7 per
    // k-point) and the eigenvectors (3 x 7 complex per k-point).
    let stored = Setup {
        wilson: true,
        ..setup(100, 3)
    };
    assert!(!stored.streams(2));
    let bytes = stored.memory_estimate(2, 7, 2).unwrap();
    assert!(bytes >= 100 * 100 * (7 * 8 + 3 * 7 * 16));
    // The streamed determinant formula: the flux field (one number per k-point) and, per
    // thread, two rows of eigenvectors and a row of energies; far less than the grid's.
    let streamed = setup(100, 3);
    assert!(streamed.streams(2));
    let bytes = streamed.memory_estimate(2, 7, 2).unwrap();
    assert!(bytes >= 100 * 100 * 8 + 2 * (2 * 100 * 3 * 7 * 16 + 100 * 7 * 8));
    assert!(bytes < 100 * 100 * (7 * 8 + 3 * 7 * 16) / 4);
    // QWZ on a 2000 x 2000 grid: the flux field's 32 MB and little more.
    let qwz = setup(2000, 1).memory_estimate(2, 2, 2).unwrap();
    assert!((32_000_000..33_000_000).contains(&qwz), "{qwz}");
    assert!(setup(usize::MAX, 1).memory_estimate(4, 2, 1).is_none());
}
