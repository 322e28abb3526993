//! Readers for what Python users save: NumPy `.npy` and `.npz`, safetensors, and JSON.
//!
//! Member arrays must be 3-D $(M, N, K)$ float32 or float64; labels 1-D integers of any width
//! (int8..int64, uint8..uint64). Files are read once into an array of their own precision (no
//! float64 copy of a float32 file). Every error names the file and the field.
//!
//! Fields: a `.npz` member name, a safetensors tensor name, or for JSON a top-level key or a JSON
//! pointer (`/inputs/logits_MNK`). With no field given, a file holding a single array is read; a
//! `.npz`/safetensors file with several arrays is searched for the only one of the right
//! rank (labels: the only 1-D integer one, or one named `labels`).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array3};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{
    NpzReader, ReadDataError, ReadNpyError, ReadNpyExt, ReadNpzError, ReadableElement,
};
use rayon::prelude::*;
use safetensors::tensor::{Dtype, Metadata, TensorInfo};

use crate::error::{Error, Result};

/// A 3-D float array in the precision it was stored in.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatArray3 {
    /// float32.
    F32(Array3<f32>),
    /// float64.
    F64(Array3<f64>),
}

impl FloatArray3 {
    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        match self {
            Self::F32(a) => a.dim(),
            Self::F64(a) => a.dim(),
        }
    }

    /// Size of the values in bytes.
    pub fn bytes(&self) -> usize {
        match self {
            Self::F32(a) => a.len() * 4,
            Self::F64(a) => a.len() * 8,
        }
    }
}

/// File formats, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.npy`.
    Npy,
    /// `.npz` (stored or deflate-compressed, as `np.savez`/`np.savez_compressed`).
    Npz,
    /// `.safetensors`.
    Safetensors,
    /// `.json`: nested lists.
    Json,
}

impl FileFormat {
    /// The format of `path` by its extension.
    ///
    /// # Errors
    /// [`Error::Format`] for another extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("npy") => Ok(Self::Npy),
            Some("npz") => Ok(Self::Npz),
            Some("safetensors") => Ok(Self::Safetensors),
            Some("json") => Ok(Self::Json),
            _ => Err(format_error(
                path,
                "",
                "unknown extension (expected .npy, .npz, .safetensors or .json)",
            )),
        }
    }
}

