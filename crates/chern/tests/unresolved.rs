//! Every route to an invariant refuses a grid that does not resolve the model, instead of
//! rounding to a wrong integer: the Wilson-loop Chern number and the Fukui–Hatsugai and
//! Wilson-loop Z2 invariants check the same flux bound as the determinant route
//! ([`MAX_RESOLVED_FLUX`]) and the model's `min_resolving_extents`. Each refused case below was
//! answered with a wrong integer before these checks (noted per case).
use chern::*;
use std::f64::consts::PI;

fn bands(h: &(impl BlochHamiltonian + Sync), l: usize) -> BandStructure {
    BandStructure::compute(h, &[l, l]).unwrap()
}

fn wilson(h: &(impl BlochHamiltonian + Sync), l: usize, r: usize, dir: usize) -> Result<i64> {
    wilson_loops(
        &bands(h, l),
        &BandSet::lowest(r),
        dir,
        &Tolerances::default(),
    )
    .map(|w| w.chern)
}

fn det(h: &(impl BlochHamiltonian + Sync), l: usize, r: usize) -> Result<ChernNumber> {
    chern_number(&bands(h, l), &BandSet::lowest(r), &ChernConfig::default())
}

#[test]
fn wilson_loop_chern_refuses_grids_the_determinant_refuses() {
    let qwz = Qwz::new(1.0);
    for l in [1, 2] {
        let e = wilson(&qwz, l, 1, 0).unwrap_err();
        assert!(
            matches!(&e, Error::BadGrid { reason, .. } if reason.contains("too coarse")),
            "{e}"
        );
    }
    // 3 x 3: a plaquette flux of pi, named by both routes.
    for e in [
        wilson(&qwz, 3, 1, 0).unwrap_err(),
        det(&qwz, 3, 1).unwrap_err(),
    ] {
        match e {
            Error::Unresolved {
                index, flux, limit, ..
            } => {
                assert_eq!(index, [1, 1]);
                assert!((flux.abs() - PI).abs() < 1e-9, "{flux}");
                assert_eq!(limit, MAX_RESOLVED_FLUX);
            }
            e => panic!("{e}"),
        }
    }
    // Hofstadter 1/5 needs 5 points along k2 (its magnetic cell): on 3 x 3 the determinant
    // route printed C = 1 (true -2) before it checked; the Wilson loops now refuse it too.
    let hof = Hofstadter::new(1, 5, 1.0).unwrap();
    for dir in [0, 1] {
        let e = wilson(&hof, 3, 2, dir).unwrap_err();
        assert!(
            matches!(&e, Error::GridTooCoarse { needed, .. } if needed == &[3, 5]),
            "{e}"
        );
    }
}

/// The winding counts the change of the loops' total phase from one loop to the next, known to
/// the loops only modulo 2 pi: it is the Berry flux through the strip between them, and a strip
/// flux beyond the bound is refused even where every plaquette is resolved.
#[test]
fn wilson_loop_chern_refuses_strips_it_cannot_follow() {
    // QWZ m = 1 (C = 1): on 5 x 5 the winding was 0 (`chern qwz --m 1 --grid 5 --wilson`
    // printed "wilson_chern": 0) while every plaquette flux is below 1.
    let qwz = Qwz::new(1.0);
    for l in [4, 5] {
        assert_eq!(det(&qwz, l, 1).unwrap().chern, 1);
        match wilson(&qwz, l, 1, 0).unwrap_err() {
            Error::WilsonLoopUnresolved {
                phase,
                limit,
                k_from,
                k_to,
                ..
            } => {
                assert!(phase.abs() > limit && limit == MAX_RESOLVED_FLUX, "{phase}");
                assert!((k_to - k_from - 2.0 * PI / l as f64).abs() < 1e-12);
            }
            e => panic!("{e}"),
        }
    }
    for l in [6, 8, 16] {
        assert_eq!(wilson(&qwz, l, 1, 0).unwrap(), 1, "L = {l}");
        assert_eq!(wilson(&qwz, l, 1, 1).unwrap(), 1, "L = {l}");
    }
    // Hofstadter 1/5, two lowest bands (C = -2): the determinant route is resolved from 5 x 5,
    // the loops were not (winding 1 on 5 x 5 and 0 on 6 x 6). The curvature is concentrated in
    // strips, so the loops need a much finer grid.
    let hof = Hofstadter::new(1, 5, 1.0).unwrap();
    for l in [5, 6, 8] {
        assert_eq!(det(&hof, l, 2).unwrap().chern, -2);
        let e = wilson(&hof, l, 2, 0).unwrap_err();
        assert!(
            matches!(e, Error::WilsonLoopUnresolved { .. }),
            "L = {l}: {e}"
        );
    }
    assert_eq!(wilson(&hof, 40, 2, 0).unwrap(), -2);
    assert_eq!(wilson(&hof, 40, 2, 1).unwrap(), -2);
}

