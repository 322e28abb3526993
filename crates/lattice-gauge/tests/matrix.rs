//! The small-matrix kernels against slow, obviously-correct references and against LAPACK
//! (ndarray-linalg).

use std::f64::consts::PI;

use lattice_gauge::{C64, Error, matrix};
use ndarray::{Array2, ShapeBuilder};
use ndarray_linalg::{EigVals, SVD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn ginibre(rng: &mut ChaCha8Rng, n: usize) -> Vec<C64> {
    (0..n * n)
        .map(|_| C64::new(StandardNormal.sample(rng), StandardNormal.sample(rng)))
        .collect()
}

fn naive_mul(a: &[C64], b: &[C64], n: usize) -> Vec<C64> {
    let mut out = vec![C64::new(0.0, 0.0); n * n];
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                out[i * n + j] += a[i * n + k] * b[k * n + j];
            }
        }
    }
    out
}

fn naive_adjoint(a: &[C64], n: usize) -> Vec<C64> {
    let mut out = vec![C64::new(0.0, 0.0); n * n];
    for i in 0..n {
        for j in 0..n {
            out[j * n + i] = a[i * n + j].conj();
        }
    }
    out
}

/// Determinant by Laplace expansion along the first row.
fn laplace_det(a: &[C64], n: usize) -> C64 {
    if n == 1 {
        return a[0];
    }
    let mut det = C64::new(0.0, 0.0);
    for j in 0..n {
        let minor: Vec<C64> = (1..n)
            .flat_map(|i| (0..n).filter(move |&k| k != j).map(move |k| (i, k)))
            .map(|(i, k)| a[i * n + k])
            .collect();
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        det += a[j] * laplace_det(&minor, n - 1) * sign;
    }
    det
}

fn to_fortran(a: &[C64], n: usize) -> Array2<C64> {
    let mut m = Array2::zeros((n, n).f());
    for i in 0..n {
        for j in 0..n {
            m[[i, j]] = a[i * n + j];
        }
    }
    m
}

/// Matches two multisets of complex numbers greedily and returns the largest distance.
fn multiset_distance(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut used = vec![false; b.len()];
    let mut worst: f64 = 0.0;
    for x in a {
        let (j, d) = b
            .iter()
            .enumerate()
            .filter(|(j, _)| !used[*j])
            .map(|(j, y)| (j, (x - y).norm()))
            .min_by(|p, q| p.1.total_cmp(&q.1))
            .unwrap();
        used[j] = true;
        worst = worst.max(d);
    }
    worst
}

#[test]
fn products_and_adjoints_match_the_naive_loops() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for n in 1..=11 {
        let a = ginibre(&mut rng, n);
        let b = ginibre(&mut rng, n);
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        let tol = 1e-13 * n as f64;
        matrix::mul(&a, &b, &mut out, n);
        assert!(
            matrix::max_abs_difference(&out, &naive_mul(&a, &b, n)) < tol,
            "mul n={n}"
        );
        matrix::mul_adj(&a, &b, &mut out, n);
        assert!(
            matrix::max_abs_difference(&out, &naive_mul(&a, &naive_adjoint(&b, n), n)) < tol,
            "mul_adj n={n}"
        );
        matrix::adj_mul(&a, &b, &mut out, n);
        assert!(
            matrix::max_abs_difference(&out, &naive_mul(&naive_adjoint(&a, n), &b, n)) < tol,
            "adj_mul n={n}"
        );
        matrix::adjoint(&a, &mut out, n);
        assert_eq!(out, naive_adjoint(&a, n));
        assert_eq!(matrix::product(&a, &b, n), {
            let mut o = vec![C64::new(0.0, 0.0); n * n];
            matrix::mul(&a, &b, &mut o, n);
            o
        });
        let tr: C64 = (0..n).map(|i| a[i * n + i]).sum();
        assert_eq!(matrix::trace(&a, n), tr);
        let id = matrix::identity(n);
        matrix::mul(&a, &id, &mut out, n);
        assert_eq!(out, a);
    }
}