pub(crate) fn format_error(path: &Path, field: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn npy_reason(e: &ReadNpyError) -> String {
    match e {
        ReadNpyError::WrongNdim(expected, found) => {
            format!(
                "array has {found} dimensions, expected {}",
                expected.unwrap_or(0)
            )
        }
        ReadNpyError::WrongDescriptor(d) => format!("unsupported dtype {d}"),
        other => other.to_string(),
    }
}

fn float_reason(e: &ReadNpyError) -> String {
    match e {
        ReadNpyError::WrongDescriptor(d) => {
            format!("unsupported dtype {d} (member arrays must be float32 or float64)")
        }
        other => npy_reason(other),
    }
}

fn npz_reason(e: &ReadNpzError) -> String {
    match e {
        ReadNpzError::Npy(n) => npy_reason(n),
        other => other.to_string(),
    }
}

/// Reads a 3-D float array (member logits or probabilities).
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened; [`Error::Format`] naming file and field for a
/// missing, ambiguous, non-3-D or non-float array, or a malformed file.
pub fn read_array3(path: impl AsRef<Path>, field: Option<&str>) -> Result<FloatArray3> {
    let path = path.as_ref();
    match FileFormat::of(path)? {
        FileFormat::Npy => read_npy3(path, field),
        FileFormat::Npz => read_npz(path, field, Rank::Three, |npz, name| {
            match npz.by_name::<_, ndarray::Ix3>(name) {
                Ok(a) => Ok(FloatArray3::F32(a)),
                Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {
                    npz.by_name::<_, ndarray::Ix3>(name).map(FloatArray3::F64)
                }
                Err(e) => Err(e),
            }
        })
        .map(|(a, _)| a),
        FileFormat::Safetensors => read_safetensors3(path, field),
        FileFormat::Json => {
            let (value, field) = json_field(path, field)?;
            json_array3(&value).map_err(|r| format_error(path, &field, r))
        }
    }
}

/// Invokes `$attempt!(T)` for each integer type labels may be stored as, the common ones first.
macro_rules! label_int_types {
    ($attempt:ident) => {
        $attempt!(i64);
        $attempt!(i32);
        $attempt!(u8);
        $attempt!(i16);
        $attempt!(i8);
        $attempt!(u16);
        $attempt!(u32);
        $attempt!(u64);
    };
}

/// Reads 1-D integer labels (any integer width) as `i64`.
///
/// # Errors
/// As [`read_array3`]; uint64 values above `i64::MAX` are rejected.
pub fn read_labels(path: impl AsRef<Path>, field: Option<&str>) -> Result<Vec<i64>> {
    let path = path.as_ref();
    match FileFormat::of(path)? {
        FileFormat::Npy => {
            if let Some(f) = field {
                return Err(format_error(
                    path,
                    f,
                    "a .npy file holds one array and has no fields",
                ));
            }
            check_npy_size(path)?;
            macro_rules! attempt {
                ($t:ty) => {
                    match Array1::<$t>::read_npy(BufReader::new(open(path)?)) {
                        Ok(a) => return ints_to_i64(a.iter().copied(), path, ""),
                        Err(ReadNpyError::WrongDescriptor(_)) => {}
                        Err(e) => return Err(format_error(path, "", npy_reason(&e))),
                    }
                };
            }
            label_int_types!(attempt);
            // Every integer type failed: report the file's dtype.
            let reason = match Array1::<bool>::read_npy(BufReader::new(open(path)?)) {
                Err(ReadNpyError::WrongDescriptor(d)) => {
                    format!("unsupported dtype {d} (labels must be integers)")
                }
                Err(e) => npy_reason(&e),
                Ok(_) => "unsupported dtype bool (labels must be integers)".to_owned(),
            };
            Err(format_error(path, "", reason))
        }
        FileFormat::Npz => read_npz(path, field, Rank::One, |npz, name| {
            macro_rules! attempt {
                ($t:ty) => {
                    match npz.by_name::<_, ndarray::Ix1>(name) {
                        Ok(a) => {
                            let a: Array1<$t> = a;
                            return Ok(a.iter().map(|&v| v as i128).collect::<Vec<i128>>());
                        }
                        Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {}
                        Err(e) => return Err(e),
                    }
                };
            }
            label_int_types!(attempt);
            npz.by_name::<ndarray::OwnedRepr<i64>, ndarray::Ix1>(name)
                .map(|a| a.iter().map(|&v| i128::from(v)).collect())
        })
        .and_then(|(v, name)| ints_to_i64(v.into_iter(), path, &name)),
        FileFormat::Safetensors => read_safetensors_labels(path, field),
        FileFormat::Json => {
            let (value, field) = json_field(path, field)?;
            let list = value
                .as_array()
                .ok_or_else(|| format_error(path, &field, "labels must be a list of integers"))?;
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_i64().ok_or_else(|| {
                        format_error(path, &field, format!("entry {i} ({v}) is not an integer"))
                    })
                })
                .collect()
        }
    }
}

fn ints_to_i64<I: Into<i128>>(
    values: impl Iterator<Item = I>,
    path: &Path,
    field: &str,
) -> Result<Vec<i64>> {
    values
        .enumerate()
        .map(|(i, v)| {
            let v: i128 = v.into();
            i64::try_from(v).map_err(|_| {
                format_error(
                    path,
                    field,
                    format!("label {v} of sample {i} does not fit in int64"),
                )
            })
        })
        .collect()
}

/// Checks the data size a `.npy` header declares (shape times item size, checked arithmetic)
/// against the bytes the file holds after its header, before anything is allocated: a header
/// that declares a shape far larger than the file, or a truncated file, is a [`Error::Format`]
/// naming the file with the expected and the actual size. Headers that ndarray-npy cannot parse
/// and item sizes it does not know are left to its reader, which refuses them without
/// allocating for the data.
fn check_npy_size(path: &Path) -> Result<()> {
    let Some((_, header, offset, file_len)) = npy_header(path)? else {
        return Ok(());
    };
    check_declared_size(
        path,
        "",
        &header,
        file_len.saturating_sub(offset),
        "the file holds",
    )
}

