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
        let fwd_mu = self.lattice().shift_indices(mu, 1);
        let fwd_nu = self.lattice().shift_indices(nu, 1);
        self.plaquettes_into(mu, nu, &fwd_mu, &fwd_nu, field.flat_mut());
        Ok(field)
    }

    /// The plaquettes of every plane $(\mu, \nu)$, $\mu < \nu$, in [`crate::Lattice::planes`]
    /// order (one plane in 2D, six in 4D).
    pub fn plaquettes(&self) -> PlaquetteField {
        let lat = self.lattice().clone();
        let n = self.n();
        let planes = lat.planes();
        let volume = lat.volume();
        let mut data = Array4::zeros((planes.len(), volume, n, n));
        let flat = data
            .as_slice_mut()
            .expect("freshly allocated arrays are in standard layout");
        let fwd: Vec<Vec<usize>> = lat.dirs().map(|mu| lat.shift_indices(mu, 1)).collect();
        for (out, &(mu, nu)) in flat.chunks_exact_mut(volume * n * n).zip(&planes) {
            self.plaquettes_into(mu, nu, &fwd[mu.0], &fwd[nu.0], out);
        }
        PlaquetteField::from_parts(lat, n, data)
    }

    /// The plaquettes of one plane at every site into `out` (length volume * n^2), with the
    /// forward-neighbour tables of `mu` and `nu`.
    fn plaquettes_into(
        &self,
        mu: Dir,
        nu: Dir,
        fwd_mu: &[usize],
        fwd_nu: &[usize],
        out: &mut [C64],
    ) {
        let n = self.n();
        let nn = n * n;
        let volume = self.lattice().volume();
        let data = self.flat();
        let (u_mu, u_nu) = (
            &data[mu.0 * volume * nn..(mu.0 + 1) * volume * nn],
            &data[nu.0 * volume * nn..(nu.0 + 1) * volume * nn],
        );
        if n == 1 {
            for (s, w) in out.iter_mut().enumerate() {
                let (x_mu, x_nu) = (fwd_mu[s], fwd_nu[s]);
                *w = u_mu[s] * u_nu[x_mu] * (u_nu[s] * u_mu[x_nu]).conj();
            }
            return;
        }
        let mut t1 = Scratch::new(n);
        let mut t2 = Scratch::new(n);
        for (s, w) in out.chunks_exact_mut(nn).enumerate() {
            let (x_mu, x_nu) = (fwd_mu[s], fwd_nu[s]);
            // W = [U_mu(x) U_nu(x+mu)] [U_nu(x) U_mu(x+nu)]^dagger.
            matrix::mul(block(u_mu, s, nn), block(u_nu, x_mu, nn), &mut t1, n);
            matrix::mul(block(u_nu, s, nn), block(u_mu, x_nu, nn), &mut t2, n);
            matrix::mul_adj(&t1, &t2, w, n);
        }
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
        let nn = n * n;
        let lat = self.lattice();
        // Straight-line products shared by all loops: (R - 1) + (T - 1) + 3 products per site.
        let line_mu = self.line_field(mu, r);
        let line_nu = self.line_field(nu, t);
        let (right, up) = (
            lat.shift_indices(mu, r as isize),
            lat.shift_indices(nu, t as isize),
        );
        let mut field = MatrixField::zeros(lat, n)?;
        if n == 1 {
            for (s, w) in field.flat_mut().iter_mut().enumerate() {
                *w = line_mu[s] * line_nu[right[s]] * (line_nu[s] * line_mu[up[s]]).conj();
            }
            return Ok(field);
        }
        let mut a = Scratch::new(n);
        let mut b = Scratch::new(n);
        for (s, out) in field.flat_mut().chunks_exact_mut(nn).enumerate() {
            matrix::mul(
                block(&line_mu, s, nn),
                block(&line_nu, right[s], nn),
                &mut a,
                n,
            );
            matrix::mul(
                block(&line_nu, s, nn),
                block(&line_mu, up[s], nn),
                &mut b,
                n,
            );
            matrix::mul_adj(&a, &b, out, n);
        }
        Ok(field)
    }

    /// The straight-line products $L^{(\ell)}_\mu(x)$ at every site, flat (site, row, column),
    /// by the recursion $L^{(k+1)}_\mu(x) = U_\mu(x)\,L^{(k)}_\mu(x+\hat\mu)$; `len >= 1`.
    fn line_field(&self, mu: Dir, len: usize) -> Vec<C64> {
        let n = self.n();
        let nn = n * n;
        let volume = self.lattice().volume();
        let u_mu = &self.flat()[mu.0 * volume * nn..(mu.0 + 1) * volume * nn];
        let mut line = u_mu.to_vec();
        if len > 1 {
            let fwd = self.lattice().shift_indices(mu, 1);
            let mut next = vec![C64::new(0.0, 0.0); volume * nn];
            for _ in 1..len {
                if n == 1 {
                    for (s, out) in next.iter_mut().enumerate() {
                        *out = u_mu[s] * line[fwd[s]];
                    }
                    std::mem::swap(&mut line, &mut next);
                    continue;
                }
                for (s, out) in next.chunks_exact_mut(nn).enumerate() {
                    let x = fwd[s];
                    matrix::mul(
                        &u_mu[s * nn..(s + 1) * nn],
                        &line[x * nn..(x + 1) * nn],
                        out,
                        n,
                    );
                }
                std::mem::swap(&mut line, &mut next);
            }
        }
        line
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
        let lat = self.lattice();
        let (len, stride, volume) = (lat.extents()[mu.0], lat.stride(mu), lat.volume());
        let n = self.n();
        let nn = n * n;
        let mut field = MatrixField::zeros(lat, n)?;
        let out = field.flat_mut();
        let mut tmp = Scratch::new(n);
        // One full product per line along mu, then P(x + mu) = U_mu(x)^dagger P(x) U_mu(x):
        // about two products per site instead of L_mu - 1.
        for outer in (0..volume).step_by(len * stride) {
            for s0 in outer..outer + stride {
                self.line_into(
                    Site(s0),
                    mu,
                    len,
                    &mut out[s0 * nn..(s0 + 1) * nn],
                    &mut tmp,
                );
                for x in 1..len {
                    let prev = s0 + (x - 1) * stride;
                    let s = prev + stride;
                    let u = self.link(mu, Site(prev));
                    let (head, tail) = out.split_at_mut(s * nn);
                    matrix::adj_mul(u, &head[prev * nn..(prev + 1) * nn], &mut tmp, n);
                    matrix::mul(&tmp, u, &mut tail[..nn], n);
                }
            }
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
        let fwd = lat.shift_indices(mu, 1);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            let u = self.link(mu, Site(s));
            matrix::mul(u, y.matrix(Site(fwd[s])), &mut tmp, n);
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
        let bwd = lat.shift_indices(mu, -1);
        for (s, out) in field.flat_mut().chunks_exact_mut(n * n).enumerate() {
            let xm = Site(bwd[s]);
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

/// Matrix number `s` of a flat array of `nn`-entry matrices.
fn block(data: &[C64], s: usize, nn: usize) -> &[C64] {
    &data[s * nn..(s + 1) * nn]
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
