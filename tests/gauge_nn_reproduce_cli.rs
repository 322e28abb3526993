//! `genet reproduce` flags: bad values exit with status 1 (clap's refusals as the library's, see
//! `chernet::cli::parse_args`) and one line naming the value; every flag states its default; `--list` prints the plan.
mod common;
use common::run;

#[test]
fn bad_reproduce_flags_are_refused_naming_the_value() {
    let out_dir = std::env::temp_dir().join(format!("genet-reproduce-cli-{}", std::process::id()));
    let out = out_dir.to_str().unwrap();
    for (flag, value, says) in [
        ("--shard", "2/2", "smaller than N"),
        ("--shard", "1/0", "positive integer"),
        ("--shard", "-1/2", "non-negative"),
        ("--shard", "half", "k/N"),
        ("--budget-minutes", "-1", "-1"),
        ("--budget-minutes", "0", "0"),
        ("--budget-minutes", "nan", "nan"),
        ("--threads", "0", "positive integer"),
        ("--eval-batch", "-3", "positive integer"),
    ] {
        let o = run(&["reproduce", flag, value, "--out", out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag} {value}: {err}");
        assert!(
            err.contains(value) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    let o = run(&[
        "reproduce",
        "--assemble-only",
        "--shard",
        "0/2",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
    // An unknown row is refused before anything runs, listing the rows.
    let o = run(&["reproduce", "--only", "table9", "--out", out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("table9") && err.contains("table2_n4"), "{err}");
    assert!(!out_dir.exists(), "nothing written for refused flags");
}

#[test]
fn the_plan_lists_every_row_with_the_papers_figure() {
    let o = run(&["reproduce", "--list"]);
    assert!(o.status.success());
    let list = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids.len(), 52, "{list}");
    // The n = 4 Hamiltonian rows evaluate the network trained with weak fields.
    let smooth = list
        .lines()
        .find(|l| l.starts_with("ham_smooth_n4_64x64 "))
        .unwrap();
    assert!(smooth.contains("general_n4 on random-smooth"), "{smooth}");
    let n8 = list.lines().find(|l| l.starts_with("table2_n8 ")).unwrap();
    assert!(
        n8.contains("paper 52.50%") && n8.contains("goal 85.00%"),
        "{n8}"
    );
    let o = run(&[
        "reproduce",
        "--list",
        "--only",
        "table3_*",
        "--shard",
        "1/2",
    ]);
    let shard: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(
        !shard.is_empty() && shard.iter().all(|id| id.starts_with("table3_")),
        "{shard:?}"
    );
}

#[test]
fn every_reproduce_flag_states_its_default() {
    let o = run(&["reproduce", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    // Each option's entry runs from its `--flag` line to the next one.
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        if line.trim_start().starts_with("--") || line.trim_start().starts_with("-h,") {
            entries.push(String::new());
        }
        if let Some(e) = entries.last_mut() {
            e.push_str(line);
            e.push('\n');
        }
    }
    assert!(entries.len() >= 9, "{help}");
    for e in entries.iter().filter(|e| !e.contains("--help")) {
        assert!(e.contains("Default:"), "{e}");
    }
}
