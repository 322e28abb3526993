//! Member predictions streamed from a file in blocks of samples, never held whole.
//!
//! A C-order little-endian float32/float64 `.npy` file, or a float32/float64 safetensors tensor,
//! stores member $m$'s rows of samples $i_0 .. i_0 + n_b$ as one contiguous byte range. For each
//! block of samples the $M$ ranges are read (positioned reads, on all threads) into one reused
//! $(M, n_b, K)$ buffer, validated, and fed to [`EnsembleAccumulator`] (or
//! [`UncertaintyScores::push`]). The results are bit for bit those of reading the whole array
//! and making one pass, and so are the errors: validation names the first offending entry in
//! member, sample, class order with its global sample index.

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::Array3;

use crate::ensemble::UncertaintyScores;
use crate::ensemble::{BLOCK, EnsembleAccumulator, EnsembleConfig, EnsemblePrediction};
use crate::entropy::EntropyConvention;
use crate::error::{Error, Result};
use crate::input::{Labels, Logits, Probabilities, Real};
use crate::members::{MemberArray as Batch, PredictionKind};

/// Values per positioned read (so that both threads share a member's range).
#[cfg(unix)]
const READ_VALUES: usize = 1 << 16;

/// An $(M, N, K)$ float32/float64 array in a file whose member rows are contiguous (C-order
/// little-endian `.npy`, or a safetensors tensor), read block by block of samples.
///
/// [`MemberFile::open`] gives `Ok(None)` for files it cannot stream (`.npz`, JSON, Fortran
/// order, big-endian, other dtypes, sizes that disagree with the header, a zero extent):
/// read those whole with [`crate::read_array3`], which also words their errors.
#[derive(Debug)]
pub struct MemberFile {
    path: PathBuf,
    file: File,
    /// Byte offset of the first value.
    offset: u64,
    shape: (usize, usize, usize),
    double: bool,
}

impl MemberFile {
    /// Samples per block read: a multiple of the summation block, so that each block is
    /// reduced in parallel in whole summation blocks, and small enough that the buffer
    /// ($M K$ values per sample) stays far below the input's size.
    pub const BLOCK_SAMPLES: usize = 4 * BLOCK;

