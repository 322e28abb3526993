//! Gauge-covariant products of links: plaquettes, Wilson loops, Polyakov loops, and parallel
//! transport of covariant fields.

use ndarray::Array4;

use crate::C64;
use crate::error::{Error, Result};
use crate::lattice::{Dir, Site};
use crate::link_field::LinkField;
use crate::matrix::{self, Scratch};
use crate::matrix_field::MatrixField;
use crate::plaquette_field::PlaquetteField;

impl LinkField {
    /// The plaquette (counter-clockwise in the $(\mu, \nu)$ plane)
    /// $$W_{\mu\nu}(x) = U_\mu(x)\,U_\nu(x+\hat\mu)\,U_\mu(x+\hat\nu)^\dagger\,U_\nu(x)^\dagger.$$
    ///
    /// $W_{\nu\mu}(x) = W_{\mu\nu}(x)^\dagger$, and $W_{\mu\mu}(x) = 1$.
    ///
    /// # Panics
    /// If `mu`, `nu` or `s` is out of range; [`LinkField::try_plaquette`] and
    /// [`LinkField::plaquette_field`] check instead.
    pub fn plaquette(&self, mu: Dir, nu: Dir, s: Site) -> Vec<C64> {
        let n = self.n();
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        let mut t1 = Scratch::new(n);
        let mut t2 = Scratch::new(n);
        self.plaquette_into(mu, nu, s, &mut out, &mut t1, &mut t2);
        out
    }

    /// [`LinkField::plaquette`] with range checks.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SiteOutOfRange`]. ($\mu = \nu$ is allowed and gives 1.)
    pub fn try_plaquette(&self, mu: Dir, nu: Dir, s: Site) -> Result<Vec<C64>> {
        self.lattice().check_dir(mu)?;
        self.lattice().check_dir(nu)?;
        self.lattice().check_site(s)?;
        Ok(self.plaquette(mu, nu, s))
    }

    /// [`LinkField::plaquette`] into `out`, with two scratch buffers of length $n^2$.
    fn plaquette_into(
        &self,
        mu: Dir,
        nu: Dir,
        s: Site,
        out: &mut [C64],
        t1: &mut [C64],
        t2: &mut [C64],
    ) {
        let n = self.n();
        let lat = self.lattice();
        let x_mu = lat.forward(s, mu);
        let x_nu = lat.forward(s, nu);
        // W = [U_mu(x) U_nu(x+mu)] [U_nu(x) U_mu(x+nu)]^dagger.
        matrix::mul(self.link(mu, s), self.link(nu, x_mu), t1, n);
        matrix::mul(self.link(nu, s), self.link(mu, x_nu), t2, n);
        matrix::mul_adj(t1, t2, out, n);
    }

