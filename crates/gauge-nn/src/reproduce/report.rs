//! The assembled results: `results.json` and the Markdown table, from the rows' `row.json` files.
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::plan::{GOAL_TABLE3_MEAN, Metric, PAPER_TABLE3, Row};
use super::row::{RowResult, read_result};
use crate::data::grid_name;
use crate::error::Result;
use crate::tensor_file::write_atomic;

/// The results file in the reproduction directory.
pub const RESULTS_JSON: &str = "results.json";
/// The Markdown table in the reproduction directory.
pub const RESULTS_MD: &str = "results.md";

/// The mean over the seeds of one Table 3 variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedMean {
    /// `diag` or `haar`.
    pub data: String,
    /// Seeds measured (of four).
    pub seeds: Vec<u64>,
    /// Mean accuracy over them.
    pub mean: f64,
    /// Standard error of the mean (from the rows' binomial errors).
    pub standard_error: f64,
    /// The paper's mean over its four seeds.
    pub paper: f64,
    /// Our goal for the mean.
    pub goal: f64,
}

/// Everything measured so far, in plan order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Rows with a `row.json`, in plan order.
    pub rows: Vec<RowResult>,
    /// Ids of the rows not measured yet.
    pub not_measured: Vec<String>,
    /// Table 3 means over seeds, per data variant with at least one seed measured.
    pub table3_means: Vec<SeedMean>,
}

/// Reads every row's `row.json` under `out`.
pub fn gather(plan: &[Row], out: &Path) -> Result<Results> {
    let mut rows = Vec::new();
    let mut not_measured = Vec::new();
    for row in plan {
        match read_result(out, &row.id)? {
            Some(r) => rows.push(r),
            None => not_measured.push(row.id.clone()),
        }
    }
    let mut table3_means = Vec::new();
    for data in ["diag", "haar"] {
        let seeds: Vec<&RowResult> = rows
            .iter()
            .filter(|r| r.id.starts_with(&format!("table3_{data}_s")))
            .collect();
        if seeds.is_empty() {
            continue;
        }
        let m = seeds.len() as f64;
        table3_means.push(SeedMean {
            data: data.into(),
            seeds: seeds.iter().map(|r| r.train_seed).collect(),
            mean: seeds.iter().map(|r| r.value).sum::<f64>() / m,
            standard_error: seeds
                .iter()
                .map(|r| r.standard_error.powi(2))
                .sum::<f64>()
                .sqrt()
                / m,
            paper: PAPER_TABLE3.iter().sum::<f64>() / PAPER_TABLE3.len() as f64,
            goal: GOAL_TABLE3_MEAN,
        });
    }
    Ok(Results {
        rows,
        not_measured,
        table3_means,
    })
}

/// Gathers the results and writes `results.json` and `results.md` into `out` (atomically).
pub fn assemble(plan: &[Row], out: &Path) -> Result<Results> {
    let results = gather(plan, out)?;
    let json = serde_json::to_string_pretty(&results).expect("results serialise");
    write_atomic(&out.join(RESULTS_JSON), json.as_bytes())?;
    write_atomic(&out.join(RESULTS_MD), markdown(&results).as_bytes())?;
    Ok(results)
}

fn value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Accuracy => format!("{:.2}%", 100.0 * v),
        Metric::MeanAbsError => format!("MAE {v:.3}"),
    }
}

/// The Markdown table: one line per measured row (ours with its standard error, C != 0, paper,
/// goal and whether it is met, the small-flux slope, seeds, epochs, times, device and the
/// command), the Table 3 means, and the rows not measured.
pub fn markdown(results: &Results) -> String {
    let mut s = String::new();
    s.push_str(
        "| row | what | ours | ± s.e. | C ≠ 0 | paper | goal | small-flux slope (exact 1) | seeds (train/eval) | epochs | train s | wall s | device | command |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &results.rows {
        let goal = r.goal.map_or_else(
            || "-".to_string(),
            |g| {
                let op = match r.metric {
                    Metric::Accuracy => "≥",
                    Metric::MeanAbsError => "≤",
                };
                let mark = if g.met(r.metric, r.value) {
                    "met"
                } else {
                    "missed"
                };
                format!("{op} {} ({mark})", value(r.metric, g.value))
            },
        );
        let epochs = if r.complete {
            r.epochs.to_string()
        } else {
            format!("{}/{} (budget)", r.epochs, r.planned_epochs)
        };
        let se = match r.metric {
            Metric::Accuracy => format!("{:.2}", 100.0 * r.standard_error),
            Metric::MeanAbsError => format!("{:.3}", r.standard_error),
        };
        let _ = writeln!(
            s,
            "| {} | {} ({} samples, {} {}) | {} | {} | {} | {} | {} | {} | {}/{} | {} | {:.0} | {:.0} | {} | `{}` |",
            r.id,
            r.what,
            r.samples,
            grid_name(&r.grid),
            r.data,
            match r.zero_prediction_error {
                Some(zero) => format!("{} (predicting 0: {zero:.3})", value(r.metric, r.value)),
                None => value(r.metric, r.value),
            },
            se,
            r.accuracy_nontrivial
                .map_or_else(|| "-".into(), |a| format!("{:.2}%", 100.0 * a)),
            r.paper.map_or_else(|| "-".into(), |p| value(r.metric, p)),
            goal,
            r.small_flux_slope
                .map_or_else(|| "-".into(), |k| format!("{k:.3}")),
            r.train_seed,
            r.eval_seed,
            epochs,
            r.train_seconds,
            r.wall_seconds,
            r.device,
            r.command
        );
    }
    for m in &results.table3_means {
        let _ = writeln!(
            s,
            "\nTable 3 ({}): mean over seeds {:?} = {:.2}% ± {:.2} (paper, four seeds: {:.2}%; goal ≥ {:.0}%: {}).",
            m.data,
            m.seeds,
            100.0 * m.mean,
            100.0 * m.standard_error,
            100.0 * m.paper,
            100.0 * m.goal,
            if m.seeds.len() < 4 {
                "not all four seeds measured"
            } else if m.mean >= m.goal {
                "met"
            } else {
                "missed"
            }
        );
    }
    if !results.not_measured.is_empty() {
        let _ = writeln!(s, "\nNot measured: {}.", results.not_measured.join(", "));
    }
    s
}
