//! The Fu–Kane–Mele model on the diamond lattice: strong and weak 3D topological insulators.
use crate::hamiltonian::BlochHamiltonian;
use crate::inversion::Inversion;
use crate::time_reversal::{SpinOrdering, TimeReversal};
use num_complex::Complex64 as C64;

/// Fu, Kane and Mele, Phys. Rev. Lett. 98, 106803 (2007), in the Bloch form of Fu and Kane,
/// Phys. Rev. B 76, 045302 (2007): with reduced momenta $x_j = k\cdot a_j$ along the FCC
/// primitive vectors,
/// $$H(k) = \sum_{a=1}^5 d_a(k)\,\Gamma_a,\quad \Gamma_{1,2} = \sigma_{x,y}\otimes\mathbb 1,\quad
/// \Gamma_{3,4,5} = \sigma_z\otimes s_{x,y,z},$$
/// $d_1 = t + \delta t + t\sum_j\cos x_j$, $d_2 = t\sum_j \sin x_j$,
/// $d_3 = \lambda_{SO}[\sin x_2 - \sin x_3 - \sin(x_2 - x_1) + \sin(x_3 - x_1)]$,
/// $d_4 = \lambda_{SO}[\sin x_3 - \sin x_1 - \sin(x_3 - x_2) + \sin(x_1 - x_2)]$,
/// $d_5 = \lambda_{SO}[\sin x_1 - \sin x_2 - \sin(x_1 - x_3) + \sin(x_2 - x_3)]$,
/// basis $(A\!\uparrow, A\!\downarrow, B\!\uparrow, B\!\downarrow)$. $\delta t$ changes the
/// nearest-neighbour bond inside the unit cell (the $(111)$ bond).
///
/// At $\delta t = 0$ the bands touch at the three $X$ points; $\delta t \ne 0$ opens the gap. The
/// parities at the eight TRIMs are $-\operatorname{sgn} d_1(\Gamma_i)$, which gives the strong
/// phase $(\nu_0;\nu_1\nu_2\nu_3) = (1;111)$ for $0 < \delta t < 2t$ and the weak phase
/// $(0;111)$ for $-2t < \delta t < 0$. Time reversal is $\mathbb 1\otimes i s_y$, inversion
/// $P = \sigma_x\otimes\mathbb 1$ (about the centre of the $(111)$ bond).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FuKaneMele {
    /// Nearest-neighbour hopping $t$.
    pub t: f64,
    /// Spin–orbit coupling $\lambda_{SO}$ of the next-nearest neighbours.
    pub lambda_so: f64,
    /// Change $\delta t$ of the $(111)$ bond.
    pub dt: f64,
}

impl FuKaneMele {
    /// The model with hopping `t`, spin–orbit coupling `lambda_so` and bond change `dt`.
    pub fn new(t: f64, lambda_so: f64, dt: f64) -> Self {
        Self { t, lambda_so, dt }
    }

    /// Time reversal $U_T = \mathbb 1_{A,B}\otimes i s_y$.
    pub fn time_reversal(&self) -> TimeReversal {
        TimeReversal::spin_half(2, SpinOrdering::Interleaved)
    }

    /// Inversion $P = \sigma_x\otimes\mathbb 1_s$.
    pub fn inversion(&self) -> Inversion {
        let one = C64::new(1.0, 0.0);
        let mut p = vec![C64::new(0.0, 0.0); 16];
        for s in 0..2 {
            p[s * 4 + (2 + s)] = one;
            p[(2 + s) * 4 + s] = one;
        }
        Inversion::trusted(p, 4)
    }
}

impl BlochHamiltonian for FuKaneMele {
    fn dim(&self) -> usize {
        3
    }
    fn n_bands(&self) -> usize {
        4
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let (x1, x2, x3) = (k[0], k[1], k[2]);
        let (t, l) = (self.t, self.lambda_so);
        let d1 = t + self.dt + t * (x1.cos() + x2.cos() + x3.cos());
        let d2 = t * (x1.sin() + x2.sin() + x3.sin());
        let d3 = l * (x2.sin() - x3.sin() - (x2 - x1).sin() + (x3 - x1).sin());
        let d4 = l * (x3.sin() - x1.sin() - (x3 - x2).sin() + (x1 - x2).sin());
        let d5 = l * (x1.sin() - x2.sin() - (x1 - x3).sin() + (x2 - x3).sin());
        h.fill(C64::new(0.0, 0.0));
        // A block: d3 s_x + d4 s_y + d5 s_z; B block: its negative.
        let block = [
            C64::new(d5, 0.0),
            C64::new(d3, -d4),
            C64::new(d3, d4),
            C64::new(-d5, 0.0),
        ];
        for i in 0..2 {
            for j in 0..2 {
                h[i * 4 + j] = block[i * 2 + j];
                h[(2 + i) * 4 + 2 + j] = -block[i * 2 + j];
            }
        }
        // (d1 - i d2) on the A-B block, times the spin identity.
        let ab = C64::new(d1, -d2);
        for s in 0..2 {
            h[s * 4 + 2 + s] = ab;
            h[(2 + s) * 4 + s] = ab.conj();
        }
    }
}
