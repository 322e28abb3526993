//! Z2 invariants against exact physics answers, and the three methods against each other.
use chern::*;
use lattice_gauge::matrix;
use proptest::prelude::*;
use rand::SeedableRng;

fn config(method: Z2Method) -> Z2Config {
    Z2Config {
        method,
        ..Default::default()
    }
}

/// Z2 of a 2D model by every method that applies; asserts they agree.
fn all_methods<H: BlochHamiltonian + Sync>(
    h: &H,
    theta: &TimeReversal,
    inversion: Option<Inversion>,
    l: usize,
) -> u8 {
    let fh = z2_invariant(h, theta, [l, l], &config(Z2Method::FukuiHatsugai)).unwrap();
    let wl = z2_invariant(h, theta, [l, l], &config(Z2Method::WilsonLoop)).unwrap();
    assert_eq!(fh.z2, wl.z2, "lattice {fh:?} vs Wilson loop {wl:?}");
    if let Some(p) = inversion {
        let c = Z2Config {
            inversion: Some(p),
            ..config(Z2Method::Parity)
        };
        let pa = z2_invariant(h, theta, [l, l], &c).unwrap();
        assert_eq!(fh.z2, pa.z2, "lattice {fh:?} vs parity {pa:?}");
    }
    fh.z2
}

#[test]
fn kane_mele_published_points() {
    for l in [24, 30] {
        let qsh = KaneMele::new(1.0, 0.06, 0.05, 0.1);
        assert_eq!(all_methods(&qsh, &qsh.time_reversal(), None, l), 1);
        let trivial = KaneMele::new(1.0, 0.06, 0.05, 0.4);
        assert_eq!(all_methods(&trivial, &trivial.time_reversal(), None, l), 0);
    }
}

#[test]
fn kane_mele_boundary_without_rashba() {
    let so = 0.06;
    let critical = 3.0 * 3f64.sqrt() * so;
    for (v, expected) in [
        (0.0, 1),
        (0.9 * critical, 1),
        (1.1 * critical, 0),
        (-0.9 * critical, 1),
        (-1.1 * critical, 0),
    ] {
        let km = KaneMele::new(1.0, so, 0.0, v);
        let inv = (v == 0.0).then(|| km.inversion());
        assert_eq!(
            all_methods(&km, &km.time_reversal(), inv, 30),
            expected,
            "lambda_v = {v}"
        );
        let sc = spin_chern_number(
            &km,
            &km.spin_z(),
            &[30, 30],
            2,
            1e-12,
            &ChernConfig::default(),
        )
        .unwrap();
        assert_eq!(sc.z2, expected);
        // The spin-up block is Haldane's model at phi = pi/2: C = +1 in the topological phase.
        assert_eq!(sc.spin_up, i64::from(expected));
        assert_eq!(sc.spin_down, -i64::from(expected));
    }
}

#[test]
fn bhz_phases() {
    for (m, expected, spin) in [(-1.0, 0, 0), (1.0, 1, -1), (3.0, 1, 1), (5.0, 0, 0)] {
        let bhz = Bhz::new(1.0, 0.5, m);
        assert_eq!(
            all_methods(&bhz, &bhz.time_reversal(), Some(bhz.inversion()), 24),
            expected,
            "M = {m}"
        );
        let sc = spin_chern_number(
            &bhz,
            &bhz.spin_z(),
            &[24, 24],
            2,
            1e-12,
            &ChernConfig::default(),
        )
        .unwrap();
        assert_eq!(sc.spin_up, spin, "M = {m}");
    }
}

#[test]
fn fu_kane_mele_gap_closes_at_x() {
    // At dt = 0 the bands touch at the X points (two reduced momenta pi): named in 3D.
    let fkm = FuKaneMele::new(1.0, 0.125, 0.0);
    let e = z2_indices(
        &fkm,
        &fkm.time_reversal(),
        [12, 12, 12],
        &Z2Config::default(),
    )
    .unwrap_err();
    match e {
        Error::GapClosed { k, index, gap, .. } => {
            assert!(gap < 1e-12);
            assert_eq!(k.len(), 3);
            assert_eq!(index.len(), 3);
            let pis = k
                .iter()
                .filter(|&&x| (x - std::f64::consts::PI).abs() < 1e-12)
                .count();
            assert_eq!(pis, 2, "{k:?}");
        }
        e => panic!("{e}"),
    }
    // Occupying every band is not an insulator.
    let all = Z2Config {
        occupied: Some(4),
        ..Default::default()
    };
    let e = z2_indices(&fkm, &fkm.time_reversal(), [4, 4, 4], &all).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
}

