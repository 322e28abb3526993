//! The gauge-invariant second-Chern density of 4D plaquettes: on the CPU from `lattice-gauge`'s
//! matrix logarithm ([`second_chern_density_of`], the labels of 4D samples, the same logarithm
//! `chern`'s second Chern number uses), and on tensors ([`second_chern_density`], batched and
//! on any device, tested against the CPU one).
use std::f64::consts::{PI, TAU};

use lattice_gauge::hermitian::Eigensolver;
use lattice_gauge::{C64, PlaquetteField, Site, matrix};
use tch::{Kind, Tensor};

use crate::convert::{Precision, complex_tensor};
use crate::error::{Error, Result};

/// $F = -i \log W$ on the principal branch for a batch of unitary matrices $W$ of shape
/// $(\dots, n, n)$, complex; returns the Hermitian $F$ (`ComplexDouble`, same shape).
///
/// Method: rotate $W' = e^{-i\alpha} W$ so that the middle of the largest gap between the
/// eigenphases of $W$ sits at $\pi$; the Cayley transform $H = i(1 - W')(1 + W')^{-1}$ is then
/// well conditioned and Hermitian with eigenvalues $\tan(\phi/2)$, a strictly increasing
/// function of the eigenphase $\phi$ of $W'$, so its eigenvectors (LAPACK's `heevd` through
/// libtorch) separate distinct eigenphases of $W$; $F = V\,\mathrm{diag}(\theta)\,V^\dagger$ with
/// $\theta = 2\arctan\mu + \alpha$ wrapped to $(-\pi, \pi]$.
///
/// Errors on a non-complex kind or a shape that does not end in a square matrix.
pub fn hermitian_log(w: &Tensor) -> Result<Tensor> {
    Precision::of_kind(w.f_kind()?, "unitary matrices")?;
    let size = w.size();
    let n = match size.as_slice() {
        [.., a, b] if a == b && *a >= 1 => *a,
        _ => {
            let mut expected = size.clone();
            let len = expected.len();
            if len >= 2 {
                expected[len - 1] = expected[len - 2];
            }
            return Err(Error::ShapeMismatch {
                what: "unitary matrices (.., n, n)",
                expected: format!("{expected:?}"),
                found: format!("{size:?}"),
            });
        }
    };
    let device = w.device();
    let w = w.f_to_kind(Kind::ComplexDouble)?;
    let (theta, _) = w.f_linalg_eigvals()?.f_angle()?.f_sort(-1, false)?;
    let wrapped = theta.f_narrow(-1, 0, 1)? + TAU;
    let next = Tensor::f_cat(&[theta.f_narrow(-1, 1, n - 1)?, wrapped], -1)?;
    let gaps = &next - &theta;
    let k = gaps.f_argmax(-1, true)?;
    let alpha = theta.f_gather(-1, &k, false)? + gaps.f_gather(-1, &k, false)? * 0.5 - PI;
    let rotation = Tensor::f_polar(&alpha.f_ones_like()?, &(-&alpha))?.f_unsqueeze(-1)?;
    let rotated = &w * &rotation;
    let eye = Tensor::f_eye(n, (Kind::ComplexDouble, device))?;
    let x = Tensor::f_linalg_solve(&(&eye + &rotated), &(&eye - &rotated), true)?;
    let i = complex_tensor(&[C64::new(0.0, 1.0)], &[], Precision::Double)?.f_to_device(device)?;
    let h = &x * &i;
    let h = (&h + h.f_adjoint()?) * 0.5;
    let (mu, v) = h.f_linalg_eigh("L")?;
    let phi = mu.f_atan()? * 2.0 + &alpha;
    let phi = &phi - ((&phi - PI) / TAU).f_ceil()? * TAU;
    let scaled = &v * phi.f_unsqueeze(-2)?.f_to_kind(Kind::ComplexDouble)?;
    Ok(scaled.f_matmul(&v.f_adjoint()?)?)
}

