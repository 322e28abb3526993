//! Hostile input for gauge-nn's file readers and configurations: truncated files, flipped bits,
//! random bytes and absurd headers given to checkpoints and datasets (`.safetensors` and `.npz`),
//! and malformed training configurations. Every case must end in an error (or, where a change
//! cannot matter, in exactly the original content) -- never a panic, never a silently different
//! result -- and reading must allocate no more than a small multiple of the input's size.
//!
//! The allocation bound is measured by a counting global allocator: each thread keeps its own
//! count of live bytes and its peak, so the parallel test threads do not see each other.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gauge_nn::data::{Dataset, GeneralConfig, HaarSource, SampleSource};
use gauge_nn::ensemble::FinetuneConfig;
use gauge_nn::model::NetConfig;
use gauge_nn::train::{Checkpoint, TrainConfig, Trainer};
use gauge_nn::{Error, LossConfig};
use proptest::prelude::*;
use std::process::{Command, Output};

mod common;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are plain
// thread-local cells that allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the peak of bytes it had allocated at once on this thread.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize)
}

/// The allocation a reader may need for an input of `len` bytes: a few copies and conversions of
/// the data, plus a fixed amount for the parsed header and the error message.
fn allocation_bound(len: usize) -> usize {
    32 * len + (1 << 20)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauge-nn-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A fresh run directory `name` (in this process's scratch folder) of the tiny trained run.
fn tiny_run(name: &str) -> PathBuf {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    Trainer::new(tiny_config(), &dir)
        .unwrap()
        .train(false)
        .unwrap();
    dir
}

/// A tiny trained run's checkpoint (3x3, one band, channels 2), made once.
fn checkpoint_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(tiny_run("run").join("checkpoint.safetensors")).unwrap())
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        bands: 1,
        grid: vec![3, 3],
        model: NetConfig {
            channels: vec![2],
            ..Default::default()
        },
        loss: LossConfig::Local,
        epochs: 1,
        samples_per_epoch: 4,
        batch: 4,
        calibration_samples: 0,
        validation_samples: 0,
        seed: 3,
        ..Default::default()
    }
}

fn dataset() -> Dataset {
    let mut source = HaarSource::new(GeneralConfig {
        extents: vec![3, 2],
        n: 2,
        seed: 9,
        ..Default::default()
    })
    .unwrap();
    Dataset::new(source.sample(3).unwrap()).unwrap()
}

/// The bytes of the dataset in the format of `ext` (`npz` or `safetensors`), made once each.
fn dataset_bytes(ext: &str) -> &'static [u8] {
    static NPZ: OnceLock<Vec<u8>> = OnceLock::new();
    static ST: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if ext == "npz" { &NPZ } else { &ST };
    cell.get_or_init(|| {
        let path = scratch(&format!("data.{ext}"));
        dataset().save(&path).unwrap();
        std::fs::read(&path).unwrap()
    })
}

fn same_data(a: &Dataset, b: &Dataset) -> bool {
    let (a, b) = (a.batch(), b.batch());
    a.links().unwrap().equal(b.links().unwrap())
        && a.plaquettes.equal(&b.plaquettes)
        && a.site_labels.equal(&b.site_labels)
        && a.chern.equal(&b.chern)
}

/// Reads `bytes` as a checkpoint (weights loaded into a network too); `Ok` only if every step
/// succeeded.
fn read_checkpoint(bytes: &[u8], name: &str) -> (gauge_nn::Result<()>, usize) {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    peak_allocation(|| {
        Checkpoint::read(&path)?
            .network(tch::Device::Cpu)
            .map(|_| ())
    })
}

fn read_dataset(bytes: &[u8], name: &str) -> (gauge_nn::Result<Dataset>, usize) {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    peak_allocation(|| Dataset::load(&path))
}

