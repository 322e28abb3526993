//! Build-script helper shared by the workspace's crates that link libtorch through `tch`.
//!
//! Two things every such crate needs from its `build.rs`, written once here:
//!
//! - **libtorch at run time.** tch binaries carry no rpath to libtorch. Cargo puts every
//!   `rustc-link-search=native` directory that lies inside `OUT_DIR` on the dynamic-library path of
//!   `cargo test`, `cargo run`, `cargo bench` and doctests, for the crate and every crate that
//!   depends on it. So [`libtorch_on_run_path`] links `$LIBTORCH/lib` into `OUT_DIR` and announces
//!   it. (An rpath in `.cargo/config.toml` covers binaries started by hand.)
//! - **CUDA.** Nothing in tch calls into `libtorch_cuda` directly, so the linker's default
//!   `--as-needed` drops it, and without it loaded libtorch reports no CUDA device. tch's own build
//!   script fixes this for tch's targets only: link arguments do not reach dependent packages.
//!   [`keep_libtorch_cuda`] does it for the calling package when `LIBTORCH` holds a CUDA libtorch;
//!   a CPU libtorch changes nothing.
//!
//! A crate's `build.rs` calls both from its `main`:
//!
//! ```no_run
//! torch_build::libtorch_on_run_path();
//! torch_build::keep_libtorch_cuda();
//! ```
#![deny(missing_docs)]

use std::path::PathBuf;

/// The `lib` folder of the libtorch that `LIBTORCH` names, if it is set (and tells cargo to rerun
/// when it changes).
fn libtorch_lib() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    std::env::var_os("LIBTORCH").map(|l| PathBuf::from(l).join("lib"))
}

/// Puts libtorch's library folder on cargo's run-time library path for this package and its
/// dependents, through a symlink inside `OUT_DIR`. Warns (and does nothing) when `LIBTORCH` is not
/// set or holds no `libtorch_cpu.so`.
pub fn libtorch_on_run_path() {
    let Some(lib) = libtorch_lib() else {
        println!(
            "cargo:warning=LIBTORCH is not set: run `make setup` (or scripts/setup.sh) first, \
             or point LIBTORCH at a libtorch 2.13.0 folder"
        );
        return;
    };
    if !lib.join("libtorch_cpu.so").exists() {
        println!(
            "cargo:warning=no libtorch_cpu.so in {}: run `make setup` first",
            lib.display()
        );
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        println!("cargo:warning=OUT_DIR is not set: call torch_build from a build script");
        return;
    };
    let link = out.join("libtorch-lib");
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink(&lib, &link) {
        println!(
            "cargo:warning=cannot link {} into {}: {e}",
            lib.display(),
            out.display()
        );
        return;
    }
    println!("cargo:rustc-link-search=native={}", link.display());
    println!(
        "cargo:rerun-if-changed={}",
        lib.join("libtorch_cpu.so").display()
    );
}

/// Keeps `libtorch_cuda` among the calling package's linked libraries when `LIBTORCH` holds a
/// CUDA libtorch, so that libtorch sees the GPU; does nothing for a CPU libtorch.
pub fn keep_libtorch_cuda() {
    if libtorch_lib().is_some_and(|lib| lib.join("libtorch_cuda.so").exists()) {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
