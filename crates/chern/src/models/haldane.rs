//! Haldane's honeycomb Chern insulator in reduced coordinates.
use crate::hamiltonian::BlochHamiltonian;
use num_complex::Complex64 as C64;

/// Haldane model in reduced coordinates $k_i = k\cdot a_i$.
///
/// With $f(k) = t_1 (1 + e^{-ik_1} + e^{-ik_2})$ and $\kappa = (k_1, k_2 - k_1, -k_2)$,
/// $$H(k) = \begin{pmatrix} M + 2t_2\sum_j\cos(\kappa_j+\phi) & f \\ f^* & -M + 2t_2\sum_j\cos(\kappa_j-\phi)\end{pmatrix}.$$
/// Lower band: $C = \operatorname{sgn}(\sin\phi)$ if $|M| < 3\sqrt3\,t_2|\sin\phi|$, else $0$.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Haldane {
    /// Nearest-neighbour hopping $t_1$.
    pub t1: f64,
    /// Next-nearest-neighbour hopping $t_2$.
    pub t2: f64,
    /// Sublattice mass $M$.
    pub mass: f64,
    /// Flux phase $\phi$ of the next-nearest-neighbour hopping.
    pub phi: f64,
}

impl Haldane {
    /// The model with hoppings `t1`, `t2`, mass `mass` and phase `phi`.
    pub fn new(t1: f64, t2: f64, mass: f64, phi: f64) -> Self {
        Self { t1, t2, mass, phi }
    }
}

impl BlochHamiltonian for Haldane {
    fn dim(&self) -> usize {
        2
    }
    fn n_bands(&self) -> usize {
        2
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let (k1, k2) = (k[0], k[1]);
        let f =
            self.t1 * (C64::new(1.0, 0.0) + C64::from_polar(1.0, -k1) + C64::from_polar(1.0, -k2));
        let kappa = [k1, k2 - k1, -k2];
        let (mut plus, mut minus) = (0.0, 0.0);
        for kj in kappa {
            plus += (kj + self.phi).cos();
            minus += (kj - self.phi).cos();
        }
        h[0] = C64::new(self.mass + 2.0 * self.t2 * plus, 0.0);
        h[1] = f;
        h[2] = f.conj();
        h[3] = C64::new(-self.mass + 2.0 * self.t2 * minus, 0.0);
    }
}
