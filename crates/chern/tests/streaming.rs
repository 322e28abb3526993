//! The row-streamed Chern number ([`chern_number_of`] with the determinant formula) against the
//! same formula on a stored band structure ([`chern_number`]): bit for bit the same flux field,
//! sum, gap and errors, on any number of threads.
use chern::{
    BandSet, BandStructure, C64, ChernConfig, Error, FnHamiltonian, Hofstadter, Qwz, Tolerances,
    chern_number, chern_number_of,
};

/// Both routes, on a pool of `threads` threads.
fn both<H: chern::BlochHamiltonian + Sync>(
    h: &H,
    grid: [usize; 2],
    set: &BandSet,
    config: &ChernConfig,
    threads: usize,
) -> (
    Result<chern::ChernNumber, Error>,
    Result<chern::ChernNumber, Error>,
) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let streamed = chern_number_of(h, &grid, set, config);
        let stored = BandStructure::compute_for(h, &grid, set)
            .and_then(|bands| chern_number(&bands, set, config));
        (streamed, stored)
    })
}

fn assert_same_bits(a: &chern::ChernNumber, b: &chern::ChernNumber, what: &str) {
    assert_eq!(a.raw.to_bits(), b.raw.to_bits(), "{what}: raw");
    assert_eq!(a.min_gap.to_bits(), b.min_gap.to_bits(), "{what}: min gap");
    assert_eq!(
        a.max_abs_flux.to_bits(),
        b.max_abs_flux.to_bits(),
        "{what}: max flux"
    );
    assert_eq!(a.flux.dim(), b.flux.dim(), "{what}");
    for (x, y) in a.flux.iter().zip(b.flux.iter()) {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}: flux");
    }
    assert_eq!(
        (a.chern, &a.bands, a.grid),
        (b.chern, &b.bands, b.grid),
        "{what}"
    );
}

#[test]
fn streamed_chern_numbers_are_bit_for_bit_those_of_the_stored_grid() {
    let models: Vec<(chern::DynHamiltonian, BandSet)> = vec![
        (Box::new(Qwz::new(1.0)), BandSet::lowest(1)),
        (Box::new(Qwz::new(-1.3)), BandSet::new(vec![1])),
        (Box::new(Qwz::new(0.7)), BandSet::lowest(2)),
        (
            Box::new(Hofstadter::new(1, 5, 1.0).unwrap()),
            BandSet::lowest(2),
        ),
        (
            Box::new(Hofstadter::new(2, 7, 1.0).unwrap()),
            BandSet::new(vec![0, 1, 2]),
        ),
    ];
    for (model, (h, set)) in models.iter().enumerate() {
        for grid in [[24, 24], [31, 17], [5, 40], [3, 3], [40, 3]] {
            for threads in [1, 2, 3] {
                let (streamed, stored) = both(h, grid, set, &ChernConfig::default(), threads);
                let what = format!("model {model} {set:?} {grid:?} {threads} threads");
                match (streamed, stored) {
                    (Ok(a), Ok(b)) => assert_same_bits(&a, &b, &what),
                    (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{what}"),
                }
            }
        }
    }
}

#[test]
fn streamed_errors_are_those_of_the_stored_grid() {
    // A closed gap (QWZ at m = 2 closes at (pi, pi)), a gap below the tolerance, a grid too
    // coarse, a singular link where the gap is open, and a bad band set.
    let flip = FnHamiltonian::new(2, 2, |k: &[f64], h: &mut [C64]| {
        let (s, c) = k[0].sin_cos();
        h[0] = C64::new(c, 0.0);
        h[1] = C64::new(s, 0.0);
        h[2] = C64::new(s, 0.0);
        h[3] = C64::new(-c, 0.0);
    });
    let tight = ChernConfig {
        tolerances: Tolerances::new(0.5, 1e-6).unwrap(),
        ..Default::default()
    };
    let strict_overlap = ChernConfig {
        tolerances: Tolerances::new(1e-6, 0.9999).unwrap(),
        ..Default::default()
    };
    let cases: Vec<(chern::DynHamiltonian, [usize; 2], BandSet, ChernConfig)> = vec![
        (
            Box::new(Qwz::new(2.0)),
            [24, 24],
            BandSet::lowest(1),
            ChernConfig::default(),
        ),
        (
            Box::new(Qwz::new(0.0)),
            [24, 24],
            BandSet::lowest(1),
            ChernConfig::default(),
        ),
        (Box::new(Qwz::new(1.9)), [24, 24], BandSet::lowest(1), tight),
        (
            Box::new(Qwz::new(1.0)),
            [24, 24],
            BandSet::lowest(1),
            strict_overlap,
        ),
        (
            Box::new(flip),
            [2, 4],
            BandSet::lowest(1),
            ChernConfig::default(),
        ),
        (
            Box::new(Qwz::new(1.0)),
            [24, 24],
            BandSet::lowest(3),
            ChernConfig::default(),
        ),
    ];
    for (case, (h, grid, set, config)) in cases.iter().enumerate() {
        for threads in [1, 3] {
            let (streamed, stored) = both(h, *grid, set, config, threads);
            let (a, b) = (streamed.unwrap_err(), stored.unwrap_err());
            match (&a, &b) {
                // Which of several singular links a parallel run meets first is not fixed.
                (Error::SingularOverlap { .. }, Error::SingularOverlap { .. }) => {}
                _ => assert_eq!(format!("{a:?}"), format!("{b:?}"), "case {case}"),
            }
        }
    }
}
