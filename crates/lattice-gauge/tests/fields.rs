//! Link-field observables against a slow path-walking reference, exact special cases, errors and serde.

use std::f64::consts::PI;

use lattice_gauge::{
    C64, Dir, Error, GaugeTransform, Lattice, LinkField, MatrixField, PlaquetteField, Site, matrix,
};
use ndarray::{Array3, Array4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A step of a lattice path: `(mu, forward?)`.
type Step = (usize, bool);

/// The ordered product of links along a path, walked one step at a time with explicit coordinates:
/// forward along mu multiplies by U_mu(x), backward by U_mu(x - mu)^dagger.
fn path_product(links: &LinkField, start: &[usize], path: &[Step]) -> Vec<C64> {
    let lat = links.lattice();
    let n = links.n();
    let mut x: Vec<usize> = start.to_vec();
    let mut m = matrix::identity(n);
    for &(mu, forward) in path {
        let l = lat.extents()[mu];
        let u = if forward {
            let u = links.link(Dir(mu), lat.site(&x).unwrap()).to_vec();
            x[mu] = (x[mu] + 1) % l;
            u
        } else {
            x[mu] = (x[mu] + l - 1) % l;
            matrix::adjoint_of(links.link(Dir(mu), lat.site(&x).unwrap()), n)
        };
        m = matrix::product(&m, &u, n);
    }
    assert_eq!(x, start, "the path must be closed");
    m
}

fn rectangle(mu: usize, nu: usize, r: usize, t: usize) -> Vec<Step> {
    let mut path = vec![(mu, true); r];
    path.extend(std::iter::repeat_n((nu, true), t));
    path.extend(std::iter::repeat_n((mu, false), r));
    path.extend(std::iter::repeat_n((nu, false), t));
    path
}

#[test]
fn plaquettes_and_wilson_loops_match_the_path_walk() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (extents, n) in [(vec![5, 3], 2), (vec![3, 4, 2, 3], 3), (vec![4, 2, 3], 1)] {
        let lat = Lattice::new(&extents).unwrap();
        let links = LinkField::haar_random(&lat, n, &mut rng).unwrap();
        let plaquettes = links.plaquettes();
        for (p, (mu, nu)) in lat.planes().into_iter().enumerate() {
            let field = links.plaquette_field(mu, nu).unwrap();
            for s in lat.sites() {
                let x = lat.coords(s);
                let reference = path_product(&links, &x, &rectangle(mu.0, nu.0, 1, 1));
                assert!(
                    matrix::max_abs_difference(&links.plaquette(mu, nu, s), &reference) < 1e-13
                );
                assert!(matrix::max_abs_difference(field.matrix(s), &reference) < 1e-13);
                assert!(matrix::max_abs_difference(plaquettes.plaquette(p, s), &reference) < 1e-13);
                // W_{nu mu} = W_{mu nu}^dagger.
                let back = links.plaquette(nu, mu, s);
                assert!(
                    matrix::max_abs_difference(&back, &matrix::adjoint_of(&reference, n)) < 1e-13
                );
                for (r, t) in [(1, 1), (2, 1), (1, 3), (3, 2), (6, 5)] {
                    let w = links.wilson_loop(mu, nu, r, t, s).unwrap();
                    let reference = path_product(&links, &x, &rectangle(mu.0, nu.0, r, t));
                    assert!(
                        matrix::max_abs_difference(&w, &reference) < 1e-12,
                        "{extents:?} {r}x{t}"
                    );
                }
            }
            for (a, b) in [(mu, nu), (nu, mu)] {
                for (r, t) in [(1, 1), (2, 3), (6, 5)] {
                    let loops = links.wilson_loop_field(a, b, r, t).unwrap();
                    for s in lat.sites() {
                        let reference =
                            path_product(&links, &lat.coords(s), &rectangle(a.0, b.0, r, t));
                        assert!(
                            matrix::max_abs_difference(loops.matrix(s), &reference) < 1e-12,
                            "{extents:?} {r}x{t}"
                        );
                    }
                }
            }
            assert_eq!(plaquettes.plane(mu, nu).unwrap(), field);
            let reversed = plaquettes.plane(nu, mu).unwrap();
            assert!(
                reversed
                    .max_abs_diff(&links.plaquette_field(nu, mu).unwrap())
                    .unwrap()
                    < 1e-13
            );
        }
        for mu in lat.dirs() {
            let field = links.polyakov_loop_field(mu).unwrap();
            for s in lat.sites() {
                let path = vec![(mu.0, true); extents[mu.0]];
                let reference = path_product(&links, &lat.coords(s), &path);
                assert!(
                    matrix::max_abs_difference(&links.polyakov_loop(mu, s).unwrap(), &reference)
                        < 1e-12
                );
                assert!(matrix::max_abs_difference(field.matrix(s), &reference) < 1e-12);
            }
        }
    }
}

