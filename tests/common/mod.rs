//! Shared by the workspace tests: running the `genet` example as a user would, and the
//! ensemble tests' set-up ([`ensemble`]). Each test binary uses a part of it.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Command, Output};

pub mod ensemble;

/// The `genet` example next to this test binary: `cargo test` builds the examples with the
/// tests (a single `cargo test --test NAME` does not: build it first with
/// `cargo build --example genet`).
pub fn genet() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("genet");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo test` (it builds the examples) or `cargo build --example genet`",
        bin.display()
    );
    bin
}

/// Runs `genet` with `args`, without backtraces (so that errors are the one line users see).
pub fn run(args: &[&str]) -> Output {
    Command::new(genet())
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .unwrap()
}