fn z2(
    h: &(impl BlochHamiltonian + Sync),
    theta: &TimeReversal,
    l: usize,
    method: Z2Method,
) -> Result<u8> {
    let config = Z2Config {
        method,
        ..Default::default()
    };
    z2_invariant(h, theta, [l, l], &config).map(|z| z.z2)
}

#[test]
fn z2_routes_refuse_grids_that_do_not_resolve_the_connection() {
    // Kane-Mele's quantum spin Hall point: on 2 x 2 both methods said Z2 = 0 (every link back
    // is the inverse of the link forth).
    let qsh = KaneMele::new(1.0, 0.06, 0.05, 0.1);
    let theta = qsh.time_reversal();
    for method in [Z2Method::FukuiHatsugai, Z2Method::WilsonLoop] {
        let e = z2(&qsh, &theta, 2, method).unwrap_err();
        assert!(
            matches!(&e, Error::BadGrid { reason, .. } if reason.contains("at least 4")),
            "{method}: {e}"
        );
        assert_eq!(z2(&qsh, &theta, 4, method).unwrap(), 1, "{method}");
        assert_eq!(z2(&qsh, &theta, 24, method).unwrap(), 1, "{method}");
    }
    // The parity method reads only the four TRIMs, which a 2 x 2 grid holds: still exact.
    let inversion_symmetric = KaneMele::new(1.0, 0.06, 0.0, 0.0);
    let c = Z2Config {
        method: Z2Method::Parity,
        inversion: Some(inversion_symmetric.inversion()),
        ..Default::default()
    };
    let z = z2_invariant(
        &inversion_symmetric,
        &inversion_symmetric.time_reversal(),
        [2, 2],
        &c,
    );
    assert_eq!(z.unwrap().z2, 1);
    // Kane-Mele's trivial point on 4 x 4: Fukui-Hatsugai counted Z2 = 1 (true 0) through a
    // plaquette of flux -2.71; now refused naming it. From 6 x 6 on it is resolved and 0.
    let trivial = KaneMele::new(1.0, 0.06, 0.05, 0.4);
    let theta = trivial.time_reversal();
    match z2(&trivial, &theta, 4, Z2Method::FukuiHatsugai).unwrap_err() {
        Error::Unresolved { index, flux, k, .. } => {
            assert_eq!(index, [2, 1]);
            assert_eq!(k, [PI, PI / 2.0]);
            assert!(flux.abs() > MAX_RESOLVED_FLUX && flux.abs() < PI, "{flux}");
        }
        e => panic!("{e}"),
    }
    for l in [6, 8, 24] {
        for method in [Z2Method::FukuiHatsugai, Z2Method::WilsonLoop] {
            assert_eq!(
                z2(&trivial, &theta, l, method).unwrap(),
                0,
                "{method} L = {l}"
            );
        }
    }
}

/// A model's `min_resolving_extents` is honoured by the Z2 routes: a Kramers pair of
/// Hofstadter 1/5 copies (spin up H(k), spin down conj H(-k); the lowest band of each has
/// C = -1 and +1, so Z2 = 1 with one band of each occupied) needs 5 points along k2.
#[test]
fn z2_routes_honour_the_models_resolving_extents() {
    let hof = Hofstadter::new(1, 5, 1.0).unwrap();
    let partner = hof;
    let down = FnHamiltonian::new(2, 5, move |k: &[f64], out: &mut [C64]| {
        let h = partner.hamiltonian(&[-k[0], -k[1]]);
        for (o, z) in out.iter_mut().zip(h) {
            *o = z.conj();
        }
    });
    // FnHamiltonian declares nothing; the direct sum takes the Hofstadter part's needs.
    let pair = DirectSum::new(vec![Box::new(hof), Box::new(down)]).unwrap();
    assert_eq!(pair.min_resolving_extents(), Some(vec![3, 5]));
    let theta = TimeReversal::spinful(5, SpinOrdering::Blocks).unwrap();
    for method in [Z2Method::FukuiHatsugai, Z2Method::WilsonLoop] {
        let config = Z2Config {
            method,
            occupied: Some(2),
            ..Default::default()
        };
        let z2 = |l: usize| z2_invariant(&pair, &theta, [l, l], &config).map(|z| z.z2);
        let e = z2(4).unwrap_err();
        assert!(
            matches!(&e, Error::GridTooCoarse { needed, .. } if needed == &[3, 5]),
            "{method}: {e}"
        );
        assert_eq!(z2(20).unwrap(), 1, "{method}");
    }
}