/// Checks the data size `header` declares against `actual` bytes (`holds` says where they are).
fn check_declared_size(
    path: &Path,
    field: &str,
    header: &Header,
    actual: u64,
    holds: &str,
) -> Result<()> {
    let descriptor = header.type_descriptor.to_string();
    let digits: String = descriptor
        .trim_matches(|c| c == '\'' || c == '"')
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let Ok(item) = digits.parse::<u64>() else {
        return Ok(());
    };
    let expected = header
        .shape
        .iter()
        .try_fold(item, |acc, &d| acc.checked_mul(d as u64));
    match expected {
        Some(e) if e == actual => Ok(()),
        Some(e) => Err(format_error(
            path,
            field,
            format!(
                "its header declares shape {:?} of {descriptor} ({e} bytes of data), {holds} {actual} bytes after the header ({})",
                header.shape,
                if e > actual {
                    "truncated or corrupt"
                } else {
                    "trailing bytes or corrupt"
                }
            ),
        )),
        None => Err(format_error(
            path,
            field,
            format!(
                "its header declares shape {:?} of {descriptor}, more bytes than can be addressed; {holds} {actual} bytes after the header",
                header.shape
            ),
        )),
    }
}

fn read_npy3(path: &Path, field: Option<&str>) -> Result<FloatArray3> {
    if let Some(f) = field {
        return Err(format_error(
            path,
            f,
            "a .npy file holds one array and has no fields",
        ));
    }
    check_npy_size(path)?;
    if let Some(a) = read_npy3_parallel(path)? {
        return Ok(a);
    }
    // Anything unusual (Fortran order, other dtypes, a malformed or truncated file) goes
    // through ndarray-npy's sequential reader, which also words the errors.
    match Array3::<f32>::read_npy(BufReader::new(open(path)?)) {
        Ok(a) => Ok(FloatArray3::F32(a)),
        Err(ReadNpyError::WrongDescriptor(_)) => {
            Array3::<f64>::read_npy(BufReader::new(open(path)?))
                .map(FloatArray3::F64)
                .map_err(|e| format_error(path, "", float_reason(&e)))
        }
        Err(e) => Err(format_error(path, "", npy_reason(&e))),
    }
}

/// Bytes per read in [`read_npy3_parallel`].
const READ_CHUNK_BYTES: usize = 1 << 20;

/// float32 and float64 as `.npy` stores them little-endian.
#[cfg(unix)]
pub(crate) trait LittleEndianFloat: ReadableElement + Copy + Default + Send + Sync {
    /// The header's type descriptor, as the header value displays it.
    const LITTLE_ENDIAN_DESCRIPTOR: &'static str;
    /// From exactly `size_of::<Self>()` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

#[cfg(unix)]
impl LittleEndianFloat for f32 {
    const LITTLE_ENDIAN_DESCRIPTOR: &'static str = "'<f4'";
    #[inline]
    fn from_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        f32::from_le_bytes(b)
    }
}

#[cfg(unix)]
impl LittleEndianFloat for f64 {
    const LITTLE_ENDIAN_DESCRIPTOR: &'static str = "'<f8'";
    #[inline]
    fn from_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        f64::from_le_bytes(b)
    }
}

/// The common case of a large `.npy` file, a C-order 3-D float32/float64 array whose size
/// matches the header: the header is parsed by ndarray-npy, and the data are read with
/// positioned reads of 1 MiB chunks on all threads, each decoded by ndarray-npy and copied
/// into place (so the kernel's copy and the page faults of the new array are shared among the
/// threads). `Ok(None)` for anything else.
/// The opened `.npy` file, its parsed header, the byte offset of its data and the file's
/// length; `Ok(None)` when ndarray-npy cannot parse the header (the caller's fallback reader
/// then reports the problem).
pub(crate) fn npy_header(path: &Path) -> Result<Option<(File, Header, u64, u64)>> {
    let file = open(path)?;
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_len = file.metadata().map_err(io_error)?.len();
    let mut reader = BufReader::new(&file);
    let mut prefix = [0u8; 12];
    let got = read_up_to(&mut reader, &mut prefix).map_err(io_error)?;
    check_header_length(path, "", &prefix[..got], file_len, "the file holds")?;
    reader.rewind().map_err(io_error)?;
    let Ok(header) = Header::from_reader(&mut reader) else {
        return Ok(None);
    };
    let offset = reader.stream_position().map_err(io_error)?;
    drop(reader);
    Ok(Some((file, header, offset, file_len)))
}

