//! GEBL, the gauge-equivariant bilinear layer.
//!
//! $$W'_u(x)=\sum_{v,w}\alpha_{uvw}\,X_v(x)\,Z_w(x),$$
//! where $X$ and $Z$ are the input channels enlarged by their adjoints and the identity,
//! $X=[W_1,\dots,W_C,W_1^\dagger,\dots,W_C^\dagger,\mathbb 1]$ ($c_\mathrm{in}=2C+1$). Each term is a product
//! of covariant matrices at the same site, so $W'$ is covariant. With the identity channel the layer
//! contains the linear terms $\alpha_{uv\mathbb 1}X_v$ and a constant.
//!
//! The weights are contracted with the right factor first, $Y_{uv}=\sum_w\alpha_{uvw}Z_w$, and the
//! result is multiplied from the left by $X_v$ in one batched matrix product with the contraction over
//! $(v,\text{matrix index})$: nothing of size $c_\mathrm{in}^2$ per site is ever formed.
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::field_dims;

/// Options of [`GeBilinear`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeBilinearConfig {
    /// Enlarge the input by the adjoints $W^\dagger$.
    pub conjugates: bool,
    /// Enlarge the input by the identity matrix (gives linear terms and a constant).
    pub identity: bool,
    /// Standard deviation of the real and imaginary parts of $\alpha$ at initialisation;
    /// `None` means the paper's $1/(2c_\mathrm{in})$ (variance $1/(4c_\mathrm{in}^2)$).
    pub init_std: Option<f64>,
}

impl Default for GeBilinearConfig {
    fn default() -> Self {
        Self {
            conjugates: true,
            identity: true,
            init_std: None,
        }
    }
}

impl GeBilinearConfig {
    /// Number of enlarged channels for `c` input channels.
    pub fn enlarged(&self, c: i64) -> i64 {
        c * if self.conjugates { 2 } else { 1 } + i64::from(self.identity)
    }
}

/// The GEBL layer; a single-input layer multiplies the input with itself, a two-input layer
/// ([`ge_bilinear2`]) multiplies two different covariant fields (used to merge branches).
#[derive(Debug)]
pub struct GeBilinear {
    /// Real view of $\alpha$: `(C_out, c_left, c_right, 2)`.
    alpha: Tensor,
    config: GeBilinearConfig,
    in_left: i64,
    in_right: i64,
    out: i64,
}

/// A GEBL layer from `in_channels` to `out_channels` with weights under `path`.
pub fn ge_bilinear<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    in_channels: i64,
    out_channels: i64,
    config: GeBilinearConfig,
) -> GeBilinear {
    ge_bilinear2(path, in_channels, in_channels, out_channels, config)
}

/// A two-input GEBL layer $W'_u=\sum\alpha_{uvw}X_v Z_w$ with $X$ from `in_left` and $Z$ from `in_right`
/// channels (both enlarged as set in `config`).
pub fn ge_bilinear2<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    in_left: i64,
    in_right: i64,
    out_channels: i64,
    config: GeBilinearConfig,
) -> GeBilinear {
    let path = path.borrow();
    let cl = config.enlarged(in_left);
    let cr = config.enlarged(in_right);
    let std = config.init_std.unwrap_or(1.0 / (2.0 * cl.max(cr) as f64));
    let alpha = path.var(
        "alpha",
        &[out_channels, cl, cr, 2],
        nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    );
    GeBilinear {
        alpha,
        config,
        in_left,
        in_right,
        out: out_channels,
    }
}

impl GeBilinear {
    /// The complex weights $\alpha_{uvw}$, shape `(C_out, c_left, c_right)`.
    pub fn weights(&self) -> Tensor {
        self.alpha.view_as_complex()
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> i64 {
        self.out
    }

    /// The real view of $\alpha$, `(C_out, c_left, c_right, 2)` (the variable in the var store).
    pub fn weight_real(&self) -> &Tensor {
        &self.alpha
    }

    /// The single-input forward pass with a weight per member: `alpha` complex
    /// `(M, C_out, c_left, c_right)`, `w` `(M B, C, sites.., n, n)` with the members first.
    pub fn forward_members(&self, alpha: &Tensor, w: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_left, "GEBL input channels");
        let x = enlarge(w, self.config.conjugates, self.config.identity);
        bilinear_contract_members(alpha, &x, &x)
    }

    /// [`GeBilinear::forward_pair`] with a weight per member (as [`GeBilinear::forward_members`]).
    pub fn forward_pair_members(&self, alpha: &Tensor, left: &Tensor, right: &Tensor) -> Tensor {
        assert_eq!(left.size()[1], self.in_left, "GEBL left input channels");
        assert_eq!(right.size()[1], self.in_right, "GEBL right input channels");
        let x = enlarge(left, self.config.conjugates, self.config.identity);
        let z = enlarge(right, self.config.conjugates, self.config.identity);
        bilinear_contract_members(alpha, &x, &z)
    }

    /// Two-input forward pass: `left` has `in_left` channels, `right` `in_right`, same other dims.
    pub fn forward_pair(&self, left: &Tensor, right: &Tensor) -> Tensor {
        assert_eq!(left.size()[1], self.in_left, "GEBL left input channels");
        assert_eq!(right.size()[1], self.in_right, "GEBL right input channels");
        let x = enlarge(left, self.config.conjugates, self.config.identity);
        let z = enlarge(right, self.config.conjugates, self.config.identity);
        bilinear_contract(&self.weights(), &x, &z)
    }
}

