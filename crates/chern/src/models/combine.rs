//! New models from old: direct sums, fixed unitary rotations, and 2D planes of 3D models.
use crate::error::{Error, Result};
use crate::hamiltonian::{BlochHamiltonian, DynHamiltonian};
use num_complex::Complex64 as C64;

/// Direct sum $H(k) = H_1(k) \oplus H_2(k) \oplus \cdots$ (block diagonal), bands of the parts
/// interleaved by energy once diagonalised.
pub struct DirectSum {
    parts: Vec<DynHamiltonian>,
    dim: usize,
    n_bands: usize,
}

impl DirectSum {
    /// The direct sum of `parts`; errors if there are none or their k-space dimensions differ.
    pub fn new(parts: Vec<DynHamiltonian>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::EmptyInput {
                what: "parts of a direct sum".into(),
            });
        };
        let dim = first.dim();
        if let Some(p) = parts.iter().find(|p| p.dim() != dim) {
            return Err(Error::invalid(
                "dim",
                p.dim(),
                "all parts of a direct sum must have the same k-space dimension",
            ));
        }
        let n_bands = parts.iter().map(|p| p.n_bands()).sum();
        Ok(Self {
            parts,
            dim,
            n_bands,
        })
    }
}

impl std::fmt::Debug for DirectSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectSum")
            .field("parts", &self.parts.len())
            .field("n_bands", &self.n_bands)
            .finish()
    }
}

impl BlochHamiltonian for DirectSum {
    fn dim(&self) -> usize {
        self.dim
    }
    /// The largest need of any part, axis by axis.
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        self.parts
            .iter()
            .filter_map(|p| p.min_resolving_extents())
            .reduce(|a, b| a.iter().zip(&b).map(|(x, y)| *x.max(y)).collect())
    }
    fn n_bands(&self) -> usize {
        self.n_bands
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let n = self.n_bands;
        h.fill(C64::new(0.0, 0.0));
        let mut offset = 0;
        let mut block = Vec::new();
        for p in &self.parts {
            let m = p.n_bands();
            block.resize(m * m, C64::new(0.0, 0.0));
            p.write_hamiltonian(k, &mut block);
            for i in 0..m {
                h[(offset + i) * n + offset..(offset + i) * n + offset + m]
                    .copy_from_slice(&block[i * m..(i + 1) * m]);
            }
            offset += m;
        }
    }
}

/// A model conjugated by a fixed unitary: $H'(k) = Q\,H(k)\,Q^\dagger$. Chern numbers are unchanged.
#[derive(Clone, Debug)]
pub struct Rotated<H> {
    inner: H,
    q: Vec<C64>,
}

impl<H: BlochHamiltonian> Rotated<H> {
    /// Conjugates `inner` by the row-major unitary `q`; errors if `q` has the wrong size or is not
    /// unitary to $10^{-10}$.
    pub fn new(inner: H, q: Vec<C64>) -> Result<Self> {
        let n = inner.n_bands();
        if q.len() != n * n {
            return Err(Error::ShapeMismatch {
                what: "basis change Q".into(),
                expected: format!("{} entries (n_bands x n_bands)", n * n),
                found: q.len().to_string(),
            });
        }
        let mut dev = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let s: C64 = (0..n).map(|l| q[l * n + i].conj() * q[l * n + j]).sum();
                let target = if i == j { 1.0 } else { 0.0 };
                dev = dev.max((s - target).norm());
            }
        }
        if dev.is_nan() || dev > 1e-10 {
            return Err(Error::invalid(
                "unitarity deviation of Q",
                dev,
                "Q must be unitary",
            ));
        }
        Ok(Self { inner, q })
    }
    /// Conjugates `inner` by a Haar-random unitary drawn from `rng` (seed it for reproducible data).
    pub fn haar<R: rand::Rng + ?Sized>(inner: H, rng: &mut R) -> Self {
        let q = lattice_gauge::matrix::haar_unitary(rng, inner.n_bands());
        Self { inner, q }
    }

    /// The rotation $Q$ (row-major).
    pub fn rotation(&self) -> &[C64] {
        &self.q
    }
}

impl<H: BlochHamiltonian> BlochHamiltonian for Rotated<H> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        self.inner.min_resolving_extents()
    }
    fn n_bands(&self) -> usize {
        self.inner.n_bands()
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let n = self.inner.n_bands();
        let mut a = vec![C64::new(0.0, 0.0); n * n];
        self.inner.write_hamiltonian(k, &mut a);
        // tmp = A Q^†, then h = Q tmp.
        let mut tmp = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                tmp[i * n + j] = (0..n)
                    .map(|l| a[i * n + l] * self.q[j * n + l].conj())
                    .sum();
            }
        }
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] = (0..n).map(|l| self.q[i * n + l] * tmp[l * n + j]).sum();
            }
        }
    }
}

/// A 2D plane of a 3D model: $k$-axes `axes.0` and `axes.1` vary, the third is held at `fixed`
/// (radians). Used for Wannier90 models, where DFT users fix $k_3$.
#[derive(Clone, Debug)]
pub struct Plane<H> {
    inner: H,
    axes: (usize, usize),
    fixed: f64,
}

impl<H: BlochHamiltonian> Plane<H> {
    /// The plane of `inner` (which must be 3D) spanned by `axes`, the remaining axis at `fixed`.
    pub fn new(inner: H, axes: (usize, usize), fixed: f64) -> Result<Self> {
        if inner.dim() != 3 {
            return Err(Error::invalid(
                "dim",
                inner.dim(),
                "a plane is cut from a 3D model",
            ));
        }
        if axes.0 > 2 || axes.1 > 2 || axes.0 == axes.1 {
            return Err(Error::invalid(
                "axes",
                format!("{axes:?}"),
                "plane axes must be two different axes among 0, 1, 2",
            ));
        }
        if !fixed.is_finite() {
            return Err(Error::invalid(
                "fixed",
                fixed,
                "the fixed momentum must be finite",
            ));
        }
        Ok(Self { inner, axes, fixed })
    }
    /// The model the plane is cut from.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

impl<H: BlochHamiltonian> BlochHamiltonian for Plane<H> {
    fn dim(&self) -> usize {
        2
    }
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        let needed = self.inner.min_resolving_extents()?;
        Some(vec![*needed.get(self.axes.0)?, *needed.get(self.axes.1)?])
    }
    fn n_bands(&self) -> usize {
        self.inner.n_bands()
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let mut k3 = [self.fixed; 3];
        k3[self.axes.0] = k[0];
        k3[self.axes.1] = k[1];
        self.inner.write_hamiltonian(&k3, h)
    }
}
