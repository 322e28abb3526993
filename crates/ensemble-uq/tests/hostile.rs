//! Hostile input files: truncations, bit flips, inserted and random bytes, and absurd headers fed
//! to every file reader of `ensemble-uq` (`.npy`, `.npz`, safetensors, JSON; member arrays and
//! labels, read whole and streamed). Each must give a clean error or a valid array: no panic, no
//! abort, and memory bounded by the input's size, measured by a counting allocator.
//!
//! The readers use rayon's worker threads, so the allocator counts every thread; the tests of this
//! binary take one lock so that their measurements do not mix.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ensemble_uq::{
    EnsembleConfig, EntropyConvention, LabelFile, MemberSource, PredictionKind, read_array3,
    read_labels,
};
use ndarray::{Array1, Array3};
use ndarray_npy::{NpzWriter, WriteNpyExt};
use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

/// The system allocator, counting the bytes held by the whole process and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time.
static LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` and returns the peak of the bytes allocated meanwhile above those held before.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = HELD.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Memory the readers may use for `len` bytes of input: a constant factor (the array in memory,
/// its validated copy, per-sample scores) plus slack for fixed 1 MiB read buffers per thread and
/// rayon's pool.
fn budget(len: usize) -> usize {
    64 * len + (16 << 20)
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-uq-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `bytes` as `name` and feeds it to every reader; panics (failing the property) on a
/// panic inside a reader or an allocation past the budget. Returns the errors' messages.
fn read_all(name: &str, bytes: &[u8]) -> Vec<String> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut errors = Vec::new();
    let mut note = |r: Result<(), ensemble_uq::Error>| {
        if let Err(e) = r {
            let text = e.to_string();
            assert!(!text.is_empty());
            errors.push(text);
        }
    };
    let check = |what: &str, f: &mut dyn FnMut()| {
        let peak = peak_during(f);
        assert!(
            peak <= budget(bytes.len()),
            "{name} ({what}): {peak} bytes allocated for {} bytes of input",
            bytes.len()
        );
    };
    let mut results = Vec::new();
    check("read_array3", &mut || {
        results.push(read_array3(&path, None).map(|_| ()))
    });
    check("read_labels", &mut || {
        results.push(read_labels(&path, None).map(|_| ()))
    });
    for kind in [PredictionKind::Logits, PredictionKind::Probabilities] {
        check("MemberSource", &mut || {
            results.push(members(&path, kind));
        });
    }
    for r in results {
        note(r);
    }
    errors
}

/// Opens `path` as members (streamed where possible), computes their scores, and predicts
/// against labels that fit them.
fn members(path: &Path, kind: PredictionKind) -> Result<(), ensemble_uq::Error> {
    let source = MemberSource::open(path, None, kind)?;
    source.scores(EntropyConvention::Exact)?;
    let (_, n, k) = source.shape();
    if n <= 1000 {
        let labels_path = path.with_extension("labels.json");
        let labels: Vec<usize> = (0..n).map(|i| i % k).collect();
        std::fs::write(&labels_path, serde_json::to_string(&labels).unwrap()).unwrap();
        let labels = LabelFile::read(labels_path.to_str().unwrap())?;
        source.predict(&labels, EnsembleConfig::default())?;
    }
    Ok(())
}

fn logits() -> Array3<f32> {
    Array3::from_shape_fn((3, 20, 4), |(m, i, k)| {
        ((m * 7 + i * 3 + k * 5) % 11) as f32 * 0.37 - 1.5
    })
}

fn labels() -> Array1<i64> {
    Array1::from_shape_fn(20, |i| (i % 4) as i64)
}

fn npy_bytes<A: WriteNpyExt>(a: &A) -> Vec<u8> {
    let mut out = Vec::new();
    a.write_npy(&mut out).unwrap();
    out
}

fn npz_bytes(compressed: bool) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut npz = if compressed {
        NpzWriter::new_compressed(&mut out)
    } else {
        NpzWriter::new(&mut out)
    };
    npz.add_array("logits", &logits()).unwrap();
    npz.add_array("labels", &labels()).unwrap();
    npz.finish().unwrap();
    out.into_inner()
}

fn safetensors_bytes() -> Vec<u8> {
    let l = logits();
    let data: Vec<u8> = l.iter().flat_map(|v| v.to_le_bytes()).collect();
    let y: Vec<u8> = labels().iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = [
        (
            "logits",
            TensorView::new(Dtype::F32, vec![3, 20, 4], &data).unwrap(),
        ),
        ("labels", TensorView::new(Dtype::I64, vec![20], &y).unwrap()),
    ];
    safetensors::serialize(tensors, None).unwrap()
}

fn json_bytes() -> Vec<u8> {
    let nested: Vec<Vec<Vec<f32>>> = logits()
        .outer_iter()
        .map(|m| m.outer_iter().map(|r| r.to_vec()).collect())
        .collect();
    serde_json::to_vec(&nested).unwrap()
}

/// Valid files of every format, with the extension that selects their reader.
fn valid_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("logits.npy", npy_bytes(&logits())),
        ("logits64.npy", npy_bytes(&logits().mapv(f64::from))),
        ("labels.npy", npy_bytes(&labels())),
        ("stored.npz", npz_bytes(false)),
        ("compressed.npz", npz_bytes(true)),
        ("both.safetensors", safetensors_bytes()),
        ("logits.json", json_bytes()),
    ]
}

/// `bytes` with the first occurrence of `from` (inside a `.npy` header dict) replaced by `to`,
/// using the header's padding spaces, so that the header (and a stored zip entry) keeps its size.
fn replace_padded(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not found"));
    let close = at + bytes[at..].iter().position(|&b| b == b'}').unwrap();
    let spaces = bytes[close + 1..]
        .iter()
        .take_while(|&&b| b == b' ')
        .count();
    let end = close + 1 + spaces;
    let mut with: Vec<u8> = to.as_bytes().to_vec();
    with.extend_from_slice(&bytes[at + from.len()..=close]);
    assert!(with.len() <= end - at, "no room for {to:?}");
    with.resize(end - at, b' ');
    let mut out = bytes.to_vec();
    out.splice(at..end, with);
    out
}

fn safetensors_with_header(header: &str, data: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + data, 0x3f);
    out
}

#[test]
fn valid_files_are_read() {
    for (name, bytes) in valid_files() {
        let errors = read_all(name, &bytes);
        // Every file holds logits or labels that some reader accepts.
        assert!(errors.len() < 4, "{name}: {errors:?}");
    }
}

#[test]
fn absurd_headers_are_clean_errors() {
    let npy = npy_bytes(&logits());
    let npy_labels = npy_bytes(&labels());
    let stored = npz_bytes(false);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for shape in [
        "(1000000, 1000000, 1000000)",
        "(4611686018427387904, 2, 2)",
        "(18446744073709551615, 18446744073709551615, 2)",
        "(0, 20, 4)",
        "(3, 0, 4)",
        "(1000000000, 20, 4)",
    ] {
        cases.push(("absurd.npy", replace_padded(&npy, "(3, 20, 4)", shape)));
        cases.push(("absurd.npz", replace_padded(&stored, "(3, 20, 4)", shape)));
    }
    for shape in ["(100000000000,)", "(18446744073709551615,)", "(0,)"] {
        cases.push((
            "absurd-labels.npy",
            replace_padded(&npy_labels, "(20,)", shape),
        ));
        cases.push(("absurd-labels.npz", replace_padded(&stored, "(20,)", shape)));
    }
    // .npy version 2 and 3 headers declaring a 4 GiB header length.
    for version in [2u8, 3] {
        let mut v = b"\x93NUMPY".to_vec();
        v.extend_from_slice(&[version, 0, 0xff, 0xff, 0xff, 0xff]);
        v.extend_from_slice(b"{'descr': '<f4', ");
        cases.push(("huge-header.npy", v));
    }
    // Safetensors: header lengths past the file, absurd shapes and offsets.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    cases.push(("huge-header.safetensors", huge));
    let mut big = (1u64 << 40).to_le_bytes().to_vec();
    big.extend_from_slice(b"{\"a\":");
    cases.push(("big-header.safetensors", big));
    for header in [
        r#"{"x":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,16]}}"#,
        r#"{"x":{"dtype":"F32","shape":[4611686018427387904,4,4],"data_offsets":[0,16]}}"#,
        r#"{"x":{"dtype":"F32","shape":[2,2,1],"data_offsets":[0,18446744073709551615]}}"#,
        r#"{"x":{"dtype":"F32","shape":[2,2,1],"data_offsets":[16,0]}}"#,
        r#"{"x":{"dtype":"F32","shape":[2,2,1],"data_offsets":[0,1000000000000]}}"#,
        r#"{"x":{"dtype":"I64","shape":[1000000000000],"data_offsets":[0,16]}}"#,
        r#"{"x":{"dtype":"F64","shape":[0,2,2],"data_offsets":[0,0]}}"#,
        r#"{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
    ] {
        cases.push(("absurd.safetensors", safetensors_with_header(header, 16)));
    }
    // A safetensors file cut inside its header.
    let st = safetensors_bytes();
    cases.push(("cut-header.safetensors", st[..20].to_vec()));
    cases.push(("cut-length.safetensors", st[..5].to_vec()));
    // JSON: deep nesting and ragged or huge arrays.
    cases.push(("deep.json", "[".repeat(100_000).into_bytes()));
    cases.push(("ragged.json", b"[[[1, 2], [3]], [[1, 2], [3, 4]]]".to_vec()));
    cases.push(("empty.json", b"[]".to_vec()));
    cases.push(("empty3.json", b"[[[]]]".to_vec()));
    for (name, bytes) in cases {
        let errors = read_all(name, &bytes);
        // Nothing in these files is a valid member array.
        assert!(
            errors.len() >= 3,
            "{name}: some reader accepted it: {errors:?}"
        );
        for e in &errors {
            assert!(!e.contains('\n') || name.ends_with(".json"), "{name}: {e}");
        }
    }
}

#[test]
fn truncated_files_name_the_sizes() {
    let npy = npy_bytes(&logits());
    let cut = &npy[..npy.len() - 7];
    let errors = read_all("cut.npy", cut);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("cut.npy") && e.contains("truncated")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| !e.contains("failed to fill whole buffer")),
        "{errors:?}"
    );
    let st = safetensors_bytes();
    let errors = read_all("cut.safetensors", &st[..20]);
    assert!(
        errors
            .iter()
            .all(|e| e.contains("cut.safetensors") && e.contains("header")),
        "{errors:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every prefix of a valid file.
    #[test]
    fn truncated_files(which in 0usize..7, cut in 0.0f64..1.0) {
        let (name, file) = &valid_files()[which];
        read_all(name, &file[..(cut * file.len() as f64) as usize]);
    }

    /// Valid files with bits flipped and bytes inserted.
    #[test]
    fn corrupted_files(
        which in 0usize..7,
        flips in prop::collection::vec((0.0f64..1.0, 0u8..8), 1..16),
        inserts in prop::collection::vec((0.0f64..1.0, any::<u8>()), 0..4),
    ) {
        let (name, file) = &valid_files()[which];
        let mut file = file.clone();
        for (at, bit) in flips {
            let i = ((at * file.len() as f64) as usize).min(file.len() - 1);
            file[i] ^= 1 << bit;
        }
        for (at, byte) in inserts {
            let i = (at * file.len() as f64) as usize;
            file.insert(i, byte);
        }
        read_all(name, &file);
    }

    /// Random bytes under every extension, and random bytes after a valid magic string.
    #[test]
    fn random_files(
        ext in 0usize..4,
        magic in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let (name, prefix): (&str, &[u8]) = match ext {
            0 => ("random.npy", b"\x93NUMPY\x01\x00"),
            1 => ("random.npz", b"PK\x03\x04"),
            2 => ("random.safetensors", b"\x40\x00\x00\x00\x00\x00\x00\x00{\"x\":"),
            _ => ("random.json", b"[[["),
        };
        let mut file = if magic { prefix.to_vec() } else { Vec::new() };
        file.extend(bytes);
        read_all(name, &file);
    }
}
