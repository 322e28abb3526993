//! The plaquettes of every plane at every site.

use crate::field_checks;
use ndarray::Array4;

use crate::C64;
use crate::error::Result;
use crate::lattice::{Dir, Lattice, Site};
use crate::matrix;
use crate::matrix_field::MatrixField;

/// Plaquettes $W_{\mu\nu}(x)$ of every plane $(\mu, \nu)$, $\mu < \nu$, as an `Array4<C64>` of
/// shape `(planes, volume, n, n)`, planes in [`Lattice::planes`] order. Made by
/// [`crate::LinkField::plaquettes`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlaquetteField {
    lattice: Lattice,
    n: usize,
    data: Array4<C64>,
}

// Serialised as `{ lattice, n, data }`; deserialising checks the shape.
field_checks::field_serde!(PlaquetteField, Array4<C64>, PlaquetteField::new);

impl PlaquetteField {
    /// A plaquette field from data of shape `(planes, volume, n, n)` (unitarity is not required).
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`](crate::Error::ZeroMatrixSize), [`Error::ShapeMismatch`](crate::Error::ShapeMismatch).
    pub fn new(lattice: impl Into<Lattice>, n: usize, data: Array4<C64>) -> Result<PlaquetteField> {
        let lattice = lattice.into();
        let expected = [lattice.planes().len(), lattice.volume(), n, n];
        let data = field_checks::standard_data("PlaquetteField", n, &expected, data)?;
        Ok(PlaquetteField { lattice, n, data })
    }

    pub(crate) fn from_parts(lattice: Lattice, n: usize, data: Array4<C64>) -> PlaquetteField {
        debug_assert_eq!(
            data.shape(),
            [lattice.planes().len(), lattice.volume(), n, n]
        );
        PlaquetteField { lattice, n, data }
    }

    /// The lattice.
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// The matrix size $n$.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The planes, in storage order ([`Lattice::planes`]).
    pub fn planes(&self) -> Vec<(Dir, Dir)> {
        self.lattice.planes()
    }

    /// The data, shape `(planes, volume, n, n)`, standard layout.
    pub fn as_array(&self) -> &Array4<C64> {
        &self.data
    }

    /// The data, consuming the field.
    pub fn into_array(self) -> Array4<C64> {
        self.data
    }

    /// All entries in storage order (plane, site, row, column).
    pub fn as_slice(&self) -> &[C64] {
        self.flat()
    }

    /// The plaquette $W_{\mu\nu}(x)$ of plane number `plane` (in [`Lattice::planes`] order).
    ///
    /// # Panics
    /// If `plane` or `s` is out of range.
    pub fn plaquette(&self, plane: usize, s: Site) -> &[C64] {
        let volume = self.lattice.volume();
        assert!(
            plane < self.data.shape()[0] && s.0 < volume,
            "plaquette (plane {plane}, site {}) out of range",
            s.0
        );
        let nn = self.n * self.n;
        let k = plane * volume + s.0;
        &self.flat()[k * nn..(k + 1) * nn]
    }

    /// The plaquettes of the plane $(\mu, \nu)$ as a field; for $\mu > \nu$ the adjoints
    /// $W_{\nu\mu} = W_{\mu\nu}^\dagger$.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`](crate::Error::DirOutOfRange), [`Error::SameDirection`](crate::Error::SameDirection).
    pub fn plane(&self, mu: Dir, nu: Dir) -> Result<MatrixField> {
        let p = self.lattice.plane_index(mu, nu)?;
        let n = self.n;
        let field = MatrixField::from_fn(&self.lattice, n, |s, out| {
            let w = self.plaquette(p, s);
            if mu < nu {
                out.copy_from_slice(w);
            } else {
                matrix::adjoint(w, out, n);
            }
        })?;
        Ok(field)
    }

    /// $\frac{1}{N_p V} \sum_{\mu<\nu} \sum_x \operatorname{Tr} W_{\mu\nu}(x)$; zero planes (1D)
    /// give NaN.
    pub fn mean_trace(&self) -> C64 {
        let nn = self.n * self.n;
        let count = self.flat().len() / nn;
        let sum: C64 = self
            .flat()
            .chunks_exact(nn)
            .map(|w| matrix::trace(w, self.n))
            .sum();
        sum / count as f64
    }

    /// The largest entry-wise distance between two plaquette fields.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`](crate::Error::LatticeMismatch), [`Error::MatrixSizeMismatch`](crate::Error::MatrixSizeMismatch).
    pub fn max_abs_diff(&self, other: &PlaquetteField) -> Result<f64> {
        self.check_compatible(&other.lattice, other.n)?;
        Ok(field_checks::max_abs_diff(self.flat(), other.flat()))
    }

    pub(crate) fn check_compatible(&self, lattice: &Lattice, n: usize) -> Result<()> {
        field_checks::check_same_shape(&self.lattice, self.n, lattice, n)
    }

    pub(crate) fn flat(&self) -> &[C64] {
        self.data
            .as_slice()
            .expect("PlaquetteField data is in standard layout by construction")
    }

    pub(crate) fn flat_mut(&mut self) -> &mut [C64] {
        self.data
            .as_slice_mut()
            .expect("PlaquetteField data is in standard layout by construction")
    }
}