fn assert_bounded(peak: usize, len: usize, what: &str) {
    assert!(
        peak <= allocation_bound(len),
        "{what}: allocated {peak} bytes at once for a {len}-byte input"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn truncated_checkpoints_are_errors(cut in 0.0f64..1.0) {
        let full = checkpoint_bytes();
        let len = ((full.len() as f64) * cut) as usize;
        let (result, peak) = read_checkpoint(&full[..len], "truncated.safetensors");
        prop_assert!(result.is_err(), "a checkpoint cut to {} of {} bytes was read", len, full.len());
        assert_bounded(peak, len, "truncated checkpoint");
    }

    #[test]
    fn checkpoints_with_a_flipped_bit_are_errors(at in 0.0f64..1.0, bit in 0u8..8) {
        let mut bytes = checkpoint_bytes().to_vec();
        let i = ((bytes.len() as f64) * at) as usize;
        bytes[i] ^= 1 << bit;
        let (result, peak) = read_checkpoint(&bytes, "flipped.safetensors");
        prop_assert!(result.is_err(), "bit {} of byte {} flipped, still read", bit, i);
        assert_bounded(peak, bytes.len(), "flipped checkpoint");
    }

    #[test]
    fn random_bytes_are_neither_checkpoints_nor_datasets(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let (result, peak) = read_checkpoint(&bytes, "random.safetensors");
        prop_assert!(result.is_err());
        assert_bounded(peak, bytes.len(), "random checkpoint");
        for ext in ["npz", "safetensors"] {
            let (result, peak) = read_dataset(&bytes, &format!("random.{ext}"));
            prop_assert!(result.is_err());
            assert_bounded(peak, bytes.len(), "random dataset");
        }
    }

    #[test]
    fn damaged_datasets_are_errors_or_unchanged(
        cut in 0.0f64..1.0,
        at in 0.0f64..1.0,
        bit in 0u8..8,
        npz in any::<bool>(),
    ) {
        let ext = if npz { "npz" } else { "safetensors" };
        let full = dataset_bytes(ext);
        let original = dataset();
        // Truncated.
        let len = ((full.len() as f64) * cut) as usize;
        let (result, peak) = read_dataset(&full[..len], &format!("cut.{ext}"));
        prop_assert!(result.is_err(), "{} cut to {} of {} bytes was read", ext, len, full.len());
        assert_bounded(peak, len, "truncated dataset");
        // One flipped bit: an error, or (a byte that carries no data, such as a zip timestamp)
        // exactly the original samples.
        let mut bytes = full.to_vec();
        let i = ((bytes.len() as f64) * at) as usize;
        bytes[i] ^= 1 << bit;
        let (result, peak) = read_dataset(&bytes, &format!("flip.{ext}"));
        if let Ok(d) = result {
            prop_assert!(same_data(&d, &original), "{}: bit {} of byte {} changed the data", ext, bit, i);
        }
        assert_bounded(peak, bytes.len(), "flipped dataset");
    }

    #[test]
    fn mangled_configs_are_errors_not_panics(
        json in "[{}\\[\\]\":,0-9a-z_ .-]{0,80}",
    ) {
        // Whatever it is, parsing returns (an error, or a configuration that passed validation).
        if let Ok(c) = TrainConfig::from_json(&json, Path::new("config.json")) {
            prop_assert!(c.validate().is_ok());
        }
    }
}

/// Safetensors headers that claim far more than the file holds: refused before any allocation
/// of the claimed size.
#[test]
fn absurd_safetensors_headers_are_errors() {
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // A header length of 2^64 - 1.
    cases.push(u64::MAX.to_le_bytes().to_vec());
    // A valid header for a tensor of 2^40 x 2^40 floats, with no data.
    let header =
        br#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&[0; 4]);
    cases.push(b);
    // Data offsets far past the end of the file.
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,1000000000000]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&[0; 8]);
    cases.push(b);
    for (k, bytes) in cases.iter().enumerate() {
        let (result, peak) = read_checkpoint(bytes, &format!("absurd-{k}.safetensors"));
        assert!(result.is_err(), "case {k}");
        assert_bounded(peak, bytes.len(), "absurd header");
        let (result, peak) = read_dataset(bytes, &format!("absurd-{k}.safetensors"));
        assert!(result.is_err(), "case {k}");
        assert_bounded(peak, bytes.len(), "absurd header");
    }
}

/// An `.npz` whose `.npy` header claims 10^12 elements: an error naming the field, and no
/// allocation of that size.
#[test]
fn an_npz_header_that_claims_too_much_is_an_error() {
    let full = dataset_bytes("npz");
    // The chern entry's header says `'shape': (3,)}` and padding: claim 10^12 samples instead
    // (same header length), which also breaks the entry's CRC.
    let text = b"'shape': (3,)}";
    let at = full
        .windows(text.len())
        .position(|w| w == text)
        .expect("the chern header");
    let mut bytes = full.to_vec();
    let claim = b"'shape': (1000000000000,)}";
    // Overwrite the shape and eat into the header's padding spaces after it.
    bytes[at..at + claim.len()].copy_from_slice(claim);
    let (result, peak) = read_dataset(&bytes, "claims.npz");
    assert!(result.is_err());
    assert_bounded(peak, bytes.len(), "npz header");
}