#[cfg(unix)]
fn read_npy3_parallel(path: &Path) -> Result<Option<FloatArray3>> {
    use std::os::unix::fs::FileExt;

    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let Some((file, header, offset, file_len)) = npy_header(path)? else {
        return Ok(None);
    };
    if header.layout.is_fortran() || header.shape.len() != 3 {
        return Ok(None);
    }
    let shape = (header.shape[0], header.shape[1], header.shape[2]);
    let Some(len) = shape
        .0
        .checked_mul(shape.1)
        .and_then(|x| x.checked_mul(shape.2))
    else {
        return Ok(None);
    };
    let desc = &header.type_descriptor;

    fn read_all<T: LittleEndianFloat>(
        file: &File,
        header: &Header,
        offset: u64,
        len: usize,
    ) -> std::io::Result<std::result::Result<Vec<T>, ReadDataError>> {
        let size = std::mem::size_of::<T>();
        // The common little-endian case is decoded straight into place; other byte orders
        // go through ndarray-npy's decoder.
        let little = header.type_descriptor.to_string() == T::LITTLE_ENDIAN_DESCRIPTOR;
        let mut data = vec![T::default(); len];
        let chunk = READ_CHUNK_BYTES / size;
        let decoded = data
            .par_chunks_mut(chunk)
            .enumerate()
            .map_init(Vec::new, |bytes, (c, out)| {
                bytes.resize(std::mem::size_of_val(out), 0u8);
                file.read_exact_at(bytes, offset + (c * chunk * size) as u64)?;
                if little {
                    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(size)) {
                        *o = T::from_le(b);
                    }
                    return Ok(Ok(()));
                }
                Ok(
                    T::read_to_end_exact_vec(&bytes[..], &header.type_descriptor, out.len())
                        .map(|values| out.copy_from_slice(&values)),
                )
            })
            .collect::<std::io::Result<std::result::Result<(), ReadDataError>>>()?;
        Ok(decoded.map(|()| data))
    }

    let fits = |size: u64| {
        (len as u64)
            .checked_mul(size)
            .and_then(|b| b.checked_add(offset))
            == Some(file_len)
    };
    let empty: &[u8] = &[];
    let array = if f32::read_to_end_exact_vec(empty, desc, 0).is_ok() && fits(4) {
        match read_all::<f32>(&file, &header, offset, len).map_err(io_error)? {
            Ok(v) => Array3::from_shape_vec(shape, v).ok().map(FloatArray3::F32),
            Err(_) => None,
        }
    } else if f64::read_to_end_exact_vec(empty, desc, 0).is_ok() && fits(8) {
        match read_all::<f64>(&file, &header, offset, len).map_err(io_error)? {
            Ok(v) => Array3::from_shape_vec(shape, v).ok().map(FloatArray3::F64),
            Err(_) => None,
        }
    } else {
        None
    };
    Ok(array)
}

