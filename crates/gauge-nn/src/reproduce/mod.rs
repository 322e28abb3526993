//! Reproduction of the GENet paper's results: a plan of rows, each an ordinary resumable run in
//! its own directory, with the paper's figure beside ours.
//!
//! - [`plan`]: the rows ([`paper_plan`]: Table 2, Table 3, grid and Hamiltonian generalisation,
//!   4D), `--only` and `--shard` selection;
//! - [`claim`]: atomic claims, so that shards sharing a directory never run one row twice;
//! - [`row`]: one row: train or resume within a time budget, evaluate, write `row.json`
//!   atomically;
//! - [`report`]: `results.json` and the Markdown table gathered from the rows (the figures are
//!   `crate::plot::reproduce_figures`, feature `plots`).
//!
//! [`run_rows`] runs the selected rows in plan order. A rerun skips finished rows and resumes
//! interrupted ones (from the last epoch's checkpoint); rows another process holds are skipped
//! and reported; an evaluation row whose network is not trained yet waits for a later run.
//!
//! ```
//! use gauge_nn::reproduce::{paper_plan, plan, Shard};
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let rows = paper_plan();
//! plan::validate(&rows)?;
//! let only = vec!["table2_n4".to_string(), "grid_n4_*".to_string()];
//! let chosen = plan::select(&rows, Some(&only), None)?;
//! let ids: Vec<&str> = chosen.iter().map(|r| r.id.as_str()).collect();
//! assert_eq!(ids, ["table2_n4", "grid_n4_10x10", "grid_n4_16x16", "grid_n4_32x32"]);
//! // Shard 0 of 2 takes every other training row with the rows that evaluate its network.
//! let shard: Shard = "0/2".parse()?;
//! assert!(plan::select(&rows, None, Some(shard))?.iter().any(|r| r.id == "grid_n4_10x10"));
//! assert!("2/2".parse::<Shard>().is_err());
//! # Ok(())
//! # }
//! ```

pub mod claim;
pub mod plan;
pub mod report;
pub mod row;

pub use plan::{Job, Metric, Row, Shard, paper_plan};
pub use report::{Results, assemble};
pub use row::{RowOptions, RowResult, RowStatus, eval_request, run_row};

use crate::data::grid_name;
use crate::error::{Error, Result};
use crate::eval::MemoryCheck;
use crate::train::check_training_memory;

/// The caller's memory check on the `rows` of `plan` before any runs: the training of every
/// training row and the evaluation of every row (with `options`' batching); the first refusal
/// is [`Error::MemoryLimit`].
pub fn check_memory(
    plan: &[Row],
    rows: &[&Row],
    options: &RowOptions,
    check: Option<MemoryCheck>,
) -> Result<()> {
    for row in rows {
        let config = match plan.iter().find(|m| m.id == row.model()).map(|m| &m.job) {
            Some(Job::Train(config)) => config,
            _ => {
                return Err(Error::InvalidParameter {
                    name: "model",
                    value: row.model().to_string(),
                    reason: format!("row {}: no training row of that name in the plan", row.id),
                });
            }
        };
        if let Job::Train(_) = row.job {
            check_training_memory(check, config)?;
        }
        let what = format!(
            "row {}: evaluation on {}",
            row.id,
            grid_name(&row.evaluation.grid)
        );
        config.check_evaluation_memory(check, &what, &eval_request(row, options))?;
    }
    Ok(())
}