#[test]
fn empty_or_misspelled_configs_are_errors() {
    let path = Path::new("config.json");
    for (json, needle) in [
        ("{}", "empty object"),
        ("[]", "empty array `[]`"),
        ("[1, 2]", "array of 2 entries"),
        ("null", "`null`"),
        ("5", "number `5`"),
        ("", "EOF while parsing"),
        (r#"{"bands": 1, "grid": [5, 5]}"#, "epochs"),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "epoch": 3}"#,
            "epoch",
        ),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "model": {"chanels": [4]}}"#,
            "chanels",
        ),
    ] {
        let err = TrainConfig::from_json(json, path).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
        // The file is named, and serde's "invalid length 0, expected struct" does not leak out.
        assert!(err.starts_with("config.json: "), "{json}: {err}");
        assert!(!err.contains("invalid length"), "{json}: {err}");
    }
    for (json, name) in [
        (r#"{"bands": 1, "grid": [5, 5], "epochs": 0}"#, "epochs"),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "schedule": {"kind": "cosine", "min_factor": -0.5}}"#,
            "schedule.min_factor",
        ),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "optimizer": {"lr": -1}}"#,
            "optimizer.lr",
        ),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "loss": {"kind": "cut_weighted", "weight": 4, "width": 0}}"#,
            "loss.width",
        ),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "loss": {"kind": "cut_weighted", "weight": -1, "width": 0.1}}"#,
            "loss.weight",
        ),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "trivial_only": true, "loss": {"kind": "cut_weighted", "weight": 1, "width": 0.1}}"#,
            "loss",
        ),
        (r#"{"bands": 0, "grid": [5, 5], "epochs": 2}"#, "bands"),
        (r#"{"bands": 1, "grid": [5, 0], "epochs": 2}"#, "grid"),
        (r#"{"bands": 1, "grid": [5, 5, 5], "epochs": 2}"#, "grid"),
        (
            r#"{"bands": 1, "grid": [5, 5], "epochs": 2, "model": {"channels": [100000]}}"#,
            "model.channels",
        ),
    ] {
        match TrainConfig::from_json(json, path) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name, "{json}"),
            other => panic!("{json}: expected an invalid {name}, got {other:?}"),
        }
    }
}

/// A checkpoint whose weights are NaN (written with a valid checksum) is refused at load, naming
/// the tensor; a network that outputs NaN gives an error, not an accuracy.
#[test]
fn non_finite_weights_and_outputs_are_errors() {
    let dir = scratch("nan-run");
    let _ = std::fs::remove_dir_all(&dir);
    let mut t = Trainer::new(tiny_config(), &dir).unwrap();
    t.train(false).unwrap();
    let request = gauge_nn::train::EvalRequest {
        grid: None,
        samples: 4,
        hamiltonian: None,
        seed: 1,
        batch: 4,
        progress: false,
    };
    // Zero samples is not an evaluation; a 4D grid for a 2D network is refused.
    let good = Checkpoint::read(&dir).unwrap();
    assert!(good.evaluate(&request, tch::Device::Cpu).is_ok());
    assert!(matches!(
        good.evaluate(
            &gauge_nn::train::EvalRequest {
                samples: 0,
                ..request.clone()
            },
            tch::Device::Cpu
        ),
        Err(Error::EmptyInput { .. })
    ));
    assert!(matches!(
        good.evaluate(
            &gauge_nn::train::EvalRequest {
                grid: Some(vec![3, 3, 3, 3]),
                ..request.clone()
            },
            tch::Device::Cpu
        ),
        Err(Error::InvalidParameter { name: "grid", .. })
    ));
    tch::no_grad(|| {
        for (_, v) in t.var_store().variables() {
            let _ = v.shallow_clone().fill_(f64::NAN);
        }
    });
    t.save().unwrap();
    match Checkpoint::read(&dir) {
        Err(Error::NonFiniteWeights { tensor, .. }) => assert!(tensor.starts_with("model.")),
        other => panic!("expected NonFiniteWeights, got {:?}", other.map(|_| ())),
    }
    // NaN outputs from finite weights: NaN inputs.
    let mut source = HaarSource::new(GeneralConfig {
        extents: vec![3, 3],
        n: 1,
        ..Default::default()
    })
    .unwrap();
    let mut batch = source.sample(2).unwrap();
    batch.plaquettes = &batch.plaquettes * f64::NAN;
    let fresh_dir = scratch("nan-run-2");
    let _ = std::fs::remove_dir_all(&fresh_dir);
    let fresh = Trainer::new(tiny_config(), &fresh_dir).unwrap();
    match gauge_nn::eval::evaluate_batch(fresh.net(), &batch, 2, 1.0) {
        Err(Error::NonFiniteOutput { sample: 0, .. }) => {}
        other => panic!("expected NonFiniteOutput, got {other:?}"),
    }
}

