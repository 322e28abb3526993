//! The four-dimensional lattice Dirac model, whose two lower bands carry a second Chern number.
use crate::hamiltonian::{BlochHamiltonian, KPoint};
use num_complex::Complex64 as C64;

/// 4D lattice Dirac model
/// $H(k) = \sum_{\mu=1}^{4} \sin k_\mu\,\Gamma_\mu + \bigl(m + \sum_\mu \cos k_\mu\bigr)\Gamma_5$
/// with $\Gamma_{1,2,3} = \sigma_x\otimes\sigma_{x,y,z}$, $\Gamma_4 = \sigma_y\otimes 1$,
/// $\Gamma_5 = \sigma_z\otimes 1$ (so $\Gamma_1\Gamma_2\Gamma_3\Gamma_4\Gamma_5 = -1$).
///
/// The two lower bands have second Chern number (formula of [`second_chern_number`](crate::second_chern_number))
/// $C_2 = 0$ for $|m| > 4$, $-1$ for $-4 < m < -2$, $+3$ for $-2 < m < 0$, $-3$ for $0 < m < 2$,
/// $+1$ for $2 < m < 4$; the gap closes at $m \in \{0, \pm 2, \pm 4\}$ (verified numerically: the
/// raw sum is $-0.88, 2.65, -2.65, 0.88$ at $L = 12$ and converges slowly to these integers).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dirac4d {
    /// The mass $m$.
    pub m: f64,
}

impl Dirac4d {
    /// The model at mass `m`.
    pub fn new(m: f64) -> Self {
        Self { m }
    }
}

impl BlochHamiltonian for Dirac4d {
    fn dim(&self) -> usize {
        4
    }
    fn n_bands(&self) -> usize {
        4
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let sc: [(f64, f64); 4] = std::array::from_fn(|j| k[j].sin_cos());
        self.write(sc.map(|x| x.0), sc.map(|x| x.1), h);
    }
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        self.write(
            [k.sin[0], k.sin[1], k.sin[2], k.sin[3]],
            [k.cos[0], k.cos[1], k.cos[2], k.cos[3]],
            h,
        );
    }
}

impl Dirac4d {
    fn write(&self, s: [f64; 4], c: [f64; 4], h: &mut [C64]) {
        let [s1, s2, s3, s4] = s;
        let [c1, c2, c3, c4] = c;
        let mass = self.m + c1 + c2 + c3 + c4;
        let z = C64::new(0.0, 0.0);
        h.fill(z);
        // Blocks: H = [[mass, D - i s4], [D + i s4, -mass]] with D = s1 σx + s2 σy + s3 σz.
        let d = [
            [C64::new(s3, 0.0), C64::new(s1, -s2)],
            [C64::new(s1, s2), C64::new(-s3, 0.0)],
        ];
        for i in 0..2 {
            h[i * 4 + i] = C64::new(mass, 0.0);
            h[(i + 2) * 4 + i + 2] = C64::new(-mass, 0.0);
            for j in 0..2 {
                let diag = if i == j { 1.0 } else { 0.0 };
                h[i * 4 + j + 2] = d[i][j] - C64::new(0.0, s4 * diag);
                h[(i + 2) * 4 + j] = d[i][j] + C64::new(0.0, s4 * diag);
            }
        }
    }
}
