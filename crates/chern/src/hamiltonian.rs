//! The Bloch-Hamiltonian trait that every model implements, and closures as models.
use num_complex::Complex64 as C64;

/// A Bloch Hamiltonian $H(k)$: a Hermitian $N\times N$ matrix on the Brillouin torus
/// $k \in [0, 2\pi)^d$, periodic in every component of $k$.
///
/// Implement it to plug your own model into the band-structure solver and the Chern-number
/// routines. `k` holds $d$ components in radians (reduced coordinates: $k_j = k\cdot a_j$).
pub trait BlochHamiltonian {
    /// Dimension $d$ of k-space.
    fn dim(&self) -> usize;
    /// Number of bands $N$ (the size of $H(k)$).
    fn n_bands(&self) -> usize;
    /// Writes $H(k)$ into `h` (row-major, length $N^2$). Every entry must be written.
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]);

    /// Writes $H(k)$ given $k$ with $\sin k_j$ and $\cos k_j$ already computed (the solvers
    /// tabulate them once per grid axis). Override it in models built from $\sin k_j$, $\cos k_j$ to
    /// skip the trigonometry; the default ignores the tables.
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        self.write_hamiltonian(k.k, h)
    }

    /// The fewest k-points along each axis on which this model's invariants are resolved, where
    /// the model knows it (`None`, the default, where it does not). A grid coarser than the
    /// scale on which the bands repeat aliases them and can give a wrong integer with small
    /// plaquette fluxes, which no check on the fluxes catches:
    /// [`Hofstadter`](crate::Hofstadter) at flux $p/q$ repeats its bands $q$ times across $k_2$
    /// (its magnetic cell) and needs $q$ points there. Invariants refuse coarser grids
    /// ([`Error::GridTooCoarse`](crate::Error::GridTooCoarse)).
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        None
    }

    /// $H(k)$ as a fresh row-major vector (convenience; the solvers use the buffer form).
    fn hamiltonian(&self, k: &[f64]) -> Vec<C64> {
        let n = self.n_bands();
        let mut h = vec![C64::new(0.0, 0.0); n * n];
        self.write_hamiltonian(k, &mut h);
        h
    }
}

/// A momentum with its sines and cosines, $k_j$, $\sin k_j$, $\cos k_j$ per axis.
#[derive(Clone, Copy, Debug)]
pub struct KPoint<'a> {
    /// $k_j$ (radians).
    pub k: &'a [f64],
    /// $\sin k_j$.
    pub sin: &'a [f64],
    /// $\cos k_j$.
    pub cos: &'a [f64],
}

impl<T: BlochHamiltonian + ?Sized> BlochHamiltonian for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        (**self).min_resolving_extents()
    }
    fn n_bands(&self) -> usize {
        (**self).n_bands()
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        (**self).write_hamiltonian(k, h)
    }
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        (**self).write_hamiltonian_at(k, h)
    }
}

impl<T: BlochHamiltonian + ?Sized> BlochHamiltonian for Box<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        (**self).min_resolving_extents()
    }
    fn n_bands(&self) -> usize {
        (**self).n_bands()
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        (**self).write_hamiltonian(k, h)
    }
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        (**self).write_hamiltonian_at(k, h)
    }
}

/// A boxed model that can be shared across threads, for heterogeneous collections.
pub type DynHamiltonian = Box<dyn BlochHamiltonian + Send + Sync>;

/// A closure `|k, h| ...` as a Bloch Hamiltonian.
///
/// ```
/// use chern::{BlochHamiltonian, FnHamiltonian, C64};
/// // A flat band: H(k) = diag(-1, 1).
/// let h = FnHamiltonian::new(2, 2, |_k: &[f64], h: &mut [C64]| {
///     h.fill(C64::new(0.0, 0.0));
///     h[0] = C64::new(-1.0, 0.0);
///     h[3] = C64::new(1.0, 0.0);
/// });
/// assert_eq!(h.hamiltonian(&[0.0, 0.0])[3], C64::new(1.0, 0.0));
/// ```
#[derive(Clone)]
pub struct FnHamiltonian<F> {
    dim: usize,
    n_bands: usize,
    f: F,
}

impl<F: Fn(&[f64], &mut [C64])> FnHamiltonian<F> {
    /// Wraps `f`, which writes the row-major `n_bands` x `n_bands` matrix $H(k)$ for a
    /// `dim`-component `k`.
    pub fn new(dim: usize, n_bands: usize, f: F) -> Self {
        Self { dim, n_bands, f }
    }
}

impl<F: Fn(&[f64], &mut [C64])> BlochHamiltonian for FnHamiltonian<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn n_bands(&self) -> usize {
        self.n_bands
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        (self.f)(k, h)
    }
}

impl<F> std::fmt::Debug for FnHamiltonian<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnHamiltonian")
            .field("dim", &self.dim)
            .field("n_bands", &self.n_bands)
            .finish_non_exhaustive()
    }
}
