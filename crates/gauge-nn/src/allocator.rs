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

/// Environment variable that turns [`keep_freed_memory`] off when set to `system`.
pub const ENV_OPT_OUT: &str = "CHERNET_MALLOC";

/// Sets glibc's `malloc` to keep freed memory for reuse (see the [module](self) documentation);
/// returns whether the settings were applied. Does nothing and returns `false` where the C
/// library is not glibc, or when the environment variable [`ENV_OPT_OUT`] is `system` (to keep
/// the C library's defaults, or settings made through `GLIBC_TUNABLES`).
pub fn keep_freed_memory() -> bool {
    if std::env::var(ENV_OPT_OUT).is_ok_and(|v| v == "system") {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    const MIB: libc::c_int = 1 << 20;
    let settings = [
        (libc::M_MMAP_THRESHOLD, 32 * MIB),
        (libc::M_TRIM_THRESHOLD, 1024 * MIB),
        (libc::M_TOP_PAD, 256 * MIB),
    ];
    settings.iter().all(|&(param, value)| {
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
        let t = tch::Tensor::ones([1 << 22], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(
            t.sum(tch::Kind::Double).double_value(&[]),
            (1u64 << 22) as f64
        );
    }
}