#[cfg(not(unix))]
fn read_npy3_parallel(_path: &Path) -> Result<Option<FloatArray3>> {
    Ok(None)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rank {
    One,
    Three,
}

/// Reads field `field` of an `.npz`, or finds the only array `read` accepts.
fn read_npz<T>(
    path: &Path,
    field: Option<&str>,
    rank: Rank,
    read: impl Fn(&mut NpzReader<BufReader<File>>, &str) -> std::result::Result<T, ReadNpzError>,
) -> Result<(T, String)>
where
    T: NpzResult,
{
    check_npz_sizes(path)?;
    let mut npz = NpzReader::new(BufReader::new(open(path)?))
        .map_err(|e| format_error(path, field.unwrap_or(""), npz_reason(&e)))?;
    if let Some(f) = field {
        return read(&mut npz, f)
            .map(|v| (v, f.to_owned()))
            .map_err(|e| format_error(path, f, npz_reason(&e)));
    }
    let names = npz
        .names()
        .map_err(|e| format_error(path, "", npz_reason(&e)))?;
    if names.len() == 1 {
        return read(&mut npz, &names[0])
            .map(|v| (v, names[0].clone()))
            .map_err(|e| format_error(path, &names[0], npz_reason(&e)));
    }
    if rank == Rank::One && names.iter().any(|n| n == "labels") {
        return read(&mut npz, "labels")
            .map(|v| (v, "labels".to_owned()))
            .map_err(|e| format_error(path, "labels", npz_reason(&e)));
    }
    let mut found: Option<(T, String)> = None;
    for name in &names {
        if let Ok(v) = read(&mut npz, name) {
            if let Some((_, first)) = &found {
                return Err(format_error(
                    path,
                    "",
                    format!("ambiguous: arrays {first:?} and {name:?} both fit; name the field"),
                ));
            }
            found = Some((v, name.clone()));
        }
    }
    found.ok_or_else(|| {
        format_error(
            path,
            "",
            format!(
                "no {} array among {names:?}",
                if rank == Rank::One {
                    "1-D integer"
                } else {
                    "3-D float"
                }
            ),
        )
    })
}

/// Most bytes deflate can expand one compressed byte into (its limit is about 1032), with room.
const MAX_DEFLATE_RATIO: u64 = 1100;

/// Checks every entry of an `.npz` before anything is read from it: its declared uncompressed
/// size against its compressed size (no more than deflate can produce), and the data size its
/// `.npy` header declares (shape times item size, checked arithmetic) against that declared
/// size. A lying entry is a [`Error::Format`] naming the file, the array and both sizes. Archives
/// and headers that cannot be parsed are left to ndarray-npy's reader, which refuses them.
fn check_npz_sizes(path: &Path) -> Result<()> {
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(open(path)?)) else {
        return Ok(());
    };
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        let name = entry.name().trim_end_matches(".npy").to_owned();
        let (size, compressed) = (entry.size(), entry.compressed_size());
        let limit = compressed
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(1 << 16);
        if size > compressed && size > limit {
            return Err(format_error(
                path,
                &name,
                format!(
                    "entry declares {size} bytes uncompressed from {compressed} compressed bytes, more than deflate can produce (corrupt)"
                ),
            ));
        }
        let mut prefix = [0u8; 12];
        let Ok(got) = read_up_to(&mut entry, &mut prefix) else {
            continue;
        };
        check_header_length(path, &name, &prefix[..got], size, "the entry declares")?;
        let mut counted = CountingReader {
            inner: (&prefix[..got]).chain((&mut entry).take(1 << 20)),
            count: 0,
        };
        let Ok(header) = Header::from_reader(&mut counted) else {
            continue;
        };
        let after = size.saturating_sub(counted.count);
        check_declared_size(path, &name, &header, after, "the entry declares")?;
    }
    Ok(())
}

/// Reads as many bytes as `buf` holds, or up to the end of `reader`; returns how many.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Checks the header length a `.npy` preamble (`prefix`: its first 12 bytes or fewer) declares
/// against the `size` bytes of the file or entry, before a reader allocates for the header: a
/// version 2 or 3 header may declare up to 4 GiB. Anything that is not a `.npy` preamble is left
/// to the reader.
fn check_header_length(
    path: &Path,
    field: &str,
    prefix: &[u8],
    size: u64,
    holds: &str,
) -> Result<()> {
    if prefix.len() < 10 || &prefix[..6] != b"\x93NUMPY" {
        return Ok(());
    }
    let declared = match prefix[6] {
        1 => 10 + u64::from(u16::from_le_bytes([prefix[8], prefix[9]])),
        2 | 3 if prefix.len() >= 12 => {
            12 + u64::from(u32::from_le_bytes([
                prefix[8], prefix[9], prefix[10], prefix[11],
            ]))
        }
        _ => return Ok(()),
    };
    if declared > size {
        return Err(format_error(
            path,
            field,
            format!(
                "its .npy header declares {declared} bytes of preamble and header, {holds} {size} bytes (truncated inside the header, or corrupt)"
            ),
        ));
    }
    Ok(())
}

