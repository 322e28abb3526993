//! A fixed in-memory dataset, its batching, and its files.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Kind;

use super::{Batch, SampleSource};
use crate::error::{Error, Result};
use crate::tensor_file::{self, Stored, TensorFile, Values};

/// The names of the arrays in a data file, in file order.
pub const FIELDS: [&str; 4] = ["links", "plaquettes", "site_labels", "chern"];

/// A fixed set of samples held in memory (one [`Batch`]), with files.
///
/// # File layout
/// `.npz` (NumPy) and `.safetensors` files hold the same four arrays, C order, little endian:
///
/// | name          | dtype                 | shape                                      |
/// |---------------|-----------------------|--------------------------------------------|
/// | `links`       | `float32` / `float64` | $(B, d, L_1, \dots, L_d, n, n, 2)$         |
/// | `plaquettes`  | same as `links`       | $(B, P, L_1, \dots, L_d, n, n, 2)$         |
/// | `site_labels` | `float32`             | $(B, L_1, \dots, L_d)$                     |
/// | `chern`       | `int64`               | $(B)$                                      |
///
/// The last axis of size 2 holds the real and imaginary parts; `float32` for
/// [`Precision::Single`](crate::convert::Precision), `float64` for double precision. In Python:
/// ```text
/// import numpy as np
/// d = np.load("train.npz")
/// links = d["links"][..., 0] + 1j * d["links"][..., 1]   # (B, d, L1, .., Ld, n, n) complex
/// ```
/// and `safetensors.numpy.load_file("train.safetensors")` gives the same dictionary.
#[derive(Debug)]
pub struct Dataset {
    batch: Batch,
}

impl Dataset {
    /// A dataset holding `batch`.
    ///
    /// Errors if the four tensors disagree on the number of samples, or have the wrong kinds.
    pub fn new(batch: Batch) -> Result<Dataset> {
        check_batch(&batch)?;
        Ok(Dataset { batch })
    }

    /// Draws `size` samples from `source` (in chunks, with a progress bar on a terminal).
    pub fn generate<S: SampleSource + ?Sized>(source: &mut S, size: usize) -> Result<Dataset> {
        const CHUNK: usize = 1024;
        let bar = crate::progress::Progress::new(
            size as u64,
            "{msg} {bar:40} {pos}/{len} samples ({eta})",
            true,
        );
        bar.set_message(|| "generating".into());
        let mut parts = Vec::with_capacity(size.div_ceil(CHUNK).max(1));
        let mut done = 0;
        loop {
            let take = CHUNK.min(size - done);
            parts.push(source.sample(take)?);
            done += take;
            bar.set_position(done as u64);
            if done == size {
                break;
            }
        }
        bar.finish_and_clear();
        Dataset::new(Batch::cat(&parts)?)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether the dataset holds no sample.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// All samples as one batch.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The batch, consuming the dataset.
    pub fn into_batch(self) -> Batch {
        self.batch
    }

    /// Samples `..at` and `at..` as two datasets (`at` clamped to the length), e.g. a
    /// calibration set and a test set.
    pub fn split_at(&self, at: usize) -> (Dataset, Dataset) {
        let len = self.len();
        (
            Dataset {
                batch: self.batch.slice(0, at),
            },
            Dataset {
                batch: self.batch.slice(at, len),
            },
        )
    }

    /// Iterates over batches of `batch_size` samples (the last one may be shorter), in order
    /// for `shuffle_seed = None`, else in an order shuffled with that seed.
    ///
    /// Errors on `batch_size = 0`.
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> Result<Batches<'_>> {
        if batch_size == 0 {
            return Err(Error::InvalidParameter {
                name: "batch_size",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let order = shuffle_seed.map(|seed| {
            let mut order: Vec<usize> = (0..self.len()).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            order
        });
        Ok(Batches {
            batch: &self.batch,
            order,
            batch_size,
            next: 0,
        })
    }

    /// Writes the dataset to `path`, as `.npz` or `.safetensors` by its extension (see the
    /// [`Dataset`] docs for the layout).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        match Format::of(path)? {
            Format::Npz => self.save_npz(path),
            Format::SafeTensors => self.save_safetensors(path),
        }
    }

    /// Reads a dataset written by [`Dataset::save`] (or by NumPy in the same layout).
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        match Format::of(path)? {
            Format::Npz => Dataset::load_npz(path),
            Format::SafeTensors => Dataset::load_safetensors(path),
        }
    }

