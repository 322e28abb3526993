//! SVG figures of training runs, evaluations and sweeps (feature `plots`: plotters through the
//! workspace's `chart-svg`, one legend style, files written atomically).
//!
//! Each function writes one self-contained SVG file, never a partial one; failures (an unwritable
//! path, say) come back as [`Error::Plot`] naming the file.
use std::path::Path;

use chart_svg::plotters::prelude::*;
use chart_svg::{Canvas, DrawResult, draw_legend, line_marker};

use crate::data::grid_name;
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::reproduce::{Metric, RowResult};
use crate::sweep::{BandSweepReport, SWEEP_SVG, SweepStep};
use crate::train::EpochMetrics;

/// Draws a `size` figure with `draw` into `path` (atomically).
fn finish(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> DrawResult,
) -> Result<()> {
    chart_svg::write_svg(path, size, draw).map_err(|e| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The figures of one finished network of a sweep: its `loss.svg` and one
/// `predictions-{grid}.svg` per evaluation grid in its run directory, and the sweep's
/// `sweep.svg` (accuracy against the number of filled bands) redrawn with it.
pub fn sweep_step(step: &SweepStep<'_>) -> Result<()> {
    training_curves(step.metrics, &step.run.dir.join("loss.svg"))?;
    for (grid, r) in step.report.config.eval_grids().iter().zip(step.evaluations) {
        let name = grid_name(grid);
        predictions(r, &step.run.dir.join(format!("predictions-{name}.svg")))?;
    }
    band_sweep(step.report, &step.dir.join(SWEEP_SVG))
}

/// Training loss per epoch (left axis) and the calibrated validation accuracy (right axis).
///
/// Writes nothing for an empty `metrics`.
pub fn training_curves(metrics: &[EpochMetrics], path: &Path) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    finish(path, DRAW_TRAINING_CURVES_SIZE, |root| {
        draw_training_curves(metrics, root)
    })
}

/// The size of the figure [`draw_training_curves`] draws.
const DRAW_TRAINING_CURVES_SIZE: (u32, u32) = (720, 420);

fn draw_training_curves(metrics: &[EpochMetrics], root: &Canvas<'_>) -> DrawResult {
    let finite = metrics.iter().map(|m| m.loss).filter(|l| l.is_finite());
    let max_loss = finite.fold(0.0, f64::max) * 1.05;
    let last_epoch = metrics.last().map(|m| m.epoch).unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption("training loss and validation accuracy", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0.0..last_epoch, 0.0..max_loss.max(1e-6))?
        .set_secondary_coord(0.0..last_epoch, 0.0..1.0);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("validation accuracy")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            metrics.iter().map(|m| (m.epoch as f64, m.loss)),
            &BLUE,
        ))?
        .label("loss")
        .legend(line_marker(BLUE));
    let acc: Vec<(f64, f64)> = metrics
        .iter()
        .filter_map(|m| m.val_accuracy.map(|a| (m.epoch as f64, a)))
        .collect();
    if !acc.is_empty() {
        chart
            .draw_secondary_series(LineSeries::new(acc, &RED))?
            .label("validation accuracy (calibrated)")
            .legend(line_marker(RED));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// Scatter of the scaled prediction $k\sum_x f(x)$ against the true Chern number, one dot per
/// sample (jittered horizontally), with the diagonal.
pub fn predictions(report: &EvalReport, path: &Path) -> Result<()> {
    finish(path, DRAW_PREDICTIONS_SIZE, |root| {
        draw_predictions(report, root)
    })
}

/// The size of the figure [`draw_predictions`] draws.
const DRAW_PREDICTIONS_SIZE: (u32, u32) = (520, 520);

fn draw_predictions(r: &EvalReport, root: &Canvas<'_>) -> DrawResult {
    let lo = r.by_chern.first().map(|b| b.chern).unwrap_or(-1) as f64 - 1.0;
    let hi = r.by_chern.last().map(|b| b.chern).unwrap_or(1) as f64 + 1.0;
    let mut chart = ChartBuilder::on(root)
        .caption("predicted k·Σf vs true Chern number", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("true C")
        .y_desc("prediction")
        .draw()?;
    chart.draw_series(LineSeries::new(vec![(lo, lo), (hi, hi)], &BLACK.mix(0.4)))?;
    chart.draw_series(r.predictions.iter().map(|&(c, p)| {
        // Deterministic jitter so that the dots of one C do not sit on one line.
        let jitter = (p * 7919.0).sin() * 0.15;
        let y = if p.is_finite() { p.clamp(lo, hi) } else { lo };
        Circle::new((c as f64 + jitter, y), 2, BLUE.mix(0.4).filled())
    }))?;
    Ok(())
}

/// The paper's accuracies on non-trivial samples by number of filled bands (general training,
/// $5\times5$; the GENet paper, Table 2), drawn for reference on sweeps trained on $5\times5$.
pub const PAPER_ACCURACY_BY_BANDS: [(usize, f64); 5] =
    [(4, 0.959), (5, 0.940), (6, 0.938), (7, 0.917), (8, 0.525)];

/// Accuracy on non-trivial samples against the number of filled bands, one line per evaluation
/// grid; the paper's figures as crosses when the sweep trained on $5\times5$.
pub fn band_sweep(report: &BandSweepReport, path: &Path) -> Result<()> {
    finish(path, DRAW_BAND_SWEEP_SIZE, |root| {
        draw_band_sweep(report, root)
    })
}

/// The size of the figure [`draw_band_sweep`] draws.
const DRAW_BAND_SWEEP_SIZE: (u32, u32) = (720, 440);

fn draw_band_sweep(report: &BandSweepReport, root: &Canvas<'_>) -> DrawResult {
    let bands: Vec<usize> = report.runs.iter().map(|r| r.bands).collect();
    let paper = report.config.train.grid == [5, 5];
    let mut hi = bands.iter().copied().max().unwrap_or(1);
    let mut lo = bands.iter().copied().min().unwrap_or(1);
    if paper {
        hi = hi.max(8);
        lo = lo.min(4);
    }
    let grid = &report.config.train.grid;
    let caption = format!(
        "accuracy on C ≠ 0 by filled bands (trained on {}{})",
        grid_name(grid),
        if report.config.train.trivial_only {
            ", C = 0 only"
        } else {
            ""
        }
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(lo as f64 - 0.5..hi as f64 + 0.5, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("filled bands n")
        .y_desc("accuracy (C ≠ 0)")
        .x_labels(hi - lo + 2)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (g, eval_grid) in report.config.eval_grids().iter().enumerate() {
        let color = Palette99::pick(g).to_rgba();
        let points: Vec<(f64, f64)> = report
            .runs
            .iter()
            .filter_map(|r| {
                r.evaluations
                    .iter()
                    .find(|e| &e.grid == eval_grid)
                    .map(|e| (r.bands as f64, e.accuracy_nontrivial.unwrap_or(e.accuracy)))
            })
            .collect();
        let label = format!("evaluated on {}", grid_name(eval_grid));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(line_marker(color));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    if paper {
        chart
            .draw_series(
                PAPER_ACCURACY_BY_BANDS
                    .iter()
                    .map(|&(n, a)| Cross::new((n as f64, a), 6, BLACK.stroke_width(2))),
            )?
            .label("paper (general training, 5x5)")
            .legend(chart_svg::cross_marker(5, BLACK.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    Ok(())
}

/// The figures of a reproduction, written into `dir`: [`REPRODUCE_BANDS_SVG`] (accuracy on
/// $5\times5$ against the number of filled bands, general training, ours on all $C$ and on
/// $C\ne0$, the paper's Table 2 as crosses) and [`REPRODUCE_GRIDS_SVG`] (accuracy of each
/// $5\times5$ network against the evaluation grid). A figure with nothing measured yet is not
/// written.
pub fn reproduce_figures(results: &crate::reproduce::Results, dir: &Path) -> Result<()> {
    let general: Vec<&RowResult> = results
        .rows
        .iter()
        .filter(|r| {
            (r.id.starts_with("table2_") || r.id.starts_with("general_"))
                && r.id == r.model
                && r.metric == Metric::Accuracy
        })
        .collect();
    if !general.is_empty() {
        finish(&dir.join(REPRODUCE_BANDS_SVG), (720, 440), |root| {
            draw_reproduce_bands(&general, root)
        })?;
    }
    let mut by_grid: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    for r in &results.rows {
        if !r.model.starts_with("table2_") || r.data != "haar" {
            continue;
        }
        let point = (r.grid[0] as f64, r.value);
        match by_grid.iter_mut().find(|(n, _)| *n == r.bands) {
            Some((_, points)) => points.push(point),
            None => by_grid.push((r.bands, vec![point])),
        }
    }
    for (_, points) in &mut by_grid {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    if by_grid.iter().any(|(_, p)| p.len() > 1) {
        finish(&dir.join(REPRODUCE_GRIDS_SVG), (720, 440), |root| {
            draw_reproduce_grids(&by_grid, root)
        })?;
    }
    Ok(())
}

/// Accuracy against filled bands, in the reproduction directory.
pub const REPRODUCE_BANDS_SVG: &str = "accuracy-vs-bands.svg";
/// Accuracy against the evaluation grid, in the reproduction directory.
pub const REPRODUCE_GRIDS_SVG: &str = "accuracy-vs-grid.svg";

fn draw_reproduce_bands(rows: &[&RowResult], root: &Canvas<'_>) -> DrawResult {
    let hi = rows.iter().map(|r| r.bands).max().unwrap_or(1).max(8);
    let lo = rows.iter().map(|r| r.bands).min().unwrap_or(1).min(4);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "accuracy on 5x5 by filled bands (general training)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(lo as f64 - 0.5..hi as f64 + 0.5, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("filled bands n")
        .y_desc("accuracy")
        .x_labels(hi - lo + 2)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.bands);
    let series: [(&str, Vec<(f64, f64)>); 2] = [
        (
            "ours, all C",
            sorted.iter().map(|r| (r.bands as f64, r.value)).collect(),
        ),
        (
            "ours, C ≠ 0",
            sorted
                .iter()
                .filter_map(|r| r.accuracy_nontrivial.map(|a| (r.bands as f64, a)))
                .collect(),
        ),
    ];
    for (i, (label, points)) in series.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(line_marker(color));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .draw_series(
            PAPER_ACCURACY_BY_BANDS
                .iter()
                .map(|&(n, a)| Cross::new((n as f64, a), 6, BLACK.stroke_width(2))),
        )?
        .label("paper, Table 2")
        .legend(chart_svg::cross_marker(5, BLACK.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    Ok(())
}

fn draw_reproduce_grids(by_bands: &[(usize, Vec<(f64, f64)>)], root: &Canvas<'_>) -> DrawResult {
    let hi = by_bands
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(10.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "accuracy of the 5x5-trained networks by evaluation grid",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..hi + 2.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("grid extent L (L x L)")
        .y_desc("accuracy (all C)")
        .draw()?;
    for (i, (n, points)) in by_bands.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(format!("n = {n}"))
            .legend(line_marker(color));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    Ok(())
}