#[test]
fn determinant_matches_laplace_expansion_and_is_multiplicative() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for n in 1..=7 {
        for _ in 0..5 {
            let a = ginibre(&mut rng, n);
            let reference = laplace_det(&a, n);
            let d = matrix::det(&a, n);
            assert!(
                (d - reference).norm() <= 1e-12 * (1.0 + reference.norm()),
                "n={n}: {d} vs {reference}"
            );
        }
    }
    for n in 1..=10 {
        let a = ginibre(&mut rng, n);
        let b = ginibre(&mut rng, n);
        let ab = matrix::product(&a, &b, n);
        let (da, db, dab) = (matrix::det(&a, n), matrix::det(&b, n), matrix::det(&ab, n));
        assert!((dab - da * db).norm() <= 1e-11 * dab.norm(), "n={n}");
    }
    // A singular matrix: two equal rows.
    let mut a = ginibre(&mut rng, 5);
    let row: Vec<C64> = a[..5].to_vec();
    a[5..10].copy_from_slice(&row);
    assert!(matrix::det(&a, 5).norm() < 1e-12);
}

#[test]
fn general_eigenvalues_match_lapack() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for n in 1..=10 {
        for _ in 0..4 {
            let a = ginibre(&mut rng, n);
            let ours = matrix::eigenvalues(&a, n).unwrap();
            let lapack = to_fortran(&a, n).eigvals().unwrap().to_vec();
            let scale = lapack.iter().map(|z| z.norm()).fold(1.0, f64::max);
            let d = multiset_distance(&ours, &lapack);
            assert!(d < 1e-10 * scale, "n={n}: distance {d}");
        }
    }
}

#[test]
fn unitary_eigenvalues_are_consistent_with_trace_and_determinant() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for n in 1..=10 {
        for _ in 0..20 {
            let u = matrix::haar_unitary(&mut rng, n);
            let ev = matrix::eigenvalues_unitary(&u, n);
            let tol = 1e-12 * n as f64;
            let prod: C64 = ev.iter().product();
            let sum: C64 = ev.iter().sum();
            assert!((prod - matrix::det(&u, n)).norm() < tol, "n={n}");
            assert!((sum - matrix::trace(&u, n)).norm() < tol, "n={n}");
            for z in &ev {
                assert!(
                    (z.norm() - 1.0).abs() < tol,
                    "n={n}: |lambda| = {}",
                    z.norm()
                );
                // det(U - lambda) = 0 (relative to the scale |U| ~ 1).
                let mut shifted = u.clone();
                for i in 0..n {
                    shifted[i * n + i] -= z;
                }
                assert!(matrix::det(&shifted, n).norm() < 1e-10, "n={n}");
            }
            let phases = matrix::eigenphases(&u, n);
            assert!(phases.windows(2).all(|w| w[0] <= w[1]));
            assert!(phases.iter().all(|&t| t > -PI && t <= PI));
            for (t, z) in phases.iter().zip(&ev) {
                assert!((C64::from_polar(1.0, *t) - z).norm() < tol);
            }
        }
    }
}

fn conjugate_by(v: &[C64], d: &[C64], n: usize) -> Vec<C64> {
    let vd = matrix::product(v, d, n);
    let mut out = vec![C64::new(0.0, 0.0); n * n];
    matrix::mul_adj(&vd, v, &mut out, n);
    out
}

#[test]
fn known_spectra_degenerate_and_permutations() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    // Cyclic permutations: the n-th roots of unity (a classic stall of unshifted or Wilkinson-shifted QR).
    for n in 1..=9 {
        let mut p = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            p[i * n + (i + 1) % n] = C64::new(1.0, 0.0);
        }
        let phases = matrix::eigenphases(&p, n);
        let mut expected: Vec<f64> = (0..n)
            .map(|k| matrix::principal_arg(C64::from_polar(1.0, 2.0 * PI * k as f64 / n as f64)))
            .collect();
        expected.sort_by(f64::total_cmp);
        for (a, b) in phases.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-12, "n={n}: {phases:?} vs {expected:?}");
        }
    }
    // Degenerate spectra in a random basis, including the branch point -1 -> +pi.
    for n in 2..=8 {
        let v = matrix::haar_unitary(&mut rng, n);
        let chosen = [0.0, PI, 0.5, PI, -2.0, 0.5, 0.0, 3.0];
        let d_phases: Vec<f64> = chosen[..n].to_vec();
        let mut d = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            d[i * n + i] = C64::from_polar(1.0, d_phases[i]);
        }
        let u = conjugate_by(&v, &d, n);
        let mut expected = d_phases.clone();
        expected.sort_by(f64::total_cmp);
        let phases = matrix::eigenphases(&u, n);
        for (a, b) in phases.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-10, "n={n}: {phases:?} vs {expected:?}");
        }
    }
    assert_eq!(matrix::eigenphases(&[C64::new(-1.0, -0.0)], 1), vec![PI]);
    assert_eq!(matrix::principal_arg(C64::new(-1.0, -0.0)), PI);
    assert_eq!(matrix::eigenphases(&matrix::identity(5), 5), vec![0.0; 5]);
}