/// The second-Chern density of every site of a 4D plaquette field, on the CPU: the formula of
/// [`second_chern_density`] with $F_{\mu\nu}(x) = -i\log W_{\mu\nu}(x)$ from
/// [`lattice_gauge::matrix::log_unitary_into`] (the logarithm `chern` uses for its second Chern
/// number). Sites in row-major order.
///
/// Errors on a field that is not four-dimensional, and when a plaquette has no eigenbasis (not
/// unitary, not finite).
pub fn second_chern_density_of(plaquettes: &PlaquetteField) -> Result<Vec<f64>> {
    let lattice = plaquettes.lattice();
    if lattice.dim() != 4 {
        return Err(Error::InvalidParameter {
            name: "plaquettes",
            value: format!("{}-dimensional", lattice.dim()),
            reason: "the second-Chern density needs a 4D lattice".into(),
        });
    }
    let n = plaquettes.n();
    let mut solver = Eigensolver::new(n);
    let mut f = vec![C64::new(0.0, 0.0); 6 * n * n];
    (0..lattice.volume())
        .map(|s| {
            for (p, fp) in f.chunks_mut(n * n).enumerate() {
                matrix::log_unitary_into(plaquettes.plaquette(p, Site(s)), fp, n, &mut solver)?;
            }
            let trace = |a: usize, b: usize| -> f64 {
                let (fa, fb) = (
                    &f[a * n * n..(a + 1) * n * n],
                    &f[b * n * n..(b + 1) * n * n],
                );
                (0..n)
                    .flat_map(|i| (0..n).map(move |j| (i, j)))
                    .map(|(i, j)| fa[i * n + j] * fb[j * n + i])
                    .sum::<C64>()
                    .re
            };
            // Planes: 0 = (0,1), 1 = (0,2), 2 = (0,3), 3 = (1,2), 4 = (1,3), 5 = (2,3).
            Ok((trace(0, 5) - trace(1, 4) + trace(2, 3)) / (4.0 * PI * PI))
        })
        .collect()
}

