//! The one `.safetensors` codec of the crate: checkpoints ([`crate::train::Checkpoint`]) and
//! datasets ([`crate::data::Dataset`]) are both written and read here.
//!
//! A file written by this module carries, in its metadata, a checksum
//! ([`CHECKSUM_KEY`], FNV-1a 64 in hexadecimal) of the tensor data and of the other metadata
//! entries. Reading verifies it when it is present (and [`TensorFile::require_checksum`] makes its
//! absence an error, as checkpoints do), so corrupted bytes anywhere in the body are refused
//! instead of being loaded as weights or samples. Sizes are checked against the file before
//! anything is allocated: the header is parsed by `safetensors`, which refuses a header or a
//! tensor that claims more bytes than the file holds, and every tensor is converted from its own
//! slice of the file.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Metadata key of the checksum of the tensor data and the other metadata entries.
pub const CHECKSUM_KEY: &str = "checksum_fnv1a64";

/// Plain values of one tensor, in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// `float32`.
    F32(Vec<f32>),
    /// `float64`.
    F64(Vec<f64>),
    /// `int64`.
    I64(Vec<i64>),
}

impl Values {
    /// The NumPy name of the element type.
    pub(crate) fn dtype(&self) -> &'static str {
        match self {
            Values::F32(_) => "float32",
            Values::F64(_) => "float64",
            Values::I64(_) => "int64",
        }
    }

    /// The number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
        }
    }

    /// Whether every value is finite (integers always are).
    pub(crate) fn all_finite(&self) -> bool {
        match self {
            Values::F32(v) => v.iter().all(|x| x.is_finite()),
            Values::F64(v) => v.iter().all(|x| x.is_finite()),
            Values::I64(_) => true,
        }
    }

    fn safetensors_dtype(&self) -> Dtype {
        match self {
            Values::F32(_) => Dtype::F32,
            Values::F64(_) => Dtype::F64,
            Values::I64(_) => Dtype::I64,
        }
    }

    fn le_bytes(&self) -> Vec<u8> {
        match self {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// A named tensor as plain values (the file layout: complex tensors as real views with a last
/// axis of size 2).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    /// The tensor's name in the file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Values,
}

impl Stored {
    /// Copies a tensor to plain values on the CPU: complex tensors become real views with a last
    /// axis of size 2, `Float` and `Double` keep their precision, every other kind becomes `int64`.
    pub(crate) fn from_tensor(name: impl Into<String>, t: &Tensor) -> Result<Stored> {
        let t = t.f_to_device(Device::Cpu)?;
        let t = match t.kind() {
            Kind::ComplexFloat | Kind::ComplexDouble => {
                t.f_resolve_conj()?.f_contiguous()?.f_view_as_real()?
            }
            _ => t,
        }
        .f_contiguous()?;
        let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
        let numel = t.numel();
        let values = match t.kind() {
            Kind::Float => {
                let mut v = vec![0f32; numel];
                t.f_copy_data(&mut v, numel)?;
                Values::F32(v)
            }
            Kind::Double => {
                let mut v = vec![0f64; numel];
                t.f_copy_data(&mut v, numel)?;
                Values::F64(v)
            }
            _ => {
                let mut v = vec![0i64; numel];
                t.f_to_kind(Kind::Int64)?.f_copy_data(&mut v, numel)?;
                Values::I64(v)
            }
        };
        Ok(Stored {
            name: name.into(),
            shape,
            values,
        })
    }

    /// The values as a (real) tensor of the stored shape on the CPU.
    pub(crate) fn into_tensor(self) -> Result<Tensor> {
        let shape: Vec<i64> = self.shape.iter().map(|&x| x as i64).collect();
        let t = match self.values {
            Values::F32(v) => Tensor::f_from_slice(&v)?,
            Values::F64(v) => Tensor::f_from_slice(&v)?,
            Values::I64(v) => Tensor::f_from_slice(&v)?,
        };
        Ok(t.f_view(shape.as_slice())?)
    }
}

/// FNV-1a, 64 bits: a fast checksum that catches corrupted bytes (not an authenticity check).
#[derive(Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The checksum of the tensors (name, dtype, shape and bytes, in name order) and of the metadata
/// entries other than the checksum itself (in key order).
fn checksum<'a>(
    tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
    metadata: &HashMap<String, String>,
) -> String {
    let mut h = Fnv1a::new();
    let mut tensors: Vec<_> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    for (name, dtype, shape, data) in tensors {
        h.update(name.as_bytes());
        h.update(format!("{dtype:?}{shape:?}").as_bytes());
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    let mut keys: Vec<&String> = metadata.keys().filter(|k| *k != CHECKSUM_KEY).collect();
    keys.sort();
    for k in keys {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(metadata[k].as_bytes());
        h.update(&[0]);
    }
    format!("{:016x}", h.0)
}

/// Serialises `tensors` with `metadata` (plus the checksum) to the bytes of a `.safetensors` file
/// (`path` names the file in errors).
pub(crate) fn encode(
    tensors: &[Stored],
    mut metadata: HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>> {
    let safetensors_error = |source| Error::SafeTensors {
        path: path.to_path_buf(),
        source,
    };
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|s| s.values.le_bytes()).collect();
    metadata.insert(
        CHECKSUM_KEY.to_string(),
        checksum(
            tensors.iter().zip(&bytes).map(|(s, b)| {
                (
                    s.name.as_str(),
                    s.values.safetensors_dtype(),
                    s.shape.as_slice(),
                    b.as_slice(),
                )
            }),
            &metadata,
        ),
    );
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(s, data)| {
            TensorView::new(s.values.safetensors_dtype(), s.shape.clone(), data)
                .map(|v| (s.name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(safetensors_error)?;
    safetensors::serialize(views, Some(metadata)).map_err(safetensors_error)
}

/// A `.safetensors` file read into memory, its header parsed and its checksum verified.
#[derive(Debug)]
pub(crate) struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
    checksummed: bool,
}

impl TensorFile {
    /// Reads and checks `path`.
    pub(crate) fn read(path: &Path) -> Result<TensorFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TensorFile::from_bytes(bytes, path)
    }

    /// Checks the bytes of a file (`path` names it in errors): the header must describe tensors
    /// that lie inside the file, and a checksum in the metadata must match.
    pub(crate) fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<TensorFile> {
        let safetensors_error = |source| Error::SafeTensors {
            path: path.to_path_buf(),
            source,
        };
        if bytes.len() < 8 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "{} bytes: shorter than the 8-byte header length of a safetensors file",
                    bytes.len()
                ),
            });
        }
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
        if header_len > (bytes.len() - 8) as u64 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "the header claims {header_len} bytes but only {} follow (truncated file?)",
                    bytes.len() - 8
                ),
            });
        }
        let (metadata, stored_sum, computed) = {
            let file = SafeTensors::deserialize(&bytes).map_err(safetensors_error)?;
            let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(safetensors_error)?;
            let metadata = meta.metadata().clone().unwrap_or_default();
            let stored_sum = metadata.get(CHECKSUM_KEY).cloned();
            let computed = stored_sum.as_ref().map(|_| {
                let tensors = file.tensors();
                checksum(
                    tensors
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())),
                    &metadata,
                )
            });
            (metadata, stored_sum, computed)
        };
        if let (Some(stored), Some(computed)) = (&stored_sum, &computed)
            && stored != computed
        {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "checksum mismatch (stored {stored}, computed {computed}): the file was \
                     changed or damaged after it was written"
                ),
            });
        }
        Ok(TensorFile {
            path: path.to_path_buf(),
            bytes,
            metadata,
            checksummed: stored_sum.is_some(),
        })
    }

    /// Whether the file carried a checksum (verified by [`TensorFile::read`]).
    pub(crate) fn has_checksum(&self) -> bool {
        self.checksummed
    }

    /// An error unless the file carried a checksum (files this crate writes always do).
    pub(crate) fn require_checksum(self) -> Result<TensorFile> {
        if self.checksummed {
            Ok(self)
        } else {
            Err(Error::Corrupt {
                path: self.path,
                reason: format!(
                    "no `{CHECKSUM_KEY}` in the metadata: written by an older gauge-nn, or its \
                     header was damaged; a checkpoint you trust can be checked and given one \
                     with `genet upgrade-checkpoint FILE` (`Checkpoint::upgrade`)"
                ),
            })
        }
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata entry `key`, an error naming the file and key when it is missing.
    pub(crate) fn metadata(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::BadField {
                path: self.path.clone(),
                field: format!("__metadata__.{key}"),
                expected: "a string entry".into(),
                found: "missing".into(),
            })
    }

    /// The names of the tensors in the file, sorted.
    pub(crate) fn names(&self) -> Result<Vec<String>> {
        let file = SafeTensors::deserialize(&self.bytes).map_err(|source| Error::SafeTensors {
            path: self.path.clone(),
            source,
        })?;
        let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
        names.sort();
        Ok(names)
    }

    /// The tensor `name` as plain values.
    pub(crate) fn stored(&self, name: &str) -> Result<Stored> {
        let safetensors_error = |source| Error::SafeTensors {
            path: self.path.clone(),
            source,
        };
        let file = SafeTensors::deserialize(&self.bytes).map_err(safetensors_error)?;
        let view = file.tensor(name).map_err(safetensors_error)?;
        let data = view.data();
        let values = match view.dtype() {
            Dtype::F32 => Values::F32(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Dtype::F64 => Values::F64(
                data.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            Dtype::I64 => Values::I64(
                data.chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            other => {
                return Err(Error::BadField {
                    path: self.path.clone(),
                    field: name.to_string(),
                    expected: "F32, F64 or I64".into(),
                    found: format!("{other:?}"),
                });
            }
        };
        Ok(Stored {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            values,
        })
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`, so that
/// `path` holds either the old or the new content, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A randomly named temporary file beside `path` (so that concurrent writers, threads or
    // shards on several hosts sharing a folder, never share one), synced, renamed over `path`,
    // and the folder synced; dropped unrenamed on any error.
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers of the same file, and of files that differ only in their extension
    /// (`results.json`, `results.md`), race as shards sharing an output folder do: every file
    /// must end up holding one writer's complete bytes, with no temporary file left behind.
    #[test]
    fn concurrent_atomic_writes_never_mix_or_lose_a_file() {
        let dir = crate::train::trainer::tests::tmp_dir("write-atomic-race");
        std::fs::create_dir_all(&dir).unwrap();
        let names = ["results.json", "results.md"];
        let content =
            |writer: usize, name: &str| format!("{name} by writer {writer}\n").repeat(20_000);
        std::thread::scope(|scope| {
            for writer in 0..4 {
                let dir = &dir;
                scope.spawn(move || {
                    for _ in 0..25 {
                        for name in names {
                            write_atomic(&dir.join(name), content(writer, name).as_bytes())
                                .unwrap();
                        }
                    }
                });
            }
        });
        for name in names {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(
                (0..4).any(|w| text == content(w, name)),
                "{name} holds no single writer's complete content ({} bytes)",
                text.len()
            );
        }
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !names.contains(&n.as_str()))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        // The written file gets the mode of any new file (0666 less the umask), not 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            let plain = dir.join("plain");
            std::fs::File::create(&plain).unwrap();
            assert_eq!(mode(&dir.join(names[0])), mode(&plain));
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    fn sample() -> Vec<Stored> {
        vec![
            Stored {
                name: "w".into(),
                shape: vec![2, 3],
                values: Values::F32(vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]),
            },
            Stored {
                name: "c".into(),
                shape: vec![2],
                values: Values::I64(vec![-3, 4]),
            },
        ]
    }

    #[test]
    fn files_round_trip_and_carry_a_checksum() -> Result<()> {
        let path = Path::new("round-trip.safetensors");
        let meta = HashMap::from([("config".to_string(), "{}".to_string())]);
        let bytes = encode(&sample(), meta, path)?;
        let file = TensorFile::from_bytes(bytes, path)?.require_checksum()?;
        assert_eq!(file.metadata("config")?, "{}");
        for s in sample() {
            assert_eq!(file.stored(&s.name)?, s);
        }
        Ok(())
    }

    #[test]
    fn every_changed_data_or_metadata_byte_is_detected() -> Result<()> {
        let path = Path::new("flip.safetensors");
        let meta = HashMap::from([("config".to_string(), "{\"a\": 1}".to_string())]);
        let bytes = encode(&sample(), meta, path)?;
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        // Every byte of the data section, flipped in its lowest bit.
        for i in header..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(
                matches!(TensorFile::from_bytes(b, path), Err(Error::Corrupt { .. })),
                "byte {i}"
            );
        }
        // The metadata value `1` -> `2` keeps the header valid JSON: the checksum catches it.
        let at = bytes[..header]
            .windows(4)
            .position(|w| w == b": 1}")
            .expect("the metadata value is in the header")
            + 2;
        let mut b = bytes.clone();
        b[at] = b'2';
        assert!(matches!(
            TensorFile::from_bytes(b, path),
            Err(Error::Corrupt { .. })
        ));
        Ok(())
    }
}
