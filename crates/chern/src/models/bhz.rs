//! The Bernevig–Hughes–Zhang model of HgTe quantum wells on the square lattice.
use crate::hamiltonian::{BlochHamiltonian, KPoint};
use crate::inversion::Inversion;
use crate::time_reversal::{SpinOrdering, TimeReversal};
use num_complex::Complex64 as C64;

/// Bernevig, Hughes and Zhang, Science 314, 1757 (2006), regularised on the square lattice:
/// $$H(k) = \begin{pmatrix} h(k) & 0\\ 0 & \overline{h(-k)}\end{pmatrix},\qquad
/// h(k) = A\sin k_1\,\sigma_x + A\sin k_2\,\sigma_y + \bigl(M - 2B(2 - \cos k_1 - \cos k_2)\bigr)\sigma_z,$$
/// basis $(E1\!\uparrow, H1\!\uparrow, E1\!\downarrow, H1\!\downarrow)$ (spin blocks,
/// [`SpinOrdering::Blocks`]); time reversal $U_T = i s_y\otimes\mathbb 1$, inversion
/// $P = \mathbb 1\otimes\sigma_z$ ($E1$ even, $H1$ odd).
///
/// Phases (for $B > 0$): $\mathbb Z_2 = 1$ for $0 < M/B < 4$ and $4 < M/B < 8$, trivial for
/// $M/B < 0$ or $M/B > 8$; the gap closes at $\Gamma$ ($M = 0$), at $X$, $Y$ ($M = 4B$) and at
/// $(\pi, \pi)$ ($M = 8B$). $S_z$ is conserved; with $A = 1$, $B = \tfrac12$ the spin-up block
/// is [`crate::Qwz`] at $m = M - 2$, so the spin Chern number is $-1$ for $0 < M < 2$ and $+1$
/// for $2 < M < 4$.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bhz {
    /// Spin–orbit velocity $A$.
    pub a: f64,
    /// Band curvature $B$.
    pub b: f64,
    /// Mass $M$ (band inversion for $M/B > 0$).
    pub m: f64,
}

impl Bhz {
    /// The model with parameters `a`, `b`, `m`.
    pub fn new(a: f64, b: f64, m: f64) -> Self {
        Self { a, b, m }
    }

    /// Time reversal $U_T = i s_y\otimes\mathbb 1_{E1,H1}$.
    pub fn time_reversal(&self) -> TimeReversal {
        TimeReversal::spin_half(2, SpinOrdering::Blocks)
    }

    /// Inversion $P = \mathrm{diag}(1, -1, 1, -1)$.
    pub fn inversion(&self) -> Inversion {
        let mut p = vec![C64::new(0.0, 0.0); 16];
        for (i, x) in [1.0, -1.0, 1.0, -1.0].into_iter().enumerate() {
            p[i * 4 + i] = C64::new(x, 0.0);
        }
        Inversion::trusted(p, 4)
    }

    /// $S_z$ eigenvalue of each basis state.
    pub fn spin_z(&self) -> [f64; 4] {
        [1.0, 1.0, -1.0, -1.0]
    }

    #[inline]
    fn write(&self, s1: f64, c1: f64, s2: f64, c2: f64, h: &mut [C64]) {
        let (dx, dy) = (self.a * s1, self.a * s2);
        let dz = self.m - 2.0 * self.b * (2.0 - c1 - c2);
        h.fill(C64::new(0.0, 0.0));
        // h(k) = [[dz, dx - i dy], [dx + i dy, -dz]]; conj(h(-k)) = [[dz, -dx - i dy], [-dx + i dy, -dz]].
        h[0] = C64::new(dz, 0.0);
        h[1] = C64::new(dx, -dy);
        h[4] = C64::new(dx, dy);
        h[5] = C64::new(-dz, 0.0);
        h[10] = C64::new(dz, 0.0);
        h[11] = C64::new(-dx, -dy);
        h[14] = C64::new(-dx, dy);
        h[15] = C64::new(-dz, 0.0);
    }
}

impl BlochHamiltonian for Bhz {
    fn dim(&self) -> usize {
        2
    }
    fn n_bands(&self) -> usize {
        4
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