/// The second-Chern density of a batch of 4D plaquettes, on tensors.
///
/// With the Hermitian field strength $F_{\mu\nu}(x) = -i \log W_{\mu\nu}(x)$ ([`hermitian_log`],
/// principal branch),
/// $$ q(x) = \frac{1}{4\pi^2}\,\mathrm{Re}\left[\mathrm{Tr}\,F_{01}F_{23} - \mathrm{Tr}\,F_{02}F_{13} + \mathrm{Tr}\,F_{03}F_{12}\right]_x, $$
/// which sums to $C_2 \approx \frac{1}{8\pi^2}\sum_x 2\,[\dots]$. Under a gauge transformation
/// $W_{\mu\nu}(x) \mapsto \Omega(x) W_{\mu\nu}(x) \Omega(x)^\dagger$, so $F_{\mu\nu}(x)$ transforms
/// the same way and $q(x)$ is invariant (unlike the element-wise imaginary part of $\log W$ that
/// the GENet code uses).
///
/// Input: plaquettes of shape
/// $(B, 6, L_1, L_2, L_3, L_4, n, n)$ (planes in `Lattice::planes()` order); returns $q$ of
/// shape $(B, L_1, \dots, L_4)$, `Double`.
///
/// Errors on a non-complex kind or another shape.
pub fn second_chern_density(plaquettes: &Tensor) -> Result<Tensor> {
    let size = plaquettes.size();
    if size.len() != 8 || size[1] != 6 || size[6] != size[7] {
        return Err(Error::ShapeMismatch {
            what: "4D plaquettes (B, 6, L1, L2, L3, L4, n, n)",
            expected: format!("{:?}", vec![-1, 6, -1, -1, -1, -1, -1, -1]),
            found: format!("{:?}", size),
        });
    }
    let f = hermitian_log(plaquettes)?;
    // Planes: 0 = (0,1), 1 = (0,2), 2 = (0,3), 3 = (1,2), 4 = (1,3), 5 = (2,3).
    let trace = |a: i64, b: i64| -> Result<Tensor> {
        let product = f.f_select(1, a)?.f_matmul(&f.f_select(1, b)?)?;
        Ok(product
            .f_diagonal(0, -2, -1)?
            .f_sum_dim_intlist(-1, false, Kind::ComplexDouble)?
            .f_real()?)
    };
    let bracket = trace(0, 5)? - trace(1, 4)? + trace(2, 3)?;
    Ok(bracket / (4.0 * PI * PI))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::TensorField;
    use lattice_gauge::{GaugeTransform, Lattice, LinkField};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn hermitian_log_inverts_the_exponential_on_the_principal_branch() -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1, 2, 3, 5, 8] {
            let mats: Vec<C64> = (0..40)
                .flat_map(|_| matrix::haar_unitary(&mut rng, n))
                .collect();
            let w = complex_tensor(&mats, &[40, n as i64, n as i64], Precision::Double)?;
            let f = hermitian_log(&w)?;
            assert!(
                max_abs(&(&f - f.adjoint())) < 1e-12,
                "n = {n}: not Hermitian"
            );
            let i = complex_tensor(&[C64::new(0.0, 1.0)], &[], Precision::Double)?;
            let back = (&f * &i).linalg_matrix_exp();
            assert!(max_abs(&(&back - &w)) < 1e-10, "n = {n}: exp(iF) != W");
            // Its eigenvalues are the principal eigenphases of W.
            let (ev, _) = f.linalg_eigh("L");
            for b in 0..40 {
                let phases = matrix::eigenphases(&mats[b * n * n..(b + 1) * n * n], n);
                for (a, p) in phases.iter().enumerate() {
                    let e = ev.double_value(&[b as i64, a as i64]);
                    assert!((e - p).abs() < 1e-10, "n = {n}: {e} vs {p}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn hermitian_log_of_degenerate_and_branch_cut_matrices() -> Result<()> {
        // The identity, -1 (eigenphase pi, on the cut), and diag(e^{i 3.1}, e^{-i 3.1}, e^{i 3.1}).
        let one = C64::new(1.0, 0.0);
        let zero = C64::new(0.0, 0.0);
        let e = |t: f64| C64::from_polar(1.0, t);
        let data = [
            [one, zero, zero, zero, one, zero, zero, zero, one],
            [-one, zero, zero, zero, -one, zero, zero, zero, -one],
            [e(3.1), zero, zero, zero, e(-3.1), zero, zero, zero, e(3.1)],
        ];
        let flat: Vec<C64> = data.iter().flatten().copied().collect();
        let f = hermitian_log(&complex_tensor(&flat, &[3, 3, 3], Precision::Double)?)?;
        let expected = [[0.0; 3], [PI; 3], [3.1, -3.1, 3.1]];
        for (b, diag) in expected.iter().enumerate() {
            for (r, d) in diag.iter().enumerate() {
                for c in 0..3 {
                    let want = if r == c { *d } else { 0.0 };
                    let got = f.real().double_value(&[b as i64, r as i64, c as i64]);
                    let im = f.imag().double_value(&[b as i64, r as i64, c as i64]);
                    assert!(
                        (got - want).abs() < 1e-12 && im.abs() < 1e-12,
                        "{b} {r} {c}: {got}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn abelian_density_is_the_wedge_product_of_plaquette_angles() -> Result<()> {
        let lattice = Lattice::new(&[2, 3, 2, 2])?;
        let links = LinkField::haar_random(&lattice, 1, &mut ChaCha8Rng::seed_from_u64(2))?;
        let w = links.plaquettes();
        let q = second_chern_density(&w.to_tensor(Precision::Double)?.unsqueeze(0))?;
        assert_eq!(q.size(), [1, 2, 3, 2, 2]);
        for x in lattice.sites() {
            let f = |p: usize| matrix::principal_arg(w.plaquette(p, x)[0]);
            let want = (f(0) * f(5) - f(1) * f(4) + f(2) * f(3)) / (4.0 * PI * PI);
            let mut index = vec![0i64];
            index.extend(lattice.coords(x).iter().map(|&c| c as i64));
            assert!((q.double_value(&index) - want).abs() < 1e-12);
        }
        Ok(())
    }

    #[test]
    fn density_is_gauge_invariant() -> Result<()> {
        let lattice = Lattice::new(&[3, 3, 3, 3])?;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 3;
        let links = LinkField::haar_random(&lattice, n, &mut rng)?;
        let omega = GaugeTransform::random(&lattice, n, &mut rng)?;
        let moved = omega.apply_links(&links)?;
        let q = second_chern_density(
            &links
                .plaquettes()
                .to_tensor(Precision::Double)?
                .unsqueeze(0),
        )?;
        let q2 = second_chern_density(
            &moved
                .plaquettes()
                .to_tensor(Precision::Double)?
                .unsqueeze(0),
        )?;
        assert!(max_abs(&(&q - &q2)) < 1e-10);
        assert!(max_abs(&q) > 1e-3, "a Haar field has a visible density");
        Ok(())
    }

    #[test]
    fn tensor_density_equals_the_cpu_density() -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (extents, n) in [([2, 3, 2, 2], 1), ([2, 2, 2, 3], 2), ([2, 2, 2, 2], 3)] {
            let lattice = Lattice::new(&extents)?;
            let w = LinkField::haar_random(&lattice, n, &mut rng)?.plaquettes();
            let cpu = second_chern_density_of(&w)?;
            let t = second_chern_density(&w.to_tensor(Precision::Double)?.unsqueeze(0))?;
            let t = Vec::<f64>::try_from(&t.flatten(0, -1))?;
            assert_eq!(cpu.len(), t.len());
            for (a, b) in cpu.iter().zip(&t) {
                assert!((a - b).abs() < 1e-10, "n = {n}: {a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn bad_shapes_are_errors() {
        let t = Tensor::zeros(
            [2, 5, 3, 3, 3, 3, 1, 1],
            (Kind::ComplexDouble, tch::Device::Cpu),
        );
        assert!(matches!(
            second_chern_density(&t),
            Err(Error::ShapeMismatch { .. })
        ));
        let t = Tensor::zeros([4, 2, 3], (Kind::ComplexDouble, tch::Device::Cpu));
        assert!(matches!(
            hermitian_log(&t),
            Err(Error::ShapeMismatch { .. })
        ));
        let t = Tensor::zeros([4, 2, 2], (Kind::Double, tch::Device::Cpu));
        assert!(matches!(hermitian_log(&t), Err(Error::Kind { .. })));
    }
}