    /// Opens `path` (`field`: a safetensors tensor name) for streaming, if its layout allows.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; for safetensors, the [`Error::Format`] errors
    /// of [`crate::read_array3`] about the header and the choice of tensor (the same values).
    pub fn open(path: impl AsRef<Path>, field: Option<&str>) -> Result<Option<Self>> {
        let path = path.as_ref();
        if !cfg!(unix) {
            return Ok(None);
        }
        let located = match crate::io::FileFormat::of(path) {
            Ok(crate::io::FileFormat::Npy) if field.is_none() => locate_npy(path)?,
            Ok(crate::io::FileFormat::Safetensors) => locate_safetensors(path, field)?,
            _ => None,
        };
        Ok(located.and_then(|(file, offset, shape, double)| {
            (shape.0 > 0 && shape.1 > 0 && shape.2 > 0).then(|| Self {
                path: path.to_path_buf(),
                file,
                offset,
                shape,
                double,
            })
        }))
    }

    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        self.shape
    }

    /// True for float64 values, false for float32.
    pub fn is_f64(&self) -> bool {
        self.double
    }

    /// The ensemble prediction, as [`EnsemblePrediction::new`] of the whole array validated as
    /// `kind` gives it (bit for bit, errors included).
    ///
    /// # Errors
    /// The validation errors of [`Logits::new`] / [`Probabilities::new`] (first offending entry
    /// in member, sample, class order; global sample index), then those of
    /// [`EnsemblePrediction::new`]; [`Error::Io`] if reading fails.
    pub fn predict(
        &self,
        kind: PredictionKind,
        labels: &Labels,
        config: EnsembleConfig,
    ) -> Result<EnsemblePrediction> {
        let (_, n, k) = self.shape;
        let mismatch = if labels.len() != n {
            Some(Error::mismatch("labels vs samples", n, labels.len()))
        } else if labels.classes() != k {
            Some(Error::mismatch(
                "classes of labels vs predictions",
                k,
                labels.classes(),
            ))
        } else {
            None
        };
        match (EnsembleAccumulator::new(config), mismatch) {
            (Ok(mut acc), None) => {
                acc.reserve(n);
                let y = labels.as_slice();
                self.for_each_block(kind, |batch, first, len| {
                    let labels = Labels::new(y[first..first + len].to_vec(), k)?;
                    push_to(batch, &mut acc, &labels)
                })?;
                acc.finish()
            }
            // As the one-shot path: the values are validated before anything else is checked.
            (Err(e), _) | (_, Some(e)) => {
                self.validate(kind)?;
                Err(e)
            }
        }
    }

    /// Per-sample uncertainty scores, as [`UncertaintyScores::from_members`] of the whole array
    /// validated as `kind` gives them (bit for bit, errors included).
    ///
    /// # Errors
    /// The validation errors as for [`MemberFile::predict`]; [`Error::InvalidParameter`] for an
    /// invalid entropy convention; [`Error::Io`] if reading fails.
    pub fn scores(
        &self,
        kind: PredictionKind,
        convention: EntropyConvention,
    ) -> Result<UncertaintyScores> {
        let mut out = UncertaintyScores::default();
        out.reserve(self.shape.1);
        self.for_each_block(kind, |batch, _, _| batch.push_scores(&mut out, convention))?;
        Ok(out)
    }

    /// Reads and validates every block (the errors of [`MemberFile::predict`] about the values).
    ///
    /// # Errors
    /// As [`MemberFile::predict`], the values' errors only.
    pub(crate) fn validate(&self, kind: PredictionKind) -> Result<()> {
        self.for_each_block(kind, |_, _, _| Ok(()))
    }

    /// Reads, validates and hands over every block of samples in order. On a validation
    /// failure the remaining blocks are still validated, so that the error reported is the first
    /// in member, sample, class order over the whole array.
    fn for_each_block(
        &self,
        kind: PredictionKind,
        mut f: impl FnMut(&Batch, usize, usize) -> Result<()>,
    ) -> Result<()> {
        match (self.double, kind) {
            (false, PredictionKind::Logits) => {
                self.stream::<f32, _>(|a| Logits::new(a).map(Batch::Logits32), &mut f)
            }
            (true, PredictionKind::Logits) => {
                self.stream::<f64, _>(|a| Logits::new(a).map(Batch::Logits64), &mut f)
            }
            (false, PredictionKind::Probabilities) => {
                self.stream::<f32, _>(|a| Probabilities::new(a).map(Batch::Probs32), &mut f)
            }
            (true, PredictionKind::Probabilities) => {
                self.stream::<f64, _>(|a| Probabilities::new(a).map(Batch::Probs64), &mut f)
            }
        }
    }

    fn stream<T: Stored, F: FnMut(&Batch, usize, usize) -> Result<()>>(
        &self,
        validate: impl Fn(Array3<T>) -> Result<Batch>,
        f: &mut F,
    ) -> Result<()> {
        let (m, n, k) = self.shape;
        let mut buffer: Vec<T> = Vec::new();
        let mut failure: Option<Error> = None;
        let mut first = 0;
        while first < n {
            let len = Self::BLOCK_SAMPLES.min(n - first);
            buffer.resize(m * len * k, T::default());
            self.read_block(first, len, &mut buffer)?;
            let array = Array3::from_shape_vec((m, len, k), std::mem::take(&mut buffer))
                .map_err(|e| crate::io::format_error(&self.path, "", e.to_string()))?;
            match validate(array) {
                Ok(batch) if failure.is_none() => {
                    f(&batch, first, len)?;
                    buffer = T::into_vec(batch);
                }
                Ok(batch) => buffer = T::into_vec(batch),
                Err(e) => {
                    let e = at_global_sample(e, first);
                    let Some(member) = member_of(&e) else {
                        return Err(e);
                    };
                    // Earlier blocks had no failure; a later block's comes first only if it
                    // belongs to an earlier member.
                    if failure
                        .as_ref()
                        .and_then(member_of)
                        .is_none_or(|old| member < old)
                    {
                        failure = Some(e);
                    }
                    if failure.as_ref().and_then(member_of) == Some(0) {
                        break;
                    }
                }
            }
            first += len;
        }
        failure.map_or(Ok(()), Err)
    }

    /// Reads samples `first .. first + len` of every member into `out` ($(M, len, K)$, C order).
    #[cfg(unix)]
    fn read_block<T: Stored>(&self, first: usize, len: usize, out: &mut [T]) -> Result<()> {
        use rayon::prelude::*;
        use std::os::unix::fs::FileExt;

        let (_, n, k) = self.shape;
        let size = std::mem::size_of::<T>();
        out.par_chunks_mut(len * k)
            .enumerate()
            .flat_map(|(member, values)| {
                let start = (member * n + first) * k;
                values
                    .par_chunks_mut(READ_VALUES)
                    .enumerate()
                    .map(move |(c, part)| (start + c * READ_VALUES, part))
            })
            .try_for_each(|(at, part)| {
                let position = self.offset + (at * size) as u64;
                #[cfg(target_endian = "little")]
                {
                    // SAFETY: float32/float64 have no padding and every bit pattern is a valid
                    // value; the byte view covers exactly `part` (u8 needs no alignment) and
                    // `part` is not used otherwise while the view lives.
                    let bytes = unsafe {
                        std::slice::from_raw_parts_mut(
                            part.as_mut_ptr().cast::<u8>(),
                            std::mem::size_of_val(part),
                        )
                    };
                    self.file.read_exact_at(bytes, position)
                }
                #[cfg(not(target_endian = "little"))]
                {
                    let mut bytes = vec![0u8; std::mem::size_of_val(part)];
                    self.file.read_exact_at(&mut bytes, position)?;
                    for (o, b) in part.iter_mut().zip(bytes.chunks_exact(size)) {
                        *o = T::from_le(b);
                    }
                    Ok(())
                }
            })
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }

    #[cfg(not(unix))]
    fn read_block<T: Stored>(&self, _first: usize, _len: usize, _out: &mut [T]) -> Result<()> {
        Ok(())
    }
}