#[test]
fn fu_kane_mele_strong_and_weak() {
    for (dt, expected) in [(0.4, [1, 1, 1, 1]), (-0.4, [0, 1, 1, 1])] {
        let fkm = FuKaneMele::new(1.0, 0.125, dt);
        for method in [
            Z2Method::FukuiHatsugai,
            Z2Method::WilsonLoop,
            Z2Method::Parity,
        ] {
            let c = Z2Config {
                inversion: Some(fkm.inversion()),
                ..config(method)
            };
            let z = z2_indices(&fkm, &fkm.time_reversal(), [12, 12, 12], &c).unwrap();
            assert_eq!(z.indices, expected, "dt = {dt}, {method}: {z:?}");
            // The gap is checked on the whole 3D grid by every method, not only on the planes.
            let whole = BandStructure::compute_for(&fkm, &[12, 12, 12], &BandSet::lowest(1))
                .unwrap()
                .min_gap_above(1)
                .0;
            assert_eq!(z.min_gap, whole, "{method}");
        }
    }
}

#[test]
fn errors_name_the_problem() {
    // QWZ as a one-orbital "spinful" model: time reversal is broken, and the error names k.
    let qwz = Qwz::new(1.0);
    let theta = TimeReversal::spinful(1, SpinOrdering::Interleaved).unwrap();
    let e = z2_invariant(&qwz, &theta, [30, 30], &Z2Config::default()).unwrap_err();
    assert!(
        matches!(e, Error::TimeReversalBroken { violation, .. } if violation > 0.1),
        "{e}"
    );
    // An odd number of occupied bands.
    let km = KaneMele::default();
    let odd = Z2Config {
        occupied: Some(1),
        ..Default::default()
    };
    let e = z2_invariant(&km, &km.time_reversal(), [30, 30], &odd).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OddOccupation {
                occupied: 1,
                n_bands: 4
            }
        ),
        "{e}"
    );
    // At the critical lambda_v = 3 sqrt(3) lambda_so the gap closes at K = (2pi/3)(2, 1).
    let critical = KaneMele::new(1.0, 0.06, 0.0, 3.0 * 3f64.sqrt() * 0.06);
    for method in [
        Z2Method::FukuiHatsugai,
        Z2Method::WilsonLoop,
        Z2Method::Parity,
    ] {
        let c = Z2Config {
            inversion: Some(critical.inversion()),
            ..config(method)
        };
        let e = z2_invariant(&critical, &critical.time_reversal(), [30, 30], &c).unwrap_err();
        match (method, e) {
            // lambda_v breaks inversion: the parity method says so first.
            (Z2Method::Parity, Error::InversionBroken { .. }) => {}
            (_, Error::GapClosed { k, gap, .. }) => {
                assert!(gap < 1e-12);
                let third = 2.0 * std::f64::consts::PI / 3.0;
                assert!(
                    (k[0] - 2.0 * third).abs() < 1e-12 && (k[1] - third).abs() < 1e-12,
                    "{k:?}"
                );
            }
            (_, e) => panic!("{method}: {e}"),
        }
    }
    // Next to the boundary (gap 1.5e-3 at K) the centres jump faster than 8 halvings of the
    // line spacing resolve on a 12 x 12 grid: an error naming the lines, not a guess.
    let near = KaneMele::new(1.0, 0.06, 0.0, 0.311);
    let e = z2_invariant(
        &near,
        &near.time_reversal(),
        [12, 12],
        &config(Z2Method::WilsonLoop),
    )
    .unwrap_err();
    match e {
        Error::WccUnresolved { k_from, k_to, .. } => {
            let k = 2.0 * std::f64::consts::PI / 3.0;
            assert!(k_from <= k + 1e-12 && k - 1e-12 <= k_to, "{k_from} {k_to}");
        }
        e => panic!("{e}"),
    }
    // Odd grids, and a 3D model asked for a 2D invariant.
    let e = z2_invariant(&km, &km.time_reversal(), [29, 30], &Z2Config::default()).unwrap_err();
    assert!(matches!(e, Error::BadGrid { .. }), "{e}");
    let fkm = FuKaneMele::new(1.0, 0.125, 0.4);
    assert!(z2_invariant(&fkm, &fkm.time_reversal(), [8, 8], &Z2Config::default()).is_err());
    // The parity method without an inversion operator.
    let e = z2_invariant(&km, &km.time_reversal(), [8, 8], &config(Z2Method::Parity)).unwrap_err();
    assert!(matches!(e, Error::BadSymmetry { .. }), "{e}");
    // S_z is not conserved with Rashba coupling.
    let e = spin_chern_number(
        &km,
        &km.spin_z(),
        &[12, 12],
        2,
        1e-12,
        &ChernConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::SpinNotConserved { .. }), "{e}");
}