/// `bytes` (a checkpoint) with the checksum taken out of its metadata, as an older gauge-nn wrote
/// them.
fn without_checksum(bytes: &[u8]) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let removed = header["__metadata__"]
        .as_object_mut()
        .unwrap()
        .remove("checksum_fnv1a64");
    assert!(removed.is_some(), "the checkpoint had a checksum");
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

/// A checkpoint without a checksum is refused by `read` with the way forward in the message;
/// `Checkpoint::upgrade` checks it and adds the checksum (same tensors, same run), refuses one
/// with a NaN weight or a checksum that does not match, and leaves a checksummed one alone.
#[test]
fn old_checkpoints_without_a_checksum_can_be_upgraded_explicitly() {
    let original = checkpoint_bytes();
    let old = without_checksum(original);
    let path = scratch("old-checkpoint.safetensors");
    std::fs::write(&path, &old).unwrap();
    let refused = Checkpoint::read(&path).unwrap_err().to_string();
    assert!(
        refused.contains("no `checksum_fnv1a64`") && refused.contains("genet upgrade-checkpoint"),
        "{refused}"
    );
    assert!(Checkpoint::upgrade(&path).unwrap(), "upgraded");
    let upgraded = Checkpoint::read(&path).unwrap();
    let reference_path = scratch("reference-checkpoint.safetensors");
    std::fs::write(&reference_path, original).unwrap();
    let reference = Checkpoint::read(&reference_path).unwrap();
    assert_eq!(upgraded.state, reference.state);
    assert_eq!(upgraded.config, reference.config);
    let (vs_a, _) = upgraded.network(tch::Device::Cpu).unwrap();
    let (vs_b, _) = reference.network(tch::Device::Cpu).unwrap();
    let b = vs_b.variables();
    for (name, a) in vs_a.variables() {
        assert!(a.equal(&b[&name]), "{name} changed by the upgrade");
    }
    // Nothing to do the second time.
    let before = std::fs::read(&path).unwrap();
    assert!(!Checkpoint::upgrade(&path).unwrap(), "nothing to do");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A NaN in a weight of a file without a checksum: refused, naming the tensor.
    let len = u64::from_le_bytes(old[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&old[8..8 + len]).unwrap();
    let (name, info) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("model."))
        .unwrap();
    let start = 8 + len + info["data_offsets"][0].as_u64().unwrap() as usize;
    let mut nan = old.clone();
    match info["dtype"].as_str().unwrap() {
        "F32" => nan[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes()),
        _ => nan[start..start + 8].copy_from_slice(&f64::NAN.to_le_bytes()),
    }
    std::fs::write(&path, &nan).unwrap();
    match Checkpoint::upgrade(&path) {
        Err(Error::NonFiniteWeights { tensor, .. }) => assert_eq!(&tensor, name),
        other => panic!("expected NonFiniteWeights, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        nan,
        "a refused file is left as it was"
    );
    // A checksum that is present must match: a damaged checksummed file is not upgraded.
    let mut damaged = original.to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x10;
    std::fs::write(&path, &damaged).unwrap();
    assert!(Checkpoint::upgrade(&path).is_err());
}

/// Every configuration shipped in `examples/genet-configs` passes the strict parser.
#[test]
fn shipped_configs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/genet-configs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = TrainConfig::from_json(&text, &path) {
                panic!("{}: {e}", path.display());
            }
            count += 1;
        }
    }
    assert!(count >= 7, "found {count} configs");
}

/// `genet` with `args` in a shell whose address space is capped at `cap_kib` KiB (`ulimit -v`):
/// an allocation beyond the cap fails at once instead of being granted and then touched, so
/// these tests never use more memory than the cap however much an evaluation asks for.
/// `CHERNET_MEMORY_LIMIT` is raised so that the up-front estimate lets the work through to
/// libtorch.
fn genet_capped(cap_kib: u64, args: &[&str]) -> Output {
    capped(cap_kib, args, true)
}

