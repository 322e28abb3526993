//! SVG figures of an ensemble evaluation (feature `plots`): histograms of the predictive entropy
//! and of the mutual information per domain, the risk-coverage curve, the reliability diagram,
//! and the mutual information per fine-tuning epoch. Each file is written atomically.
use std::path::Path;

use chart_svg::plotters::prelude::*;
use chart_svg::{Canvas, DrawResult, draw_legend, line_marker};

use super::evaluate::EnsembleEvaluation;
use super::finetune::FinetuneMetrics;
use crate::data::grid_name;
use crate::error::{Error, Result};

/// File names written by [`write_evaluation_plots`].
pub const EVALUATION_PLOTS: [&str; 4] = [
    "entropy.svg",
    "mutual_information.svg",
    "risk_coverage.svg",
    "reliability.svg",
];

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

/// Writes the figures of `eval` into `dir` (created): [`EVALUATION_PLOTS`], and with `metrics`
/// (a LoRA ensemble's per-epoch metrics) `mi_per_epoch.svg`.
pub fn write_evaluation_plots(
    eval: &EnsembleEvaluation,
    metrics: Option<&[FinetuneMetrics]>,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let d = &eval.details;
    let test = format!(
        "test: {} n = {} ({})",
        grid_name(&eval.grid),
        eval.bands,
        eval.data
    );
    let mut entropy = vec![(test.clone(), d.entropy.as_slice())];
    let mut mi = vec![(test, d.mutual_information.as_slice())];
    if let Some((name, e, m)) = &d.ood {
        entropy.push((format!("OOD: {name}"), e.as_slice()));
        mi.push((format!("OOD: {name}"), m.as_slice()));
    }
    histograms(
        &entropy,
        "predictive entropy (nats)",
        &dir.join(EVALUATION_PLOTS[0]),
    )?;
    histograms(
        &mi,
        "mutual information (nats)",
        &dir.join(EVALUATION_PLOTS[1]),
    )?;
    risk_coverage(&d.risk, &d.oracle_risk, &dir.join(EVALUATION_PLOTS[2]))?;
    reliability(&d.reliability, &dir.join(EVALUATION_PLOTS[3]))?;
    if let Some(m) = metrics {
        mi_per_epoch(m, &dir.join("mi_per_epoch.svg"))?;
    }
    Ok(())
}

/// Normalised histograms (fraction of samples per bin, 30 bins) of one score per domain.
pub fn histograms(domains: &[(String, &[f64])], what: &str, path: &Path) -> Result<()> {
    let hi = domains
        .iter()
        .flat_map(|(_, v)| v.iter())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bins = 30;
    let width = hi / bins as f64;
    let counts: Vec<Vec<f64>> = domains
        .iter()
        .map(|(_, v)| {
            let mut c = vec![0.0; bins];
            for &x in v.iter().filter(|x| x.is_finite()) {
                let b = ((x / width) as usize).min(bins - 1);
                c[b] += 1.0 / v.len().max(1) as f64;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().fold(0.0f64, f64::max) * 1.1;
    finish(path, (720, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{what} per domain"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..hi, 0.0..top.max(1e-6))?;
        chart
            .configure_mesh()
            .x_desc(what)
            .y_desc("fraction of samples")
            .draw()?;
        for (i, ((name, _), c)) in domains.iter().zip(&counts).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            // A step outline, so that overlapping domains stay readable.
            let mut pts = vec![(0.0, 0.0)];
            for (b, &v) in c.iter().enumerate() {
                pts.push((b as f64 * width, v));
                pts.push(((b + 1) as f64 * width, v));
            }
            pts.push((hi, 0.0));
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(name.clone())
                .legend(line_marker(color));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Risk (error rate of the kept samples) against coverage, ranked by confidence, with the
/// oracle's curve.
pub fn risk_coverage(risk: &[f64], oracle: &[f64], path: &Path) -> Result<()> {
    let n = risk.len().max(1) as f64;
    let top = risk.iter().copied().fold(0.0f64, f64::max).max(1e-3) * 1.1;
    finish(path, (620, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "risk-coverage (ensemble, ranked by confidence)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("coverage")
            .y_desc("risk (error rate of kept samples)")
            .draw()?;
        for (curve, color, label) in [(risk, BLUE, "ensemble"), (oracle, BLACK, "oracle")] {
            chart
                .draw_series(LineSeries::new(
                    curve
                        .iter()
                        .enumerate()
                        .map(|(k, &r)| ((k + 1) as f64 / n, r)),
                    color.stroke_width(2),
                ))?
                .label(label)
                .legend(line_marker(color));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Reliability diagram: accuracy against mean confidence per non-empty bin (dot area grows
/// with the bin's count), with the diagonal.
pub fn reliability(bins: &[(f64, f64, usize)], path: &Path) -> Result<()> {
    let total: usize = bins.iter().map(|b| b.2).sum::<usize>().max(1);
    finish(path, (520, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "reliability (ensemble mean distribution)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .draw()?;
        chart.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.4),
        ))?;
        let pts: Vec<(f64, f64, usize)> = bins.iter().copied().filter(|b| b.2 > 0).collect();
        chart
            .draw_series(LineSeries::new(pts.iter().map(|b| (b.0, b.1)), BLUE))?
            .label("ensemble")
            .legend(line_marker(BLUE));
        chart.draw_series(pts.iter().map(|&(c, a, k)| {
            let r = 3 + (20.0 * (k as f64 / total as f64).sqrt()) as i32;
            Circle::new((c, a), r, BLUE.mix(0.5).filled())
        }))?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Mean mutual information and accuracy on the validation set per fine-tuning epoch (epoch 0:
/// the prior).
pub fn mi_per_epoch(metrics: &[FinetuneMetrics], path: &Path) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let last = metrics.last().map(|m| m.epoch).unwrap_or(1).max(1) as f64;
    let top = metrics
        .iter()
        .map(|m| m.mutual_information)
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.1;
    finish(path, (720, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "mutual information per epoch (validation set)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .right_y_label_area_size(50)
            .build_cartesian_2d(0.0..last, 0.0..top)?
            .set_secondary_coord(0.0..last, 0.0..1.0);
        chart
            .configure_mesh()
            .x_desc("epoch (0: prior)")
            .y_desc("mean MI (nats)")
            .draw()?;
        chart.configure_secondary_axes().y_desc("accuracy").draw()?;
        chart
            .draw_series(LineSeries::new(
                metrics
                    .iter()
                    .map(|m| (m.epoch as f64, m.mutual_information)),
                BLUE.stroke_width(2),
            ))?
            .label("mutual information")
            .legend(line_marker(BLUE));
        chart
            .draw_secondary_series(LineSeries::new(
                metrics.iter().map(|m| (m.epoch as f64, m.accuracy)),
                RED.stroke_width(2),
            ))?
            .label("ensemble accuracy")
            .legend(line_marker(RED));
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}