    /// The plaquettes $W_{\mu\nu}(x)$ of one plane at every site.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SameDirection`].
    pub fn plaquette_field(&self, mu: Dir, nu: Dir) -> Result<MatrixField> {
        self.lattice().check_plane(mu, nu)?;
        let n = self.n();
        let mut field = MatrixField::zeros(self.lattice(), n)?;
        let mut t1 = Scratch::new(n);
        let mut t2 = Scratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            self.plaquette_into(mu, nu, Site(s), out, &mut t1, &mut t2);
        }
        Ok(field)
    }

    /// The plaquettes of every plane $(\mu, \nu)$, $\mu < \nu$, in [`crate::Lattice::planes`]
    /// order (one plane in 2D, six in 4D).
    pub fn plaquettes(&self) -> PlaquetteField {
        let lat = self.lattice().clone();
        let n = self.n();
        let planes = lat.planes();
        let mut data = Array4::zeros((planes.len(), lat.volume(), n, n));
        let flat = data
            .as_slice_mut()
            .expect("freshly allocated arrays are in standard layout");
        let mut t1 = Scratch::new(n);
        let mut t2 = Scratch::new(n);
        let volume = lat.volume();
        for (k, out) in flat.chunks_exact_mut(n * n).enumerate() {
            let (mu, nu) = planes[k / volume];
            self.plaquette_into(mu, nu, Site(k % volume), out, &mut t1, &mut t2);
        }
        PlaquetteField::from_parts(lat, n, data)
    }

    /// The ordered product of `len` links along a straight line,
    /// $U_\mu(x)\,U_\mu(x+\hat\mu) \cdots U_\mu(x + (\text{len}-1)\hat\mu)$, into `out`.
    fn line_into(&self, s: Site, mu: Dir, len: usize, out: &mut [C64], tmp: &mut [C64]) {
        let n = self.n();
        let lat = self.lattice();
        out.copy_from_slice(self.link(mu, s));
        let mut y = s;
        for _ in 1..len {
            y = lat.forward(y, mu);
            matrix::mul(out, self.link(mu, y), tmp, n);
            out.copy_from_slice(tmp);
        }
    }

    /// The ordered link product along a straight line of `len` links from `x` in direction `mu`,
    /// $L_\mu^{(\ell)}(x) = \prod_{k=0}^{\ell-1} U_\mu(x + k\hat\mu)$ (the parallel transporter from
    /// $x + \ell\hat\mu$ to $x$).
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SiteOutOfRange`]; a length of 0 gives the identity.
    pub fn line(&self, mu: Dir, s: Site, len: usize) -> Result<Vec<C64>> {
        self.lattice().check_dir(mu)?;
        self.lattice().check_site(s)?;
        let n = self.n();
        if len == 0 {
            return Ok(matrix::identity(n));
        }
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        let mut tmp = Scratch::new(n);
        self.line_into(s, mu, len, &mut out, &mut tmp);
        Ok(out)
    }

    /// The rectangular $R \times T$ Wilson loop in the $(\mu, \nu)$ plane, starting and ending at
    /// $x$: $R$ links along $\hat\mu$, $T$ along $\hat\nu$, then back,
    /// $$W^{R\times T}_{\mu\nu}(x) = L^{(R)}_\mu(x)\, L^{(T)}_\nu(x + R\hat\mu)\,
    ///   \bigl[L^{(T)}_\nu(x)\, L^{(R)}_\mu(x + T\hat\nu)\bigr]^\dagger,$$
    /// with the straight-line products $L$ of [`LinkField::line`]. $1 \times 1$ is the plaquette.
    /// Transforms as $W \mapsto \Omega(x) W \Omega(x)^\dagger$; loops may wrap around the torus.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SameDirection`], [`Error::SiteOutOfRange`],
    /// [`Error::ZeroLoopSize`].
    pub fn wilson_loop(&self, mu: Dir, nu: Dir, r: usize, t: usize, s: Site) -> Result<Vec<C64>> {
        self.check_loop(mu, nu, r, t)?;
        self.lattice().check_site(s)?;
        let n = self.n();
        let mut out = vec![C64::new(0.0, 0.0); n * n];
        let mut scratch = LoopScratch::new(n);
        self.wilson_loop_into(mu, nu, r, t, s, &mut out, &mut scratch);
        Ok(out)
    }

    /// The $R \times T$ Wilson loops $W^{R\times T}_{\mu\nu}(x)$ at every site.
    ///
    /// # Errors
    /// As [`LinkField::wilson_loop`].
    pub fn wilson_loop_field(&self, mu: Dir, nu: Dir, r: usize, t: usize) -> Result<MatrixField> {
        self.check_loop(mu, nu, r, t)?;
        let n = self.n();
        let mut field = MatrixField::zeros(self.lattice(), n)?;
        let mut scratch = LoopScratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            self.wilson_loop_into(mu, nu, r, t, Site(s), out, &mut scratch);
        }
        Ok(field)
    }

    fn check_loop(&self, mu: Dir, nu: Dir, r: usize, t: usize) -> Result<()> {
        self.lattice().check_plane(mu, nu)?;
        if r == 0 || t == 0 {
            return Err(Error::ZeroLoopSize { r, t });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn wilson_loop_into(
        &self,
        mu: Dir,
        nu: Dir,
        r: usize,
        t: usize,
        s: Site,
        out: &mut [C64],
        sc: &mut LoopScratch,
    ) {
        let n = self.n();
        let lat = self.lattice();
        let LoopScratch { a, b, c, tmp } = sc;
        // a b = L_mu(x) L_nu(x + R mu): the path out along mu, then up along nu.
        self.line_into(s, mu, r, a, tmp);
        self.line_into(lat.shift(s, mu, r as isize), nu, t, b, tmp);
        matrix::mul(a, b, c, n);
        // a b = L_nu(x) L_mu(x + T nu): the path up along nu, then along mu.
        self.line_into(s, nu, t, a, tmp);
        self.line_into(lat.shift(s, nu, t as isize), mu, r, b, tmp);
        matrix::mul(a, b, tmp, n);
        matrix::mul_adj(c, tmp, out, n);
    }

    /// The Polyakov loop winding once around the torus along $\hat\mu$, starting at $x$:
    /// $$P_\mu(x) = \prod_{k=0}^{L_\mu - 1} U_\mu(x + k\hat\mu).$$
    /// Transforms as $P \mapsto \Omega(x) P \Omega(x)^\dagger$.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SiteOutOfRange`].
    pub fn polyakov_loop(&self, mu: Dir, s: Site) -> Result<Vec<C64>> {
        self.lattice().check_dir(mu)?;
        let len = self.lattice().extents()[mu.0];
        self.line(mu, s, len)
    }

    /// The Polyakov loops $P_\mu(x)$ at every site.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`].
    pub fn polyakov_loop_field(&self, mu: Dir) -> Result<MatrixField> {
        self.lattice().check_dir(mu)?;
        let len = self.lattice().extents()[mu.0];
        let n = self.n();
        let mut field = MatrixField::zeros(self.lattice(), n)?;
        let mut tmp = Scratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            self.line_into(Site(s), mu, len, out, &mut tmp);
        }
        Ok(field)
    }

    /// Parallel transport of a covariant field $Y$ by one step from $x + \hat\mu$ to $x$:
    /// $$T_\mu\[Y\](x) = U_\mu(x)\,Y(x+\hat\mu)\,U_\mu(x)^\dagger.$$
    /// If $Y(x) \mapsto \Omega(x) Y(x) \Omega(x)^\dagger$, then $T_\mu\[Y\]$ transforms the same way.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::LatticeMismatch`], [`Error::MatrixSizeMismatch`].
    pub fn transport(&self, mu: Dir, y: &MatrixField) -> Result<MatrixField> {
        self.transport_checked(mu, y)?;
        let n = self.n();
        let lat = self.lattice();
        let mut field = MatrixField::zeros(lat, n)?;
        let mut tmp = Scratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            let s = Site(s);
            let u = self.link(mu, s);
            matrix::mul(u, y.matrix(lat.forward(s, mu)), &mut tmp, n);
            matrix::mul_adj(&tmp, u, out, n);
        }
        Ok(field)
    }

    /// Parallel transport by one step from $x - \hat\mu$ to $x$:
    /// $$T_{-\mu}\[Y\](x) = U_\mu(x-\hat\mu)^\dagger\,Y(x-\hat\mu)\,U_\mu(x-\hat\mu),$$
    /// the inverse of [`LinkField::transport`] ($T_{-\mu} T_\mu = 1$).
    ///
    /// # Errors
    /// As [`LinkField::transport`].
    pub fn transport_backward(&self, mu: Dir, y: &MatrixField) -> Result<MatrixField> {
        self.transport_checked(mu, y)?;
        let n = self.n();
        let lat = self.lattice();
        let mut field = MatrixField::zeros(lat, n)?;
        let mut tmp = Scratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            let xm = lat.backward(Site(s), mu);
            let u = self.link(mu, xm);
            matrix::adj_mul(u, y.matrix(xm), &mut tmp, n);
            matrix::mul(&tmp, u, out, n);
        }
        Ok(field)
    }

    /// Transport by `steps` links along $\pm\hat\mu$ (sign of `steps`): $T_\mu^{k}\[Y\]$ brings
    /// $Y(x + k\hat\mu)$ to $x$ along the straight line.
    ///
    /// # Errors
    /// As [`LinkField::transport`].
    pub fn transport_steps(&self, mu: Dir, steps: isize, y: &MatrixField) -> Result<MatrixField> {
        self.transport_checked(mu, y)?;
        let mut field = y.clone();
        for _ in 0..steps.unsigned_abs() {
            field = if steps > 0 {
                self.transport(mu, &field)?
            } else {
                self.transport_backward(mu, &field)?
            };
        }
        Ok(field)
    }

    fn transport_checked(&self, mu: Dir, y: &MatrixField) -> Result<()> {
        self.lattice().check_dir(mu)?;
        self.check_compatible(y.lattice(), y.n())
    }
}

struct LoopScratch {
    a: Scratch,
    b: Scratch,
    c: Scratch,
    tmp: Scratch,
}

impl LoopScratch {
    fn new(n: usize) -> LoopScratch {
        LoopScratch {
            a: Scratch::new(n),
            b: Scratch::new(n),
            c: Scratch::new(n),
            tmp: Scratch::new(n),
        }
    }
}
