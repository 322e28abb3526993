//! GEConv, the gauge-equivariant convolution: a linear combination of the input channels at $x$ and of
//! the channels parallel-transported to $x$ from the sites $x\pm k\delta\hat\mu$ along every axis.
//!
//! With the transporter $T_{+\mu}[Y](x)=U_\mu(x)\,Y(x+\hat\mu)\,U_\mu(x)^\dagger$ and
//! $T_{-\mu}[Y](x)=U_\mu(x-\hat\mu)^\dagger\,Y(x-\hat\mu)\,U_\mu(x-\hat\mu)$, a term at offset $k$ is
//! $T_{\pm\mu}^{k}[X_v](x)$, which is $U_{x\to x\pm k\hat\mu}X_v(x\pm k\hat\mu)U_{x\to x\pm k\hat\mu}^\dagger$ with the
//! straight Wilson line between the sites. The layer is
//! $$W'_u(x)=\sum_{v}\Big(\omega_{uv0}X_v(x)+\sum_{\mu,\pm,k=1}^{K}\omega_{uv\mu\pm k}T^{k\delta}_{\pm\mu}[X_v](x)\Big)
//! \;[+\;\omega_{u\mathbb 1}\mathbb 1],$$
//! with $K$ the kernel size and $\delta$ the dilation. Under $U_\mu(x)\to\Omega(x)U_\mu(x)\Omega(x+\hat\mu)^\dagger$
//! and $X(x)\to\Omega(x)X(x)\Omega(x)^\dagger$ every term transforms like $X(x)$.
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::{enlarge, field_dims};

/// Options of [`GeConv`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeConvConfig {
    /// Largest offset $K$ (in units of the dilation) along each axis and direction.
    pub kernel_size: usize,
    /// Step $\delta$ between the sites that are transported.
    pub dilation: usize,
    /// Also transport the adjoints $W^\dagger$.
    pub conjugates: bool,
    /// Add a constant (identity) channel.
    pub identity: bool,
}

impl Default for GeConvConfig {
    fn default() -> Self {
        Self {
            kernel_size: 1,
            dilation: 1,
            conjugates: true,
            identity: true,
        }
    }
}

impl GeConvConfig {
    /// Number of transported copies of each channel on a `dim`-dimensional lattice (centre included).
    pub fn terms(&self, dim: usize) -> i64 {
        (1 + 2 * dim * self.kernel_size) as i64
    }
}

/// The GEConv layer. It needs the links, so it is applied with [`GeConv::forward_links`].
#[derive(Debug)]
pub struct GeConv {
    /// Real view of $\omega$: `(C_out, c_in * terms [+ 1], 2)`.
    omega: Tensor,
    config: GeConvConfig,
    dim: usize,
    in_channels: i64,
}

/// A GEConv layer on a `dim`-dimensional lattice from `in_channels` to `out_channels`.
pub fn ge_conv<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    dim: usize,
    in_channels: i64,
    out_channels: i64,
    config: GeConvConfig,
) -> GeConv {
    let c = in_channels * if config.conjugates { 2 } else { 1 };
    let width = c * config.terms(dim) + i64::from(config.identity);
    let std = (1.0 / (2.0 * width as f64)).sqrt();
    let omega = path.borrow().var(
        "omega",
        &[out_channels, width, 2],
        nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    );
    GeConv {
        omega,
        config,
        dim,
        in_channels,
    }
}

impl GeConv {
    /// The complex weights, shape `(C_out, c_in * terms [+ 1])`.
    pub fn weights(&self) -> Tensor {
        self.omega.view_as_complex()
    }

    /// The real view of $\omega$, `(C_out, c_in * terms [+ 1], 2)` (the variable in the var store).
    pub fn weight_real(&self) -> &Tensor {
        &self.omega
    }

    /// [`GeConv::forward_links`] with a weight per member: `omega` complex `(M, C_out, width)`,
    /// `w` `(M B, C, sites.., n, n)` and `links` `(M B, d, sites.., n, n)` with the members first.
    pub fn forward_links_members(&self, omega: &Tensor, w: &Tensor, links: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_channels, "GEConv input channels");
        let x = enlarge(w, self.config.conjugates, false);
        let mut stack = transported_stack(&x, links, self.config.kernel_size, self.config.dilation);
        if self.config.identity {
            stack = enlarge(&stack, false, true);
        }
        let (mb, c, s, n) = field_dims(&stack);
        let m = omega.size()[0];
        let mut out_size = w.size();
        out_size[1] = omega.size()[1];
        omega
            .unsqueeze(1)
            .matmul(&stack.reshape([m, mb / m, c, s * n * n]))
            .reshape(out_size.as_slice())
    }

    /// Applies the layer to `w` `(B, C, L_1..L_d, n, n)` with links `(B, d, L_1..L_d, n, n)`.
    pub fn forward_links(&self, w: &Tensor, links: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_channels, "GEConv input channels");
        assert_eq!(
            links.size()[1] as usize,
            self.dim,
            "GEConv links must have one direction per axis"
        );
        let x = enlarge(w, self.config.conjugates, false);
        let mut stack = transported_stack(&x, links, self.config.kernel_size, self.config.dilation);
        if self.config.identity {
            stack = enlarge(&stack, false, true);
        }
        let (b, c, s, n) = field_dims(&stack);
        let mut out_size = w.size();
        let omega = self.weights();
        out_size[1] = omega.size()[0];
        omega
            .matmul(&stack.reshape([b, c, s * n * n]))
            .reshape(out_size.as_slice())
    }
}

/// One transport step along axis `mu`: `forward` gives $T_{+\mu}$, otherwise $T_{-\mu}$.
fn transport_step(y: &Tensor, links: &Tensor, mu: usize, forward: bool) -> Tensor {
    let u = links.select(1, mu as i64).unsqueeze(1);
    let axis = 2 + mu as i64;
    if forward {
        u.matmul(&y.roll([-1], [axis]))
            .matmul(&u.conj().transpose(-2, -1))
    } else {
        u.conj()
            .transpose(-2, -1)
            .matmul(y)
            .matmul(&u)
            .roll([1], [axis])
    }
}

/// All transported copies of `x` `(B, C, sites.., n, n)`: the centre, then for each axis $\mu$ the
/// offsets $+\delta,..,+K\delta$ and $-\delta,..,-K\delta$. Shape `(B, C * terms, sites.., n, n)` with
/// channel index `c * terms + t`.
pub fn transported_stack(
    x: &Tensor,
    links: &Tensor,
    kernel_size: usize,
    dilation: usize,
) -> Tensor {
    let dim = links.size()[1] as usize;
    let mut terms = vec![x.shallow_clone()];
    for mu in 0..dim {
        for forward in [true, false] {
            let mut y = x.shallow_clone();
            for step in 1..=kernel_size * dilation {
                y = transport_step(&y, links, mu, forward);
                if step % dilation == 0 {
                    terms.push(y.shallow_clone());
                }
            }
        }
    }
    let stacked = Tensor::stack(&terms, 2); // (B, C, T, sites.., n, n)
    let mut size = x.size();
    size[1] *= terms.len() as i64;
    stacked.reshape(size.as_slice())
}