/// $(H(k) + U_T\overline{H(-k)}U_T^\dagger)/2$, then $(H(k) + P H(-k) P)/2$: a random smooth
/// model made time-reversal and inversion symmetric.
fn symmetrised(
    seed: u64,
    theta: &TimeReversal,
    p: &Inversion,
) -> impl Fn(&[f64], &mut [C64]) + Sync + use<> {
    let random = RandomSmooth::new(RandomSmoothConfig {
        n_bands: 4,
        dim: 2,
        max_harmonic: 1,
        decay: 0.5,
        spread: 0.0,
        seed,
    })
    .unwrap();
    let (u, pm) = (theta.matrix().to_vec(), p.matrix().to_vec());
    move |k: &[f64], h: &mut [C64]| {
        let n = 4;
        let minus = [-k[0], -k[1]];
        let at = |k: &[f64]| -> Vec<C64> {
            let a = random.hamiltonian(k);
            let b = random.hamiltonian(&[-k[0], -k[1]]);
            // U conj(b) U^dagger
            let cb: Vec<C64> = b.iter().map(|z| z.conj()).collect();
            let t = matrix::product(&u, &cb, n);
            let mut tb = vec![C64::new(0.0, 0.0); n * n];
            matrix::mul_adj(&t, &u, &mut tb, n);
            a.iter().zip(&tb).map(|(x, y)| 0.5 * (x + y)).collect()
        };
        let a = at(k);
        let b = at(&minus);
        let t = matrix::product(&pm, &b, n);
        let mut pb = vec![C64::new(0.0, 0.0); n * n];
        matrix::mul_adj(&t, &pm, &mut pb, n);
        for ((o, x), y) in h.iter_mut().zip(&a).zip(&pb) {
            *o = 0.5 * (x + y);
        }
    }
}

/// A unitary $Q$ that commutes with $\Theta$ ($Q U_T = U_T \overline Q$): the polar factor of
/// $V + U_T\overline V U_T^\dagger$ for a Haar-random $V$.
fn unitary_commuting_with(theta: &TimeReversal, seed: u64) -> Vec<C64> {
    let n = theta.n();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v = matrix::haar_unitary(&mut rng, n);
    let u = theta.matrix();
    let cv: Vec<C64> = v.iter().map(|z| z.conj()).collect();
    let t = matrix::product(u, &cv, n);
    let mut w = vec![C64::new(0.0, 0.0); n * n];
    matrix::mul_adj(&t, u, &mut w, n);
    let sum: Vec<C64> = v.iter().zip(&w).map(|(a, b)| a + b).collect();
    matrix::polar_unitary(&sum, n).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// BHZ plus a random time-reversal- and inversion-symmetric perturbation: the lattice,
    /// Wilson-loop and parity invariants agree, and none changes under a random change of
    /// orbital basis that commutes with time reversal.
    #[test]
    fn methods_agree_on_random_symmetric_models(
        m in -1.0f64..9.0,
        eps in 0.0f64..1.5,
        seed in 0u64..1_000_000,
    ) {
        let bhz = Bhz::new(1.0, 1.0, m);
        let (theta, p) = (bhz.time_reversal(), bhz.inversion());
        let extra = symmetrised(seed, &theta, &p);
        let h = FnHamiltonian::new(2, 4, move |k: &[f64], out: &mut [C64]| {
            bhz.write_hamiltonian(k, out);
            let mut e = [C64::new(0.0, 0.0); 16];
            extra(k, &mut e);
            for (o, x) in out.iter_mut().zip(e) {
                *o += eps * x;
            }
        });
        let l = 24;
        // Only well-gapped draws: the invariant is defined and the grid resolves it.
        let bands = BandStructure::compute_for(&h, &[l, l], &BandSet::lowest(1)).unwrap();
        prop_assume!(bands.min_gap_above(1).0 > 0.2);
        let z = all_methods(&h, &theta, Some(p.clone()), l);
        let q = unitary_commuting_with(&theta, seed);
        let rotated = Rotated::new(&h, q.clone()).unwrap();
        // P transforms as Q P Q^dagger.
        let qp = matrix::product(&q, p.matrix(), 4);
        let mut p2 = vec![C64::new(0.0, 0.0); 16];
        matrix::mul_adj(&qp, &q, &mut p2, 4);
        let p2 = Inversion::new(p2, 4).unwrap();
        prop_assert_eq!(all_methods(&rotated, &theta, Some(p2), l), z);
    }
}

