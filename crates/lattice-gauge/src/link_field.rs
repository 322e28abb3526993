//! Link fields $U_\mu(x) \in U(n)$.

use crate::field_checks;
use ndarray::Array4;
use rand::Rng;

use crate::C64;
use crate::error::{Error, Result};
use crate::lattice::{Dir, Lattice, Site};
use crate::matrix::{self, Scratch, UNITARITY_TOLERANCE};

/// A $U(n)$ link field: one unitary matrix $U_\mu(x)$ on every link from $x$ to $x + \hat\mu$,
/// stored as an `Array4<C64>` of shape `(dim, volume, n, n)` in standard layout.
///
/// Every constructor guarantees unitarity within a tolerance (default
/// [`UNITARITY_TOLERANCE`]); the link from $x + \hat\mu$ back to $x$ is $U_\mu(x)^\dagger$.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkField {
    lattice: Lattice,
    n: usize,
    data: Array4<C64>,
}

impl LinkField {
    /// The trivial field $U_\mu(x) = 1$.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn identity(lattice: impl Into<Lattice>, n: usize) -> Result<LinkField> {
        let lattice = lattice.into();
        let mut field = Self::zeros_unchecked(lattice, n)?;
        let (nn, n) = (n * n, field.n);
        for chunk in field.flat_mut().chunks_exact_mut(nn) {
            matrix::identity_into(chunk, n);
        }
        Ok(field)
    }

    /// Every link an independent Haar-random $U(n)$ matrix ([`matrix::haar_unitary`]), drawn
    /// in storage order (direction, site).
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn haar_random<R: Rng + ?Sized>(
        lattice: impl Into<Lattice>,
        n: usize,
        rng: &mut R,
    ) -> Result<LinkField> {
        let mut field = Self::zeros_unchecked(lattice.into(), n)?;
        for chunk in field.flat_mut().chunks_exact_mut(n * n) {
            matrix::haar_unitary_into(rng, chunk, n);
        }
        Ok(field)
    }

    /// Every link an independent random $U(n)$ matrix near the identity
    /// ([`matrix::unitary_near_identity`]: Haar-random eigenvectors, eigenphases $\sigma g$ with
    /// $g$ standard normal), drawn in storage order. A weak, disordered field: its plaquettes have
    /// eigenphases of order $2\sigma$, the regime of smooth Bloch bundles on fine grids, which
    /// Haar-random links (whose plaquettes are Haar-random too) almost never visit.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`]; [`Error::InvalidSpread`] for a negative or non-finite `spread`.
    pub fn random_near_identity<R: Rng + ?Sized>(
        lattice: impl Into<Lattice>,
        n: usize,
        spread: f64,
        rng: &mut R,
    ) -> Result<LinkField> {
        let mut field = Self::zeros_unchecked(lattice.into(), n)?;
        for chunk in field.flat_mut().chunks_exact_mut(n * n) {
            matrix::unitary_near_identity_into(rng, chunk, n, spread)?;
        }
        Ok(field)
    }

    /// A field from data of shape `(dim, volume, n, n)`, checked to be unitary within
    /// [`UNITARITY_TOLERANCE`].
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`], [`Error::ShapeMismatch`], [`Error::NonFinite`],
    /// [`Error::NotUnitary`] with the first offending link and its deviation.
    pub fn from_array(
        lattice: impl Into<Lattice>,
        n: usize,
        data: Array4<C64>,
    ) -> Result<LinkField> {
        Self::from_array_with_tolerance(lattice, n, data, UNITARITY_TOLERANCE)
    }

    /// [`LinkField::from_array`] with a chosen unitarity tolerance.
    ///
    /// # Errors
    /// As [`LinkField::from_array`].
    pub fn from_array_with_tolerance(
        lattice: impl Into<Lattice>,
        n: usize,
        data: Array4<C64>,
        tolerance: f64,
    ) -> Result<LinkField> {
        let lattice = lattice.into();
        let expected = [lattice.dim(), lattice.volume(), n, n];
        let data = field_checks::standard_data("LinkField", n, &expected, data)?;
        let field = LinkField { lattice, n, data };
        field.check_unitary(tolerance)?;
        Ok(field)
    }

    /// A field whose link $U_\mu(x)$ is the unitary polar factor of `f(mu, x, out)`'s output
    /// ([`matrix::polar_unitary`]): the way to build links from overlap matrices
    /// $M_\mu(x) = V(x)^\dagger V(x + \hat\mu)$ gauge covariantly.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`]; [`Error::Singular`] and the other errors of
    /// [`matrix::polar_unitary`] for the first link where projection fails.
    pub fn from_fn_projected(
        lattice: impl Into<Lattice>,
        n: usize,
        mut f: impl FnMut(Dir, Site, &mut [C64]),
    ) -> Result<LinkField> {
        let mut field = Self::zeros_unchecked(lattice.into(), n)?;
        let volume = field.lattice.volume();
        let mut m = Scratch::new(n);
        for (k, chunk) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            m.fill(C64::new(0.0, 0.0));
            f(Dir(k / volume), Site(k % volume), &mut m);
            matrix::polar_unitary_into(&m, chunk, n, matrix::SINGULAR_RTOL)?;
        }
        Ok(field)
    }

    /// The lattice.
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// The matrix size $n$ of the gauge group $U(n)$.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The data, shape `(dim, volume, n, n)`, standard layout.
    pub fn as_array(&self) -> &Array4<C64> {
        &self.data
    }

    /// The data, consuming the field.
    pub fn into_array(self) -> Array4<C64> {
        self.data
    }

    /// All entries in storage order (direction, site, row, column).
    pub fn as_slice(&self) -> &[C64] {
        self.flat()
    }

    /// The link $U_\mu(x)$, row-major.
    ///
    /// # Panics
    /// If `mu` or `s` is out of range; see [`LinkField::get`].
    pub fn link(&self, mu: Dir, s: Site) -> &[C64] {
        assert!(
            mu.0 < self.lattice.dim() && s.0 < self.lattice.volume(),
            "link ({}, {}) out of range for a lattice of dimension {} and volume {}",
            mu.0,
            s.0,
            self.lattice.dim(),
            self.lattice.volume()
        );
        let nn = self.n * self.n;
        let k = mu.0 * self.lattice.volume() + s.0;
        &self.flat()[k * nn..(k + 1) * nn]
    }

    /// The link $U_\mu(x)$, or `None` if `mu` or `s` is out of range.
    pub fn get(&self, mu: Dir, s: Site) -> Option<&[C64]> {
        (mu.0 < self.lattice.dim() && s.0 < self.lattice.volume()).then(|| self.link(mu, s))
    }

    /// Replaces $U_\mu(x)$ by `u`, which must be unitary within [`UNITARITY_TOLERANCE`].
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SiteOutOfRange`], [`Error::MatrixLength`],
    /// [`Error::NonFinite`], [`Error::NotUnitary`].
    pub fn set_link(&mut self, mu: Dir, s: Site, u: &[C64]) -> Result<()> {
        self.lattice.check_dir(mu)?;
        self.lattice.check_site(s)?;
        matrix::check_unitary(u, self.n, UNITARITY_TOLERANCE).map_err(|e| match e {
            Error::NotUnitary {
                deviation,
                tolerance,
                ..
            } => Error::NotUnitary {
                dir: Some(mu.0),
                site: s.0,
                deviation,
                tolerance,
            },
            e => e,
        })?;
        let nn = self.n * self.n;
        let k = mu.0 * self.lattice.volume() + s.0;
        self.flat_mut()[k * nn..(k + 1) * nn].copy_from_slice(u);
        Ok(())
    }

    /// The largest $\max_{ij} |(U^\dagger U - 1)_{ij}|$ over all links, with its direction and site.
    pub fn max_unitarity_deviation(&self) -> (f64, Dir, Site) {
        let volume = self.lattice.volume();
        let mut worst = (0.0, Dir(0), Site(0));
        for (k, u) in self.flat().chunks_exact(self.n * self.n).enumerate() {
            let d = matrix::unitarity_deviation(u, self.n);
            if d.is_nan() || d > worst.0 {
                worst = (d, Dir(k / volume), Site(k % volume));
                if d.is_nan() {
                    break;
                }
            }
        }
        worst
    }

    /// Checks every link for finite entries and unitarity within `tolerance`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (flat index into the data), [`Error::NotUnitary`] with the first
    /// offending link.
    pub fn check_unitary(&self, tolerance: f64) -> Result<()> {
        if let Some(index) = self
            .flat()
            .iter()
            .position(|z| !(z.re.is_finite() && z.im.is_finite()))
        {
            return Err(Error::NonFinite { index });
        }
        let volume = self.lattice.volume();
        for (k, u) in self.flat().chunks_exact(self.n * self.n).enumerate() {
            let deviation = matrix::unitarity_deviation(u, self.n);
            if deviation > tolerance {
                return Err(Error::NotUnitary {
                    dir: Some(k / volume),
                    site: k % volume,
                    deviation,
                    tolerance,
                });
            }
        }
        Ok(())
    }

    /// The largest entry-wise distance between two link fields.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn max_abs_diff(&self, other: &LinkField) -> Result<f64> {
        self.check_compatible(&other.lattice, other.n)?;
        Ok(field_checks::max_abs_diff(self.flat(), other.flat()))
    }

    pub(crate) fn check_compatible(&self, lattice: &Lattice, n: usize) -> Result<()> {
        field_checks::check_same_shape(&self.lattice, self.n, lattice, n)
    }

    pub(crate) fn zeros_unchecked(lattice: Lattice, n: usize) -> Result<LinkField> {
        if n == 0 {
            return Err(Error::ZeroMatrixSize);
        }
        let data = Array4::zeros((lattice.dim(), lattice.volume(), n, n));
        Ok(LinkField { lattice, n, data })
    }

    pub(crate) fn flat(&self) -> &[C64] {
        self.data
            .as_slice()
            .expect("LinkField data is in standard layout by construction")
    }

    pub(crate) fn flat_mut(&mut self) -> &mut [C64] {
        self.data
            .as_slice_mut()
            .expect("LinkField data is in standard layout by construction")
    }
}

// Serialised as `{ lattice, n, data }`; deserialising checks shape and unitarity.
field_checks::field_serde!(LinkField, Array4<C64>, LinkField::from_array);
