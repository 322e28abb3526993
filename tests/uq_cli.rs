//! The `uq` example driven as a user would, with absurd flags and broken files: every refusal is
//! exit status 1 with one line on stderr that names what is wrong, and nothing on stdout.
//!
//! The example is built (or found up to date) by `cargo build --all-features --example uq` from
//! this test, so the binary under test is the current source even when only this test target was
//! built.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the `uq` example binary, built with the profile this test was built with.
fn uq() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        // `make test` builds with --all-features: with the same features the binary is fresh.
        cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--all-features",
            "--example",
            "uq",
            "--message-format=json",
        ]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let out = cargo.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build --example uq failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "uq")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the uq executable")
    })
}

/// A fresh folder with a small valid ensemble (2 members, 3 samples, 2 classes) and broken
/// variants of it.
fn fixture(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chernet-uq-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "logits.json",
        "[[[2.0, 0.5], [0.1, 1.0], [0.3, 0.2]], [[1.5, 0.0], [0.0, 2.0], [1.0, 1.1]]]",
    );
    write(
        "probs.json",
        "[[[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]], [[0.6, 0.4], [0.1, 0.9], [0.4, 0.6]]]",
    );
    write("labels.json", "[0, 1, 1]");
    write("labels_short.json", "[0, 1]");
    write("labels_bad.json", "[0, 7, 1]");
    write("labels_float.json", "[0, 0.5, 1]");
    write("no_samples.json", "[[], []]");
    write("not_json.json", "[[[1.0, NaN]]]");
    write(
        "probs_bad_sum.json",
        "[[[0.8, 0.8], [0.3, 0.7], [0.5, 0.5]]]",
    );
    write(
        "truncated.npy",
        "\u{93}NUMPY\u{1}\u{0}v\u{0}{'descr': '<f8'",
    );
    write("logits.txt", "1 2 3");
    write("a_file", "not a folder");
    dir
}

/// Runs `uq` with `args` (in `dir`); returns (exit status, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(uq())
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("uq runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_run_prints_the_table() {
    let dir = fixture("valid");
    let (code, stdout, stderr) = run(
        &dir,
        &["--logits", "logits.json", "--labels", "labels.json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("Ensemble of 2 members, 3 samples, 2 classes")
            && stdout.contains("| accuracy | 1.0000 |"),
        "{stdout}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn absurd_flags_and_broken_files_are_one_line_and_status_1() {
    let dir = fixture("hostile");
    let base = ["--logits", "logits.json", "--labels", "labels.json"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    // (arguments, what the line must name)
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        // Bin counts: huge, negative, zero, not a number, not an integer, past usize.
        (with(&["--bins", "4000000000"]), &["4000000000", "1000000"]),
        (with(&["--bins", "-1"]), &["-1", "positive"]),
        (with(&["--bins", "0"]), &["--bins", "0"]),
        (with(&["--bins", "nan"]), &["nan"]),
        (with(&["--bins", "1e8"]), &["1e8"]),
        (
            with(&["--bins", "99999999999999999999999"]),
            &["99999999999999999999999"],
        ),
        (with(&["--bins", ""]), &["--bins"]),
        // Conventions that do not exist, flags that do not exist.
        (with(&["--nll", "bogus"]), &["bogus", "--nll"]),
        (with(&["--entropy", "-1"]), &["-1", "--entropy"]),
        (with(&["--samples", "0"]), &["--samples"]),
        // Missing or conflicting arguments.
        (vec!["--logits", "logits.json"], &["--labels"]),
        (vec!["--labels", "labels.json"], &["--logits"]),
        (with(&["--probs", "probs.json"]), &["--probs", "--logits"]),
        // Files: missing, unknown format, truncated, invalid, empty, inconsistent.
        (
            vec!["--logits", "missing.npy", "--labels", "labels.json"],
            &["missing.npy"],
        ),
        (
            vec!["--logits", "logits.json", "--labels", "missing.json"],
            &["missing.json"],
        ),
        (
            vec!["--logits", "logits.txt", "--labels", "labels.json"],
            &["logits.txt", "extension"],
        ),
        (
            vec!["--logits", "truncated.npy", "--labels", "labels.json"],
            &["truncated.npy"],
        ),
        (
            vec!["--logits", "not_json.json", "--labels", "labels.json"],
            &["not_json.json"],
        ),
        (
            vec!["--logits", "no_samples.json", "--labels", "labels.json"],
            &["no_samples.json"],
        ),
        (
            vec!["--logits", "logits.json", "--labels", "labels_short.json"],
            &["labels_short.json"],
        ),
        (
            vec!["--logits", "logits.json", "--labels", "labels_bad.json"],
            &["label 7", "0..2"],
        ),
        (
            vec!["--logits", "logits.json", "--labels", "labels_float.json"],
            &["labels_float.json", "0.5"],
        ),
        (
            vec!["--probs", "probs_bad_sum.json", "--labels", "labels.json"],
            &["sum"],
        ),
        (
            vec![
                "--logits",
                "logits.json:/no/such",
                "--labels",
                "labels.json",
            ],
            &["/no/such"],
        ),
        // Out-of-distribution inputs of the wrong shape, plots into a file.
        (with(&["--ood", "no_samples.json"]), &["no_samples.json"]),
        (with(&["--plots", "a_file"]), &["a_file"]),
    ];
    let mut failures = Vec::new();
    for (args, needles) in &cases {
        let (code, stdout, stderr) = run(&dir, args);
        let lines: Vec<&str> = stderr.lines().collect();
        let ok = code == Some(1)
            && stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("uq: error: ")
            && needles.iter().all(|n| lines[0].contains(n));
        if !ok {
            failures.push(format!(
                "uq {}: status {code:?}, stdout {stdout:?}, stderr {stderr:?} (must name {needles:?})",
                args.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    std::fs::remove_dir_all(dir).unwrap();
}