    /// Writes an uncompressed `.npz` archive.
    pub fn save_npz(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| io_error(path, source))?;
        let mut npz = NpzWriter::new(BufWriter::new(file));
        for stored in to_stored(&self.batch)? {
            let shape = IxDyn(&stored.shape);
            let field = stored.name.as_str();
            let write_error = |source| Error::NpzWrite {
                path: path.to_path_buf(),
                field: field.to_string(),
                source,
            };
            let shape_error = |_| Error::BadField {
                path: path.to_path_buf(),
                field: field.to_string(),
                expected: format!("{} values", stored.shape.iter().product::<usize>()),
                found: "a different number of values".into(),
            };
            match stored.values {
                Values::F32(v) => npz
                    .add_array(
                        field,
                        &ArrayD::from_shape_vec(shape, v).map_err(shape_error)?,
                    )
                    .map_err(write_error)?,
                Values::F64(v) => npz
                    .add_array(
                        field,
                        &ArrayD::from_shape_vec(shape, v).map_err(shape_error)?,
                    )
                    .map_err(write_error)?,
                Values::I64(v) => npz
                    .add_array(
                        field,
                        &ArrayD::from_shape_vec(shape, v).map_err(shape_error)?,
                    )
                    .map_err(write_error)?,
            }
        }
        npz.finish().map_err(|source| Error::NpzWrite {
            path: path.to_path_buf(),
            field: "(archive)".into(),
            source,
        })?;
        Ok(())
    }

    /// Reads an `.npz` archive.
    ///
    /// Each entry's size is checked against the archive and its `.npy` header against the entry
    /// before anything is allocated for it, so a damaged or hostile file is an error naming the
    /// field instead of an allocation of the size its header claims.
    pub fn load_npz(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| io_error(path, source))?;
        let file_len = file
            .metadata()
            .map_err(|source| io_error(path, source))?
            .len();
        let mut archive =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|e| Error::NpzRead {
                path: path.to_path_buf(),
                field: "(archive)".into(),
                source: ReadNpzError::Zip(e),
            })?;
        let mut stored = Vec::with_capacity(FIELDS.len());
        for field in FIELDS {
            let bytes = read_npz_entry(&mut archive, field, file_len, path)?;
            let read_error = |e: ReadNpyError| Error::NpzRead {
                path: path.to_path_buf(),
                field: field.to_string(),
                source: ReadNpzError::Npy(e),
            };
            let (shape, values) = match npy_descr(&bytes).as_deref() {
                Some("<i8") => {
                    let a = ArrayD::<i64>::read_npy(&bytes[..]).map_err(read_error)?;
                    (a.shape().to_vec(), Values::I64(a.iter().copied().collect()))
                }
                Some("<f8") => {
                    let a = ArrayD::<f64>::read_npy(&bytes[..]).map_err(read_error)?;
                    (a.shape().to_vec(), Values::F64(a.iter().copied().collect()))
                }
                _ => {
                    let a = ArrayD::<f32>::read_npy(&bytes[..]).map_err(read_error)?;
                    (a.shape().to_vec(), Values::F32(a.iter().copied().collect()))
                }
            };
            stored.push(Stored {
                name: field.to_string(),
                shape,
                values,
            });
        }
        Dataset::new(from_stored(stored, path)?)
    }

    /// Writes a `.safetensors` file (with a `format` entry and a checksum in its metadata),
    /// atomically.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let metadata = HashMap::from([(
            "format".to_string(),
            "gauge-nn dataset v1: links, plaquettes (real/imag on the last axis), site_labels, chern"
                .to_string(),
        )]);
        let bytes = tensor_file::encode(&to_stored(&self.batch)?, metadata, path)?;
        tensor_file::write_atomic(path, &bytes)
    }

    /// Reads a `.safetensors` file (a checksum in its metadata is verified; files written by
    /// other tools have none).
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let file = TensorFile::read(path)?;
        let stored = FIELDS
            .iter()
            .map(|field| file.stored(field))
            .collect::<Result<Vec<_>>>()?;
        Dataset::new(from_stored(stored, path)?)
    }
}

