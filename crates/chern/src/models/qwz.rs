//! The Qi–Wu–Zhang two-band Chern insulator.
use crate::hamiltonian::{BlochHamiltonian, KPoint};
use num_complex::Complex64 as C64;

/// Qi–Wu–Zhang model
/// $H(k) = \sin k_1\,\sigma_x + \sin k_2\,\sigma_y + (m + \cos k_1 + \cos k_2)\,\sigma_z$.
///
/// Lower band: $C = 0$ for $|m| > 2$, $-1$ for $-2 < m < 0$, $+1$ for $0 < m < 2$; the gap
/// closes at $m = 0, \pm 2$.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Qwz {
    /// The mass $m$.
    pub m: f64,
}

impl Qwz {
    /// The model at mass `m`.
    pub fn new(m: f64) -> Self {
        Self { m }
    }
}

impl BlochHamiltonian for Qwz {
    fn dim(&self) -> usize {
        2
    }
    fn n_bands(&self) -> usize {
        2
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let (s1, c1) = k[0].sin_cos();
        let (s2, c2) = k[1].sin_cos();
        self.write(s1, c1, s2, c2, h);
    }
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        self.write(k.sin[0], k.cos[0], k.sin[1], k.cos[1], h);
    }
}

impl Qwz {
    #[inline]
    fn write(&self, s1: f64, c1: f64, s2: f64, c2: f64, h: &mut [C64]) {
        let dz = self.m + c1 + c2;
        h[0] = C64::new(dz, 0.0);
        h[1] = C64::new(s1, -s2);
        h[2] = C64::new(s1, s2);
        h[3] = C64::new(-dz, 0.0);
    }
}