/// The Fourier components $H(R) = \frac1{16}\sum_k H(k)e^{-ik\cdot R}$, $R\in\{-1,0,1\}^2$, of a
/// nearest-neighbour 2D model, from a $4\times4$ grid (exact: no harmonic beyond 1).
fn fourier_components<H: BlochHamiltonian>(h: &H) -> Vec<([i64; 2], Vec<C64>)> {
    let n = h.n_bands();
    let tau = 2.0 * std::f64::consts::PI;
    let mut out = Vec::new();
    for r1 in -1i64..=1 {
        for r2 in -1i64..=1 {
            let mut block = vec![C64::new(0.0, 0.0); n * n];
            for i in 0..4 {
                for j in 0..4 {
                    let k = [tau * i as f64 / 4.0, tau * j as f64 / 4.0];
                    let e = C64::from_polar(1.0 / 16.0, -(k[0] * r1 as f64 + k[1] * r2 as f64));
                    for (b, x) in block.iter_mut().zip(h.hamiltonian(&k)) {
                        *b += x * e;
                    }
                }
            }
            out.push(([r1, r2], block));
        }
    }
    out
}

/// BHZ as a spinful hopping list (spin blocks) and as stacked layers in a Wannier90 `_hr.dat`
/// file: the same Z2 as the built-in model in 2D, and the weak phase (0;001) in 3D.
#[test]
fn spinful_hopping_lists_and_wannier90_files() {
    for (m, expected) in [(-1.0, 0u8), (1.0, 1), (3.0, 1), (9.0, 0)] {
        let bhz = Bhz::new(1.0, 0.5, m);
        let parts = fourier_components(&bhz);
        let mut onsite = vec![0.0; 4];
        let mut hoppings = Vec::new();
        for (r, block) in &parts {
            // Keep one of R, -R (the hopping list adds the conjugate).
            if *r < [0, 0] {
                continue;
            }
            for i in 0..4 {
                for j in 0..4 {
                    let t = block[i * 4 + j];
                    if t.norm() < 1e-12 {
                        continue;
                    }
                    if *r == [0, 0] {
                        if i == j {
                            onsite[i] = t.re;
                        } else if i < j {
                            hoppings.push(Hopping {
                                i,
                                j,
                                r: vec![0, 0],
                                t: Amplitude::Complex([t.re, t.im]),
                            });
                        }
                    } else {
                        hoppings.push(Hopping {
                            i,
                            j,
                            r: r.to_vec(),
                            t: Amplitude::Complex([t.re, t.im]),
                        });
                    }
                }
            }
        }
        let tb = TightBinding::new(2, 4, onsite, hoppings).unwrap();
        for k in [[0.3, 1.1], [2.0, -0.7]] {
            for (a, b) in tb.hamiltonian(&k).iter().zip(bhz.hamiltonian(&k)) {
                assert!((a - b).norm() < 1e-12);
            }
        }
        let theta = TimeReversal::spinful(2, SpinOrdering::Blocks).unwrap();
        assert_eq!(
            all_methods(&tb, &theta, Some(bhz.inversion()), 24),
            expected,
            "M = {m}"
        );
        // The wrong spin order is caught as broken time reversal.
        let wrong = TimeReversal::spinful(2, SpinOrdering::Interleaved).unwrap();
        let e = z2_invariant(&tb, &wrong, [24, 24], &Z2Config::default()).unwrap_err();
        assert!(matches!(e, Error::TimeReversalBroken { .. }), "{e}");

        let mut text = format!("BHZ layers\n4\n{}\n", parts.len());
        text += &vec!["1"; parts.len()].join(" ");
        text += "\n";
        for (r, block) in &parts {
            for nn in 0..4 {
                for mm in 0..4 {
                    let x = block[mm * 4 + nn];
                    text += &format!(
                        "{} {} 0 {} {} {:.17e} {:.17e}\n",
                        r[0],
                        r[1],
                        mm + 1,
                        nn + 1,
                        x.re,
                        x.im
                    );
                }
            }
        }
        let w90 = Wannier90::parse(&text, std::path::Path::new("bhz_hr.dat")).unwrap();
        // The layers do not couple, but the planes k1 = 0, pi and k2 = 0, pi still need 4 points
        // along k3: on 2 every link back is the inverse of the link forth and any model's plane
        // would come out 0 (refused since the grid-resolution checks of the Z2 routes).
        let e = z2_indices(&w90, &theta, [12, 12, 2], &Z2Config::default()).unwrap_err();
        assert!(matches!(e, Error::BadGrid { .. }), "{e}");
        let z = z2_indices(&w90, &theta, [12, 12, 4], &Z2Config::default()).unwrap();
        assert_eq!(z.indices, [0, 0, 0, expected], "M = {m}: {z:?}");
    }
}

