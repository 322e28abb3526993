//! SVG plots (feature `plots`): reliability diagram, entropy and MI histograms, accuracy–rejection
//! curve, metrics versus epoch. Drawn and written atomically by `chart-svg` (the workspace's one
//! legend style and file handling): a failed plot leaves no partial file.

use std::path::Path;

use chart_svg::plotters::prelude::*;

use crate::calibration::Calibration;
use crate::error::{Error, Result};
use crate::evaluation::Evaluation;
use crate::report::EpochSeries;
use crate::selective::RejectionPoint;

const SIZE: (u32, u32) = (640, 480);

/// A failed figure, as this crate's [`Error::Write`] naming the file.
fn write_err(path: &Path, e: chart_svg::Error) -> Error {
    let reason = match e {
        chart_svg::Error::Io { source, .. } => source.to_string(),
        chart_svg::Error::Draw { message, .. } => message,
        other => other.to_string(),
    };
    Error::Write {
        path: path.to_path_buf(),
        reason,
    }
}

/// The plots of an evaluation, into `dir` (which must exist): `reliability.svg`,
/// `predictive_entropy.svg`, `mutual_information.svg` (histograms of the last epoch's
/// per-sample values), `accuracy_rejection.svg`, and with several epochs
/// `metrics_vs_epoch.svg`.
///
/// # Errors
/// [`Error::Write`] naming the file that cannot be written.
pub fn evaluation(dir: &Path, evaluation: &Evaluation) -> Result<()> {
    let scores = evaluation.prediction.scores();
    reliability_diagram(&dir.join("reliability.svg"), &evaluation.report.calibration)?;
    histogram(
        &dir.join("predictive_entropy.svg"),
        scores.predictive_entropy(),
        "Predictive entropy H[p̄]",
        "nats",
        50,
    )?;
    histogram(
        &dir.join("mutual_information.svg"),
        &scores.mutual_information(),
        "Mutual information (epistemic)",
        "nats",
        50,
    )?;
    accuracy_rejection(
        &dir.join("accuracy_rejection.svg"),
        &evaluation.report.accuracy_rejection,
    )?;
    if evaluation.series.len() > 1 {
        metrics_versus_epoch(&dir.join("metrics_vs_epoch.svg"), &evaluation.series)?;
    }
    Ok(())
}

/// Reliability diagram: accuracy per bin (bars), mean confidence per bin (points) and the
/// diagonal of perfect calibration.
///
/// # Errors
/// [`Error::Write`] if the file cannot be written.
pub fn reliability_diagram(path: &Path, calibration: &Calibration) -> Result<()> {
    let title = format!(
        "Reliability (ECE {:.4}, {} bins)",
        calibration.ece, calibration.config.bins
    );
    chart_svg::write_svg(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .draw()?;
        chart
            .draw_series(
                calibration
                    .bins
                    .iter()
                    .filter(|b| b.count > 0 && b.upper > b.lower)
                    .map(|b| {
                        Rectangle::new(
                            [(b.lower, 0.0), (b.upper, b.accuracy)],
                            BLUE.mix(0.5).filled(),
                        )
                    }),
            )?
            .label("accuracy")
            .legend(chart_svg::bar_marker(BLUE.mix(0.5).filled()));
        chart
            .draw_series(
                calibration
                    .bins
                    .iter()
                    .filter(|b| b.count > 0)
                    .map(|b| Circle::new((b.mean_confidence, b.accuracy), 3, RED.filled())),
            )?
            .label("(mean confidence, accuracy)")
            .legend(chart_svg::dot_marker(3, RED.filled()));
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK))?
            .label("perfect calibration")
            .legend(chart_svg::line_marker(BLACK));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
    .map_err(|e| write_err(path, e))
}

/// Histogram of per-sample values (e.g. predictive entropy or mutual information) on
/// `bins` equal bins between 0 and the maximum.
///
/// # Errors
/// [`Error::InvalidParameter`] unless $1 \le$ `bins` $\le$ [`crate::CalibrationConfig::MAX_BINS`];
/// [`Error::Write`] if the file cannot be written.
pub fn histogram(
    path: &Path,
    values: &[f64],
    title: &str,
    x_label: &str,
    bins: usize,
) -> Result<()> {
    crate::calibration::check_bins("histogram bins", bins)?;
    let hi = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let j = ((v / hi * bins as f64) as usize).min(bins - 1);
        counts[j] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.05;
    chart_svg::write_svg(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..hi, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("samples")
            .draw()?;
        let w = hi / bins as f64;
        chart.draw_series(counts.iter().enumerate().map(|(j, &c)| {
            Rectangle::new(
                [(j as f64 * w, 0.0), ((j + 1) as f64 * w, c as f64)],
                BLUE.mix(0.6).filled(),
            )
        }))?;
        Ok(())
    })
    .map_err(|e| write_err(path, e))
}

/// Accuracy of the kept samples against the fraction rejected.
///
/// # Errors
/// [`Error::Write`] if the file cannot be written.
pub fn accuracy_rejection(path: &Path, curve: &[RejectionPoint]) -> Result<()> {
    let lo = curve.iter().map(|p| p.accuracy).fold(1.0f64, f64::min);
    chart_svg::write_svg(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Accuracy–rejection (by max probability)",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, (lo - 0.02).max(0.0)..1.0f64)?;
        chart
            .configure_mesh()
            .x_desc("fraction rejected")
            .y_desc("accuracy of kept samples")
            .draw()?;
        chart.draw_series(LineSeries::new(
            curve.iter().map(|p| (p.rejected_fraction, p.accuracy)),
            BLUE.stroke_width(2),
        ))?;
        Ok(())
    })
    .map_err(|e| write_err(path, e))
}

/// Accuracy, ECE, and the three entropies against epoch.
///
/// # Errors
/// [`Error::Write`] if the file cannot be written.
pub fn metrics_versus_epoch(path: &Path, series: &EpochSeries) -> Result<()> {
    let metrics = [
        ("accuracy", BLACK),
        ("ece", RED),
        ("predictive_entropy", BLUE),
        ("expected_entropy", GREEN),
        ("mutual_information", MAGENTA),
    ];
    type Curve<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);
    let curves: Vec<Curve<'_>> = metrics
        .iter()
        .map(|&(m, c)| {
            let pts = series
                .series(m)
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|v| (i as f64, v)))
                .collect();
            (m, c, pts)
        })
        .collect();
    let top = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.05;
    let last = (series.len().max(2) - 1) as f64;
    chart_svg::write_svg(path, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Metrics versus epoch", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..last, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch (input order)")
            .y_desc("value (nats for entropies)")
            .draw()?;
        for (name, color, pts) in curves {
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(chart_svg::line_marker(color.stroke_width(2)));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)
    })
    .map_err(|e| write_err(path, e))
}
