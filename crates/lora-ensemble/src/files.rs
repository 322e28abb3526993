//! File plumbing shared by the readers and writers: bounded reads, atomic writes, hashes, and
//! tensors to and from safetensors bytes.

use std::io::{Read, Write};
use std::path::Path;

use safetensors::Dtype;
use sha2::Digest;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// Reads a text file of at most `max_bytes` (JSON configs and manifests are small; a huge file is
/// refused before it is read).
pub(crate) fn read_text(path: &Path, max_bytes: u64) -> Result<String> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > max_bytes {
        return Err(Error::file(
            path,
            "header",
            format!("{len} bytes is too large for a JSON config (limit {max_bytes})"),
        ));
    }
    let mut text = String::with_capacity(len as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(max_bytes).read_to_string(&mut text))
        .map_err(|e| Error::io(path, e))?;
    Ok(text)
}

/// Reads a whole file; the allocation is the file's own size.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then renamed,
/// so that a reader sees either the old file or the complete new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|e| Error::io(path, e))
}

fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A randomly named temporary file beside `path` (so that concurrent writers, threads or
    // shards on several hosts sharing a folder, never share one), synced, renamed over `path`,
    // and the folder synced; dropped unrenamed on any error.
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Creates a folder (and its parents).
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

/// SHA-256 of a file as lowercase hex, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The tch kind of a safetensors float dtype this crate computes with.
pub(crate) fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

/// The safetensors dtype of a float kind this crate computes with.
pub(crate) fn dtype_of(kind: Kind) -> Option<Dtype> {
    match kind {
        Kind::Float => Some(Dtype::F32),
        Kind::Double => Some(Dtype::F64),
        _ => None,
    }
}

/// A tensor from a safetensors view (f32 or f64), checked for finite values.
pub(crate) fn tensor_from_view(
    path: &Path,
    key: &str,
    view: &safetensors::tensor::TensorView<'_>,
) -> Result<Tensor> {
    let kind = kind_of(view.dtype()).ok_or_else(|| {
        Error::file(
            path,
            key,
            format!("dtype {:?}; adapters must be F32 or F64", view.dtype()),
        )
    })?;
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let t = Tensor::f_from_data_size(view.data(), &shape, kind)
        .map_err(|e| Error::file(path, key, e))?;
    if !bool::try_from(t.isfinite().all()).unwrap_or(false) {
        return Err(Error::file(path, key, "contains NaN or infinite values"));
    }
    Ok(t)
}

/// The little-endian bytes of a contiguous f32 or f64 tensor.
pub(crate) fn tensor_bytes(t: &Tensor) -> Result<(Dtype, Vec<i64>, Vec<u8>)> {
    let kind = t.kind();
    let dtype = dtype_of(kind)
        .ok_or_else(|| Error::invalid("dtype", format!("{kind:?}"), "adapters are f32 or f64"))?;
    let t = t.to_device(tch::Device::Cpu).contiguous();
    let numel = t.numel();
    let mut bytes = vec![0u8; numel * kind.elt_size_in_bytes()];
    t.f_copy_data_u8(&mut bytes, numel)
        .map_err(Error::torch("copying a tensor to save it"))?;
    Ok((dtype, t.size(), bytes))
}
