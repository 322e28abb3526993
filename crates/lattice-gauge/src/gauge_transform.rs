//! Gauge transformations $\Omega(x) \in U(n)$.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::C64;
use crate::error::{Error, Result};
use crate::lattice::{Lattice, Site};
use crate::link_field::LinkField;
use crate::matrix::{self, Scratch, UNITARITY_TOLERANCE};
use crate::matrix_field::MatrixField;
use crate::plaquette_field::PlaquetteField;

/// A gauge transformation: one unitary $\Omega(x)$ per site. It acts on links and on covariant
/// fields as
/// $$U_\mu(x) \mapsto \Omega(x)\,U_\mu(x)\,\Omega(x+\hat\mu)^\dagger, \qquad
///   Y(x) \mapsto \Omega(x)\,Y(x)\,\Omega(x)^\dagger.$$
/// (For links built from Bloch eigenvectors, $V(k) \mapsto V(k)\,g(k)$ is $\Omega = g^\dagger$.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MatrixField", into = "MatrixField")]
pub struct GaugeTransform {
    omega: MatrixField,
}

impl TryFrom<MatrixField> for GaugeTransform {
    type Error = Error;
    fn try_from(field: MatrixField) -> Result<Self> {
        GaugeTransform::from_field(field)
    }
}

impl From<GaugeTransform> for MatrixField {
    fn from(g: GaugeTransform) -> Self {
        g.omega
    }
}

impl GaugeTransform {
    /// $\Omega(x) = 1$.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn identity(lattice: impl Into<Lattice>, n: usize) -> Result<GaugeTransform> {
        Ok(GaugeTransform {
            omega: MatrixField::identity(lattice, n)?,
        })
    }

    /// Independent Haar-random $\Omega(x)$ at every site, drawn in site order.
    ///
    /// # Errors
    /// [`Error::ZeroMatrixSize`].
    pub fn random<R: Rng + ?Sized>(
        lattice: impl Into<Lattice>,
        n: usize,
        rng: &mut R,
    ) -> Result<GaugeTransform> {
        let omega =
            MatrixField::from_fn(lattice, n, |_, out| matrix::haar_unitary_into(rng, out, n))?;
        Ok(GaugeTransform { omega })
    }

    /// A gauge transformation from a field of matrices, checked to be unitary within
    /// [`UNITARITY_TOLERANCE`].
    ///
    /// # Errors
    /// [`Error::NonFinite`], [`Error::NotUnitary`] with the first offending site.
    pub fn from_field(omega: MatrixField) -> Result<GaugeTransform> {
        let n = omega.n();
        for (s, m) in omega.flat().chunks_exact(n * n).enumerate() {
            matrix::check_unitary(m, n, UNITARITY_TOLERANCE).map_err(|e| match e {
                Error::NotUnitary {
                    deviation,
                    tolerance,
                    ..
                } => Error::NotUnitary {
                    dir: None,
                    site: s,
                    deviation,
                    tolerance,
                },
                Error::NonFinite { index } => Error::NonFinite {
                    index: s * n * n + index,
                },
                e => e,
            })?;
        }
        Ok(GaugeTransform { omega })
    }

    /// The lattice.
    pub fn lattice(&self) -> &Lattice {
        self.omega.lattice()
    }

    /// The matrix size $n$.
    pub fn n(&self) -> usize {
        self.omega.n()
    }

    /// The field $\Omega(x)$.
    pub fn as_field(&self) -> &MatrixField {
        &self.omega
    }

    /// $\Omega(x)$, row-major.
    ///
    /// # Panics
    /// If `s` is not a site of the lattice.
    pub fn omega(&self, s: Site) -> &[C64] {
        self.omega.matrix(s)
    }

    /// The inverse transformation $\Omega(x)^\dagger$.
    pub fn inverse(&self) -> GaugeTransform {
        let n = self.n();
        let mut omega = self.omega.clone();
        for (out, m) in omega
            .flat_mut()
            .chunks_exact_mut(n * n)
            .zip(self.omega.flat().chunks_exact(n * n))
        {
            matrix::adjoint(m, out, n);
        }
        GaugeTransform { omega }
    }

    /// The composition "first `self`, then `then`": $\Omega'(x)\,\Omega(x)$.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn then(&self, then: &GaugeTransform) -> Result<GaugeTransform> {
        self.omega.check_compatible(&then.omega)?;
        let n = self.n();
        let mut omega = self.omega.clone();
        for ((out, a), b) in omega
            .flat_mut()
            .chunks_exact_mut(n * n)
            .zip(then.omega.flat().chunks_exact(n * n))
            .zip(self.omega.flat().chunks_exact(n * n))
        {
            matrix::mul(a, b, out, n);
        }
        Ok(GaugeTransform { omega })
    }

    /// The transformed links $\Omega(x)\,U_\mu(x)\,\Omega(x+\hat\mu)^\dagger$.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn apply_links(&self, links: &LinkField) -> Result<LinkField> {
        links.check_compatible(self.lattice(), self.n())?;
        let n = self.n();
        let lat = self.lattice();
        let volume = lat.volume();
        let mut out = links.clone();
        let mut tmp = Scratch::new(n);
        for (mu, out_mu) in lat
            .dirs()
            .zip(out.flat_mut().chunks_exact_mut(volume * n * n))
        {
            let fwd = lat.shift_indices(mu, 1);
            for (s, u) in out_mu.chunks_exact_mut(n * n).enumerate() {
                matrix::mul(self.omega(Site(s)), links.link(mu, Site(s)), &mut tmp, n);
                matrix::mul_adj(&tmp, self.omega(Site(fwd[s])), u, n);
            }
        }
        Ok(out)
    }

    /// The transformed covariant field $\Omega(x)\,Y(x)\,\Omega(x)^\dagger$.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn apply_covariant(&self, y: &MatrixField) -> Result<MatrixField> {
        self.omega.check_compatible(y)?;
        let n = self.n();
        let mut out = y.clone();
        let mut tmp = Scratch::new(n);
        for ((w, m), o) in out
            .flat_mut()
            .chunks_exact_mut(n * n)
            .zip(y.flat().chunks_exact(n * n))
            .zip(self.omega.flat().chunks_exact(n * n))
        {
            matrix::mul(o, m, &mut tmp, n);
            matrix::mul_adj(&tmp, o, w, n);
        }
        Ok(out)
    }

    /// The transformed plaquettes $\Omega(x)\,W_{\mu\nu}(x)\,\Omega(x)^\dagger$ of every plane.
    ///
    /// # Errors
    /// [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn apply_plaquettes(&self, w: &PlaquetteField) -> Result<PlaquetteField> {
        w.check_compatible(self.lattice(), self.n())?;
        let n = self.n();
        let volume = self.lattice().volume();
        let mut out = w.clone();
        let mut tmp = Scratch::new(n);
        for (k, (o, m)) in out
            .flat_mut()
            .chunks_exact_mut(n * n)
            .zip(w.flat().chunks_exact(n * n))
            .enumerate()
        {
            let omega = self.omega(Site(k % volume));
            matrix::mul(omega, m, &mut tmp, n);
            matrix::mul_adj(&tmp, omega, o, n);
        }
        Ok(out)
    }
}
