//! Links `libtorch_cuda` into chernet's examples, tests and benches when `LIBTORCH` holds a CUDA
//! libtorch (the one `CHERNET_TORCH=cuda make setup` installs); a CPU libtorch changes nothing.
//!
//! Nothing in tch calls into `libtorch_cuda` directly, so the linker's default `--as-needed` would
//! drop it, and without it loaded libtorch reports no CUDA device. tch's own build script does the
//! same for tch's targets only: link arguments do not reach dependent packages.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    if PathBuf::from(libtorch)
        .join("lib/libtorch_cuda.so")
        .exists()
    {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
