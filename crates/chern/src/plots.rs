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
/// where it is undefined on the grid (the gap closes, an overlap is singular, or the grid does not
/// resolve the curvature; the point's `error` says which).
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
            .label("undefined on the grid (gap closes or too coarse)")
            .legend(chart_svg::cross_marker(6, RED.stroke_width(2)));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    })
    .map_err(plot_error)
}

/// Edges of the cells centred on the ascending `values` (half-way between neighbours; a single
/// value gets a cell of width 1 around it).
fn cell_edges(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 1 {
        return vec![values[0] - 0.5, values[0] + 0.5];
    }
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(values[0] - 0.5 * (values[1] - values[0]));
    for w in values.windows(2) {
        edges.push(0.5 * (w[0] + w[1]));
    }
    edges.push(values[n - 1] + 0.5 * (values[n - 1] - values[n - 2]));
    edges
}

/// The $\mathbb Z_2$ phase diagram over two parameters: a red cell where $\mathbb Z_2 = 1$, a
/// white one where it is 0, grey with a cross where the gap closes on the grid (or the invariant
/// is otherwise undefined there).
///
/// # Errors
/// [`crate::Error::Io`] naming the file if it cannot be written.
pub fn z2_phase_diagram(diagram: &crate::Z2PhaseDiagram, path: &Path) -> crate::Result<()> {
    let (xe, ye) = (cell_edges(&diagram.x), cell_edges(&diagram.y));
    let (nx, ny) = (diagram.x.len(), diagram.y.len());
    let (x0, x1) = (xe[0].min(xe[nx]), xe[0].max(xe[nx]));
    let (y0, y1) = (ye[0].min(ye[ny]), ye[0].max(ye[ny]));
    let cells = |want: Option<u8>| {
        diagram
            .points
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.z2 == want)
            .map(|(s, _)| {
                let (i, j) = (s % nx, s / nx);
                [(xe[i], ye[j]), (xe[i + 1], ye[j + 1])]
            })
    };
    chart_svg::write_svg(path, (760, 640), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Z2 of {} ({}, grid {}): {} vs {}",
                    diagram.model.name(),
                    diagram.method,
                    diagram.grid,
                    diagram.y_parameter,
                    diagram.x_parameter
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(diagram.x_parameter.as_str())
            .y_desc(diagram.y_parameter.as_str())
            .disable_mesh()
            .draw()?;
        let red = chart_svg::diverging(0.8);
        chart
            .draw_series(cells(Some(1)).map(|c| Rectangle::new(c, red.filled())))?
            .label("Z2 = 1")
            .legend(chart_svg::bar_marker(red.filled()));
        chart
            .draw_series(cells(Some(0)).map(|c| Rectangle::new(c, WHITE.filled())))?
            .label("Z2 = 0")
            .legend(chart_svg::bar_marker(BLACK.stroke_width(1)));
        let grey = RGBColor(190, 190, 190);
        chart
            .draw_series(cells(None).map(|c| Rectangle::new(c, grey.filled())))?
            .label("undefined on the grid (gap closes or too coarse)")
            .legend(chart_svg::bar_marker(grey.filled()));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
    .map_err(plot_error)
}

/// The flow of Wannier charge centres of a [`crate::WccFlow`] (the Wilson-loop $\mathbb Z_2$):
/// the centres $\bar x \in [0, 1)$ of every line against $k_2 \in [0, \pi]$, and the middle of the
/// largest gap that the invariant follows.
///
/// # Errors
/// [`crate::Error::Io`] naming the file if it cannot be written.
pub fn wcc_flow(flow: &crate::WccFlow, z2: u8, path: &Path) -> crate::Result<()> {
    chart_svg::write_svg(path, (720, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Wannier charge centres, Z2 = {z2}"),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..PI, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("k2")
            .y_desc("centre (lattice constants)")
            .draw()?;
        chart
            .draw_series(flow.k_perp.iter().zip(&flow.centres).flat_map(|(&k, cs)| {
                cs.iter()
                    .map(move |&x| Circle::new((k, x), 2, BLUE.filled()))
            }))?
            .label("centres")
            .legend(chart_svg::dot_marker(2, BLUE.filled()));
        chart
            .draw_series(
                flow.k_perp
                    .iter()
                    .zip(&flow.gap_position)
                    .map(|(&k, &g)| Cross::new((k, g), 4, RED.stroke_width(1))),
            )?
            .label("middle of the largest gap")
            .legend(chart_svg::cross_marker(4, RED.stroke_width(1)));
        chart_svg::draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
    .map_err(plot_error)
}