/// An iterator over the batches of a [`Dataset`] ([`Dataset::batches`]).
#[derive(Debug)]
pub struct Batches<'a> {
    batch: &'a Batch,
    order: Option<Vec<usize>>,
    batch_size: usize,
    next: usize,
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let len = self.batch.len();
        if self.next >= len {
            return None;
        }
        let end = (self.next + self.batch_size).min(len);
        let out = match &self.order {
            None => self.batch.slice(self.next, end),
            Some(order) => self.batch.take(&order[self.next..end]),
        };
        self.next = end;
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.batch.len() - self.next.min(self.batch.len())).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}

enum Format {
    Npz,
    SafeTensors,
}

impl Format {
    fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Ok(Format::Npz),
            Some("safetensors") => Ok(Format::SafeTensors),
            _ => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The batch's tensors as plain arrays in file layout (the batch must carry links).
fn to_stored(batch: &Batch) -> Result<Vec<Stored>> {
    Ok(vec![
        Stored::from_tensor("links", batch.links()?)?,
        Stored::from_tensor("plaquettes", &batch.plaquettes)?,
        Stored::from_tensor("site_labels", &batch.site_labels)?,
        Stored::from_tensor("chern", &batch.chern)?,
    ])
}

/// Checks the arrays of a file against the layout and builds the batch.
fn from_stored(stored: Vec<Stored>, path: &Path) -> Result<Batch> {
    let bad = |s: &Stored, expected: String| Error::BadField {
        path: PathBuf::from(path),
        field: s.name.to_string(),
        expected,
        found: format!("{} array of shape {:?}", s.values.dtype(), s.shape),
    };
    let [links, plaquettes, labels, chern]: [Stored; 4] =
        stored.try_into().map_err(|_| Error::UnknownFormat {
            path: path.to_path_buf(),
        })?;
    // links: (B, d, L.., n, n, 2); the other shapes follow from it.
    let ls = &links.shape;
    let d = ls.get(1).copied().unwrap_or(0);
    let ok_links = d.checked_add(5) == Some(ls.len())
        && d >= 1
        && ls[ls.len() - 1] == 2
        && ls[ls.len() - 2] == ls[ls.len() - 3]
        && !matches!(links.values, Values::I64(_))
        && Some(links.values.len()) == product(ls);
    if !ok_links {
        return Err(bad(
            &links,
            "float32/float64 array of shape (B, d, L_1, .., L_d, n, n, 2)".into(),
        ));
    }
    let b = ls[0];
    let extents = &ls[2..2 + d];
    let n = ls[ls.len() - 2];
    let mut expected = vec![b, d * (d - 1) / 2];
    expected.extend_from_slice(extents);
    expected.extend([n, n, 2]);
    if plaquettes.shape != expected
        || plaquettes.values.dtype() != links.values.dtype()
        || Some(plaquettes.values.len()) != product(&expected)
    {
        return Err(bad(
            &plaquettes,
            format!("{} array of shape {expected:?}", links.values.dtype()),
        ));
    }
    let mut expected = vec![b];
    expected.extend_from_slice(extents);
    if labels.shape != expected
        || !matches!(labels.values, Values::F32(_))
        || Some(labels.values.len()) != product(&expected)
    {
        return Err(bad(&labels, format!("float32 array of shape {expected:?}")));
    }
    if chern.shape != [b] || !matches!(chern.values, Values::I64(_)) || chern.values.len() != b {
        return Err(bad(&chern, format!("int64 array of shape [{b}]")));
    }
    for s in [&links, &plaquettes, &labels] {
        if !s.values.all_finite() {
            return Err(Error::BadField {
                path: path.to_path_buf(),
                field: s.name.clone(),
                expected: "finite values".into(),
                found: "a NaN or an infinity".into(),
            });
        }
    }
    Ok(Batch {
        links: Some(links.into_tensor()?.f_view_as_complex()?),
        plaquettes: plaquettes.into_tensor()?.f_view_as_complex()?,
        site_labels: labels.into_tensor()?,
        chern: chern.into_tensor()?,
    })
}

/// The bytes of the `.npy` entry `field` of an archive of `file_len` bytes, read only after its
/// declared size was checked against the archive, and checked against its own `.npy` header.
fn read_npz_entry<R: std::io::Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    field: &str,
    file_len: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("field `{field}`: {reason}"),
    };
    let entry = archive
        .by_name(&format!("{field}.npy"))
        .map_err(|e| Error::NpzRead {
            path: path.to_path_buf(),
            field: field.to_string(),
            source: ReadNpzError::Zip(e),
        })?;
    let declared = entry.size();
    // Deflate expands at most ~1032-fold; stored entries not at all.
    let bound = entry
        .compressed_size()
        .min(file_len)
        .saturating_mul(1100)
        .saturating_add(4096);
    if declared > bound {
        return Err(corrupt(format!(
            "the archive declares {declared} bytes for it, more than a {file_len}-byte file can hold"
        )));
    }
    let mut bytes = Vec::new();
    entry
        .take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    if bytes.len() as u64 != declared {
        return Err(corrupt(format!(
            "the archive declares {declared} bytes, the entry holds {}",
            bytes.len()
        )));
    }
    let (header_end, data_bytes) = npy_data_size(&bytes).map_err(corrupt)?;
    let found = bytes.len() - header_end;
    if data_bytes != Some(found) {
        return Err(corrupt(format!(
            "the .npy header declares {} bytes of data, the entry holds {found} (truncated or \
             damaged file)",
            data_bytes.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string())
        )));
    }
    Ok(bytes)
}