/// A reader that counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Marker for what [`read_npz`] returns.
trait NpzResult {}
impl NpzResult for FloatArray3 {}
impl NpzResult for Vec<i128> {}

fn json_field(path: &Path, field: Option<&str>) -> Result<(serde_json::Value, String)> {
    let value: serde_json::Value = serde_json::from_reader(BufReader::new(open(path)?))
        .map_err(|e| format_error(path, field.unwrap_or(""), format!("invalid JSON: {e}")))?;
    let Some(f) = field else {
        return Ok((value, String::new()));
    };
    let found = if f.starts_with('/') {
        value.pointer(f)
    } else {
        value.get(f)
    };
    match found {
        Some(v) => Ok((v.clone(), f.to_owned())),
        None => Err(format_error(path, f, "no such field")),
    }
}

fn json_array3(value: &serde_json::Value) -> std::result::Result<FloatArray3, String> {
    let outer = value
        .as_array()
        .ok_or("expected a 3-D nested list (M, N, K)")?;
    let m = outer.len();
    let first = outer
        .first()
        .and_then(|v| v.as_array())
        .ok_or("expected a 3-D nested list (M, N, K)")?;
    let n = first.len();
    let k = first
        .first()
        .and_then(|v| v.as_array())
        .map(Vec::len)
        .ok_or("expected a 3-D nested list (M, N, K)")?;
    let mut data = Vec::with_capacity(m * n * k);
    for (a, member) in outer.iter().enumerate() {
        let member = member
            .as_array()
            .filter(|r| r.len() == n)
            .ok_or(format!("member {a} is not a list of {n} samples"))?;
        for (i, row) in member.iter().enumerate() {
            let row = row.as_array().filter(|r| r.len() == k).ok_or(format!(
                "member {a}, sample {i} is not a list of {k} numbers"
            ))?;
            for (c, v) in row.iter().enumerate() {
                data.push(v.as_f64().ok_or(format!(
                    "member {a}, sample {i}, class {c}: {v} is not a number"
                ))?);
            }
        }
    }
    Array3::from_shape_vec((m, n, k), data)
        .map(FloatArray3::F64)
        .map_err(|e| e.to_string())
}

