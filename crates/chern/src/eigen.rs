//! Dense Hermitian eigen-solver for one $H(k)$: closed form for $2\times 2$, LAPACK `zheev` with
//! work memory allocated once per thread for larger matrices.
use lax::eigh::{EighWork, EighWorkImpl};
use lax::layout::MatrixLayout;
use num_complex::Complex64 as C64;

/// Reusable solver for $N\times N$ Hermitian matrices. Eigenvalues come out ascending, eigenvector
/// $a$ as row $a$ of the output (`vectors[a * n + i]` is component $i$).
pub(crate) struct Eigensolver {
    n: usize,
    work: Option<EighWork<C64>>,
    buf: Vec<C64>,
}

impl Eigensolver {
    pub(crate) fn new(n: usize) -> Result<Self, String> {
        let work = if n > 2 {
            let layout = MatrixLayout::F {
                col: n as i32,
                lda: n as i32,
            };
            Some(EighWork::<C64>::new(true, layout).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(Self {
            n,
            work,
            buf: vec![C64::new(0.0, 0.0); n * n],
        })
    }

    /// Diagonalises the row-major Hermitian `h` (only its upper triangle is read for $N > 2$).
    pub(crate) fn solve(
        &mut self,
        h: &[C64],
        energies: &mut [f64],
        vectors: &mut [C64],
    ) -> Result<(), String> {
        match self.n {
            1 => {
                energies[0] = h[0].re;
                vectors[0] = C64::new(1.0, 0.0);
                Ok(())
            }
            2 => {
                solve_2x2(h, energies, vectors);
                Ok(())
            }
            _ => {
                // The row-major buffer read column-major by LAPACK is H^T = conj(H): its
                // eigenvectors are the conjugates of ours, stored column by column, which is
                // exactly our row-per-eigenvector layout once conjugated.
                self.buf.copy_from_slice(h);
                let work = self.work.as_mut().expect("work exists for n > 2");
                let eigs = work
                    .calc(lax::UPLO::Lower, &mut self.buf)
                    .map_err(|e| e.to_string())?;
                energies.copy_from_slice(eigs);
                for (v, b) in vectors.iter_mut().zip(&self.buf) {
                    *v = b.conj();
                }
                Ok(())
            }
        }
    }
}

/// Closed-form eigen-decomposition of $H = d_0 + \vec d\cdot\vec\sigma$, with the eigenvector
/// formula chosen by the sign of $d_z$ so that it never divides by a small number.
#[inline]
pub(crate) fn solve_2x2(h: &[C64], energies: &mut [f64], vectors: &mut [C64]) {
    let a = h[0].re;
    let b = h[3].re;
    let c = h[1]; // d_x - i d_y
    let d0 = 0.5 * (a + b);
    let dz = 0.5 * (a - b);
    let r = (dz * dz + c.norm_sqr()).sqrt();
    energies[0] = d0 - r;
    energies[1] = d0 + r;
    if r == 0.0 {
        vectors[0] = C64::new(1.0, 0.0);
        vectors[1] = C64::new(0.0, 0.0);
        vectors[2] = C64::new(0.0, 0.0);
        vectors[3] = C64::new(1.0, 0.0);
        return;
    }
    if dz >= 0.0 {
        // lower (c, -(r + dz)), upper (r + dz, c*)
        let s = r + dz;
        let norm = 1.0 / (s * s + c.norm_sqr()).sqrt();
        vectors[0] = c * norm;
        vectors[1] = C64::new(-s * norm, 0.0);
        vectors[2] = C64::new(s * norm, 0.0);
        vectors[3] = c.conj() * norm;
    } else {
        // lower (r - dz, -c*), upper (c, r - dz)
        let s = r - dz;
        let norm = 1.0 / (s * s + c.norm_sqr()).sqrt();
        vectors[0] = C64::new(s * norm, 0.0);
        vectors[1] = -c.conj() * norm;
        vectors[2] = c * norm;
        vectors[3] = C64::new(s * norm, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_hermitian(rng: &mut impl Rng, n: usize) -> Vec<C64> {
        let mut h = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in i..n {
                let z = C64::new(
                    rng.random_range(-1.0..1.0),
                    if i == j {
                        0.0
                    } else {
                        rng.random_range(-1.0..1.0)
                    },
                );
                h[i * n + j] = z;
                h[j * n + i] = z.conj();
            }
        }
        h
    }

    #[test]
    fn eigenvectors_have_small_residuals_and_are_orthonormal() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 1..=7 {
            let mut solver = Eigensolver::new(n).unwrap();
            for _ in 0..20 {
                let h = random_hermitian(&mut rng, n);
                let mut e = vec![0.0; n];
                let mut v = vec![C64::new(0.0, 0.0); n * n];
                solver.solve(&h, &mut e, &mut v).unwrap();
                for a in 0..n {
                    if a > 0 {
                        assert!(e[a] >= e[a - 1]);
                    }
                    for i in 0..n {
                        let hv: C64 = (0..n).map(|j| h[i * n + j] * v[a * n + j]).sum();
                        assert!(
                            (hv - e[a] * v[a * n + i]).norm() < 1e-12,
                            "residual n={n} band {a}"
                        );
                    }
                    for b in 0..n {
                        let s: C64 = (0..n).map(|i| v[a * n + i].conj() * v[b * n + i]).sum();
                        let target = if a == b { 1.0 } else { 0.0 };
                        assert!((s - target).norm() < 1e-12);
                    }
                }
            }
        }
    }
}
