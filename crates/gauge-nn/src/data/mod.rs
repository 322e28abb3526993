//! Training data: batches of links, plaquettes and per-site labels, drawn fresh from a
//! [`SampleSource`] or held in a fixed [`Dataset`].
//!
//! Sources:
//! - [`HaarSource`], the GENet "general dataset": every link an independent Haar-random $U(n)$
//!   matrix, labels $f(x) = \frac{1}{2\pi}\sum_i \arg\lambda_i(W(x))$ (principal eigenphases of the
//!   plaquette), Chern number $C = \sum_x f(x)$, an exact integer; optionally only $C = 0$.
//!   On a 4D lattice the input has six plaquette planes and the labels are the gauge-invariant
//!   second-Chern density [`second_chern_density_of`].
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
//! | `links`       | $(B, d, L_1, \dots, L_d, n, n)$         | complex ([`Precision`](crate::convert::Precision))     |
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
use lattice_gauge::{C64, matrix};
use tch::{Device, Tensor};

use crate::error::{Error, Result};

mod dataset;
mod diagonal;
mod general;
mod hamiltonian;
mod second_chern;
mod stream;

pub use dataset::{Batches, Dataset, FIELDS};
pub use diagonal::{
    ChernChoice, DiagonalConfig, DiagonalSample, DiagonalSource, EigenphaseDistribution,
};
pub use general::{GeneralConfig, HaarSource, LinkSample, NearIdentity};
pub use hamiltonian::{
    HamiltonianConfig, HamiltonianModel, HamiltonianSource, ModelSpec, samples_name,
};
pub use second_chern::{hermitian_log, second_chern_density, second_chern_density_of};
pub(crate) use stream::sample_rng;
pub use stream::{SampleSource, Stream};

/// A batch of samples (see the [module docs](self) for the layout).
#[derive(Debug)]
pub struct Batch {
    /// Links $U_\mu(x)$, shape $(B, d, L_1, \dots, L_d, n, n)$, complex; `None` when the source
    /// was told not to build them ([`SampleSource::set_links`]): GEBLNet and GEConvNet read only
    /// the plaquettes.
    pub links: Option<Tensor>,
    /// Plaquettes $W_{\mu\nu}(x)$, shape $(B, P, L_1, \dots, L_d, n, n)$, complex: the network input.
    pub plaquettes: Tensor,
    /// Per-site labels, shape $(B, L_1, \dots, L_d)$, `Float`.
    pub site_labels: Tensor,
    /// The integer invariant of each sample, shape $(B)$, `Int64`.
    pub chern: Tensor,
}

impl Batch {
    /// The links, an error when the batch was drawn without them.
    pub fn links(&self) -> Result<&Tensor> {
        self.links.as_ref().ok_or(Error::InvalidParameter {
            name: "links",
            value: "none".into(),
            reason: "this batch was drawn without links (SampleSource::set_links(false))".into(),
        })
    }

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
                name: "sample index",
                value: bad.to_string(),
                reason: "must be less than the batch size".into(),
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
            .ok_or(Error::EmptyInput { what: "batches" })?;
        for b in batches {
            if first.links.is_some() != b.links.is_some() {
                return Err(Error::InvalidParameter {
                    name: "batches",
                    value: "some with links, some without".into(),
                    reason: "concatenated batches must all carry links or all not".into(),
                });
            }
            let mut pairs = vec![
                ("plaquettes", &first.plaquettes, &b.plaquettes),
                ("site_labels", &first.site_labels, &b.site_labels),
            ];
            if let (Some(x), Some(y)) = (&first.links, &b.links) {
                pairs.insert(0, ("links", x, y));
            }
            for (what, x, y) in pairs {
                let (sx, sy) = (x.size(), y.size());
                if sx.get(1..) != sy.get(1..) || x.kind() != y.kind() {
                    let mut expected = sx;
                    if let Some(e) = expected.first_mut() {
                        *e = -1;
                    }
                    return Err(Error::ShapeMismatch {
                        what,
                        expected: format!("{expected:?}"),
                        found: format!("{:?}", sy),
                    });
                }
            }
        }
        let cat = |f: fn(&Batch) -> &Tensor| -> Result<Tensor> {
            let ts: Vec<&Tensor> = batches.iter().map(f).collect();
            Ok(Tensor::f_cat(&ts, 0)?)
        };
        Ok(Batch {
            links: match first.links {
                Some(_) => {
                    let ts: Vec<&Tensor> =
                        batches.iter().filter_map(|b| b.links.as_ref()).collect();
                    Some(Tensor::f_cat(&ts, 0)?)
                }
                None => None,
            },
            plaquettes: cat(|b| &b.plaquettes)?,
            site_labels: cat(|b| &b.site_labels)?,
            chern: cat(|b| &b.chern)?,
        })
    }

    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Batch {
        Batch {
            links: self.links.as_ref().map(&f),
            plaquettes: f(&self.plaquettes),
            site_labels: f(&self.site_labels),
            chern: f(&self.chern),
        }
    }
}

/// Lattice extents as they are written in file names and labels: `5x5`, `3x3x3x3`.
pub fn grid_name(extents: &[usize]) -> String {
    extents
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The GENet label of a plaquette: the sum of its principal eigenphases over $2\pi$,
/// $f = \frac{1}{2\pi}\sum_i \arg\lambda_i(W)$, $\arg \in (-\pi, \pi]$.
pub fn eigenphase_label(w: &[C64], n: usize) -> f64 {
    matrix::eigenphases(w, n).iter().sum::<f64>() / std::f64::consts::TAU
}