#[test]
fn abelian_stokes_theorem() {
    // For U(1), an R x T Wilson loop is the product of the R*T plaquettes it encloses.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let lat = Lattice::new(&[7, 6, 3]).unwrap();
    let links = LinkField::haar_random(&lat, 1, &mut rng).unwrap();
    for (mu, nu) in lat.planes() {
        for s in lat.sites() {
            for (r, t) in [(1, 1), (2, 3), (4, 2)] {
                let mut product = C64::new(1.0, 0.0);
                for i in 0..r as isize {
                    for j in 0..t as isize {
                        let y = lat.shift(lat.shift(s, mu, i), nu, j);
                        product *= links.plaquette(mu, nu, y)[0];
                    }
                }
                let w = links.wilson_loop(mu, nu, r, t, s).unwrap()[0];
                assert!((w - product).norm() < 1e-12);
            }
        }
    }
}

#[test]
fn fhs_flux_is_quantised_on_the_torus() {
    // Prod_x det W(x) = 1 on a 2D torus, so sum_x arg det W(x) and the eigenphase sum are 2 pi C.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for n in 1..=4 {
        for _ in 0..5 {
            let lat = Lattice::new(&[5, 4]).unwrap();
            let links = LinkField::haar_random(&lat, n, &mut rng).unwrap();
            let field = links.plaquette_field(Dir(0), Dir(1)).unwrap();
            let det_flux: f64 = lat
                .sites()
                .map(|s| matrix::principal_arg(matrix::det(field.matrix(s), n)))
                .sum();
            let eig_flux: f64 = lat
                .sites()
                .map(|s| matrix::eigenphases(field.matrix(s), n).iter().sum::<f64>())
                .sum();
            for flux in [det_flux, eig_flux] {
                let c = flux / (2.0 * PI);
                assert!((c - c.round()).abs() < 1e-9, "n={n}: {c}");
            }
        }
    }
}

#[test]
fn constant_and_trivial_fields() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let lat = Lattice::new(&[3, 5]).unwrap();
    let n = 3;
    let identity = LinkField::identity(&lat, n).unwrap();
    assert_eq!(identity.plaquettes().mean_trace(), C64::new(3.0, 0.0));
    assert_eq!(
        identity.wilson_loop(Dir(1), Dir(0), 2, 2, Site(4)).unwrap(),
        matrix::identity(n)
    );
    // Constant links U_mu(x) = V_mu: P_mu = V_mu^{L_mu}; pure gauge fields have trivial plaquettes.
    let v: Vec<Vec<C64>> = (0..2).map(|_| matrix::haar_unitary(&mut rng, n)).collect();
    let mut data = Array4::zeros((2, lat.volume(), n, n));
    for mu in 0..2 {
        for s in 0..lat.volume() {
            for k in 0..n * n {
                data[[mu, s, k / n, k % n]] = v[mu][k];
            }
        }
    }
    let constant = LinkField::from_array(&lat, n, data).unwrap();
    for (mu, v_mu) in v.iter().enumerate() {
        let mut power = matrix::identity(n);
        for _ in 0..lat.extents()[mu] {
            power = matrix::product(&power, v_mu, n);
        }
        assert!(
            matrix::max_abs_difference(&constant.polyakov_loop(Dir(mu), Site(7)).unwrap(), &power)
                < 1e-13
        );
    }
    let omega = GaugeTransform::random(&lat, n, &mut rng).unwrap();
    let pure_gauge = omega.apply_links(&identity).unwrap();
    let w = pure_gauge.plaquettes();
    let id = PlaquetteField::new(&lat, n, identity.plaquettes().into_array()).unwrap();
    assert!(w.max_abs_diff(&id).unwrap() < 1e-13);
    // Polyakov loops of a pure gauge field are trivial too (no holonomy).
    let p = pure_gauge.polyakov_loop_field(Dir(1)).unwrap();
    assert!(
        p.max_abs_diff(&MatrixField::identity(&lat, n).unwrap())
            .unwrap()
            < 1e-13
    );
}