impl nn::Module for GeBilinear {
    fn forward(&self, w: &Tensor) -> Tensor {
        assert_eq!(w.size()[1], self.in_left, "GEBL input channels");
        let x = enlarge(w, self.config.conjugates, self.config.identity);
        bilinear_contract(&self.weights(), &x, &x)
    }
}

/// $[W_1..W_C, W_1^\dagger..W_C^\dagger, \mathbb 1]$ along the channel axis (parts as selected).
pub fn enlarge(w: &Tensor, conjugates: bool, identity: bool) -> Tensor {
    let mut parts = vec![w.shallow_clone()];
    if conjugates {
        parts.push(w.conj().transpose(-2, -1));
    }
    if identity {
        let mut size = w.size();
        size[1] = 1;
        let n = size[size.len() - 1];
        parts.push(Tensor::eye(n, (w.kind(), w.device())).expand(&size, false));
    }
    if parts.len() == 1 {
        w.shallow_clone()
    } else {
        Tensor::cat(&parts, 1)
    }
}

/// $W'_u=\sum_{v,w}\alpha_{uvw}X_vZ_w$ for already enlarged fields `x` `(B, c_l, sites.., n, n)` and
/// `z` `(B, c_r, sites.., n, n)` and complex `alpha` `(C_out, c_l, c_r)`.
///
/// Cost: one GEMM of $(B S n^2)\times c_r \times (c_l C_\mathrm{out})$ and one batched GEMM with
/// contraction length $n c_l$; the largest intermediate has $B S n^2 c_l C_\mathrm{out}$ entries.
pub fn bilinear_contract(alpha: &Tensor, x: &Tensor, z: &Tensor) -> Tensor {
    let (b, cl, s, n) = field_dims(x);
    let (_, cr, _, _) = field_dims(z);
    let cout = alpha.size()[0];
    let mut out_size = x.size();
    out_size[1] = cout;
    let x = x.reshape([b, cl, s, n, n]);
    let z = z.reshape([b, cr, s, n, n]);
    // Z^T per site, channel last: zt[(b,s,j,k), w] = Z_w[k,j].
    let zt = z.permute([0, 2, 4, 3, 1]).reshape([b * s * n * n, cr]);
    // at[w, (v,u)] = alpha[u,v,w].
    let at = alpha.permute([2, 1, 0]).reshape([cr, cl * cout]);
    // y[(b,s,j), (k,v), u] = sum_w alpha[u,v,w] Z_w[k,j].
    let y = zt.matmul(&at).reshape([b * s * n, n * cl, cout]);
    left_multiply(&x, &y, (b, cl, s, n, cout), &out_size)
}

/// [`bilinear_contract`] with a weight per member: `alpha` `(M, C_out, c_l, c_r)` and fields whose
/// batch axis holds the members first, `(M B, c, sites.., n, n)` (member $m$'s samples at
/// $mB..(m+1)B$); member $m$'s weights act on member $m$'s samples, all in one batched product.
pub fn bilinear_contract_members(alpha: &Tensor, x: &Tensor, z: &Tensor) -> Tensor {
    let (mb, cl, s, n) = field_dims(x);
    let (_, cr, _, _) = field_dims(z);
    let asize = alpha.size();
    let (m, cout) = (asize[0], asize[1]);
    let b = mb / m;
    let mut out_size = x.size();
    out_size[1] = cout;
    let x = x.reshape([mb, cl, s, n, n]);
    let zt = z
        .reshape([m, b, cr, s, n, n])
        .permute([0, 1, 3, 5, 4, 2])
        .reshape([m, b * s * n * n, cr]);
    let at = alpha.permute([0, 3, 2, 1]).reshape([m, cr, cl * cout]);
    let y = zt.matmul(&at).reshape([mb * s * n, n * cl, cout]);
    left_multiply(&x, &y, (mb, cl, s, n, cout), &out_size)
}

/// The second half of the contraction: $\sum_{k,v}X_v[i,k]\,Y_{uv}[k,j]$ for `x` `(B, c_l, S, n, n)`
/// and `y` `(B S n, n c_l, C_out)`.
fn left_multiply(
    x: &Tensor,
    y: &Tensor,
    (b, cl, s, n, cout): (i64, i64, i64, i64, i64),
    out_size: &[i64],
) -> Tensor {
    // a[(b,s,j), i, (k,v)] = X_v[i,k], repeated over j.
    let a = x.permute([0, 2, 3, 4, 1]);
    let a = if n == 1 {
        a.reshape([b * s, 1, cl])
    } else {
        a.unsqueeze(2)
            .expand([b, s, n, n, n, cl], false)
            .reshape([b * s * n, n, n * cl])
    };
    // out[(b,s,j), i, u] = sum_{k,v} X_v[i,k] Y_uv[k,j].
    let out = a
        .bmm(y)
        .reshape([b, s, n, n, cout])
        .permute([0, 4, 1, 3, 2]);
    out.contiguous().reshape(out_size)
}
