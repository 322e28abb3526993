use lattice_gauge::{C64, Dir, GaugeTransform, Lattice, LinkField, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn smoke() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for n in 1..=8 {
        let u = matrix::haar_unitary(&mut rng, n);
        assert!(matrix::unitarity_deviation(&u, n) < 1e-13, "n={n}");
        let ev = matrix::eigenvalues_unitary(&u, n);
        let prod: C64 = ev.iter().product();
        let sum: C64 = ev.iter().sum();
        assert!((prod - matrix::det(&u, n)).norm() < 1e-12, "n={n}");
        assert!((sum - matrix::trace(&u, n)).norm() < 1e-12, "n={n}");
        for z in &ev {
            assert!((z.norm() - 1.0).abs() < 1e-12);
        }
        let m: Vec<C64> = u.iter().map(|z| z * 2.0).collect();
        let p = matrix::polar_unitary(&m, n).unwrap();
        let d: f64 = p
            .iter()
            .zip(&u)
            .map(|(a, b)| (a - b).norm())
            .fold(0.0, f64::max);
        assert!(d < 1e-12, "n={n} d={d}");
    }
    let lat = Lattice::new(&[4, 3]).unwrap();
    let links = LinkField::haar_random(&lat, 3, &mut rng).unwrap();
    let g = GaugeTransform::random(&lat, 3, &mut rng).unwrap();
    let l2 = g.apply_links(&links).unwrap();
    let p1 = g.apply_plaquettes(&links.plaquettes()).unwrap();
    let p2 = l2.plaquettes();
    assert!(p1.max_abs_diff(&p2).unwrap() < 1e-12);
    let w = links
        .wilson_loop(Dir(0), Dir(1), 1, 1, lattice_gauge::Site(5))
        .unwrap();
    let pq = links.plaquette(Dir(0), Dir(1), lattice_gauge::Site(5));
    assert!(w.iter().zip(&pq).all(|(a, b)| (a - b).norm() < 1e-13));
}