/// The `.npy` header of `bytes`: where the data starts and how many bytes the header's shape and
/// dtype declare (`None` when that overflows).
fn npy_data_size(bytes: &[u8]) -> std::result::Result<(usize, Option<usize>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy entry (no \\x93NUMPY magic)".into());
    }
    let (start, len): (usize, usize) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        v => return Err(format!("unknown .npy format version {v}")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| format!("the .npy header claims {len} bytes, more than the entry holds"))?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the .npy header is not text".to_string())?;
    let descr = npy_descr(bytes).ok_or_else(|| "the .npy header has no 'descr'".to_string())?;
    let item: usize = descr
        .get(2..)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("unknown .npy dtype {descr}"))?;
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|r| r.split_once('('))
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(t, _)| t)
        .ok_or_else(|| "the .npy header has no 'shape'".to_string())?;
    let mut total = Some(item);
    for dim in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d: usize = dim
            .parse()
            .map_err(|_| format!("the .npy shape entry `{dim}` is not a size"))?;
        total = total.and_then(|t| t.checked_mul(d));
    }
    Ok((end, total))
}

/// The `descr` of a `.npy` header (`<f4`, `<f8`, `<i8`, ...), if it has one.
fn npy_descr(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(4096))?);
    let rest = text.split("'descr':").nth(1)?;
    let mut quoted = rest.split('\'');
    quoted.next()?;
    quoted.next().map(str::to_string)
}

/// The product of a shape's entries, `None` on overflow.
fn product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x))
}