fn lapack_polar(m: &[C64], n: usize) -> Vec<C64> {
    let a = to_fortran(m, n);
    let (u, s, vt) = a.svd(true, true).unwrap();
    let (u, vt) = (u.unwrap(), vt.unwrap());
    // Check LAPACK's factors by reconstruction, whatever the layout conventions.
    let mut recon = Array2::<C64>::zeros((n, n));
    for i in 0..n {
        for j in 0..n {
            recon[[i, j]] = (0..n).map(|k| u[[i, k]] * s[k] * vt[[k, j]]).sum();
        }
    }
    for i in 0..n {
        for j in 0..n {
            assert!((recon[[i, j]] - m[i * n + j]).norm() < 1e-10);
        }
    }
    let w = u.dot(&vt);
    (0..n * n).map(|k| w[[k / n, k % n]]).collect()
}

#[test]
fn polar_factor_matches_lapack_svd() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for n in 1..=9 {
        for _ in 0..5 {
            let m = ginibre(&mut rng, n);
            let ours = matrix::polar_unitary(&m, n).unwrap();
            let reference = lapack_polar(&m, n);
            // The polar factor's condition number is ~ 1/sigma_min.
            let sigma = matrix::singular_values(&m, n).unwrap();
            let tol = 1e-12 * sigma[0] / sigma[n - 1];
            assert!(
                matrix::max_abs_difference(&ours, &reference) < tol.max(1e-12),
                "n={n}: {}",
                matrix::max_abs_difference(&ours, &reference)
            );
            assert!(matrix::unitarity_deviation(&ours, n) < 1e-12, "n={n}");
            // P = U^dagger M is Hermitian positive definite.
            let mut p = vec![C64::new(0.0, 0.0); n * n];
            matrix::adj_mul(&ours, &m, &mut p, n);
            assert!(
                matrix::max_abs_difference(&p, &naive_adjoint(&p, n)) < 1e-10 * sigma[0],
                "n={n}"
            );
            assert!(
                matrix::eigenvalues(&p, n)
                    .unwrap()
                    .iter()
                    .all(|z| z.re > 0.0)
            );
        }
    }
}

#[test]
fn polar_factor_is_gauge_covariant_and_fixes_unitaries() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for n in 1..=8 {
        let m = ginibre(&mut rng, n);
        let g = matrix::haar_unitary(&mut rng, n);
        let h = matrix::haar_unitary(&mut rng, n);
        // polar(g^dagger M h) = g^dagger polar(M) h.
        let mut gm = vec![C64::new(0.0, 0.0); n * n];
        matrix::adj_mul(&g, &m, &mut gm, n);
        let gmh = matrix::product(&gm, &h, n);
        let left = matrix::polar_unitary(&gmh, n).unwrap();
        let mut gu = vec![C64::new(0.0, 0.0); n * n];
        matrix::adj_mul(&g, &matrix::polar_unitary(&m, n).unwrap(), &mut gu, n);
        let right = matrix::product(&gu, &h, n);
        assert!(matrix::max_abs_difference(&left, &right) < 1e-10, "n={n}");
        // Unitary input (times a positive scalar) is returned unchanged.
        let scaled: Vec<C64> = g.iter().map(|z| z * 3.5).collect();
        assert!(
            matrix::max_abs_difference(&matrix::polar_unitary(&scaled, n).unwrap(), &g) < 1e-13,
            "n={n}"
        );
    }
}

#[test]
fn singular_values_match_lapack() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for n in 1..=9 {
        let m = ginibre(&mut rng, n);
        let ours = matrix::singular_values(&m, n).unwrap();
        let (_, s, _) = to_fortran(&m, n).svd(false, false).unwrap();
        for (a, b) in ours.iter().zip(s.iter()) {
            assert!((a - b).abs() < 1e-12 * s[0], "n={n}: {ours:?} vs {s:?}");
        }
    }
}

