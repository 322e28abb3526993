//! SVG figures (feature `plots`): the Berry-curvature heat map of a 2D Chern number and the phase
//! diagram of a scan. Written atomically by `chart-svg`: a failed plot leaves no partial file.
use std::f64::consts::PI;
use std::path::Path;

use chart_svg::plotters::prelude::*;

use crate::chern_number::ChernNumber;
use crate::phase_diagram::PhaseDiagram;

/// A failed figure, as this crate's error.
fn plot_error(e: chart_svg::Error) -> crate::Error {
    match e {
        chart_svg::Error::Io { path, source } => crate::Error::Io { path, source },
        other => crate::Error::Plot {
            message: other.to_string(),
        },
    }
}

/// The Berry curvature $\Omega(k) = F(k)/(\Delta k_1\Delta k_2)$ of `c` as a blue–white–red heat
/// map over the Brillouin zone $[0, 2\pi)^2$, scaled to its largest $|\Omega|$.
///
/// # Errors
/// [`crate::Error::Io`] naming the file if it cannot be written.
pub fn berry_curvature(c: &ChernNumber, path: &Path) -> crate::Result<()> {
    let omega = c.curvature();
    let (l1, l2) = (c.grid[0], c.grid[1]);
    let scale = omega.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    chart_svg::write_svg(path, (720, 640), |root| {
        let title = format!(
            "Berry curvature, C = {} ({}), max |Ω| = {:.3}",
            c.chern, c.method, scale
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..2.0 * PI, 0.0..2.0 * PI)?;
        chart
            .configure_mesh()
            .x_desc("k1")
            .y_desc("k2")
            .disable_mesh()
            .draw()?;
        let (d1, d2) = (2.0 * PI / l1 as f64, 2.0 * PI / l2 as f64);
        chart.draw_series(
            (0..l1)
                .flat_map(|i| (0..l2).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let (x, y) = (i as f64 * d1, j as f64 * d2);
                    Rectangle::new(
                        [(x, y), (x + d1, y + d2)],
                        chart_svg::diverging(omega[[i, j]] / scale).filled(),
                    )
                }),
        )?;
        Ok(())
    })
    .map_err(plot_error)
}

/// The invariant against the swept parameter: a dot per resolved point, a red cross on the axis
/// where the gap closes on the grid.
///
/// # Errors
/// [`crate::Error::Io`] naming the file if it cannot be written.
pub fn phase_diagram(diagram: &PhaseDiagram, path: &Path) -> crate::Result<()> {
    let name = diagram.parameter.as_str();
    let points = &diagram.points;
    let (x0, x1) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.value), b.max(p.value))
        });
    let cs = points.iter().filter_map(|p| p.chern);
    let (c0, c1) = (
        cs.clone().min().unwrap_or(0).min(0) - 1,
        cs.max().unwrap_or(0).max(0) + 1,
    );
    chart_svg::write_svg(path, (800, 480), |root| {
        let pad = ((x1 - x0) * 0.02).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Phase diagram: Chern number vs {name}"),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(40)
            .build_cartesian_2d(x0 - pad..x1 + pad, c0 as f64..c1 as f64)?;
        chart.configure_mesh().x_desc(name).y_desc("C").draw()?;
        chart
            .draw_series(
                points.iter().filter_map(|p| {
                    Some(Circle::new((p.value, p.chern? as f64), 3, BLUE.filled()))
                }),
            )?
            .label("Chern number")
            .legend(chart_svg::dot_marker(3, BLUE.filled()));
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.chern.is_none())
                    .map(|p| Cross::new((p.value, 0.0), 6, RED.stroke_width(2))),
            )?
            .label("gap closes on the grid")
            .legend(chart_svg::cross_marker(6, RED.stroke_width(2)));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    })
    .map_err(plot_error)
}
