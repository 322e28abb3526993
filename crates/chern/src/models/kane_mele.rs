//! The Kane–Mele model of graphene with spin–orbit coupling: the first quantum spin Hall insulator.
use crate::hamiltonian::BlochHamiltonian;
use crate::inversion::Inversion;
use crate::time_reversal::{SpinOrdering, TimeReversal};
use num_complex::Complex64 as C64;

/// Kane and Mele, Phys. Rev. Lett. 95, 146802 (2005), eq. (1), on the honeycomb lattice:
/// $$H = t\sum_{\langle ij\rangle} c_i^\dagger c_j + i\lambda_{SO}\sum_{\langle\langle ij\rangle\rangle}\nu_{ij}\,c_i^\dagger s_z c_j
/// + i\lambda_R\sum_{\langle ij\rangle} c_i^\dagger(\mathbf s\times\hat{\mathbf d}_{ij})_z c_j
/// + \lambda_v\sum_i \xi_i c_i^\dagger c_i .$$
///
/// Bloch form in reduced coordinates $k_i = k\cdot a_i$ ($a_1 = (1, 0)$, $a_2 = (\tfrac12,
/// \tfrac{\sqrt3}2)$, $B$ at $(a_1 + a_2)/3$, so the three $B$ neighbours of $A$ sit in cells
/// $0$, $-a_1$, $-a_2$ along $\hat d_n$), basis $(A\!\uparrow, A\!\downarrow, B\!\uparrow,
/// B\!\downarrow)$ ([`SpinOrdering::Interleaved`]). With $f = t(1 + e^{-ik_1} + e^{-ik_2})$,
/// $\kappa = (k_1, k_2 - k_1, -k_2)$ and $g = \sum_j \sin\kappa_j$:
/// $$H_{A s, A s} = \lambda_v - 2\lambda_{SO}\, s\, g,\quad H_{B s, B s} = -\lambda_v + 2\lambda_{SO}\, s\, g,\quad
/// H_{A, B} = f\,\mathbb 1 + i\lambda_R\sum_n e^{-ik\cdot R_n}(\mathbf s\times\hat d_n)_z .$$
/// Without Rashba coupling the spin-up block is [`crate::Haldane`] at $t_1 = t$, $t_2 =
/// \lambda_{SO}$, $M = \lambda_v$, $\phi = \pi/2$ (Chern number $+1$ in our convention for
/// $|\lambda_v| < 3\sqrt3\lambda_{SO}$) and the spin-down block its time-reversed partner.
///
/// Phases ($t = 1$): at $\lambda_R = 0$ the gap at $K$ is $2|3\sqrt3\lambda_{SO} - |\lambda_v||$
/// and the quantum spin Hall phase ($\mathbb Z_2 = 1$) is $|\lambda_v| < 3\sqrt3\lambda_{SO}$;
/// Kane and Mele's points $\lambda_{SO} = 0.06$, $\lambda_R = 0.05$: $\lambda_v = 0.1$ is
/// $\mathbb Z_2 = 1$, $\lambda_v = 0.4$ is trivial. Time reversal is $\mathbb 1\otimes i s_y$;
/// $\lambda_v$ breaks inversion $P = \sigma_x\otimes\mathbb 1$ (exchange of the sublattices).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KaneMele {
    /// Nearest-neighbour hopping $t$.
    pub t: f64,
    /// Intrinsic spin–orbit coupling $\lambda_{SO}$.
    pub lambda_so: f64,
    /// Rashba coupling $\lambda_R$.
    pub lambda_r: f64,
    /// Staggered sublattice potential $\lambda_v$.
    pub lambda_v: f64,
}

impl Default for KaneMele {
    /// Kane and Mele's quantum spin Hall point: $t = 1$, $\lambda_{SO} = 0.06$, $\lambda_R =
    /// 0.05$, $\lambda_v = 0.1$.
    fn default() -> Self {
        Self::new(1.0, 0.06, 0.05, 0.1)
    }
}

impl KaneMele {
    /// The model with hopping `t` and couplings $\lambda_{SO}$, $\lambda_R$, $\lambda_v$.
    pub fn new(t: f64, lambda_so: f64, lambda_r: f64, lambda_v: f64) -> Self {
        Self {
            t,
            lambda_so,
            lambda_r,
            lambda_v,
        }
    }

    /// Time reversal $U_T = \mathbb 1_{A,B}\otimes i s_y$.
    pub fn time_reversal(&self) -> TimeReversal {
        TimeReversal::spin_half(2, SpinOrdering::Interleaved)
    }

    /// Inversion $P = \sigma_x\otimes\mathbb 1_s$ (a symmetry only at $\lambda_v = 0$).
    pub fn inversion(&self) -> Inversion {
        let one = C64::new(1.0, 0.0);
        let mut p = vec![C64::new(0.0, 0.0); 16];
        for s in 0..2 {
            p[s * 4 + (2 + s)] = one;
            p[(2 + s) * 4 + s] = one;
        }
        Inversion::trusted(p, 4)
    }

    /// $S_z$ eigenvalue of each basis state (conserved at $\lambda_R = 0$).
    pub fn spin_z(&self) -> [f64; 4] {
        [1.0, -1.0, 1.0, -1.0]
    }
}

impl BlochHamiltonian for KaneMele {
    fn dim(&self) -> usize {
        2
    }
    fn n_bands(&self) -> usize {
        4
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let (k1, k2) = (k[0], k[1]);
        let phases = [
            C64::new(1.0, 0.0),
            C64::from_polar(1.0, -k1),
            C64::from_polar(1.0, -k2),
        ];
        let f = self.t * (phases[0] + phases[1] + phases[2]);
        let g = k1.sin() + (k2 - k1).sin() + (-k2).sin();
        // Unit vectors from A to its three B neighbours.
        let s3 = 3f64.sqrt() / 2.0;
        let d = [(s3, 0.5), (-s3, 0.5), (0.0, -1.0)];
        // i lambda_R sum_n phase_n (s x d_n)_z, (s x d)_z = [[0, d_y + i d_x], [d_y - i d_x, 0]].
        let (mut up_down, mut down_up) = (C64::new(0.0, 0.0), C64::new(0.0, 0.0));
        for (p, (dx, dy)) in phases.iter().zip(d) {
            up_down += p * C64::new(dy, dx);
            down_up += p * C64::new(dy, -dx);
        }
        let i_lr = C64::new(0.0, self.lambda_r);
        let (up_down, down_up) = (i_lr * up_down, i_lr * down_up);
        h.fill(C64::new(0.0, 0.0));
        let so = 2.0 * self.lambda_so * g;
        for s in 0..2 {
            let sign = if s == 0 { 1.0 } else { -1.0 };
            h[s * 4 + s] = C64::new(self.lambda_v - so * sign, 0.0);
            h[(2 + s) * 4 + 2 + s] = C64::new(-self.lambda_v + so * sign, 0.0);
            h[s * 4 + 2 + s] = f;
        }
        h[3] = up_down; // (A up, B down)
        h[4 + 2] = down_up; // (A down, B up)
        // The lower-left block is the adjoint of the upper-right one.
        for i in 0..2 {
            for j in 0..2 {
                h[(2 + j) * 4 + i] = h[i * 4 + 2 + j].conj();
            }
        }
    }
}