/// Kane and Mele's phase diagram: at lambda_R = 0 the boundary is exactly lambda_v =
/// 3 sqrt(3) lambda_SO (K is a grid point for L divisible by 3); their points at lambda_R = 0.05.
#[test]
fn kane_mele_phase_diagram() {
    let so = 0.06;
    let km = Z2Model::KaneMele {
        t: 1.0,
        lambda_so: so,
        lambda_r: 0.0,
        lambda_v: 0.0,
    };
    let xs: Vec<f64> = (0..=12).map(|i| 0.05 * i as f64).collect();
    let ys = [0.0, 0.05];
    for method in [Z2Method::FukuiHatsugai, Z2Method::WilsonLoop] {
        let d =
            z2_phase_diagram(&km, "lambda_v", &xs, "lambda_r", &ys, 30, &config(method)).unwrap();
        for p in &d.points {
            if p.y == 0.0 {
                let expected = u8::from(p.x < 3.0 * 3f64.sqrt() * so);
                assert_eq!(p.z2, Some(expected), "{method} at lambda_v = {}", p.x);
            }
            if p.y == 0.05 && (p.x - 0.1).abs() < 1e-12 {
                assert_eq!(p.z2, Some(1));
            }
            if p.y == 0.05 && (p.x - 0.4).abs() < 1e-12 {
                assert_eq!(p.z2, Some(0));
            }
        }
    }
    // A parameter the model does not have.
    assert!(z2_phase_diagram(&km, "m", &xs, "lambda_r", &ys, 30, &Z2Config::default()).is_err());
}

/// The report behind the `z2` command: 2D models give `z2`, 3D ones the indices too; QWZ (a
/// Chern insulator) is refused with the k-point where time reversal fails.
#[test]
fn reports_of_named_models() {
    let km = Z2Model::KaneMele {
        t: 1.0,
        lambda_so: 0.06,
        lambda_r: 0.05,
        lambda_v: 0.1,
    };
    let r = z2_of(&km, 30, &Z2Config::default()).unwrap();
    assert_eq!((r.z2, r.indices, r.grid.clone()), (1, None, vec![30, 30]));
    let json = serde_json::to_value(&r).unwrap();
    for key in ["z2", "method", "grid", "min_gap", "model"] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["method"], "fukui-hatsugai");
    for (dt, strong) in [(0.4, 1), (-0.4, 0)] {
        let fkm = Z2Model::FuKaneMele {
            t: 1.0,
            lambda_so: 0.125,
            dt,
        };
        let parity = Z2Config {
            method: Z2Method::Parity,
            ..Default::default()
        };
        let r = z2_of(&fkm, 12, &parity).unwrap();
        assert_eq!(r.indices, Some([strong, 1, 1, 1]));
        assert_eq!(r.z2, strong);
    }
    let e = z2_of(&Z2Model::Qwz { m: 1.0 }, 30, &Z2Config::default()).unwrap_err();
    assert!(matches!(e, Error::TimeReversalBroken { .. }), "{e}");
    assert!(!e.to_string().contains('\n'));
}

/// The second Chern number keeps its sign in the textbook convention; the first flips.
#[test]
fn textbook_sign_of_invariants() {
    let setup = |grid| Setup {
        grid,
        occupation: Occupation::Lowest(2),
        config: ChernConfig::default(),
        wilson: true,
    };
    let c4 = invariant(&Dirac4d::new(3.0), &setup(10)).unwrap();
    assert_eq!(c4.clone().with_sign(SignConvention::Textbook), c4);
    let hof = Hofstadter::new(1, 5, 1.0).unwrap();
    let c2 = invariant(&hof, &setup(30)).unwrap();
    let t = c2.clone().with_sign(SignConvention::Textbook);
    assert_eq!(
        (t.chern, t.wilson_chern),
        (-c2.chern, c2.wilson_chern.map(|w| -w))
    );
    assert_eq!(c2.chern, -2);
}