/// [`genet_capped`], with `CHERNET_MEMORY_LIMIT` raised or not.
fn capped(cap_kib: u64, args: &[&str], raise_limit: bool) -> Output {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {cap_kib} && exec \"$0\" \"$@\""))
        .arg(common::genet())
        .args(args)
        .env_remove("CHERNET_MEMORY_LIMIT")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    if raise_limit {
        command.env("CHERNET_MEMORY_LIMIT", "1000T");
    }
    command.output().unwrap()
}

/// A run whose second layer's bilinear product holds 129 x 64 complex fields per site and
/// sample (66 kB per site in single precision), trained for one epoch on 3x3.
fn wide_run(name: &str) -> PathBuf {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    let config = TrainConfig {
        samples_per_epoch: 2,
        batch: 2,
        model: NetConfig {
            channels: vec![64, 64],
            ..Default::default()
        },
        ..tiny_config()
    };
    Trainer::new(config, &dir).unwrap().train(false).unwrap();
    dir
}

/// libtorch running out of memory inside an evaluation (as CUDA did on a GPU) is an error, not
/// a panic in tch: evaluation halves its samples per pass and tries again, and where even one
/// sample does not fit it stops with one line naming the device, the grid and the samples per
/// pass.
#[test]
fn out_of_memory_in_an_evaluation_is_one_line_not_a_panic() {
    let run = wide_run("wide-run");
    let run = run.to_str().unwrap();
    let cap_kib = 3_000_000;
    // 256 x 256: one sample's bilinear product alone is 4.3 GB, beyond the cap; everything
    // before it fits. Without CHERNET_MEMORY_LIMIT the up-front estimate may refuse it first
    // (depending on the machine's memory) ...
    let args = [
        "eval",
        "--checkpoint",
        run,
        "--grid",
        "256",
        "--samples",
        "2",
        "--batch",
        "2",
        "--threads",
        "1",
        "--json",
    ];
    let refused = capped(cap_kib, &args, false);
    let text = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    // ... and with the limit raised, libtorch's allocation fails: one line, exit status 1.
    let out = genet_capped(cap_kib, &args);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(out.stdout.is_empty());
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.starts_with(
            "genet: error: evaluation on cpu failed in libtorch with 1 samples per pass on the \
             256x256 grid (halved from 2 after out-of-memory errors)"
        ),
        "{text}"
    );
    assert!(text.contains("can't allocate memory"), "{text}");
    assert!(
        text.contains("even one sample per pass does not fit"),
        "{text}"
    );
    // The bytes libtorch asked for, per site of one sample.
    let asked: f64 = text
        .split("you tried to allocate ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no allocation size in {text}"));
    let per_site = asked / (256.0 * 256.0);
    // 64 x 64 in passes of 16 samples needs more than the cap in that one allocation: the
    // evaluation gets through only by halving its passes, and gives what passes of one sample
    // give.
    assert!(
        16.0 * per_site * 64.0 * 64.0 > 1024.0 * cap_kib as f64,
        "{per_site}"
    );
    let eval = |batch: &str| {
        let out = genet_capped(
            cap_kib,
            &[
                "eval",
                "--checkpoint",
                run,
                "--grid",
                "64",
                "--samples",
                "16",
                "--batch",
                batch,
                "--threads",
                "1",
                "--json",
            ],
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report.as_object_mut().unwrap().remove("seconds");
        report
    };
    assert_eq!(eval("16"), eval("1"));
}