#[test]
fn transport_is_the_link_conjugation_and_backward_inverts_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let lat = Lattice::new(&[4, 3, 2]).unwrap();
    let n = 2;
    let links = LinkField::haar_random(&lat, n, &mut rng).unwrap();
    let y = MatrixField::from_fn(&lat, n, |s, out| {
        for (k, z) in out.iter_mut().enumerate() {
            *z = C64::new(s.0 as f64 + k as f64, 0.5 * k as f64 - s.0 as f64);
        }
    })
    .unwrap();
    for mu in lat.dirs() {
        let t = links.transport(mu, &y).unwrap();
        for s in lat.sites() {
            let u = links.link(mu, s);
            let xu = matrix::product(u, y.matrix(lat.forward(s, mu)), n);
            let expected = matrix::product(&xu, &matrix::adjoint_of(u, n), n);
            assert!(matrix::max_abs_difference(t.matrix(s), &expected) < 1e-12);
        }
        let back = links.transport_backward(mu, &t).unwrap();
        assert!(back.max_abs_diff(&y).unwrap() < 1e-11);
        let two = links.transport_steps(mu, 2, &y).unwrap();
        assert_eq!(two, links.transport(mu, &t).unwrap());
        let undone = links.transport_steps(mu, -2, &two).unwrap();
        assert!(undone.max_abs_diff(&y).unwrap() < 1e-11);
        // Transporting by L_mu steps around the torus is conjugation by the Polyakov loop.
        let around = links
            .transport_steps(mu, lat.extents()[mu.0] as isize, &y)
            .unwrap();
        for s in lat.sites() {
            let p = links.polyakov_loop(mu, s).unwrap();
            let expected = matrix::product(
                &matrix::product(&p, y.matrix(s), n),
                &matrix::adjoint_of(&p, n),
                n,
            );
            assert!(matrix::max_abs_difference(around.matrix(s), &expected) < 1e-11);
        }
    }
}

#[test]
fn invalid_input_is_an_error_naming_the_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let lat = Lattice::new(&[3, 4]).unwrap();
    let other = Lattice::new(&[4, 3]).unwrap();
    assert_eq!(LinkField::identity(&lat, 0), Err(Error::ZeroMatrixSize));
    assert_eq!(
        GaugeTransform::random(&lat, 0, &mut rng).unwrap_err(),
        Error::ZeroMatrixSize
    );
    assert_eq!(
        MatrixField::zeros(&lat, 0).unwrap_err(),
        Error::ZeroMatrixSize
    );
    let links = LinkField::haar_random(&lat, 2, &mut rng).unwrap();
    assert_eq!(
        links.wilson_loop(Dir(0), Dir(1), 0, 2, Site(0)),
        Err(Error::ZeroLoopSize { r: 0, t: 2 })
    );
    assert_eq!(
        links.wilson_loop(Dir(1), Dir(1), 1, 1, Site(0)),
        Err(Error::SameDirection { dir: 1 })
    );
    assert_eq!(
        links.plaquette_field(Dir(0), Dir(2)).unwrap_err(),
        Error::DirOutOfRange { dir: 2, dim: 2 }
    );
    assert_eq!(
        links.polyakov_loop(Dir(5), Site(0)),
        Err(Error::DirOutOfRange { dir: 5, dim: 2 })
    );
    assert_eq!(
        links.try_plaquette(Dir(0), Dir(3), Site(0)),
        Err(Error::DirOutOfRange { dir: 3, dim: 2 })
    );
    assert_eq!(
        links.try_plaquette(Dir(0), Dir(1), Site(99)),
        Err(Error::SiteOutOfRange {
            site: 99,
            volume: 12
        })
    );
    let w_same = links.try_plaquette(Dir(1), Dir(1), Site(3)).unwrap();
    assert!(matrix::max_abs_difference(&w_same, &matrix::identity(2)) < 1e-14);
    assert_eq!(
        links.wilson_loop(Dir(0), Dir(1), 1, 1, Site(12)),
        Err(Error::SiteOutOfRange {
            site: 12,
            volume: 12
        })
    );
    let g_other = GaugeTransform::random(&other, 2, &mut rng).unwrap();
    assert_eq!(
        g_other.apply_links(&links).unwrap_err(),
        Error::LatticeMismatch {
            expected: vec![3, 4],
            found: vec![4, 3]
        }
    );
    let g3 = GaugeTransform::random(&lat, 3, &mut rng).unwrap();
    assert_eq!(
        g3.apply_links(&links).unwrap_err(),
        Error::MatrixSizeMismatch {
            expected: 2,
            found: 3
        }
    );
    let y3 = MatrixField::identity(&lat, 3).unwrap();
    assert_eq!(
        links.transport(Dir(0), &y3).unwrap_err(),
        Error::MatrixSizeMismatch {
            expected: 2,
            found: 3
        }
    );
    assert!(matches!(
        links.transport(Dir(2), &y3),
        Err(Error::DirOutOfRange { .. })
    ));
    // Shapes.
    assert!(matches!(
        LinkField::from_array(&lat, 2, Array4::zeros((2, 12, 3, 3))),
        Err(Error::ShapeMismatch {
            what: "LinkField",
            ..
        })
    ));
    assert!(matches!(
        MatrixField::new(&lat, 2, Array3::zeros((11, 2, 2))),
        Err(Error::ShapeMismatch {
            what: "MatrixField",
            ..
        })
    ));
    assert_eq!(
        MatrixField::new(&lat, 2, Array3::zeros((11, 2, 2)))
            .unwrap_err()
            .to_string(),
        "MatrixField: expected array shape [12, 2, 2], found [11, 2, 2]"
    );
    // Non-unitary data: the first offending link, with its deviation.
    let mut data = links.as_array().clone();
    data.slice_mut(ndarray::s![1, 7, .., ..])
        .mapv_inplace(|z| z * 2.0);
    match LinkField::from_array(&lat, 2, data.clone()) {
        Err(Error::NotUnitary {
            dir: Some(1),
            site: 7,
            deviation,
            tolerance,
        }) => {
            assert!((deviation - 3.0).abs() < 1e-12 && tolerance == matrix::UNITARITY_TOLERANCE);
        }
        other => panic!("expected NotUnitary, got {other:?}"),
    }
    data[[0, 2, 1, 1]] = C64::new(f64::NAN, 0.0);
    assert!(matches!(
        LinkField::from_array(&lat, 2, data),
        Err(Error::NonFinite { index: 11 })
    ));
    let mut omega = MatrixField::identity(&lat, 2).unwrap();
    omega.matrix_mut(Site(3))[1] = C64::new(0.1, 0.0);
    assert!(matches!(
        GaugeTransform::from_field(omega),
        Err(Error::NotUnitary {
            dir: None,
            site: 3,
            ..
        })
    ));
    let mut links = links;
    assert!(matches!(
        links.set_link(Dir(0), Site(2), &[C64::new(2.0, 0.0); 4]),
        Err(Error::NotUnitary {
            dir: Some(0),
            site: 2,
            ..
        })
    ));
    let u = matrix::haar_unitary(&mut rng, 2);
    links.set_link(Dir(0), Site(2), &u).unwrap();
    assert_eq!(links.link(Dir(0), Site(2)), u.as_slice());
    assert_eq!(links.get(Dir(2), Site(0)), None);
}

