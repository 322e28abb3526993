//! `genet ensemble train` and `genet ensemble eval` end to end on a small base network: the JSON
//! the evaluation prints, exit status 1 with one clear line on bad input (M = 0, rank 0, a base
//! of another band count, a missing member), nothing left behind as a complete ensemble after
//! a failure, and a stated default for every flag.
mod common;
use common::ensemble::{base_config, train_base};
use common::run;
use std::path::{Path, PathBuf};
use std::process::Output;

use gauge_nn::train::TrainConfig;

fn tmp(name: &str) -> PathBuf {
    common::ensemble::tmp("ens-cli", name)
}

/// A small trivial-only n = 2 base on 3x3 in single precision (the default) in `dir`.
fn base(dir: &Path) -> String {
    let config = TrainConfig {
        double_precision: false,
        ..base_config(4)
    };
    train_base(dir, config).display().to_string()
}

/// Asserts exit status 1 and a one-line message containing `needle`.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr}");
}

const SMALL: [&str; 6] = ["--epochs", "1", "--samples-per-epoch", "16", "--batch", "8"];

#[test]
fn train_then_eval_prints_the_metrics_as_json() {
    let root = tmp("ok");
    let b = base(&root.join("base"));
    let ens = root.join("ens").display().to_string();
    let mut args = vec![
        "ensemble",
        "train",
        "--base",
        &b,
        "--members",
        "2",
        "--rank",
        "2",
        "--out",
        &ens,
    ];
    args.extend(SMALL);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&ens).join("ensemble.json").is_file());
    assert!(
        Path::new(&ens)
            .join("member-1/adapter_model.safetensors")
            .is_file()
    );
    let plots = root.join("plots").display().to_string();
    let out = run(&[
        "ensemble",
        "eval",
        "--ensemble",
        &ens,
        "--grid",
        "4",
        "--samples",
        "40",
        "--calibration-samples",
        "30",
        "--ood-grid",
        "5",
        "--plots",
        &plots,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["members"], 2);
    assert_eq!(v["samples"], 40);
    assert_eq!(v["grid"], serde_json::json!([4, 4]));
    for key in [
        "accuracy",
        "member_accuracy",
        "nll",
        "brier",
        "ece",
        "predictive_entropy",
        "mutual_information",
        "aurc",
        "accuracy_at_90",
        "accuracy_at_90_margin",
        "auroc_ood_entropy",
        "auroc_ood_mi",
    ] {
        assert!(v[key].is_number(), "{key}: {}", v[key]);
    }
    for key in [
        "auroc_entropy",
        "auroc_mi",
        "auroc_margin",
        "auroc_eigenphase",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for f in [
        "entropy.svg",
        "mutual_information.svg",
        "risk_coverage.svg",
        "reliability.svg",
        "mi_per_epoch.svg",
    ] {
        let svg = std::fs::read_to_string(root.join("plots").join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
    }
    // Test samples of another band count: exit 1, one line naming the value (OOD sets take
    // other band counts through --ood-bands).
    let out = run(&[
        "ensemble",
        "eval",
        "--ensemble",
        &ens,
        "--grid",
        "4",
        "--bands",
        "3",
        "--json",
    ]);
    assert_refused(&out, "bands = 3");
    // A missing member: exit 1, one line naming it.
    std::fs::remove_dir_all(Path::new(&ens).join("member-1")).unwrap();
    let out = run(&[
        "ensemble",
        "eval",
        "--ensemble",
        &ens,
        "--grid",
        "4",
        "--json",
    ]);
    assert_refused(&out, "member-1");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_input_exits_1_with_one_line_and_leaves_no_ensemble() {
    let root = tmp("bad");
    let b = base(&root.join("base"));
    let ens = root.join("ens");
    let e = ens.display().to_string();
    for (flag, value, needle) in [
        ("--members", "0", "members = 0"),
        ("--rank", "0", "rank = 0"),
        ("--bands", "3", "2 filled bands"),
        ("--epochs", "0", "epochs = 0"),
    ] {
        let out = run(&["ensemble", "train", "--base", &b, flag, value, "--out", &e]);
        assert_refused(&out, needle);
        assert!(!ens.join("ensemble.json").exists(), "{flag} {value}");
    }
    let out = run(&[
        "ensemble",
        "train",
        "--base",
        &b,
        "--members",
        "0",
        "--explicit",
        "--out",
        &e,
    ]);
    assert_refused(&out, "members = 0");
    // An incomplete ensemble directory is refused by the evaluation.
    std::fs::create_dir_all(&ens).unwrap();
    let out = run(&["ensemble", "eval", "--ensemble", &e, "--grid", "4"]);
    assert_refused(&out, "ensemble.json");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn every_flag_states_its_default() {
    for sub in ["train", "eval"] {
        let out = run(&["ensemble", sub, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        // Each option's entry runs from its `--flag` line to the next one.
        let mut entries: Vec<String> = Vec::new();
        for line in help.lines() {
            let t = line.trim_start();
            if t.starts_with("--") || t.starts_with("-h") {
                entries.push(String::new());
            }
            if let Some(e) = entries.last_mut() {
                e.push_str(line);
                e.push(' ');
            }
        }
        assert!(entries.len() > 5, "{help}");
        for e in entries {
            if e.trim_start().starts_with("-h") || e.contains("--help") {
                continue;
            }
            let l = e.to_lowercase();
            assert!(
                l.contains("default") || l.contains("required"),
                "{sub}: no default stated: {e}"
            );
        }
    }
}

#[test]
fn negative_counts_are_refused_by_the_flag_checks() {
    for (flag, value) in [
        ("--members", "-1"),
        ("--rank", "-2"),
        ("--epochs", "-1"),
        ("--samples-per-epoch", "-3"),
        ("--batch", "-8"),
    ] {
        let out = run(&[
            "ensemble", "train", "--base", "none", flag, value, "--out", "none",
        ]);
        assert_refused(
            &out,
            &format!("`{value}` must be zero or a positive integer"),
        );
    }
    let out = run(&[
        "ensemble", "train", "--base", "none", "--bands", "0", "--out", "none",
    ]);
    assert_refused(&out, "`0` must be a positive integer");
}
