//! Training data: batches of links, plaquettes and per-site labels, drawn fresh from a
//! [`SampleSource`] or held in a fixed [`Dataset`].
//!
//! Sources:
//! - [`HaarSource`], the GENet "general dataset": every link an independent Haar-random $U(n)$
//!   matrix, labels $f(x) = \frac{1}{2\pi}\sum_i \arg\lambda_i(W(x))$ (principal eigenphases of the
//!   plaquette), Chern number $C = \sum_x f(x)$, an exact integer; optionally only $C = 0$.
//!   On a 4D lattice the input has six plaquette planes and the labels are the gauge-invariant
//!   second-Chern density [`second_chern_density`].
//! - [`DiagonalSource`]: diagonal plaquettes $W(x) = \mathrm{diag}(e^{i\theta_1(x)}, \dots)$ with
//!   a prescribed Chern number and eigenphase distribution, with links that realise them.
//! - [`HamiltonianSource`]: links of the occupied bands of gapped Bloch Hamiltonians (random
//!   smooth multiband models, QWZ, Hofstadter) on the training grid, labelled the same way.
//!
//! Every source is seeded: sample $k$ of a source is drawn from its own random stream
//! (ChaCha8 with stream number $k$), so the samples do not depend on the batch sizes or on the
//! number of threads that draw them.
//!
//! Tensor layout of a [`Batch`] for a $d$-dimensional lattice with extents $(L_1, \dots, L_d)$:
//!
//! | field         | shape                                   | kind                        |
//! |---------------|-----------------------------------------|-----------------------------|
//! | `links`       | $(B, d, L_1, \dots, L_d, n, n)$         | complex ([`Precision`])     |
//! | `plaquettes`  | $(B, P, L_1, \dots, L_d, n, n)$         | complex, $P = d(d-1)/2$ planes in `Lattice::planes()` order |
//! | `site_labels` | $(B, L_1, \dots, L_d)$                  | `Float`                     |
//! | `chern`       | $(B)$                                   | `Int64`                     |
//!
//! ```
//! use gauge_nn::data::{GeneralConfig, HaarSource, SampleSource};
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let mut source = HaarSource::new(GeneralConfig { extents: vec![5, 5], n: 2, seed: 1, ..Default::default() })?;
//! let batch = source.sample(8)?;
//! assert_eq!(batch.plaquettes.size(), [8, 1, 5, 5, 2, 2]);
//! // The labels of each sample sum to its Chern number.
//! let sums = batch.site_labels.sum_dim_intlist([1i64, 2].as_slice(), false, tch::Kind::Double);
//! let chern = batch.chern.to_kind(tch::Kind::Double);
//! assert!((sums - chern).abs().max().double_value(&[]) < 1e-4);
//! # Ok(())
//! # }
//! ```
use lattice_gauge::{C64, Lattice, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::convert::Precision;
use crate::error::{Error, Result};

mod dataset;
mod diagonal;
mod general;
mod hamiltonian;
mod second_chern;

pub use dataset::{Batches, Dataset, FIELDS};
pub use diagonal::{
    ChernChoice, DiagonalConfig, DiagonalSample, DiagonalSource, EigenphaseDistribution,
};
pub use general::{GeneralConfig, HaarSource, LinkSample};
pub use hamiltonian::{HamiltonianConfig, HamiltonianModel, HamiltonianSource};
pub use second_chern::{hermitian_log, second_chern_density};

/// A batch of samples (see the [module docs](self) for the layout).
#[derive(Debug)]
pub struct Batch {
    /// Links $U_\mu(x)$, shape $(B, d, L_1, \dots, L_d, n, n)$, complex.
    pub links: Tensor,
    /// Plaquettes $W_{\mu\nu}(x)$, shape $(B, P, L_1, \dots, L_d, n, n)$, complex: the network input.
    pub plaquettes: Tensor,
    /// Per-site labels, shape $(B, L_1, \dots, L_d)$, `Float`.
    pub site_labels: Tensor,
    /// The integer invariant of each sample, shape $(B)$, `Int64`.
    pub chern: Tensor,
}

impl Batch {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.chern.size().first().copied().unwrap_or(0) as usize
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch on another device.
    pub fn to_device(&self, device: Device) -> Batch {
        self.map(|t| t.to_device(device))
    }

    /// A second handle to the same tensors (no copy).
    pub fn shallow_clone(&self) -> Batch {
        self.map(Tensor::shallow_clone)
    }

    /// Samples `start..end` (clamped to the batch), sharing storage with `self`.
    pub fn slice(&self, start: usize, end: usize) -> Batch {
        let len = self.len();
        let end = end.min(len);
        let start = start.min(end);
        self.map(|t| t.narrow(0, start as i64, (end - start) as i64))
    }

    /// The samples with the given indices, in that order (a copy).
    ///
    /// Errors if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Batch> {
        let len = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::InvalidParameter {
                parameter: "sample index",
                value: bad.to_string(),
                reason: "must be less than the batch size",
            });
        }
        Ok(self.take(indices))
    }

    /// [`Batch::select`] for indices known to be in range.
    pub(crate) fn take(&self, indices: &[usize]) -> Batch {
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx).to_device(self.chern.device());
        self.map(|t| t.index_select(0, &idx))
    }

    /// Concatenates batches along the sample axis.
    ///
    /// Errors on an empty list, or if the batches differ in anything but their length
    /// (lattice, `n`, precision).
    pub fn cat(batches: &[Batch]) -> Result<Batch> {
        let first = batches
            .first()
            .ok_or(Error::EmptyBatch { what: "batches" })?;
        for b in batches {
            for (what, x, y) in [
                ("links", &first.links, &b.links),
                ("plaquettes", &first.plaquettes, &b.plaquettes),
                ("site_labels", &first.site_labels, &b.site_labels),
            ] {
                let (sx, sy) = (x.size(), y.size());
                if sx.get(1..) != sy.get(1..) || x.kind() != y.kind() {
                    let mut expected = sx;
                    if let Some(e) = expected.first_mut() {
                        *e = -1;
                    }
                    return Err(Error::Shape {
                        what,
                        expected,
                        found: sy,
                    });
                }
            }
        }
        let cat = |f: fn(&Batch) -> &Tensor| -> Result<Tensor> {
            let ts: Vec<&Tensor> = batches.iter().map(f).collect();
            Ok(Tensor::f_cat(&ts, 0)?)
        };
        Ok(Batch {
            links: cat(|b| &b.links)?,
            plaquettes: cat(|b| &b.plaquettes)?,
            site_labels: cat(|b| &b.site_labels)?,
            chern: cat(|b| &b.chern)?,
        })
    }

    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Batch {
        Batch {
            links: f(&self.links),
            plaquettes: f(&self.plaquettes),
            site_labels: f(&self.site_labels),
            chern: f(&self.chern),
        }
    }
}