#[test]
fn non_standard_layouts_are_accepted() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let lat = Lattice::new(&[2, 3]).unwrap();
    let links = LinkField::haar_random(&lat, 2, &mut rng).unwrap();
    let mut transposed = links.as_array().clone();
    transposed.swap_axes(0, 1);
    let fortran = transposed.as_standard_layout().into_owned();
    let mut back = fortran;
    back.swap_axes(0, 1); // same logical data, not in standard layout
    assert!(!back.is_standard_layout());
    assert_eq!(LinkField::from_array(&lat, 2, back).unwrap(), links);
}

#[test]
fn serde_round_trips_and_validates() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let lat = Lattice::new(&[3, 2, 2]).unwrap();
    let links = LinkField::haar_random(&lat, 2, &mut rng).unwrap();
    // serde_json parses floats to within one ulp (exactly only with its `float_roundtrip` feature).
    let json = serde_json::to_string(&links).unwrap();
    let back: LinkField = serde_json::from_str(&json).unwrap();
    assert!(back.max_abs_diff(&links).unwrap() < 1e-15);
    let omega = GaugeTransform::random(&lat, 2, &mut rng).unwrap();
    let json_omega = serde_json::to_string(&omega).unwrap();
    let back: GaugeTransform = serde_json::from_str(&json_omega).unwrap();
    assert!(back.as_field().max_abs_diff(omega.as_field()).unwrap() < 1e-15);
    let field = links.plaquette_field(Dir(0), Dir(2)).unwrap();
    let json_field = serde_json::to_string(&field).unwrap();
    let back: MatrixField = serde_json::from_str(&json_field).unwrap();
    assert!(back.max_abs_diff(&field).unwrap() < 1e-15);
    let plaquettes = links.plaquettes();
    let json_p = serde_json::to_string(&plaquettes).unwrap();
    let back: PlaquetteField = serde_json::from_str(&json_p).unwrap();
    assert!(back.max_abs_diff(&plaquettes).unwrap() < 1e-15);
    assert_eq!(back.lattice(), &lat);
    assert_eq!(serde_json::from_str::<Site>("5").unwrap(), Site(5));
    assert_eq!(serde_json::to_string(&Dir(2)).unwrap(), "2");

    // Doubling every link breaks unitarity; the field is rejected on the way in.
    let doubled = LinkField::from_array_with_tolerance(
        &lat,
        2,
        links.as_array().mapv(|z| z * 2.0),
        f64::INFINITY,
    )
    .unwrap();
    let bad = serde_json::to_string(&doubled).unwrap();
    let err = serde_json::from_str::<LinkField>(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not unitary"), "{err}");
    // A gauge transformation that is not unitary, and a field whose shape does not fit its lattice.
    let doubled_field = MatrixField::new(&lat, 2, field.as_array().mapv(|z| z * 2.0)).unwrap();
    let bad_omega = serde_json::to_string(&doubled_field).unwrap();
    assert!(serde_json::from_str::<GaugeTransform>(&bad_omega).is_err());
    let wrong_lattice = json_field.replace(r#""extents":[3,2,2]"#, r#""extents":[3,2,3]"#);
    assert_ne!(wrong_lattice, json_field);
    assert!(
        serde_json::from_str::<MatrixField>(&wrong_lattice)
            .unwrap_err()
            .to_string()
            .contains("shape")
    );
}

#[test]
fn links_projected_from_overlaps_follow_the_bloch_frame_convention() {
    // The Bloch-frame convention (chern::conventions): M_mu(k) = V(k)^dagger V(k + mu),
    // U = polar(M); V -> V g gives
    // U -> g^dagger U g(k + mu), i.e. the gauge transformation Omega = g^dagger.
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let lat = Lattice::new(&[4, 3]).unwrap();
    let (big, n) = (5, 2);
    // An N x n isometry per site: the first n columns of a Haar U(N) matrix, row-major N x n.
    let frames: Vec<Vec<C64>> = lat
        .sites()
        .map(|_| {
            let u = matrix::haar_unitary(&mut rng, big);
            (0..big)
                .flat_map(|i| u[i * big..i * big + n].to_vec())
                .collect()
        })
        .collect();
    let overlap = |frames: &[Vec<C64>], mu: Dir, s: Site, out: &mut [C64]| {
        let (a, b) = (&frames[s.0], &frames[lat.forward(s, mu).0]);
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..big).map(|r| a[r * n + i].conj() * b[r * n + j]).sum();
            }
        }
    };
    let links =
        LinkField::from_fn_projected(&lat, n, |mu, s, out| overlap(&frames, mu, s, out)).unwrap();
    assert!(links.max_unitarity_deviation().0 < 1e-13);
    for mu in lat.dirs() {
        for s in lat.sites() {
            let mut m = vec![C64::new(0.0, 0.0); n * n];
            overlap(&frames, mu, s, &mut m);
            assert!(
                matrix::max_abs_difference(
                    links.link(mu, s),
                    &matrix::polar_unitary(&m, n).unwrap()
                ) < 1e-14
            );
        }
    }
    let g = GaugeTransform::random(&lat, n, &mut rng).unwrap();
    let rotated: Vec<Vec<C64>> = frames
        .iter()
        .zip(lat.sites())
        .map(|(v, s)| {
            (0..big)
                .flat_map(|r| matrix_row_times(&v[r * n..(r + 1) * n], g.omega(s), n))
                .collect()
        })
        .collect();
    let rotated_links =
        LinkField::from_fn_projected(&lat, n, |mu, s, out| overlap(&rotated, mu, s, out)).unwrap();
    let expected = g.inverse().apply_links(&links).unwrap();
    assert!(expected.max_abs_diff(&rotated_links).unwrap() < 1e-12);
    // Exactly singular overlaps (orthogonal frames) are reported, not projected.
    let err =
        LinkField::from_fn_projected(&lat, n, |_, _, out| out[0] = C64::new(1.0, 0.0)).unwrap_err();
    assert!(
        matches!(err, Error::Singular { smallest_singular_value, .. } if smallest_singular_value == 0.0)
    );
}

/// A row vector times an n x n matrix.
fn matrix_row_times(row: &[C64], g: &[C64], n: usize) -> Vec<C64> {
    (0..n)
        .map(|j| (0..n).map(|k| row[k] * g[k * n + j]).sum())
        .collect()
}