#[test]
fn polar_reports_singular_and_invalid_input() {
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    for n in 1..=5 {
        // Rank n-1: zero the last column in a random basis.
        let mut m = ginibre(&mut rng, n);
        for i in 0..n {
            m[i * n + n - 1] = C64::new(0.0, 0.0);
        }
        let v = matrix::haar_unitary(&mut rng, n);
        let m = matrix::product(&m, &v, n);
        match matrix::polar_unitary(&m, n) {
            Err(Error::Singular {
                smallest_singular_value,
                largest_singular_value,
            }) => {
                assert!(
                    smallest_singular_value <= 1e-12 * largest_singular_value,
                    "n={n}"
                );
                assert!(largest_singular_value > 0.1 || n == 1);
            }
            other => panic!("n={n}: expected Singular, got {other:?}"),
        }
    }
    assert!(matches!(
        matrix::polar_unitary(&[], 0),
        Err(Error::ZeroMatrixSize)
    ));
    assert!(matches!(
        matrix::polar_unitary(&[C64::new(1.0, 0.0); 3], 2),
        Err(Error::MatrixLength { n: 2, len: 3 })
    ));
    let mut m = matrix::identity(3);
    m[4] = C64::new(f64::NAN, 0.0);
    assert!(matches!(
        matrix::polar_unitary(&m, 3),
        Err(Error::NonFinite { index: 4 })
    ));
    assert!(matches!(
        matrix::eigenvalues(&m, 3),
        Err(Error::NonFinite { index: 4 })
    ));
    assert!(matrix::eigenphases(&m, 3).iter().all(|t| t.is_nan()));
    assert!(matrix::unitarity_deviation(&m, 3).is_nan());
    assert!(matches!(
        matrix::check_unitary(&[C64::new(2.0, 0.0)], 1, 1e-10),
        Err(Error::NotUnitary { deviation, .. }) if (deviation - 3.0).abs() < 1e-15
    ));
}

#[test]
fn haar_samples_are_unitary() {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    for n in 1..=16 {
        for _ in 0..10 {
            let u = matrix::haar_unitary(&mut rng, n);
            assert!(
                matrix::unitarity_deviation(&u, n) < 1e-14 * n as f64,
                "n={n}"
            );
        }
    }
}

/// $e^{iF}$ by scaling and squaring of the Taylor series: independent of any eigen-solver.
fn exp_i(f: &[C64], n: usize) -> Vec<C64> {
    let norm: f64 = (0..n)
        .map(|i| (0..n).map(|j| f[i * n + j].norm()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut s = 0;
    while norm / f64::from(1u32 << s) > 0.25 {
        s += 1;
    }
    let x: Vec<C64> = f
        .iter()
        .map(|z| C64::new(0.0, 1.0) * z / f64::from(1u32 << s))
        .collect();
    let mut sum = matrix::identity(n);
    let mut term = matrix::identity(n);
    for k in 1..=24 {
        term = naive_mul(&term, &x, n)
            .iter()
            .map(|z| z / k as f64)
            .collect();
        sum.iter_mut().zip(&term).for_each(|(a, b)| *a += b);
    }
    for _ in 0..s {
        sum = naive_mul(&sum, &sum, n);
    }
    sum
}

/// The eigenvalues of the Hermitian `f`, ascending.
fn hermitian_spectrum(f: &[C64], n: usize) -> Vec<f64> {
    let mut e = vec![0.0; n];
    let mut v = vec![C64::new(0.0, 0.0); n * n];
    lattice_gauge::hermitian::Eigensolver::new(n)
        .solve(f, &mut e, &mut v)
        .unwrap();
    e
}

/// Checks $F = -i\log W$: Hermitian, $e^{iF} = W$, spectrum in $(-\pi, \pi]$, and the expected
/// spectrum where given.
fn check_log(w: &[C64], n: usize, expected: Option<&[f64]>) -> Vec<C64> {
    let f = matrix::log_unitary(w, n).unwrap();
    assert!(
        matrix::max_abs_difference(&f, &naive_adjoint(&f, n)) < 1e-13,
        "F not Hermitian"
    );
    assert!(
        matrix::max_abs_difference(&exp_i(&f, n), w) < 1e-12,
        "exp(iF) != W (n = {n})"
    );
    let spectrum = hermitian_spectrum(&f, n);
    assert!(
        spectrum.iter().all(|&t| t > -PI && t <= PI + 1e-13),
        "{spectrum:?}"
    );
    if let Some(expected) = expected {
        for (a, b) in spectrum.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{spectrum:?} vs {expected:?}");
        }
    }
    f
}

#[test]
fn log_unitary_inverts_the_exponential_on_haar_unitaries() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    for n in 1..=9 {
        for _ in 0..20 {
            let w = matrix::haar_unitary(&mut rng, n);
            let f = check_log(&w, n, None);
            // Covariance: log(Omega W Omega^†) = Omega log(W) Omega^†.
            let omega = matrix::haar_unitary(&mut rng, n);
            let rotated = naive_mul(&naive_mul(&omega, &w, n), &naive_adjoint(&omega, n), n);
            let f_rotated = matrix::log_unitary(&rotated, n).unwrap();
            let expected = naive_mul(&naive_mul(&omega, &f, n), &naive_adjoint(&omega, n), n);
            let d = matrix::max_abs_difference(&f_rotated, &expected);
            assert!(d < 1e-11, "n = {n}: covariance off by {d}");
        }
    }
}