/// Something that draws batches of fresh samples.
pub trait SampleSource: Send {
    /// The next `batch` samples of the source's stream.
    fn sample(&mut self, batch: usize) -> Result<Batch>;

    /// The lattice the samples live on.
    fn lattice(&self) -> &Lattice;

    /// The matrix size $n$ of the links.
    fn n(&self) -> usize;
}

/// The random stream of sample `index` of a source seeded with `seed`.
pub(crate) fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// The GENet label of a plaquette: the sum of its principal eigenphases over $2\pi$,
/// $f = \frac{1}{2\pi}\sum_i \arg\lambda_i(W)$, $\arg \in (-\pi, \pi]$.
pub fn eigenphase_label(w: &[C64], n: usize) -> f64 {
    matrix::eigenphases(w, n).iter().sum::<f64>() / std::f64::consts::TAU
}

/// One sample as flat row-major data, before it becomes part of a [`Batch`].
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub links: Vec<C64>,
    pub plaquettes: Vec<C64>,
    pub labels: Vec<f64>,
    pub chern: i64,
}

/// Stacks samples into a batch on the CPU.
pub(crate) fn assemble(
    samples: &[Sample],
    lattice: &Lattice,
    n: usize,
    precision: Precision,
) -> Result<Batch> {
    let b = samples.len() as i64;
    let extents: Vec<i64> = lattice.extents().iter().map(|&l| l as i64).collect();
    let nn = [n as i64, n as i64];
    let d = lattice.dim() as i64;
    let planes = lattice.planes().len() as i64;
    let shape = |lead: &[i64], tail: &[i64]| -> Vec<i64> {
        lead.iter()
            .chain(extents.iter())
            .chain(tail.iter())
            .copied()
            .collect()
    };
    let mut labels: Vec<f32> = Vec::with_capacity(samples.iter().map(|s| s.labels.len()).sum());
    for s in samples {
        labels.extend(s.labels.iter().map(|&f| f as f32));
    }
    let chern: Vec<i64> = samples.iter().map(|s| s.chern).collect();
    Ok(Batch {
        links: stack_complex(samples, |s| &s.links, &shape(&[b, d], &nn), precision)?,
        plaquettes: stack_complex(
            samples,
            |s| &s.plaquettes,
            &shape(&[b, planes], &nn),
            precision,
        )?,
        site_labels: Tensor::f_from_slice(&labels)?.f_view(shape(&[b], &[]).as_slice())?,
        chern: Tensor::f_from_slice(&chern)?.f_to_kind(Kind::Int64)?,
    })
}

