//! The one indexed sample stream behind every source: a per-sample draw keyed by the sample's
//! index, a position, and the threads that draw a batch.
use lattice_gauge::Lattice;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::Batch;
use super::general::LinkSample;
use crate::convert::{Precision, stack_complex};
use crate::error::{Error, Result};

/// The state every source shares: the index of the next sample, the thread pool that draws
/// batches, the precision of the tensors, and whether batches carry the links.
#[derive(Debug)]
pub struct Stream {
    next: u64,
    pool: Option<rayon::ThreadPool>,
    precision: Precision,
    links: bool,
}

impl Stream {
    /// Index of the next sample.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// A stream at sample 0 that draws on `threads` threads (`None`: rayon's global pool) and
    /// builds links.
    ///
    /// Errors on `threads = Some(0)` or a pool rayon cannot start.
    pub fn new(threads: Option<usize>, precision: Precision) -> Result<Stream> {
        Ok(Stream {
            next: 0,
            pool: thread_pool(threads)?,
            precision,
            links: true,
        })
    }
}

/// A seeded stream of samples: sample $k$ depends only on the source's configuration and $k$
/// (it is drawn from its own random stream, [`SampleSource::sample_at`]), so batches do not depend on
/// their sizes or on the number of threads, and a stream can be positioned anywhere
/// ([`SampleSource::seek`]) to resume exactly.
///
/// Implementors provide the per-sample draw and their [`Stream`]; batching, positioning and
/// parallel drawing are provided.
pub trait SampleSource: Send + Sync {
    /// Sample `index` of the stream, independent of the position.
    fn sample_at(&self, index: u64) -> Result<LinkSample>;

    /// The lattice the samples live on.
    fn lattice(&self) -> &Lattice;

    /// The matrix size $n$ of the links.
    fn n(&self) -> usize;

    /// The stream state.
    fn stream(&self) -> &Stream;

    /// The stream state, mutable.
    fn stream_mut(&mut self) -> &mut Stream;

    /// Index of the next sample (the number drawn so far, unless the stream was moved).
    fn position(&self) -> u64 {
        self.stream().next
    }

    /// Moves to sample `index`.
    fn seek(&mut self, index: u64) {
        self.stream_mut().next = index;
    }

    /// Whether batches carry the links tensor (default `true`); networks that read only the
    /// plaquettes do not need it. The samples themselves do not change.
    fn set_links(&mut self, links: bool) {
        self.stream_mut().links = links;
    }

    /// The next `batch` samples, drawn in parallel and stacked into a [`Batch`] on the CPU.
    fn sample(&mut self, batch: usize) -> Result<Batch> {
        use rayon::prelude::*;
        let start = self.position();
        let end = start
            .checked_add(batch as u64)
            .ok_or_else(|| Error::InvalidParameter {
                name: "batch",
                value: batch.to_string(),
                reason: "the stream index overflows".into(),
            })?;
        let samples = {
            let this: &Self = self;
            let draw = || {
                (start..end)
                    .into_par_iter()
                    .map(|k| this.sample_at(k))
                    .collect::<Result<Vec<LinkSample>>>()
            };
            match &this.stream().pool {
                Some(pool) => pool.install(draw),
                None => draw(),
            }
        }?;
        let stream = self.stream();
        let out = stack(
            &samples,
            self.lattice(),
            self.n(),
            stream.precision,
            stream.links,
        )?;
        self.seek(end);
        Ok(out)
    }
}

/// The random stream of sample `index` of a source seeded with `seed` (ChaCha8, stream number
/// `index`).
pub(crate) fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Stacks samples into a batch on the CPU, straight from their field slices.
fn stack(
    samples: &[LinkSample],
    lattice: &Lattice,
    n: usize,
    precision: Precision,
    with_links: bool,
) -> Result<Batch> {
    let b = samples.len() as i64;
    let extents: Vec<i64> = lattice.extents().iter().map(|&l| l as i64).collect();
    let nn = [n as i64, n as i64];
    let shape = |lead: &[i64], tail: &[i64]| -> Vec<i64> {
        lead.iter()
            .chain(extents.iter())
            .chain(tail.iter())
            .copied()
            .collect()
    };
    let mut labels: Vec<f32> =
        Vec::with_capacity(samples.iter().map(|s| s.site_labels.len()).sum());
    for s in samples {
        labels.extend(s.site_labels.iter().map(|&f| f as f32));
    }
    let chern: Vec<i64> = samples.iter().map(|s| s.chern).collect();
    let links = if with_links {
        let parts: Vec<&[_]> = samples.iter().map(|s| s.links.as_slice()).collect();
        let d = lattice.dim() as i64;
        Some(stack_complex(&parts, &shape(&[b, d], &nn), precision)?)
    } else {
        None
    };
    let parts: Vec<&[_]> = samples.iter().map(|s| s.plaquettes.as_slice()).collect();
    let planes = lattice.planes().len() as i64;
    Ok(Batch {
        links,
        plaquettes: stack_complex(&parts, &shape(&[b, planes], &nn), precision)?,
        site_labels: Tensor::f_from_slice(&labels)?.f_view(shape(&[b], &[]).as_slice())?,
        chern: Tensor::f_from_slice(&chern)?.f_to_kind(Kind::Int64)?,
    })
}

/// A rayon pool of `threads` threads, or `None` for the global pool.
pub(crate) fn thread_pool(threads: Option<usize>) -> Result<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(Error::InvalidParameter {
            name: "threads",
            value: "0".into(),
            reason: "must be at least 1 (or None for rayon's global pool)".into(),
        }),
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map(Some)
            .map_err(|_| Error::InvalidParameter {
                name: "threads",
                value: t.to_string(),
                reason: "rayon could not start that many threads".into(),
            }),
    }
}
