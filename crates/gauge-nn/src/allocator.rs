//! The C allocator's settings for training on the CPU.
//!
//! libtorch takes its CPU tensors from the C library's `malloc`. With glibc's defaults a freed
//! block above the mmap threshold goes back to the kernel at once, and so does free memory at the
//! top of the heap beyond 128 KiB: a training step allocates and frees the same few hundred MiB
//! of activations every time, and every page of them is faulted in again on the next step. On
//! the development machine this was a third of a training run's CPU time: `genet train
//! --config examples/genet-configs/table2_n4.json --threads 2` spent 617 s in the kernel for
//! 1203 s in user space, with 313 million page faults.
//!
//! [`keep_freed_memory`] raises glibc's mmap threshold to its largest value (32 MiB: larger
//! blocks are still mapped and given back), keeps up to 1 GiB of free memory at the top of the
//! heap and grows the heap 256 MiB at a time, so freed activations are reused. Measured with
//! `genet bench --bands 4 --threads 1 --steps 30` beside two trainings: 0.61 s per step, 6.3 s of
//! system time and 3.5 million page faults with the defaults; 0.42 s per step, 0.23 s of system
//! time and 0.13 million faults with these settings; the peak resident memory did not grow
//! (0.59 and 0.56 GiB). The arithmetic, and so every result, is unchanged.
//!
//! It changes a setting of the whole process, so the library never calls it on its own: the
//! `genet` binary does at start-up. Programs of your own can call it first thing in `main`.

use std::sync::atomic::{AtomicBool, Ordering};

/// Environment variable that turns [`keep_freed_memory`] off when set to `system`.
pub const ENV_OPT_OUT: &str = "CHERNET_MALLOC";

const MIB: i32 = 1 << 20;

/// The settings, as glibc's tunable names (the `GLIBC_TUNABLES` form, for processes this crate
/// does not start, such as a Python reference) and values in bytes; `mallopt` gets the same.
const SETTINGS: [(&str, i32); 3] = [
    ("glibc.malloc.mmap_threshold", 32 * MIB),
    ("glibc.malloc.trim_threshold", 1024 * MIB),
    ("glibc.malloc.top_pad", 256 * MIB),
];

static APPLIED: AtomicBool = AtomicBool::new(false);

/// Sets glibc's `malloc` to keep freed memory for reuse (see the [module](self) documentation);
/// returns whether the settings were applied. Does nothing and returns `false` where the C
/// library is not glibc, or when the environment variable [`ENV_OPT_OUT`] is `system` (to keep
/// the C library's defaults, or settings made through `GLIBC_TUNABLES`).
pub fn keep_freed_memory() -> bool {
    if std::env::var(ENV_OPT_OUT).is_ok_and(|v| v == "system") {
        return false;
    }
    let applied = apply();
    if applied {
        APPLIED.store(true, Ordering::Relaxed);
    }
    applied
}

/// Whether [`keep_freed_memory`] has applied its settings in this process.
pub fn keeps_freed_memory() -> bool {
    APPLIED.load(Ordering::Relaxed)
}

/// The same settings as one `GLIBC_TUNABLES` value
/// (`glibc.malloc.mmap_threshold=33554432:...`): what another process (a PyTorch reference in a
/// side-by-side benchmark, say) needs in its environment to allocate the way
/// [`keep_freed_memory`] makes this one allocate.
pub fn glibc_tunables() -> String {
    SETTINGS
        .iter()
        .map(|(name, bytes)| format!("{name}={bytes}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // mallopt's parameter of each entry of SETTINGS, in the same order (the length is SETTINGS',
    // so a setting added there without its parameter here does not compile).
    let params: [libc::c_int; SETTINGS.len()] = [
        libc::M_MMAP_THRESHOLD,
        libc::M_TRIM_THRESHOLD,
        libc::M_TOP_PAD,
    ];
    params.into_iter().zip(SETTINGS).all(|(param, (_, value))| {
        // SAFETY: mallopt only changes the allocator's parameters (under its own lock) and
        // reports 0 for a value it refuses; it does not touch memory the program holds.
        unsafe { libc::mallopt(param, value) == 1 }
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings_and_allocation_still_works() {
        // Safe beside the other tests of this process: the settings change where memory comes
        // from, never what it holds.
        if std::env::var(ENV_OPT_OUT).is_ok_and(|v| v == "system") {
            assert!(!keep_freed_memory());
            return;
        }
        assert!(keep_freed_memory(), "glibc refused a mallopt setting");
        assert!(keeps_freed_memory());
        let t = tch::Tensor::ones([1 << 22], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(
            t.sum(tch::Kind::Double).double_value(&[]),
            (1u64 << 22) as f64
        );
    }

    /// The `GLIBC_TUNABLES` form names glibc's three tunables with the byte values `mallopt`
    /// gets (32 MiB, 1 GiB, 256 MiB), in glibc's `name=value:name=value` syntax.
    #[test]
    fn the_tunables_string_spells_the_same_settings() {
        assert_eq!(
            glibc_tunables(),
            "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:\
             glibc.malloc.top_pad=268435456"
        );
    }
}