/// Checks that the tensors of a batch agree on the number of samples and have the right kinds.
fn check_batch(batch: &Batch) -> Result<()> {
    let b = batch.len() as i64;
    let complex = [Kind::ComplexFloat, Kind::ComplexDouble];
    let links = batch.links.as_ref().ok_or(Error::InvalidParameter {
        name: "links",
        value: "none".into(),
        reason: "a dataset holds the links: draw its samples with links".into(),
    })?;
    for (what, t, kinds) in [
        ("links", links, &complex[..]),
        ("plaquettes", &batch.plaquettes, &complex[..]),
        ("site_labels", &batch.site_labels, &[Kind::Float][..]),
        ("chern", &batch.chern, &[Kind::Int64][..]),
    ] {
        if !kinds.contains(&t.kind()) {
            return Err(Error::Kind {
                what,
                expected: kinds.to_vec(),
                found: t.kind(),
            });
        }
        let size = t.size();
        if size.first() != Some(&b) {
            let mut expected = size.clone();
            match expected.first_mut() {
                Some(e) => *e = b,
                None => expected.push(b),
            }
            return Err(Error::ShapeMismatch {
                what,
                expected: format!("{expected:?}"),
                found: format!("{:?}", size),
            });
        }
    }
    if batch.chern.dim() != 1 {
        return Err(Error::ShapeMismatch {
            what: "chern",
            expected: format!("{:?}", vec![b]),
            found: format!("{:?}", batch.chern.size()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Precision;
    use crate::data::{DiagonalConfig, DiagonalSource, GeneralConfig, HaarSource};
    use ndarray_npy::NpzReader;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gauge-nn-dataset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn haar(n: usize, precision: Precision, size: usize) -> Dataset {
        let mut s = HaarSource::new(GeneralConfig {
            extents: vec![4, 3],
            n,
            seed: 3,
            precision,
            ..Default::default()
        })
        .unwrap();
        Dataset::generate(&mut s, size).unwrap()
    }

    fn identical(a: &Batch, b: &Batch) -> bool {
        a.links().unwrap().equal(b.links().unwrap())
            && a.plaquettes.equal(&b.plaquettes)
            && a.site_labels.equal(&b.site_labels)
            && a.chern.equal(&b.chern)
    }

    #[test]
    fn files_round_trip_exactly_in_both_formats_and_precisions() -> Result<()> {
        for precision in [Precision::Single, Precision::Double] {
            let data = haar(2, precision, 5);
            for ext in ["npz", "safetensors"] {
                let path = scratch(&format!("round-trip-{precision:?}.{ext}"));
                data.save(&path)?;
                let back = Dataset::load(&path)?;
                assert_eq!(back.len(), 5);
                assert_eq!(
                    back.batch().links().unwrap().kind(),
                    precision.complex_kind()
                );
                assert!(identical(back.batch(), data.batch()), "{ext} {precision:?}");
            }
        }
        Ok(())
    }

    #[test]
    fn npz_layout_is_real_and_imaginary_parts_on_the_last_axis() -> Result<()> {
        let data = haar(1, Precision::Double, 2);
        let path = scratch("layout.npz");
        data.save(&path)?;
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        let links: ArrayD<f64> = npz.by_name("links").unwrap();
        assert_eq!(links.shape(), [2, 2, 4, 3, 1, 1, 2]);
        let t = data.batch().links().unwrap();
        let index = [1i64, 0, 2, 1, 0, 0];
        assert_eq!(links[[1, 0, 2, 1, 0, 0, 0]], t.real().double_value(&index));
        assert_eq!(links[[1, 0, 2, 1, 0, 0, 1]], t.imag().double_value(&index));
        Ok(())
    }

    #[test]
    fn batches_cover_every_sample_once_in_a_seeded_order() -> Result<()> {
        let mut s = DiagonalSource::new(DiagonalConfig {
            n: 1,
            chern: crate::data::ChernChoice::Range { lo: -2, hi: 2 },
            ..Default::default()
        })?;
        let data = Dataset::generate(&mut s, 10)?;
        // Tag each sample by a value unique to it: the label at site 0.
        let tags = |b: &Batch| -> Vec<f32> {
            Vec::<f32>::try_from(&b.site_labels.flatten(1, -1).select(1, 0)).unwrap()
        };
        let all = tags(data.batch());
        let in_order: Vec<f32> = data.batches(4, None)?.flat_map(|b| tags(&b)).collect();
        assert_eq!(in_order, all);
        assert_eq!(
            data.batches(4, None)?.map(|b| b.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let shuffled: Vec<f32> = data.batches(3, Some(7))?.flat_map(|b| tags(&b)).collect();
        let again: Vec<f32> = data.batches(3, Some(7))?.flat_map(|b| tags(&b)).collect();
        assert_eq!(shuffled, again);
        assert_ne!(shuffled, all);
        let mut sorted = shuffled.clone();
        sorted.sort_by(f32::total_cmp);
        let mut expected = all.clone();
        expected.sort_by(f32::total_cmp);
        assert_eq!(sorted, expected);
        // Each shuffled batch keeps its samples whole: labels still sum to the Chern numbers.
        for b in data.batches(3, Some(7))? {
            let sums = b
                .site_labels
                .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
            let c = b.chern.to_kind(Kind::Double);
            assert!((sums - c).abs().max().double_value(&[]) < 1e-5);
        }
        assert!(matches!(
            data.batches(0, None),
            Err(Error::InvalidParameter { .. })
        ));
        let (a, b) = data.split_at(3);
        assert_eq!((a.len(), b.len()), (3, 7));
        Ok(())
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_field() -> Result<()> {
        let data = haar(1, Precision::Single, 2);
        assert!(matches!(
            data.save(scratch("x.txt")),
            Err(Error::UnknownFormat { .. })
        ));
        let missing = scratch("does-not-exist.npz");
        match Dataset::load(&missing) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected an io error, got {other:?}"),
        }
        // An archive with a wrongly shaped label array.
        let path = scratch("bad-labels.npz");
        {
            let mut npz = NpzWriter::new(File::create(&path).unwrap());
            for s in to_stored(data.batch())? {
                match (s.name.as_str(), s.values) {
                    ("site_labels", Values::F32(v)) => {
                        let a = ArrayD::from_shape_vec(IxDyn(&[2, 12]), v).unwrap();
                        npz.add_array("site_labels", &a).unwrap();
                    }
                    (name, Values::F32(v)) => {
                        npz.add_array(name, &ArrayD::from_shape_vec(IxDyn(&s.shape), v).unwrap())
                            .unwrap();
                    }
                    (name, Values::I64(v)) => {
                        npz.add_array(name, &ArrayD::from_shape_vec(IxDyn(&s.shape), v).unwrap())
                            .unwrap();
                    }
                    _ => unreachable!("single precision data"),
                }
            }
            npz.finish().unwrap();
        }
        match Dataset::load(&path) {
            Err(Error::BadField { path: p, field, .. }) => {
                assert_eq!(p, path);
                assert_eq!(field, "site_labels");
            }
            other => panic!("expected a bad field, got {other:?}"),
        }
        // An archive without the Chern numbers.
        let path = scratch("no-chern.npz");
        {
            let mut npz = NpzWriter::new(File::create(&path).unwrap());
            for s in to_stored(data.batch())? {
                if let Values::F32(v) = s.values {
                    npz.add_array(s.name, &ArrayD::from_shape_vec(IxDyn(&s.shape), v).unwrap())
                        .unwrap();
                }
            }
            npz.finish().unwrap();
        }
        assert!(
            matches!(Dataset::load(&path), Err(Error::NpzRead { field, .. }) if field == "chern")
        );
        // A safetensors file that is not one.
        let path = scratch("garbage.safetensors");
        std::fs::write(&path, b"not a safetensors file").unwrap();
        assert!(matches!(Dataset::load(&path), Err(Error::Corrupt { .. })));
        Ok(())
    }

    #[test]
    fn inconsistent_batches_are_rejected() {
        let data = haar(1, Precision::Single, 3).into_batch();
        let bad = Batch {
            chern: data.chern.narrow(0, 0, 2),
            ..data.shallow_clone()
        };
        assert!(matches!(
            Dataset::new(bad),
            Err(Error::ShapeMismatch { what: "links", .. })
        ));
        let bad = Batch {
            site_labels: data.site_labels.to_kind(Kind::Double),
            ..data
        };
        assert!(matches!(
            Dataset::new(bad),
            Err(Error::Kind {
                what: "site_labels",
                ..
            })
        ));
    }
}
