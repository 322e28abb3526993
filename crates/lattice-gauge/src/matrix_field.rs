//! Fields of one $n \times n$ complex matrix per site.

use crate::field_checks;
use ndarray::{Array1, Array3};

use crate::C64;
use crate::error::{Error, Result};
use crate::lattice::{Lattice, Site};
use crate::matrix;

/// One $n \times n$ complex matrix $Y(x)$ per site $x$: an `Array3<C64>` of shape
/// `(volume, n, n)` in standard (row-major) layout.
///
/// Covariant fields such as plaquettes transform as $Y(x) \mapsto \Omega(x)\,Y(x)\,\Omega(x)^\dagger$
/// (see [`crate::GaugeTransform::apply_covariant`]); nothing here requires unitarity.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixField {
    lattice: Lattice,
    n: usize,
    data: Array3<C64>,
}

impl MatrixField {
    /// A field from its data, shape `(volume, n, n)`; any memory layout is accepted.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`], [`Error::ShapeMismatch`].
    pub fn new(lattice: impl Into<Lattice>, n: usize, data: Array3<C64>) -> Result<MatrixField> {
        let lattice = lattice.into();
        let data = field_checks::standard_data("MatrixField", n, &[lattice.volume(), n, n], data)?;
        Ok(MatrixField { lattice, n, data })
    }

    /// The field $Y(x) = 1$.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn identity(lattice: impl Into<Lattice>, n: usize) -> Result<MatrixField> {
        Self::from_fn(lattice, n, |_, y| matrix::identity_into(y, n))
    }

    /// The field $Y(x) = 0$.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn zeros(lattice: impl Into<Lattice>, n: usize) -> Result<MatrixField> {
        let lattice = lattice.into();
        if n == 0 {
            return Err(Error::ZeroMatrixSize);
        }
        let data = Array3::zeros((lattice.volume(), n, n));
        Ok(MatrixField { lattice, n, data })
    }

    /// A field whose matrix at each site is written by `f(site, out)` (`out` is zeroed,
    /// row-major, length $n^2$).
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn from_fn(
        lattice: impl Into<Lattice>,
        n: usize,
        mut f: impl FnMut(Site, &mut [C64]),
    ) -> Result<MatrixField> {
        let mut field = Self::zeros(lattice, n)?;
        let nn = n * n;
        for (s, chunk) in field.flat_mut().chunks_exact_mut(nn).enumerate() {
            f(Site(s), chunk);
        }
        Ok(field)
    }

    /// The lattice.
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// The matrix size $n$.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The data, shape `(volume, n, n)`, standard layout.
    pub fn as_array(&self) -> &Array3<C64> {
        &self.data
    }

    /// The data, consuming the field.
    pub fn into_array(self) -> Array3<C64> {
        self.data
    }

    /// All entries, site-major, then row-major.
    pub fn as_slice(&self) -> &[C64] {
        self.flat()
    }

    /// The matrix $Y(x)$, row-major.
    ///
    /// # Panics
    /// If `s` is not a site of the lattice; see [`MatrixField::get`].
    pub fn matrix(&self, s: Site) -> &[C64] {
        let nn = self.n * self.n;
        &self.flat()[s.0 * nn..(s.0 + 1) * nn]
    }

    /// The matrix $Y(x)$, or `None` if `s` is not a site of the lattice.
    pub fn get(&self, s: Site) -> Option<&[C64]> {
        (s.0 < self.lattice.volume()).then(|| self.matrix(s))
    }

    /// The matrix $Y(x)$ for writing.
    ///
    /// # Panics
    /// If `s` is not a site of the lattice.
    pub fn matrix_mut(&mut self, s: Site) -> &mut [C64] {
        let nn = self.n * self.n;
        &mut self.flat_mut()[s.0 * nn..(s.0 + 1) * nn]
    }

    /// The traces $\operatorname{Tr} Y(x)$ for every site.
    pub fn traces(&self) -> Array1<C64> {
        self.flat()
            .chunks_exact(self.n * self.n)
            .map(|y| matrix::trace(y, self.n))
            .collect()
    }

    /// $\frac{1}{V}\sum_x \operatorname{Tr} Y(x)$.
    pub fn mean_trace(&self) -> C64 {
        self.traces().sum() / self.lattice.volume() as f64
    }

    /// The largest $\max_{ij} |(Y^\dagger Y - 1)_{ij}|$ over sites, and the site where it occurs.
    pub fn max_unitarity_deviation(&self) -> (f64, Site) {
        let mut worst = (0.0, Site(0));
        for (s, y) in self.flat().chunks_exact(self.n * self.n).enumerate() {
            let d = matrix::unitarity_deviation(y, self.n);
            if d.is_nan() || d > worst.0 {
                worst = (d, Site(s));
                if d.is_nan() {
                    break;
                }
            }
        }
        worst
    }

    /// The largest entry-wise distance $\max_{x,i,j} |Y(x)_{ij} - Z(x)_{ij}|$.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn max_abs_diff(&self, other: &MatrixField) -> Result<f64> {
        self.check_compatible(other)?;
        Ok(field_checks::max_abs_diff(self.flat(), other.flat()))
    }

    pub(crate) fn check_compatible(&self, other: &MatrixField) -> Result<()> {
        field_checks::check_same_shape(&self.lattice, self.n, &other.lattice, other.n)
    }

    pub(crate) fn flat(&self) -> &[C64] {
        self.data
            .as_slice()
            .expect("MatrixField data is in standard layout by construction")
    }

    pub(crate) fn flat_mut(&mut self) -> &mut [C64] {
        self.data
            .as_slice_mut()
            .expect("MatrixField data is in standard layout by construction")
    }
}

// Serialised as `{ lattice, n, data }`; deserialising checks the shape.
field_checks::field_serde!(MatrixField, Array3<C64>, MatrixField::new);