/// Parsed safetensors header and the file offset of its data section.
pub(crate) fn safetensors_header(path: &Path) -> Result<(File, Metadata, u64, u64)> {
    let mut file = open(path)?;
    let file_len = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| {
            format_error(
                path,
                "",
                format!("file of {file_len} bytes is too short for a safetensors header (8-byte length first)"),
            )
        })?;
    let n = u64::from_le_bytes(len);
    let after = file_len.saturating_sub(8);
    if n > after {
        return Err(format_error(
            path,
            "",
            format!(
                "safetensors header declares {n} bytes, the file holds {after} bytes after its 8-byte length (truncated inside the header, or corrupt)"
            ),
        ));
    }
    if n > 100_000_000 {
        return Err(format_error(
            path,
            "",
            format!(
                "safetensors header declares {n} bytes, more than the 100 MB a header may have (corrupt)"
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let metadata: Metadata = serde_json::from_slice(&header)
        .map_err(|e| format_error(path, "", format!("invalid safetensors header: {e}")))?;
    let expected = 8 + n + metadata.data_len() as u64;
    if expected != file_len {
        return Err(format_error(
            path,
            "",
            format!(
                "file has {file_len} bytes, its header describes {expected} (truncated or corrupt)"
            ),
        ));
    }
    Ok((file, metadata, 8 + n, file_len))
}

pub(crate) fn pick_tensor<'a>(
    path: &Path,
    metadata: &'a Metadata,
    field: Option<&str>,
    rank: Rank,
) -> Result<(String, &'a TensorInfo)> {
    let tensors = metadata.tensors();
    if let Some(f) = field {
        return tensors
            .get(f)
            .map(|t| (f.to_owned(), *t))
            .ok_or_else(|| format_error(path, f, "no such tensor"));
    }
    if tensors.len() == 1 {
        let (name, t) = tensors
            .iter()
            .next()
            .map(|(n, t)| (n.clone(), *t))
            .ok_or_else(|| format_error(path, "", "no tensors"))?;
        return Ok((name, t));
    }
    if let (Rank::One, Some(t)) = (rank, tensors.get("labels")) {
        return Ok(("labels".to_owned(), *t));
    }
    let want = if rank == Rank::One { 1 } else { 3 };
    let mut fits: Vec<(&String, &&TensorInfo)> = tensors
        .iter()
        .filter(|(_, t)| t.shape.len() == want)
        .collect();
    fits.sort_by(|a, b| a.0.cmp(b.0));
    match fits.as_slice() {
        [(name, t)] => Ok(((*name).clone(), **t)),
        [] => Err(format_error(path, "", format!("no {want}-D tensor"))),
        many => Err(format_error(
            path,
            "",
            format!(
                "ambiguous: tensors {:?} are all {want}-D; name the field",
                many.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            ),
        )),
    }
}

/// Reads `count` little-endian elements of `width` bytes at `offset`, converting each in place
/// through a fixed-size buffer (so the file's bytes are never held twice).
fn read_elements<const WIDTH: usize, T>(
    file: &mut File,
    path: &Path,
    field: &str,
    offset: u64,
    count: usize,
    convert: impl Fn([u8; WIDTH]) -> T,
) -> Result<Vec<T>> {
    let width = WIDTH;
    file.seek(SeekFrom::Start(offset))
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let mut out = Vec::with_capacity(count);
    let mut buf = vec![0u8; (1 << 20) / width * width];
    let mut left = count * width;
    while left > 0 {
        let take = left.min(buf.len());
        file.read_exact(&mut buf[..take]).map_err(|_| {
            format_error(path, field, "tensor data extends past the end of the file")
        })?;
        out.extend(
            buf[..take]
                .as_chunks::<WIDTH>()
                .0
                .iter()
                .map(|b| convert(*b)),
        );
        left -= take;
    }
    Ok(out)
}

/// [`read_elements`] of little-endian integers of `N` bytes, widened to `i128` (lossless for
/// every integer type; the range check is [`ints_to_i64`]'s).
fn read_ints<const N: usize, I: Into<i128>>(
    file: &mut File,
    path: &Path,
    field: &str,
    offset: u64,
    count: usize,
    from_le: fn([u8; N]) -> I,
) -> Result<Vec<i128>> {
    read_elements(file, path, field, offset, count, |b| from_le(b).into())
}

pub(crate) fn tensor_location(
    path: &Path,
    name: &str,
    t: &TensorInfo,
    data_start: u64,
    file_len: u64,
) -> Result<(u64, usize)> {
    let count = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            format_error(
                path,
                name,
                format!(
                    "shape {:?} has more elements than can be addressed",
                    t.shape
                ),
            )
        })?;
    let (start, end) = t.data_offsets;
    let past = (data_start.checked_add(end as u64)).is_none_or(|e| e > file_len);
    if past || start > end {
        return Err(format_error(
            path,
            name,
            format!(
                "tensor data at bytes {start}..{end} of the data section extends past the end of the file ({file_len} bytes) or is reversed"
            ),
        ));
    }
    Ok((data_start + start as u64, count))
}

