//! libtorch failures inside a network pass (an out-of-memory error above all) as errors instead of
//! panics.
//!
//! tch's tensor operations come in two forms: `f_op` returns libtorch's C++ exception as a
//! `TchError`, and `op` (what every layer of this crate calls, as most tch code does) unwraps it,
//! so a CUDA or CPU out-of-memory error deep inside a GEBL layer panics. Rewriting every layer on
//! the `f_*` forms would touch hundreds of calls and still miss the next layer someone writes, so
//! the boundary of each network pass (an evaluation chunk, a training step) runs under
//! [`catch_libtorch`] instead: a panic whose payload is a libtorch error is caught there and
//! returned, its message kept, and the default panic message is not printed for it. Anything else
//! (a bug) still panics as before, message and all.
//!
//! This is sound because the exception was already turned into a Rust value by tch before the
//! panic: libtorch's state is unchanged by the failed operation, the unwinding frees the pass's
//! tensors, and the caller either retries with less memory (evaluation) or stops with the error
//! (training, whose last checkpoint on disk is the last good state). tch's grad-mode helpers
//! restore the mode only on a normal return, so [`catch_libtorch`] restores it itself.
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch_libtorch`] (panic messages of libtorch errors are
    /// not printed there).
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// What libtorch reported, from a caught panic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LibtorchFailure {
    /// The first line of libtorch's message (without its C++ backtrace).
    pub message: String,
}

impl LibtorchFailure {
    /// Whether libtorch ran out of memory (CUDA's caching allocator or the CPU allocator).
    pub fn out_of_memory(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        m.contains("out of memory")
            || m.contains("can't allocate memory")
            || m.contains("cannot allocate memory")
            || m.contains("alloc_failed")
    }
}

/// The libtorch message in a panic payload from tch's `.unwrap()` of a `TchError::Torch`, or
/// `None` if the panic is something else.
fn libtorch_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    // `called `Result::unwrap()` on an `Err` value: Torch("...")`: the Debug form of the string.
    let start = text.find("Torch(\"")? + "Torch(\"".len();
    let quoted = text[start..].strip_suffix("\")").unwrap_or(&text[start..]);
    let first = quoted.split("\\n").next().unwrap_or_default();
    let message = first.replace("\\\"", "\"").replace("\\\\", "\\");
    Some(message.trim().to_string())
}

/// Runs `f` (a network pass) and returns its value, or the libtorch error that tch turned into a
/// panic inside it, without printing that panic. `grad` is the autograd mode to run `f` in; the
/// mode on entry is restored however `f` ends. Panics that are not libtorch errors are resumed.
pub(crate) fn catch_libtorch<T>(grad: bool, f: impl FnOnce() -> T) -> Result<T, LibtorchFailure> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let quiet = CATCHING.with(Cell::get) && libtorch_message(info.payload()).is_some();
            if !quiet {
                previous(info);
            }
        }));
    });
    // Dropped on every way out: sets the autograd mode back to the one on entry.
    let _restore = tch::no_grad_guard();
    let outer = CATCHING.with(|c| c.replace(true));
    let run = || panic::catch_unwind(AssertUnwindSafe(f));
    let outcome = if grad { tch::with_grad(run) } else { run() };
    CATCHING.with(|c| c.set(outer));
    outcome.map_err(|payload| match libtorch_message(payload.as_ref()) {
        Some(message) => LibtorchFailure { message },
        None => panic::resume_unwind(payload),
    })
}

/// A device as users type it: `cpu`, `cuda:0`, `mps`.
pub(crate) fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        tch::Device::Mps => "mps".into(),
        tch::Device::Vulkan => "vulkan".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// An allocation the CPU allocator refuses at once (far beyond any machine's memory, so
    /// nothing is touched) comes back as an error naming libtorch's message, and the thread
    /// carries on with its autograd mode as it was.
    #[test]
    fn an_impossible_allocation_is_an_error_not_a_panic() {
        assert!(tch::with_grad(|| true));
        let failure = catch_libtorch(false, || {
            Tensor::zeros([1 << 30, 1 << 20], (Kind::Float, tch::Device::Cpu))
        })
        .unwrap_err();
        assert!(failure.out_of_memory(), "{failure:?}");
        assert!(!failure.message.contains('\n'), "{failure:?}");
        // Grad mode is back to what it was on entry (on by default) ...
        let x = Tensor::ones([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        assert!((&x * 2).requires_grad());
        // ... also when the failure happened with grad mode on, inside a nested no_grad.
        let failure = catch_libtorch(true, || {
            tch::no_grad(|| Tensor::zeros([1 << 30, 1 << 20], (Kind::Float, tch::Device::Cpu)))
        })
        .unwrap_err();
        assert!(failure.out_of_memory());
        assert!((&x * 2).requires_grad());
        // A pass that works returns its value.
        let y = catch_libtorch(false, || (&x * 3).requires_grad()).unwrap();
        assert!(!y, "no_grad inside a pass run with grad = false");
    }

    /// Other libtorch errors are caught too (not as out of memory); panics that are not
    /// libtorch's are left alone.
    #[test]
    fn only_libtorch_panics_are_caught() {
        let a = Tensor::ones([2, 3], (Kind::Float, tch::Device::Cpu));
        let b = Tensor::ones([4, 5], (Kind::Float, tch::Device::Cpu));
        let failure = catch_libtorch(false, || a.matmul(&b)).unwrap_err();
        assert!(!failure.out_of_memory(), "{failure:?}");
        assert!(failure.message.contains("mat1 and mat2"), "{failure:?}");
        let other = panic::catch_unwind(|| catch_libtorch(false, || panic!("a bug")));
        assert!(other.is_err());
    }
}
