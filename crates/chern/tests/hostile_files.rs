//! Hostile model files: truncations, bit flips, inserted and random bytes, and absurd headers fed
//! to every file reader of `chern` (JSON and TOML hopping lists, Wannier90 `_hr.dat`). Each must
//! give a clean error or a valid model: no panic, no abort, and memory bounded by the input's
//! size (measured by a counting allocator).
use chern::{BlochHamiltonian, ModelFormat, TightBinding, Wannier90};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
mod common;
use common::{qwz_toml, weyl_hr_dat};

/// The system allocator, counting the bytes this thread holds and their peak.
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = HELD.try_with(|h| {
                let now = h.get() + layout.size();
                h.set(now);
                let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
            });
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        let _ = HELD.try_with(|h| h.set(h.get().saturating_sub(layout.size())));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the peak of the bytes this thread allocated meanwhile.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = HELD.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

/// Memory a reader may use for `len` bytes of input: a generous constant factor plus slack.
fn budget(len: usize) -> usize {
    64 * len + (1 << 20)
}

/// Parses `bytes` with every reader; panics (failing the property) on a panic or an allocation
/// past the budget. A model that parses is evaluated at one k-point where it is small.
fn read_all(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let file = Path::new("hostile");
    for format in [ModelFormat::Json, ModelFormat::Toml] {
        let (model, peak) = peak_during(|| TightBinding::parse(&text, format, file));
        assert!(
            peak <= budget(bytes.len()),
            "{format:?}: {peak} bytes for {} bytes of input",
            bytes.len()
        );
        if let Ok(tb) = model
            && tb.n_bands() <= 64
            && tb.dim() <= 8
        {
            let k = vec![0.3; tb.dim()];
            assert!(tb.hamiltonian(&k).iter().all(|z| z.is_finite()));
        }
    }
    let (model, peak) = peak_during(|| Wannier90::parse(&text, file));
    assert!(
        peak <= budget(bytes.len()),
        "_hr.dat: {peak} bytes for {} bytes of input",
        bytes.len()
    );
    if let Ok(w) = model {
        assert!(
            w.hamiltonian(&[0.1, 0.2, 0.3])
                .iter()
                .all(|z| z.is_finite())
        );
    }
}

fn valid_files() -> Vec<Vec<u8>> {
    let toml = qwz_toml(1.0);
    let json = serde_json::to_string_pretty(
        &TightBinding::parse(&toml, ModelFormat::Toml, Path::new("qwz.toml")).unwrap(),
    )
    .unwrap();
    vec![
        toml.into_bytes(),
        json.into_bytes(),
        weyl_hr_dat(0.5).into_bytes(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every prefix of a valid file.
    #[test]
    fn truncated_files(which in 0usize..3, cut in 0.0f64..1.0) {
        let file = &valid_files()[which];
        read_all(&file[..(cut * file.len() as f64) as usize]);
    }

    /// Valid files with bits flipped and bytes inserted.
    #[test]
    fn corrupted_files(
        which in 0usize..3,
        flips in prop::collection::vec((0.0f64..1.0, 0u8..8), 1..16),
        inserts in prop::collection::vec((0.0f64..1.0, any::<u8>()), 0..8),
    ) {
        let mut file = valid_files()[which].clone();
        for (at, bit) in flips {
            let i = (at * file.len() as f64) as usize % file.len();
            file[i] ^= 1 << bit;
        }
        for (at, byte) in inserts {
            let i = (at * file.len() as f64) as usize;
            file.insert(i.min(file.len()), byte);
        }
        read_all(&file);
    }

    /// Random bytes, and random printable text.
    #[test]
    fn random_input(bytes in prop::collection::vec(any::<u8>(), 0..512), text in "[ -~\n]{0,512}") {
        read_all(&bytes);
        read_all(text.as_bytes());
    }

    /// Absurd sizes in the headers: zero, huge, negative, non-numbers, 2^32 and 2^64.
    #[test]
    fn absurd_headers(which in 0usize..3, value in prop::sample::select(vec![
        "0", "1", "3", "100000", "1000000", "4294967296", "18446744073709551615",
        "18446744073709551616", "-1", "nan", "1e300", "",
    ])) {
        let text = String::from_utf8(valid_files()[which].clone()).unwrap();
        let edited = match which {
            0 => text.replace("orbitals = 2", &format!("orbitals = {value}")),
            1 => text.replace("\"orbitals\": 2", &format!("\"orbitals\": {value}")),
            _ => {
                // num_wann on line 2, nrpts on line 3.
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                lines[if value.len() % 2 == 0 { 1 } else { 2 }] = value.to_string();
                lines.join("\n")
            }
        };
        read_all(edited.as_bytes());
        let dim = text.replacen("dim = 2", &format!("dim = {value}"), 1);
        read_all(dim.as_bytes());
    }
}

/// The examples of the issue, one by one, with the error each gives.
#[test]
fn absurd_wannier90_headers_are_refused_before_allocating() {
    let text = weyl_hr_dat(0.5);
    let with = |num_wann: &str, nrpts: Option<&str>| {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[1] = num_wann.to_string();
        if let Some(n) = nrpts {
            lines[2] = n.to_string();
        }
        lines.join("\n")
    };
    for (num_wann, nrpts, expect) in [
        ("100000", None, "hopping lines, but only"),
        ("4294967296", None, "overflows"),
        ("2", Some("18446744073709551615"), "overflows"),
        ("2", Some("1000000000"), "hopping lines, but only"),
    ] {
        let (result, peak) =
            peak_during(|| Wannier90::parse(&with(num_wann, nrpts), Path::new("x_hr.dat")));
        let err = result.unwrap_err().to_string();
        assert!(err.contains(expect), "num_wann {num_wann}: {err}");
        assert!(peak < budget(text.len()), "{peak} bytes");
    }
}

/// A hopping list may declare many orbitals; the band structure of such a model is refused
/// with an error (not an abort) where the allocator cannot provide it.
#[test]
fn a_million_orbitals_is_an_error_not_an_abort() {
    let text = qwz_toml(1.0)
        .replace("orbitals = 2", "orbitals = 1000000")
        .replace("onsite = [1, -1]\n", "");
    let tb = TightBinding::parse(&text, ModelFormat::Toml, Path::new("big.toml")).unwrap();
    assert_eq!(tb.n_bands(), 1_000_000);
    let err =
        chern::BandStructure::compute_for(&tb, &[48, 48], &chern::BandSet::lowest(1)).unwrap_err();
    assert!(matches!(err, chern::Error::OutOfMemory { .. }), "{err}");
}
