//! Stress test of the unitary eigenvalue solver on structured matrices that trip up QR iterations:
//! permutations (cycles of several lengths), signed permutations, block-diagonal unitaries in a
//! random basis, near-degenerate spectra, and exact diagonal matrices.

use lattice_gauge::{C64, matrix};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn check(u: &[C64], n: usize, what: &str) {
    let ev = matrix::eigenvalues(u, n).unwrap_or_else(|e| panic!("{what}: {e}"));
    let prod: C64 = ev.iter().product();
    let sum: C64 = ev.iter().sum();
    let tol = 1e-12 * n as f64;
    assert!((prod - matrix::det(u, n)).norm() < tol, "{what}: det");
    assert!((sum - matrix::trace(u, n)).norm() < tol, "{what}: trace");
    for z in &ev {
        assert!(
            (z.norm() - 1.0).abs() < tol,
            "{what}: |lambda| = {}",
            z.norm()
        );
    }
    // Power sums Tr U^k = sum lambda^k pin the spectrum down completely for k = 1..n.
    let mut power = u.to_vec();
    for k in 2..=n {
        power = matrix::product(&power, u, n);
        let s: C64 = ev.iter().map(|z| z.powu(k as u32)).sum();
        assert!(
            (s - matrix::trace(&power, n)).norm() < 1e-10 * n as f64,
            "{what}: Tr U^{k}"
        );
    }
}

fn conjugate(v: &[C64], d: &[C64], n: usize) -> Vec<C64> {
    let vd = matrix::product(v, d, n);
    let mut out = vec![C64::new(0.0, 0.0); n * n];
    matrix::mul_adj(&vd, v, &mut out, n);
    out
}

#[test]
fn structured_unitaries() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    for n in 1..=8 {
        for trial in 0..300 {
            // A random signed/phased permutation.
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let mut p = vec![C64::new(0.0, 0.0); n * n];
            for i in 0..n {
                let phase = match trial % 3 {
                    0 => C64::new(1.0, 0.0),
                    1 => C64::new(if rng.random::<bool>() { 1.0 } else { -1.0 }, 0.0),
                    _ => C64::from_polar(1.0, rng.random::<f64>() * 6.3),
                };
                p[i * n + perm[i]] = phase;
            }
            check(&p, n, &format!("permutation n={n} trial={trial}"));
            // The same in a random basis.
            let v = matrix::haar_unitary(&mut rng, n);
            check(
                &conjugate(&v, &p, n),
                n,
                &format!("rotated permutation n={n}"),
            );
            // Near-degenerate diagonal spectra in a random basis.
            let base = rng.random::<f64>() * 6.0 - 3.0;
            let mut d = vec![C64::new(0.0, 0.0); n * n];
            for i in 0..n {
                d[i * n + i] = C64::from_polar(1.0, base + 1e-9 * i as f64 * rng.random::<f64>());
            }
            check(&d, n, "diagonal");
            check(&conjugate(&v, &d, n), n, &format!("near-degenerate n={n}"));
            // Products of few Haar factors with a permutation (Hessenberg with zero subdiagonals).
            let w = matrix::product(&p, &matrix::haar_unitary(&mut rng, n), n);
            check(&w, n, "permutation times Haar");
        }
    }
}