#[cfg(feature = "plots")]
#[test]
fn phase_diagram_figure() {
    let km = Z2Model::KaneMele {
        t: 1.0,
        lambda_so: 0.06,
        lambda_r: 0.0,
        lambda_v: 0.0,
    };
    let d = z2_phase_diagram(
        &km,
        "lambda_v",
        &[0.0, 0.3118, 0.5],
        "lambda_r",
        &[0.0, 0.05],
        30,
        &Z2Config::default(),
    )
    .unwrap();
    let path = std::env::temp_dir().join(format!("chern_z2_{}.svg", std::process::id()));
    chern::plots::z2_phase_diagram(&d, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(svg.contains("<svg") && svg.contains("Z2 = 1") && svg.contains("Z2 = 0"));

    // The Wannier-centre flow of the Wilson-loop method: lines from k2 = 0 to pi.
    let km = KaneMele::new(1.0, 0.06, 0.05, 0.1);
    let z = z2_invariant(
        &km,
        &km.time_reversal(),
        [30, 30],
        &config(Z2Method::WilsonLoop),
    )
    .unwrap();
    let flow = z.wcc.unwrap();
    assert_eq!(flow.k_perp.first(), Some(&0.0));
    assert!((flow.k_perp.last().unwrap() - std::f64::consts::PI).abs() < 1e-12);
    assert_eq!(flow.z2(), 1);
    chern::plots::wcc_flow(&flow, z.z2, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(svg.contains("Wannier charge centres, Z2 = 1"));
}

/// The Wilson-loop method checks each loop against the same loop on half its points (Z2Pack's
/// `pos_tol`): on a coarse grid it doubles the points where the centres move, and gives the
/// right Z2; with no doublings allowed it names the loop instead of guessing.
#[test]
fn wilson_loops_are_refined_until_their_centres_converge() {
    let third = 2.0 * std::f64::consts::PI / 3.0;
    for (km, z2) in [
        (KaneMele::new(1.0, 0.06, 0.05, 0.1), 1),
        (KaneMele::new(1.0, 0.06, 0.05, 0.4), 0),
    ] {
        let theta = km.time_reversal();
        // 8 points per loop do not resolve the centres near K: some loops are doubled.
        let z = z2_invariant(&km, &theta, [8, 8], &config(Z2Method::WilsonLoop)).unwrap();
        assert_eq!(z.z2, z2);
        let flow = z.wcc.unwrap();
        assert!(flow.points.iter().all(|&p| p >= 8 && p % 8 == 0 && p <= 64));
        assert!(flow.points.iter().any(|&p| p > 8), "{:?}", flow.points);
        assert_eq!(
            z2_invariant(&km, &theta, [8, 8], &config(Z2Method::FukuiHatsugai))
                .unwrap()
                .z2,
            z2
        );
        // 30 points resolve every loop: nothing is doubled.
        let z = z2_invariant(&km, &theta, [30, 30], &config(Z2Method::WilsonLoop)).unwrap();
        assert!(z.wcc.unwrap().points.iter().all(|&p| p == 30));
        // No doublings allowed: the error names the loop, the movement and the tolerance.
        let strict = Z2Config {
            max_loop_doublings: 0,
            ..config(Z2Method::WilsonLoop)
        };
        match z2_invariant(&km, &theta, [8, 8], &strict).unwrap_err() {
            Error::WccNotConverged {
                k_perp,
                points: 8,
                max_move,
                tolerance,
            } => {
                assert!(max_move >= tolerance && tolerance == 0.01);
                // The loops near K (k2 = 2 pi / 3) are the slow ones.
                assert!((k_perp - third).abs() < 1.2, "{k_perp}");
            }
            e => panic!("{e}"),
        }
    }
    // A tolerance outside (0, 1) is refused.
    let km = KaneMele::default();
    for bad in [0.0, 1.0, f64::NAN, -0.1] {
        let c = Z2Config {
            position_tolerance: bad,
            ..config(Z2Method::WilsonLoop)
        };
        let e = z2_invariant(&km, &km.time_reversal(), [8, 8], &c).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidParameter { name, .. } if name == "position_tolerance"),
            "{e}"
        );
    }
}
