//! Seeded initialisation of the adapter matrices, one random stream per (member seed, module,
//! matrix), so that a member's start depends on its own seed and module only, never on how many
//! members are built beside it or in which order the modules are created.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// A vector for `shape[0] * shape[1]` values, refused (not aborted) when it cannot be allocated.
fn buffer(shape: [i64; 2]) -> Result<Vec<f64>> {
    let n = shape[0]
        .checked_mul(shape[1])
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::invalid("adapter shape", format!("{shape:?}"), "too large"))?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::invalid(
            "adapter shape",
            format!("{shape:?}"),
            format!("{n} values cannot be allocated"),
        )
    })?;
    Ok(v)
}

/// The stream of one matrix: the member's seed mixed with a hash of the module path and the
/// matrix name (FNV-1a, stable across platforms and releases).
pub(crate) fn stream(seed: u64, module: &str, matrix: &str) -> ChaCha8Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in module.bytes().chain([0u8]).chain(matrix.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(h);
    rng
}

/// $U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})$: torch's `kaiming_uniform_(a = sqrt(5))`,
/// whose bound is $\sqrt{2/(1+a^2)}\sqrt{3/\text{fan\_in}} = 1/\sqrt{\text{fan\_in}}$.
pub(crate) fn kaiming_uniform(rng: &mut ChaCha8Rng, shape: [i64; 2], kind: Kind) -> Result<Tensor> {
    let bound = 1.0 / (shape[1] as f64).sqrt();
    let mut v = buffer(shape)?;
    v.extend((0..v.capacity()).map(|_| rng.random_range(-bound..bound)));
    Ok(Tensor::from_slice(&v).view(shape).to_kind(kind))
}

/// $\mathcal N(0, \sigma^2)$ entries.
pub(crate) fn gaussian(
    rng: &mut ChaCha8Rng,
    shape: [i64; 2],
    std: f64,
    kind: Kind,
) -> Result<Tensor> {
    let normal = Normal::new(0.0, std).map_err(|e| Error::invalid("gaussian init std", std, e))?;
    let mut v = buffer(shape)?;
    v.extend((0..v.capacity()).map(|_| normal.sample(rng)));
    Ok(Tensor::from_slice(&v).view(shape).to_kind(kind))
}
