//! Gauge-equivariant layers acting on fields of $n\times n$ complex matrices.
//!
//! Every layer takes and returns tensors laid out as `(B, C, L_1, .., L_d, n, n)`: batch, channels,
//! the lattice sites, and a row-major matrix per site (tch native complex, `ComplexFloat` or
//! `ComplexDouble`). A covariant field transforms as $W(x)\to\Omega(x)W(x)\Omega(x)^\dagger$; the layers
//! commute with that transformation (the readout is invariant).
mod activation;
mod gebl;
mod geconv;
mod lcnn;
mod trace;
mod trnorm;

pub use activation::{GeRelu, ge_relu};
pub use gebl::{
    GeBilinear, GeBilinearConfig, bilinear_contract, bilinear_contract_members, enlarge,
    ge_bilinear, ge_bilinear2,
};
pub use geconv::{GeConv, GeConvConfig, ge_conv, transported_stack};
pub use lcnn::{LConvBilinear, LConvBilinearConfig, l_conv_bilinear};
pub use trace::{TraceReadout, matrix_trace, trace_readout};
pub use trnorm::{TrNorm, TrNormConfig, tr_norm};

use tch::Tensor;

#[cfg(test)]
pub(crate) mod tests;

/// Shape of a matrix field `(B, C, sites.., n, n)` read as `(B, C, S, n)` with `S` the number of sites.
pub(crate) fn field_dims(w: &Tensor) -> (i64, i64, i64, i64) {
    let size = w.size();
    assert!(
        size.len() >= 5,
        "matrix field must be (B, C, sites.., n, n), got {size:?}"
    );
    let d = size.len();
    assert_eq!(
        size[d - 1],
        size[d - 2],
        "per-site matrices must be square: {size:?}"
    );
    let sites: i64 = size[2..d - 2].iter().product();
    (size[0], size[1], sites, size[d - 1])
}

/// Complex kind matching a real parameter kind.
pub(crate) fn complex_of(kind: tch::Kind) -> tch::Kind {
    match kind {
        tch::Kind::Double | tch::Kind::ComplexDouble => tch::Kind::ComplexDouble,
        _ => tch::Kind::ComplexFloat,
    }
}