fn read_safetensors3(path: &Path, field: Option<&str>) -> Result<FloatArray3> {
    let (mut file, metadata, data_start, file_len) = safetensors_header(path)?;
    let (name, t) = pick_tensor(path, &metadata, field, Rank::Three)?;
    let shape: [usize; 3] = t.shape.as_slice().try_into().map_err(|_| {
        format_error(
            path,
            &name,
            format!("tensor has shape {:?}, expected 3-D (M, N, K)", t.shape),
        )
    })?;
    let (offset, count) = tensor_location(path, &name, t, data_start, file_len)?;
    let shape_err = |e: ndarray::ShapeError| format_error(path, &name, e.to_string());
    match t.dtype {
        Dtype::F32 => {
            let v = read_elements(&mut file, path, &name, offset, count, f32::from_le_bytes)?;
            Array3::from_shape_vec(shape, v)
                .map(FloatArray3::F32)
                .map_err(shape_err)
        }
        Dtype::F64 => {
            let v = read_elements(&mut file, path, &name, offset, count, f64::from_le_bytes)?;
            Array3::from_shape_vec(shape, v)
                .map(FloatArray3::F64)
                .map_err(shape_err)
        }
        other => Err(format_error(
            path,
            &name,
            format!("unsupported dtype {other:?} (expected F32 or F64)"),
        )),
    }
}

fn read_safetensors_labels(path: &Path, field: Option<&str>) -> Result<Vec<i64>> {
    let (mut file, metadata, data_start, file_len) = safetensors_header(path)?;
    let (name, t) = pick_tensor(path, &metadata, field, Rank::One)?;
    if t.shape.len() != 1 {
        return Err(format_error(
            path,
            &name,
            format!("tensor has shape {:?}, expected 1-D labels", t.shape),
        ));
    }
    let (offset, count) = tensor_location(path, &name, t, data_start, file_len)?;
    let values: Vec<i128> = match t.dtype {
        Dtype::I64 => read_ints(&mut file, path, &name, offset, count, i64::from_le_bytes)?,
        Dtype::U64 => read_ints(&mut file, path, &name, offset, count, u64::from_le_bytes)?,
        Dtype::I32 => read_ints(&mut file, path, &name, offset, count, i32::from_le_bytes)?,
        Dtype::U32 => read_ints(&mut file, path, &name, offset, count, u32::from_le_bytes)?,
        Dtype::I16 => read_ints(&mut file, path, &name, offset, count, i16::from_le_bytes)?,
        Dtype::U16 => read_ints(&mut file, path, &name, offset, count, u16::from_le_bytes)?,
        Dtype::I8 => read_ints(&mut file, path, &name, offset, count, i8::from_le_bytes)?,
        Dtype::U8 => read_ints(&mut file, path, &name, offset, count, u8::from_le_bytes)?,
        other => {
            return Err(format_error(
                path,
                &name,
                format!("unsupported dtype {other:?} (labels must be integers)"),
            ));
        }
    };
    ints_to_i64(values.into_iter(), path, &name)
}

/// Splits `"file.npz:field"` into path and field. A suffix after the last `:` counts as a field
/// only when the part before it has one of the known extensions.
pub fn split_field(spec: &str) -> (PathBuf, Option<String>) {
    if let Some((p, f)) = spec.rsplit_once(':')
        && FileFormat::of(Path::new(p)).is_ok()
        && !f.is_empty()
    {
        return (PathBuf::from(p), Some(f.to_owned()));
    }
    (PathBuf::from(spec), None)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use ndarray_npy::WriteNpyExt;

    /// The fast little-endian decoding recognises the descriptors ndarray-npy (and numpy) write.
    #[test]
    fn little_endian_descriptors_are_recognised() {
        let mut bytes = Vec::new();
        Array3::<f32>::zeros((1, 1, 1))
            .write_npy(&mut bytes)
            .unwrap();
        let h = Header::from_reader(&mut &bytes[..]).unwrap();
        assert_eq!(h.type_descriptor.to_string(), f32::LITTLE_ENDIAN_DESCRIPTOR);
        let mut bytes = Vec::new();
        Array3::<f64>::zeros((1, 1, 1))
            .write_npy(&mut bytes)
            .unwrap();
        let h = Header::from_reader(&mut &bytes[..]).unwrap();
        assert_eq!(h.type_descriptor.to_string(), f64::LITTLE_ENDIAN_DESCRIPTOR);
        assert_eq!(f32::from_le(&1.5f32.to_le_bytes()), 1.5);
        assert_eq!(f64::from_le(&(-2.25f64).to_le_bytes()), -2.25);
    }
}