/// Degenerate eigenphases, the identity, the branch cut at $-1$ (eigenphase $+\pi$, never
/// $-\pi$) and phases just either side of it.
#[test]
fn log_unitary_degenerate_and_branch_cut_spectra() {
    let mut rng = ChaCha8Rng::seed_from_u64(43);
    let eps = 1e-9;
    let cases: Vec<Vec<f64>> = vec![
        vec![0.0; 3],
        vec![0.7, 0.7, -1.1],
        vec![2.0, 2.0, 2.0, -0.5],
        vec![PI, PI],
        vec![PI, 0.3, -2.0],
        vec![PI - eps, -PI + eps, 0.0],
        vec![-PI + eps, -PI + eps, 1.0, 1.0],
        vec![PI, -PI + eps, PI - eps],
    ];
    for phases in cases {
        let n = phases.len();
        let d: Vec<C64> = phases.iter().map(|&t| C64::from_polar(1.0, t)).collect();
        // Exactly -1 on the diagonal: arg(-1 + 0i) = pi, and a rotated one.
        let diagonal: Vec<C64> = (0..n * n)
            .map(|x| {
                if x % (n + 1) == 0 {
                    d[x / (n + 1)]
                } else {
                    C64::new(0.0, 0.0)
                }
            })
            .collect();
        let mut expected = phases.clone();
        expected.sort_by(f64::total_cmp);
        check_log(&diagonal, n, Some(&expected));
        let v = matrix::haar_unitary(&mut rng, n);
        let w = conjugate_by(&v, &diagonal, n);
        // Rotated, an eigenvalue -1 may come out with either sign of a rounding-level imaginary
        // part: its phase is pi or -pi up to rounding, both logarithms of W.
        let f = matrix::log_unitary(&w, n).unwrap();
        assert!(matrix::max_abs_difference(&exp_i(&f, n), &w) < 1e-12);
        let spectrum = hermitian_spectrum(&f, n);
        for (a, b) in spectrum.iter().zip(&expected) {
            let off = (a - b).abs();
            assert!(
                off < 1e-8 || (off - 2.0 * PI).abs() < 1e-8,
                "{spectrum:?} vs {expected:?}"
            );
        }
    }
}

#[test]
fn log_unitary_rejects_invalid_input() {
    let one = C64::new(1.0, 0.0);
    let zero = C64::new(0.0, 0.0);
    assert!(matches!(
        matrix::log_unitary(&[one, zero, zero, C64::new(2.0, 0.0)], 2),
        Err(Error::NotUnitary { .. })
    ));
    assert!(matches!(
        matrix::log_unitary(&[one, zero, zero, C64::new(f64::NAN, 0.0)], 2),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        matrix::log_unitary(&[one, zero, zero], 2),
        Err(Error::MatrixLength { .. })
    ));
    // A non-normal W (a Jordan block) has no eigenbasis: the unchecked kernel says so.
    let jordan = [one, one, zero, one];
    let mut f = [zero; 4];
    let mut solver = lattice_gauge::hermitian::Eigensolver::new(2);
    match matrix::log_unitary_into(&jordan, &mut f, 2, &mut solver) {
        Err(Error::NoEigenbasis { off_diagonal }) => assert!(off_diagonal > 0.1),
        other => panic!("{other:?}"),
    }
    let nan = [C64::new(f64::NAN, 0.0), zero, zero, one];
    match matrix::log_unitary_into(&nan, &mut f, 2, &mut solver) {
        Err(Error::NoEigenbasis { off_diagonal }) => assert!(off_diagonal.is_nan()),
        other => panic!("{other:?}"),
    }
}