/// `genet eval --device` is `auto`, `cpu` or `cuda` (default auto, as --help says); `cuda`
/// without a usable CUDA libtorch is refused in one line, before the checkpoint is read.
#[test]
fn eval_device_is_a_choice_and_cuda_without_cuda_is_one_line() {
    let dir = tiny_run("device-run");
    let run = dir.to_str().unwrap();
    let eval = |checkpoint: &str, device: &str| {
        common::run(&[
            "eval",
            "--checkpoint",
            checkpoint,
            "--samples",
            "4",
            "--threads",
            "1",
            "--json",
            "--device",
            device,
        ])
    };
    let report = |out: &Output| {
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report.as_object_mut().unwrap().remove("seconds");
        report
    };
    let cpu = report(&eval(run, "cpu"));
    assert_eq!(cpu["samples"], 4, "{cpu}");
    let cuda = tch::Cuda::is_available();
    if !cuda {
        assert_eq!(report(&eval(run, "auto")), cpu);
    }
    for checkpoint in [run, "no-such-run"] {
        let out = eval(checkpoint, "cuda");
        let text = String::from_utf8_lossy(&out.stderr);
        if cuda && checkpoint == run {
            assert_eq!(report(&out)["samples"], 4, "{text}");
        } else if !cuda {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert_eq!(text.trim_end().lines().count(), 1, "{text}");
            assert!(
                text.starts_with("genet: error: invalid device = cuda: this libtorch has"),
                "{text}"
            );
        }
    }
    let out = common::run(&["eval", "--checkpoint", run, "--device", "gpu"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(
        text.contains("'gpu'") && text.contains("possible values: auto, cpu, cuda"),
        "{text}"
    );
    let help = common::run(&["eval", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--device <DEVICE>"), "{help}");
    assert!(help.contains("Default: auto"), "{help}");
}

/// A LoRA ensemble of 2 members (rank 2) around a base whose second layer's bilinear product
/// holds 129 x 64 complex fields per site and sample (double precision: 132 kB per site and
/// member), base and members trained briefly on 3x3.
fn wide_lora_ensemble(name: &str) -> PathBuf {
    let base = common::ensemble::tmp("hostile", &format!("{name}-base"));
    let dir = common::ensemble::tmp("hostile", name);
    let mut config = common::ensemble::base_config(5);
    config.model.channels = vec![64, 64];
    config.samples_per_epoch = 8;
    config.calibration_samples = 16;
    let base = common::ensemble::train_base(&base, config);
    let finetune = FinetuneConfig {
        samples_per_epoch: 8,
        epochs: 1,
        calibration_samples: 16,
        validation_samples: 16,
        ..common::ensemble::small(2, 6)
    };
    common::ensemble::fine_tuned(&base, finetune, &dir);
    dir
}

/// libtorch running out of memory in the ensemble's batched pass of all members is an error, not
/// a panic: the pass is halved and tried again, and where even one sample does not fit `genet
/// ensemble eval` stops with one line naming the device, the grid and the samples per pass.
#[test]
fn out_of_memory_in_an_ensemble_evaluation_is_one_line_not_a_panic() {
    let ens = wide_lora_ensemble("wide-lora");
    let ens = ens.to_str().unwrap();
    let cap_kib = 2_000_000;
    let eval = |grid: &str, samples: &str, batch: &str| {
        genet_capped(
            cap_kib,
            &[
                "ensemble",
                "eval",
                "--ensemble",
                ens,
                "--grid",
                grid,
                "--samples",
                samples,
                "--calibration-samples",
                "2",
                "--batch",
                batch,
                "--threads",
                "1",
                "--json",
            ],
        )
    };
    // 256 x 256: one sample of one member is 8.7 GB in one tensor, beyond the cap.
    let out = eval("256", "2", "2");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(out.stdout.is_empty());
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.starts_with(
            "genet: error: ensemble evaluation on cpu failed in libtorch with 1 samples per pass \
             on the 256x256 grid (halved from 2 after out-of-memory errors)"
        ),
        "{text}"
    );
    assert!(text.contains("can't allocate memory"), "{text}");
    assert!(
        text.contains("even one sample per pass does not fit"),
        "{text}"
    );
    // 16 x 16 in passes of 8 samples of both members gets through only by halving (without the
    // cap it peaked at 4.9 GB resident; under it at 1.4 GB, and passes of one sample at
    // 0.8 GB), and gives what passes of one sample give.
    let report = |batch: &str| {
        let out = eval("16", "8", batch);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fields = report.as_object_mut().unwrap();
        for timing in ["seconds", "seconds_members", "seconds_single"] {
            fields.remove(timing);
        }
        report
    };
    assert_eq!(report("8"), report("1"));
}

/// Hamiltonian samples whose grid does not resolve the model are not labelled: refused with the
/// model, the grid and the draws, in one line.
#[test]
fn hamiltonian_samples_on_unresolving_grids_are_one_line_errors() {
    let dir = tiny_run("hamiltonian-run");
    let run = dir.to_str().unwrap();
    for (model, grid, expected) in [
        (
            "hofstadter:1/3",
            "3",
            "all 1 draws of hofstadter 1/3 on the 3x3 grid were refused (1 not resolved by the grid",
        ),
        (
            "hofstadter:1/5",
            "4",
            "fewer points than the model's bands need ([3, 5]",
        ),
        ("qwz", "2", "grid too coarse"),
    ] {
        let out = common::run(&[
            "eval",
            "--checkpoint",
            run,
            "--grid",
            grid,
            "--hamiltonian",
            model,
            "--samples",
            "4",
            "--json",
        ]);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{model}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
        assert!(text.contains(expected), "{model} on {grid}: {text}");
    }
}