/// One complex tensor from the concatenated `part`s of the samples, written straight into a
/// pre-sized buffer of real and imaginary parts (no intermediate complex copy).
fn stack_complex(
    samples: &[Sample],
    part: impl Fn(&Sample) -> &[C64],
    shape: &[i64],
    precision: Precision,
) -> Result<Tensor> {
    let len: usize = samples.iter().map(|s| part(s).len()).sum();
    let expected: i64 = shape.iter().product();
    if expected != len as i64 {
        return Err(Error::Shape {
            what: "stacked samples",
            expected: shape.to_vec(),
            found: vec![len as i64],
        });
    }
    let mut real_shape = shape.to_vec();
    real_shape.push(2);
    let real = match precision {
        Precision::Double => {
            let mut flat = Vec::with_capacity(2 * len);
            for s in samples {
                flat.extend(part(s).iter().flat_map(|z| [z.re, z.im]));
            }
            Tensor::f_from_slice(&flat)?
        }
        Precision::Single => {
            let mut flat = Vec::with_capacity(2 * len);
            for s in samples {
                flat.extend(part(s).iter().flat_map(|z| [z.re as f32, z.im as f32]));
            }
            Tensor::f_from_slice(&flat)?
        }
    };
    Ok(real.f_view(real_shape.as_slice())?.f_view_as_complex()?)
}

/// Draws the samples with stream indices `indices` in parallel (on `pool`, or rayon's global pool)
/// and stacks them into a batch. Each sample depends only on its index, so the batch does not depend
/// on the number of threads.
pub(crate) fn draw_batch(
    pool: Option<&rayon::ThreadPool>,
    indices: std::ops::Range<u64>,
    lattice: &Lattice,
    n: usize,
    precision: Precision,
    draw: impl Fn(u64) -> Result<Sample> + Sync + Send,
) -> Result<Batch> {
    use rayon::prelude::*;
    let samples = install(pool, || {
        indices
            .into_par_iter()
            .map(&draw)
            .collect::<Result<Vec<Sample>>>()
    })?;
    assemble(&samples, lattice, n, precision)
}

/// Runs `f` on the pool if there is one, else on rayon's global pool.
pub(crate) fn install<T: Send>(
    pool: Option<&rayon::ThreadPool>,
    f: impl FnOnce() -> T + Send,
) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// A rayon pool of `threads` threads, or `None` for the global pool.
pub(crate) fn thread_pool(threads: Option<usize>) -> Result<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(Error::InvalidParameter {
            parameter: "threads",
            value: "0".into(),
            reason: "must be at least 1 (or None for rayon's global pool)",
        }),
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map(Some)
            .map_err(|_| Error::InvalidParameter {
                parameter: "threads",
                value: t.to_string(),
                reason: "rayon could not start that many threads",
            }),
    }
}
