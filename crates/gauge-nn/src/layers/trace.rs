//! Trace readout: the invariant features $T_\gamma(x)=\operatorname{Tr}W_\gamma(x)/n$ and a dense layer
//! per site, $f(x)=b+\sum_\gamma(a_\gamma\operatorname{Re}T_\gamma(x)+a'_\gamma\operatorname{Im}T_\gamma(x))$.
use tch::{Tensor, nn};

/// $\operatorname{Tr}W$ of every matrix of a field `(.., n, n)`, shape `(..)`.
pub fn matrix_trace(w: &Tensor) -> Tensor {
    w.diagonal(0, -2, -1).sum_dim_intlist(-1, false, None)
}

/// Normalised trace features followed by `Linear(2C, 1)` per site.
#[derive(Debug)]
pub struct TraceReadout {
    dense: nn::Linear,
}

/// A trace readout for `in_channels` channels (weights under `path`).
pub fn trace_readout<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    in_channels: i64,
) -> TraceReadout {
    let path = path.borrow();
    TraceReadout {
        dense: nn::linear(path / "dense", 2 * in_channels, 1, Default::default()),
    }
}

impl TraceReadout {
    /// The dense layer `Linear(2C, 1)` (weight `(1, 2C)`, bias `(1,)`).
    pub fn dense(&self) -> &nn::Linear {
        &self.dense
    }

    /// Local outputs with a weight per member: `weight` `(M, 1, 2C)`, `w` `(M B, C, sites.., n, n)`
    /// with the members first; returns `(M, B, sites..)`.
    pub fn forward_members(&self, weight: &Tensor, w: &Tensor) -> Tensor {
        let f = Self::features(w); // (M B, sites.., 2C)
        let size = f.size();
        let m = weight.size()[0];
        let per_member = size[0] / m;
        let rows: i64 = size[..size.len() - 1].iter().product::<i64>() / m;
        let y = f
            .reshape([m, rows, size[size.len() - 1]])
            .matmul(&weight.transpose(1, 2));
        let y = match &self.dense.bs {
            Some(b) => y + b,
            None => y,
        };
        let mut out = vec![m, per_member];
        out.extend_from_slice(&size[1..size.len() - 1]);
        y.reshape(out.as_slice())
    }

    /// The invariant features `(B, sites.., 2C)`, ordered $[\operatorname{Re}T_1,\operatorname{Im}T_1,\operatorname{Re}T_2,\dots]$.
    pub fn features(w: &Tensor) -> Tensor {
        let size = w.size();
        let d = size.len();
        let n = size[d - 1] as f64;
        let t = matrix_trace(w) / n; // (B, C, sites..)
        let c = size[1];
        let mut perm: Vec<i64> = vec![0];
        perm.extend(2..(d as i64 - 2));
        perm.push(1);
        let t = t.permute(perm.as_slice()).resolve_conj();
        let mut out: Vec<i64> = size[..d - 2].to_vec();
        out.remove(1);
        out.push(2 * c);
        t.view_as_real().reshape(out.as_slice())
    }
}

impl nn::Module for TraceReadout {
    /// Local outputs $f(x)$, shape `(B, sites..)`.
    fn forward(&self, w: &Tensor) -> Tensor {
        Self::features(w).apply(&self.dense).squeeze_dim(-1)
    }
}