/// float32 and float64 as the streamed files store them.
trait Stored: Real + crate::io::LittleEndianFloat {
    /// The values of a batch of this precision, for reuse as the next buffer.
    fn into_vec(batch: Batch) -> Vec<Self>;
}

impl Stored for f32 {
    fn into_vec(batch: Batch) -> Vec<Self> {
        match batch {
            Batch::Logits32(x) => x.into_inner().into_raw_vec_and_offset().0,
            Batch::Probs32(x) => x.into_inner().into_raw_vec_and_offset().0,
            _ => Vec::new(),
        }
    }
}

impl Stored for f64 {
    fn into_vec(batch: Batch) -> Vec<Self> {
        match batch {
            Batch::Logits64(x) => x.into_inner().into_raw_vec_and_offset().0,
            Batch::Probs64(x) => x.into_inner().into_raw_vec_and_offset().0,
            _ => Vec::new(),
        }
    }
}

/// Adds a validated block to the accumulator.
fn push_to(batch: &Batch, acc: &mut EnsembleAccumulator, labels: &Labels) -> Result<()> {
    match batch {
        Batch::Logits32(x) => acc.push(x, labels),
        Batch::Logits64(x) => acc.push(x, labels),
        Batch::Probs32(x) => acc.push(x, labels),
        Batch::Probs64(x) => acc.push(x, labels),
    }
}

/// The member a validation error names.
fn member_of(e: &Error) -> Option<usize> {
    match e {
        Error::NonFinite { member, .. }
        | Error::NegativeProbability { member, .. }
        | Error::RowSum { member, .. } => Some(*member),
        _ => None,
    }
}

/// A block's validation error with the block's sample index made global.
fn at_global_sample(mut e: Error, first: usize) -> Error {
    match &mut e {
        Error::NonFinite { sample, .. }
        | Error::NegativeProbability { sample, .. }
        | Error::RowSum { sample, .. } => *sample += first,
        _ => {}
    }
    e
}

/// `(file, data offset, shape, float64)` of a streamable array.
type Located = (File, u64, (usize, usize, usize), bool);

/// The [`Located`] data of a C-order little-endian float32/float64 `.npy`
/// whose size agrees with its header; `None` for anything else.
fn locate_npy(path: &Path) -> Result<Option<Located>> {
    use crate::io::LittleEndianFloat;

    let Some((file, header, offset, file_len)) = crate::io::npy_header(path)? else {
        return Ok(None);
    };
    let [m, n, k] = header.shape[..] else {
        return Ok(None);
    };
    if header.layout.is_fortran() {
        return Ok(None);
    }
    let descriptor = header.type_descriptor.to_string();
    let double = if descriptor == f32::LITTLE_ENDIAN_DESCRIPTOR {
        false
    } else if descriptor == f64::LITTLE_ENDIAN_DESCRIPTOR {
        true
    } else {
        return Ok(None);
    };
    let size = if double { 8u64 } else { 4 };
    let bytes = (m as u64)
        .checked_mul(n as u64)
        .and_then(|x| x.checked_mul(k as u64))
        .and_then(|x| x.checked_mul(size))
        .and_then(|x| x.checked_add(offset));
    Ok((bytes == Some(file_len)).then_some((file, offset, (m, n, k), double)))
}

/// As [`locate_npy`] for the 3-D float32/float64 tensor of a safetensors file that
/// [`crate::read_array3`] would read.
fn locate_safetensors(path: &Path, field: Option<&str>) -> Result<Option<Located>> {
    use safetensors::tensor::Dtype;

    let (file, metadata, data_start, file_len) = crate::io::safetensors_header(path)?;
    let (name, t) = crate::io::pick_tensor(path, &metadata, field, crate::io::Rank::Three)?;
    let [m, n, k] = t.shape[..] else {
        return Ok(None);
    };
    let double = match t.dtype {
        Dtype::F32 => false,
        Dtype::F64 => true,
        _ => return Ok(None),
    };
    let (offset, count) = crate::io::tensor_location(path, &name, t, data_start, file_len)?;
    let size = if double { 8 } else { 4 };
    let (start, end) = t.data_offsets;
    let consistent = m.checked_mul(n).and_then(|x| x.checked_mul(k)) == Some(count)
        && count.checked_mul(size) == end.checked_sub(start);
    Ok(consistent.then_some((file, offset, (m, n, k), double)))
}