/// Runs the `rows` of `plan` in order with `options`, calling `on_row` with each row's status
/// as it is known (an error it returns stops the run). Rows are validated first.
pub fn run_rows(
    plan: &[Row],
    rows: &[&Row],
    options: &RowOptions,
    mut on_row: impl FnMut(&Row, &RowStatus) -> Result<()>,
) -> Result<Vec<RowStatus>> {
    plan::validate(plan)?;
    std::fs::create_dir_all(&options.out).map_err(|source| crate::Error::Io {
        path: options.out.clone(),
        source,
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let status = run_row(row, plan, options)?;
        on_row(row, &status)?;
        out.push(status);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::plan::{RowEvaluation, select, validate};
    use super::row::{ROW_JSON, read_result};
    use super::*;
    use crate::Error;
    use crate::data::{ModelSpec, SampleSource};
    use crate::train::trainer::tests::{small_config, tmp_dir};
    use crate::train::{Checkpoint, EvalRequest, TrainConfig};

    fn train_row(id: &str, seed: u64) -> Row {
        let config = TrainConfig {
            seed,
            threads: 1,
            ..small_config()
        };
        Row {
            id: id.into(),
            what: format!("tiny {id}"),
            evaluation: RowEvaluation {
                grid: config.grid.clone(),
                hamiltonian: None,
                samples: 24,
                seed: 9,
            },
            job: Job::Train(Box::new(config)),
            paper: Some(0.5),
            goal: Some(plan::Goal { value: 0.9 }),
        }
    }

    fn eval_row(id: &str, model: &str, grid: usize) -> Row {
        Row {
            id: id.into(),
            what: format!("tiny {id}"),
            job: Job::Evaluate {
                model: model.into(),
            },
            evaluation: RowEvaluation {
                grid: vec![grid, grid],
                hamiltonian: None,
                samples: 16,
                seed: 10,
            },
            paper: None,
            goal: None,
        }
    }

    /// Two training rows, each evaluated on a larger grid.
    fn tiny_plan() -> Vec<Row> {
        vec![
            train_row("a", 5),
            train_row("b", 6),
            eval_row("a_4x4", "a", 4),
            eval_row("b_4x4", "b", 4),
        ]
    }

    fn metric_lines(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join(crate::train::METRICS))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn all(plan: &[Row]) -> Vec<&Row> {
        plan.iter().collect()
    }

    #[test]
    fn the_paper_plan_is_valid_and_its_configs_are_the_shipped_files() {
        let rows = paper_plan();
        validate(&rows).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for id in [
            "table2_n4",
            "table2_n8",
            "table3_diag_s1",
            "table3_haar_s4",
            "grid_n4_10x10",
            "grid_n8_32x32",
            "general_n1",
            "ham_qwz_n1_64x64",
            "ham_hofstadter_n4_64x64",
            "ham_smooth_n2_16x16",
            "table4d_n2",
            "table4d_n3",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        let t2: Vec<f64> = rows
            .iter()
            .filter(|r| r.id.starts_with("table2_"))
            .map(|r| r.paper.unwrap())
            .collect();
        assert_eq!(t2, [0.959, 0.940, 0.938, 0.917, 0.525]);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/genet-configs");
        let mut training = 0;
        for row in &rows {
            if let Job::Train(config) = &row.job {
                training += 1;
                let path = dir.join(format!("{}.json", row.id));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let shipped = TrainConfig::from_json(&text, &path).unwrap();
                assert_eq!(&shipped, config.as_ref(), "{}", path.display());
            }
        }
        assert_eq!(training, 5 + 8 + 4 + 2);
        // Epochs grow with n in Table 2.
        let epochs: Vec<usize> = (4..=8).map(|n| plan::table2_config(n).epochs).collect();
        assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");
    }

    #[test]
    fn the_memory_check_sees_every_selected_row_and_names_the_refused_one() {
        let plan = tiny_plan();
        let rows: Vec<&Row> = plan.iter().collect();
        let options = RowOptions::new(tmp_dir("reproduce-memory"));
        // A check that accepts everything sees the two trainings and the four evaluations.
        thread_local!(static SEEN: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) });
        fn record(what: &str, bytes: f64) -> std::result::Result<(), String> {
            assert!(bytes > 0.0 && bytes.is_finite(), "{what}: {bytes}");
            SEEN.with(|s| s.borrow_mut().push(what.to_string()));
            Ok(())
        }
        check_memory(&plan, &rows, &options, Some(record)).unwrap();
        let seen = SEEN.with(|s| s.borrow().clone());
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(
            seen.iter().any(|w| w == "row b_4x4: evaluation on 4x4"),
            "{seen:?}"
        );
        // The estimate of the larger grid is the larger one: refuse above the 3x3 rows'.
        let Job::Train(config) = &plan[0].job else {
            unreachable!("row a trains")
        };
        let small = config.evaluation_memory(&eval_request(&plan[0], &options));
        let large = config.evaluation_memory(&eval_request(&plan[2], &options));
        assert!(large > small, "{large} vs {small}");
        fn refuse_large(what: &str, bytes: f64) -> std::result::Result<(), String> {
            if what.contains("4x4") {
                Err(format!("{what} needs {bytes:.0} bytes"))
            } else {
                Ok(())
            }
        }
        let err = check_memory(&plan, &rows, &options, Some(refuse_large)).unwrap_err();
        assert!(matches!(err, Error::MemoryLimit { .. }), "{err}");
        assert!(
            err.to_string().contains("row a_4x4: evaluation on 4x4"),
            "{err}"
        );
        // Without a check nothing is refused.
        check_memory(&plan, &rows, &options, None).unwrap();
    }

    #[test]
    fn only_and_shards_partition_the_plan() {
        let rows = paper_plan();
        let only = vec!["table3_*".to_string()];
        let t3 = select(&rows, Some(&only), None).unwrap();
        assert_eq!(t3.len(), 8);
        assert!(t3.iter().all(|r| r.id.starts_with("table3_")));
        for count in [1, 2, 3, 7, 40] {
            let mut seen: Vec<&str> = Vec::new();
            for index in 0..count {
                let shard = Shard { index, count };
                for r in select(&rows, None, Some(shard)).unwrap() {
                    seen.push(&r.id);
                    // An evaluation row runs in its network's shard.
                    let model = select(&rows, Some(&[r.model().to_string()]), Some(shard)).unwrap();
                    assert_eq!(model.len(), 1, "{} without {}", r.id, r.model());
                }
            }
            seen.sort();
            let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            ids.sort();
            assert_eq!(seen, ids, "{count} shards: every row exactly once");
        }
    }

    #[test]
    fn bad_selections_and_shards_are_refused_naming_the_value() {
        let rows = paper_plan();
        for bad in ["", "1", "1/0", "2/2", "-1/2", "a/b", "0/-3"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(
                matches!(&e, Error::InvalidParameter { name: "shard", value, .. } if value == bad),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            "3/4".parse::<Shard>().unwrap(),
            Shard { index: 3, count: 4 }
        );
        let e = select(&rows, Some(&["table9_n4".to_string()]), None).unwrap_err();
        assert!(
            e.to_string().contains("table9_n4") && e.to_string().contains("table2_n4"),
            "{e}"
        );
        assert!(select(&rows, Some(&[]), None).is_err());
        // A plan whose evaluation row names no earlier training row.
        let mut broken = tiny_plan();
        broken.swap(0, 2);
        let e = validate(&broken).unwrap_err();
        assert!(e.to_string().contains("a_4x4"), "{e}");
        let mut twice = tiny_plan();
        twice.push(train_row("a", 1));
        assert!(validate(&twice).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn a_finished_row_is_skipped_only_while_it_is_the_plans_row() {
        let dir = tmp_dir("reproduce-stale");
        let plan = tiny_plan();
        let only = vec!["a".to_string(), "a_4x4".to_string()];
        let options = RowOptions::new(&dir);
        let run = |plan: &[Row], only: &[String]| {
            let rows = select(plan, Some(only), None).unwrap();
            run_rows(plan, &rows, &options, |_, _| Ok(()))
        };
        run(&plan, &only).unwrap();
        let again = run(&plan, &only).unwrap();
        assert!(
            again.iter().all(|s| matches!(s, RowStatus::Finished(_))),
            "{again:?}"
        );
        // Other evaluation samples (count, seed, grid or family): measured again on the stored
        // network, which is not trained again.
        let lines = metric_lines(&dir.join("a"));
        let changes: [fn(&mut RowEvaluation); 4] = [
            |e| e.samples = 20,
            |e| e.seed = 11,
            |e| e.grid = vec![5, 5],
            |e| e.hamiltonian = Some(ModelSpec::Qwz),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = plan.clone();
            change(&mut changed[2].evaluation);
            let status = run(&changed, &only).unwrap();
            assert!(matches!(status[0], RowStatus::Finished(_)), "change {i}");
            match &status[1] {
                RowStatus::Measured(r) => {
                    assert_eq!(r.samples, changed[2].evaluation.samples, "change {i}");
                    assert_eq!(r.grid, changed[2].evaluation.grid, "change {i}");
                    assert_eq!(r.eval_seed, changed[2].evaluation.seed, "change {i}");
                }
                other => panic!("change {i}: measured again, not {other:?}"),
            }
            assert_eq!(
                metric_lines(&dir.join("a")),
                lines,
                "change {i}: no training"
            );
        }
        // Another training configuration: refused naming the field, for the training row and
        // for a row evaluating its network, however the rows are selected.
        let mut other = plan.clone();
        let Job::Train(config) = &mut other[0].job else {
            unreachable!("row a trains")
        };
        config.optimizer.lr *= 2.0;
        for selection in [only.clone(), vec!["a_4x4".to_string()]] {
            let err = run(&other, &selection).unwrap_err();
            assert!(
                matches!(&err, Error::SweepMismatch { field, .. } if field == "optimizer"),
                "{selection:?}: {err}"
            );
            assert!(
                err.to_string()
                    .contains(&dir.join("a").display().to_string()),
                "{err}"
            );
        }
        // Threads and device are not part of the run (the plan's own samples measured back first).
        run(&plan, &only).unwrap();
        let mut threads = plan.clone();
        let Job::Train(config) = &mut threads[0].job else {
            unreachable!("row a trains")
        };
        config.threads = 2;
        assert!(
            run(&threads, &only)
                .unwrap()
                .iter()
                .all(|s| matches!(s, RowStatus::Finished(_)))
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rows_run_resume_within_a_budget_and_are_skipped_when_finished() {
        let dir = tmp_dir("reproduce-resume");
        let plan = tiny_plan();
        let only = vec!["a".to_string(), "a_4x4".to_string()];
        let rows = select(&plan, Some(&only), None).unwrap();
        // A budget smaller than one epoch: one epoch per session.
        let mut options = RowOptions::new(&dir);
        options.budget_seconds = Some(1e-9);
        let first = run_rows(&plan, &rows, &options, |_, _| Ok(())).unwrap();
        let r = first[0].result().unwrap();
        assert!(matches!(first[0], RowStatus::Measured(_)));
        assert_eq!((r.epochs, r.planned_epochs, r.complete), (1, 2, false));
        assert_eq!(metric_lines(&dir.join("a")), 1);
        assert_eq!(first[1].result().unwrap().epochs, 1);
        // The same budget again: used up, nothing to do.
        let again = run_rows(&plan, &rows, &options, |_, _| Ok(())).unwrap();
        assert!(
            again.iter().all(|s| matches!(s, RowStatus::Finished(_))),
            "{again:?}"
        );
        assert_eq!(metric_lines(&dir.join("a")), 1);
        // No budget: resumed (one more epoch, not a fresh run), then the evaluation is redone.
        options.budget_seconds = None;
        let done = run_rows(&plan, &rows, &options, |_, _| Ok(())).unwrap();
        assert!(
            done.iter().all(|s| matches!(s, RowStatus::Measured(_))),
            "{done:?}"
        );
        assert_eq!(metric_lines(&dir.join("a")), 2);
        let a = done[0].result().unwrap();
        assert_eq!((a.epochs, a.complete), (2, true));
        let e = done[1].result().unwrap();
        assert_eq!(
            (e.epochs, e.complete, e.grid.as_slice()),
            (2, true, &[4, 4][..])
        );
        // Oracle: the same evaluation straight from the checkpoint.
        let ckpt = Checkpoint::read(&dir.join("a")).unwrap();
        let direct = ckpt
            .evaluate(
                &EvalRequest {
                    grid: Some(vec![4, 4]),
                    samples: 16,
                    hamiltonian: None,
                    seed: 10,
                    batch: 64,
                    progress: false,
                },
                tch::Device::Cpu,
            )
            .unwrap();
        assert_eq!(e.value, direct.accuracy);
        let p = direct.accuracy;
        assert!((e.standard_error - (p * (1.0 - p) / 16.0).sqrt()).abs() < 1e-15);
        assert_eq!(options.batch_on(&[5, 5]), 64);
        assert_eq!(options.batch_on(&[10, 10]), 16);
        assert_eq!(options.batch_on(&[32, 32]), 1);
        // Finished rows are skipped and their numbers kept.
        let skipped = run_rows(&plan, &rows, &options, |_, _| Ok(())).unwrap();
        for (s, d) in skipped.iter().zip(&done) {
            assert!(matches!(s, RowStatus::Finished(_)));
            assert_eq!(s.result(), d.result());
        }
        // The evaluation row of the untrained network b waits.
        let b = select(&plan, Some(&["b_4x4".to_string()]), None).unwrap();
        let waiting = run_rows(&plan, &b, &options, |_, _| Ok(())).unwrap();
        assert!(matches!(&waiting[0], RowStatus::Waiting { model } if model == "b"));
        // A changed run in a row directory is refused, naming the field.
        let mut changed = tiny_plan();
        if let Job::Train(c) = &mut changed[0].job {
            c.samples_per_epoch = 16;
        }
        std::fs::remove_file(dir.join("a").join(ROW_JSON)).unwrap();
        let e = run_rows(&changed, &[&changed[0]], &options, |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("samples_per_epoch"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn concurrent_shards_and_claimers_never_run_a_row_twice() {
        let plan = tiny_plan();
        // Two processes' worth of claimers on the whole plan, and two shards, each at once.
        for sharded in [false, true] {
            let dir = tmp_dir(&format!("reproduce-race-{sharded}"));
            let options = RowOptions::new(&dir);
            let statuses: Vec<Vec<RowStatus>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|k| {
                        let (plan, options) = (&plan, &options);
                        s.spawn(move || {
                            let shard = sharded.then_some(Shard { index: k, count: 2 });
                            let rows = select(plan, None, shard).unwrap();
                            run_rows(plan, &rows, options, |_, _| Ok(())).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let measured = statuses
                .iter()
                .flatten()
                .filter(|s| matches!(s, RowStatus::Measured(r) if r.id == r.model))
                .count();
            assert_eq!(measured, 2, "each network trained by exactly one claimer");
            // The final run (no shard) evaluates what waited and assembles.
            run_rows(&plan, &all(&plan), &options, |_, _| Ok(())).unwrap();
            for id in ["a", "b"] {
                assert_eq!(metric_lines(&dir.join(id)), 2, "{id} trained once");
                assert_eq!(Checkpoint::read(&dir.join(id)).unwrap().state.epoch, 2);
                assert!(!dir.join(id).join(claim::CLAIM_FILE).exists());
            }
            let results = assemble(&plan, &dir).unwrap();
            assert_eq!(results.rows.len(), 4);
            assert!(results.not_measured.is_empty());
            for r in &results.rows {
                assert_eq!(read_result(&dir, &r.id).unwrap().as_ref(), Some(r));
            }
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    #[test]
    fn results_table_and_figures_show_ours_beside_the_paper() {
        let dir = tmp_dir("reproduce-report");
        let mut plan = tiny_plan();
        plan[0].id = "table2_n1".into();
        plan[2] = eval_row("grid_n1_4x4", "table2_n1", 4);
        let mut qwz = eval_row("ham_qwz_n1", "table2_n1", 6);
        qwz.evaluation.hamiltonian = Some(ModelSpec::Qwz);
        qwz.evaluation.samples = 8;
        plan.push(qwz);
        let four = TrainConfig {
            grid: vec![2, 2, 2, 2],
            epochs: 1,
            samples_per_epoch: 8,
            ..small_config()
        };
        plan.push(Row {
            id: "table4d_n1".into(),
            what: "tiny 4D".into(),
            evaluation: RowEvaluation {
                grid: four.grid.clone(),
                hamiltonian: None,
                samples: 12,
                seed: 4,
            },
            job: Job::Train(Box::new(four.clone())),
            paper: Some(0.25),
            goal: Some(plan::Goal { value: 0.1 }),
        });
        let only: Vec<String> = ["table2_n1", "grid_n1_4x4", "ham_qwz_n1", "table4d_n1"]
            .map(String::from)
            .to_vec();
        let rows = select(&plan, Some(&only), None).unwrap();
        let options = RowOptions::new(&dir);
        let mut seen = Vec::new();
        run_rows(&plan, &rows, &options, |row, status| {
            seen.push((row.id.clone(), status.result().is_some()));
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|(_, measured)| *measured), "{seen:?}");
        let results = assemble(&plan, &dir).unwrap();
        assert_eq!(results.not_measured, ["b", "b_4x4"]);
        let ham = results.rows.iter().find(|r| r.id == "ham_qwz_n1").unwrap();
        assert_eq!((ham.data.as_str(), ham.samples), ("qwz", 8));
        // Oracle for the 4D error: the same samples by hand.
        let mae = results.rows.iter().find(|r| r.id == "table4d_n1").unwrap();
        assert_eq!(mae.metric, Metric::MeanAbsError);
        let ckpt = Checkpoint::read(&dir.join("table4d_n1")).unwrap();
        let (_vs, net) = ckpt.network(tch::Device::Cpu).unwrap();
        let data = four
            .all_chern_source(&[2, 2, 2, 2], 4)
            .unwrap()
            .sample(12)
            .unwrap();
        let f = crate::eval::predict(&net, &data, 64).unwrap();
        let q: Vec<f64> = Vec::try_from(&data.site_labels.flatten(1, -1).sum_dim_intlist(
            1,
            false,
            tch::Kind::Double,
        ))
        .unwrap();
        let by_hand = f.iter().zip(&q).map(|(f, q)| (f - q).abs()).sum::<f64>() / 12.0;
        let zero = q.iter().map(|q| q.abs()).sum::<f64>() / 12.0;
        assert!((mae.zero_prediction_error.unwrap() - zero).abs() < 1e-9);
        assert!(zero > 0.0, "the labels are not all 0");
        assert!(
            (mae.value - by_hand).abs() < 1e-9,
            "{} vs {by_hand}",
            mae.value
        );
        assert_eq!(mae.small_flux_slope, None, "no slope for a 4D row");
        // The 2D rows carry their network's small-flux slope: the library's, at its fixed seed.
        let ckpt_2d = Checkpoint::read(&dir.join("table2_n1")).unwrap();
        let (_vs, net_2d) = ckpt_2d.network(tch::Device::Cpu).unwrap();
        let slope = crate::eval::small_flux_slope(
            &net_2d,
            1,
            ckpt_2d.state.rescale,
            crate::train::SMALL_FLUX_SEED,
        )
        .unwrap();
        for id in ["table2_n1", "grid_n1_4x4", "ham_qwz_n1"] {
            let r = results.rows.iter().find(|r| r.id == id).unwrap();
            assert_eq!(r.small_flux_slope, Some(slope), "{id}");
        }
        // A finished row written before the slope was recorded gets it on the next run, and
        // keeps everything else; the 4D row stays without one.
        for id in ["table2_n1", "grid_n1_4x4", "table4d_n1"] {
            let path = dir.join(id).join(ROW_JSON);
            let mut old: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            old.as_object_mut().unwrap().remove("small_flux_slope");
            std::fs::write(&path, old.to_string()).unwrap();
        }
        let stripped = read_result(&dir, "grid_n1_4x4").unwrap().unwrap();
        assert_eq!(stripped.small_flux_slope, None);
        run_rows(&plan, &rows, &options, |row, status| {
            assert!(
                matches!(status, row::RowStatus::Finished(_)),
                "{}: finished rows are not run again: {status:?}",
                row.id
            );
            Ok(())
        })
        .unwrap();
        for id in ["table2_n1", "grid_n1_4x4"] {
            let back = read_result(&dir, id).unwrap().unwrap();
            assert_eq!(back.small_flux_slope, Some(slope), "{id}");
            let before = results.rows.iter().find(|r| r.id == id).unwrap();
            assert_eq!(&back, before, "{id}: nothing else changes");
        }
        let back_4d = read_result(&dir, "table4d_n1").unwrap().unwrap();
        assert_eq!(back_4d.small_flux_slope, None);
        // Gathered results without the network's checkpoint: the table still assembles.
        let gathered = tmp_dir("reproduce-gathered");
        for id in ["table2_n1", "grid_n1_4x4"] {
            std::fs::create_dir_all(gathered.join(id)).unwrap();
            std::fs::copy(
                dir.join("table2_n1").join(ROW_JSON),
                gathered.join(id).join(ROW_JSON),
            )
            .unwrap();
        }
        let path = gathered.join("grid_n1_4x4").join(ROW_JSON);
        let mut old = results
            .rows
            .iter()
            .find(|r| r.id == "grid_n1_4x4")
            .unwrap()
            .clone();
        old.small_flux_slope = None;
        std::fs::write(&path, serde_json::to_string(&old).unwrap()).unwrap();
        let only_grid = vec!["grid_n1_4x4".to_string()];
        let grid_rows = select(&plan, Some(&only_grid), None).unwrap();
        run_rows(
            &plan,
            &grid_rows,
            &RowOptions::new(&gathered),
            |_, status| {
                assert!(
                    matches!(status, row::RowStatus::Finished(r) if r.small_flux_slope.is_none())
                );
                Ok(())
            },
        )
        .unwrap();
        std::fs::remove_dir_all(&gathered).ok();
        let md = std::fs::read_to_string(dir.join(report::RESULTS_MD)).unwrap();
        let line = md.lines().find(|l| l.starts_with("| table2_n1 |")).unwrap();
        assert!(line.contains("50.00%"), "paper figure beside ours: {line}");
        assert!(
            line.contains(&format!("| {slope:.3} |")),
            "the slope: {line}"
        );
        let line_4d = md
            .lines()
            .find(|l| l.starts_with("| table4d_n1 |"))
            .unwrap();
        assert!(
            line_4d.contains(&format!("MAE {by_hand:.3} (predicting 0: {zero:.3})")),
            "the error beside that of predicting 0: {line_4d}"
        );
        assert!(line.contains("genet reproduce --only table2_n1"), "{line}");
        assert!(md.contains("MAE"), "{md}");
        assert!(md.contains("Not measured: b, b_4x4."), "{md}");
        let json: Results =
            serde_json::from_str(&std::fs::read_to_string(dir.join(report::RESULTS_JSON)).unwrap())
                .unwrap();
        assert_eq!(json, results);
        #[cfg(feature = "plots")]
        {
            crate::plot::reproduce_figures(&results, &dir).unwrap();
            for name in [
                crate::plot::REPRODUCE_BANDS_SVG,
                crate::plot::REPRODUCE_GRIDS_SVG,
            ] {
                let svg = std::fs::read_to_string(dir.join(name)).unwrap();
                assert!(svg.starts_with("<svg"), "{name}");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
