//! Makes libtorch's shared libraries findable at run time without the user exporting anything.
//!
//! tch binaries carry no rpath to libtorch. Cargo puts every `rustc-link-search=native` directory
//! that lies inside `OUT_DIR` on the dynamic-library path of `cargo test`, `cargo run`, `cargo bench`
//! and doctests, for this crate and every crate that depends on it. So we link `$LIBTORCH/lib` into
//! `OUT_DIR` and announce it. (The rpath flags in `.cargo/config.toml` cover binaries started by hand.)
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        println!(
            "cargo:warning=LIBTORCH is not set: run `make setup` (or scripts/setup.sh) first, \
             or point LIBTORCH at a libtorch 2.13.0 folder"
        );
        return;
    };
    let lib = PathBuf::from(libtorch).join("lib");
    if !lib.join("libtorch_cpu.so").exists() {
        println!(
            "cargo:warning=no libtorch_cpu.so in {}: run `make setup` first",
            lib.display()
        );
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let link = out.join("libtorch-lib");
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&lib, &link).expect("symlink libtorch/lib into OUT_DIR");
    println!("cargo:rustc-link-search=native={}", link.display());
    println!(
        "cargo:rerun-if-changed={}",
        lib.join("libtorch_cpu.so").display()
    );
    // A CUDA libtorch: keep libtorch_cuda in this crate's tests (nothing calls into it directly,
    // so `--as-needed` would drop it and libtorch would see no CUDA device).
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
