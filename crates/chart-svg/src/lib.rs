//! # chart-svg
//!
//! The small amount of plotting machinery that the workspace's crates share behind their
//! `plots` features:
//!
//! | Item | What it is |
//! |---|---|
//! | [`write_svg`] | draw a figure into memory with plotters' SVG backend, then write it atomically |
//! | [`write_atomically`] | write bytes to a temporary file beside the target and rename it into place |
//! | [`draw_legend`] | the one legend style of every chart (white, translucent box, black border) |
//! | [`line_marker`], [`dot_marker`], [`cross_marker`], [`bar_marker`] | legend entries |
//! | [`diverging`] | blue–white–red colour of a signed value, for heat maps |
//! | [`Error`], [`Result`] | failures, naming the file |
//!
//! A figure that fails to draw or to write leaves no partial file behind: a reader of the path sees
//! the previous figure or the new one, never half of it.
//!
//! ```
//! use chart_svg::plotters::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::env::temp_dir().join(format!("chart-svg-doc-{}.svg", std::process::id()));
//! chart_svg::write_svg(&path, (320, 240), |root| {
//!     let mut chart = ChartBuilder::on(root)
//!         .caption("y = x^2", ("sans-serif", 16))
//!         .x_label_area_size(30)
//!         .y_label_area_size(30)
//!         .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
//!     chart.configure_mesh().draw()?;
//!     chart
//!         .draw_series(LineSeries::new((0..=10).map(|i| (i as f64 / 10.0, (i * i) as f64 / 100.0)), BLUE))?
//!         .label("x^2")
//!         .legend(chart_svg::line_marker(BLUE));
//!     chart_svg::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
//!     Ok(())
//! })?;
//! assert!(std::fs::read_to_string(&path)?.starts_with("<svg"));
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::{Circle, Cross, PathElement, Rectangle};
use plotters::prelude::{
    BLACK, ChartContext, Color, CoordTranslate, DrawingArea, DrawingBackend, IntoDrawingArea,
    RGBColor, SVGBackend, SeriesLabelPosition, WHITE,
};

/// The plotters version the charts are drawn with, re-exported so that users draw with the same one.
pub use plotters;

/// Failures of drawing or writing a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The figure could not be written (a missing folder, no permission, a full disk).
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The figure's path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Plotters failed to draw the figure (before anything was written).
    #[error("{path}: cannot draw the figure: {message}", path = path.display())]
    Draw {
        /// The figure's path.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The drawing area a figure is drawn on.
pub type Canvas<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What a drawing closure returns: any plotters error converts into it with `?`.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws a `size` (width, height in pixels) figure on a white background with `draw` and writes
/// the SVG to `path` atomically ([`write_atomically`]).
///
/// # Errors
/// [`Error::Draw`] if `draw` fails (nothing is written), [`Error::Io`] if the file cannot be
/// written.
pub fn write_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> DrawResult,
) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        draw(&root).map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    write_atomically(path, svg.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that the
/// path never holds a partial file; the temporary file is removed on failure.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_io(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_atomically_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A randomly named temporary file beside `path` (so that concurrent writers, threads or
    // shards on several hosts sharing a folder, never share one), synced, renamed over `path`,
    // and the folder synced; dropped unrenamed on any error.
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Draws the series labels of `chart` in the workspace's one legend style: a translucent white box
/// with a black border at `position`.
///
/// # Errors
/// The plotters error, for `?` in a drawing closure.
pub fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()?;
    Ok(())
}

/// Legend entry of a line series: a horizontal stroke 20 pixels long.
pub fn line_marker<S: Into<plotters::style::ShapeStyle> + Clone + 'static>(
    style: S,
) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style.clone())
}

/// Legend entry of a scatter series: a dot of `radius` pixels.
pub fn dot_marker<S: Into<plotters::style::ShapeStyle> + Clone + 'static>(
    radius: i32,
    style: S,
) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x, y), radius, style.clone())
}

/// Legend entry of crosses: a cross of `size` pixels.
pub fn cross_marker<S: Into<plotters::style::ShapeStyle> + Clone + 'static>(
    size: i32,
    style: S,
) -> impl Fn((i32, i32)) -> Cross<(i32, i32), i32> {
    move |(x, y)| Cross::new((x, y), size, style.clone())
}

/// Legend entry of bars: a 10-pixel filled square.
pub fn bar_marker<S: Into<plotters::style::ShapeStyle> + Clone + 'static>(
    style: S,
) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], style.clone())
}

/// The blue–white–red diverging colour of `t`, clamped to $[-1, 1]$: white at 0, blue
/// `#2166AC` at $-1$, red `#B2182B` at $+1$, linear in between (the ends of ColorBrewer's RdBu).
pub fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let mix = |a: f64, b: f64, s: f64| (a + (b - a) * s).round() as u8;
    if t < 0.0 {
        let s = -t;
        RGBColor(
            mix(255.0, 33.0, s),
            mix(255.0, 102.0, s),
            mix(255.0, 172.0, s),
        )
    } else {
        RGBColor(
            mix(255.0, 178.0, t),
            mix(255.0, 24.0, t),
            mix(255.0, 43.0, t),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chart-svg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_the_same_svg_as_the_file_backend() {
        let dir = temp_dir("same");
        let (ours, theirs) = (dir.join("ours.svg"), dir.join("theirs.svg"));
        let draw = |root: &Canvas<'_>| -> super::DrawResult {
            let mut chart = ChartBuilder::on(root)
                .caption("test", ("sans-serif", 20))
                .x_label_area_size(30)
                .y_label_area_size(30)
                .build_cartesian_2d(-1.0..1.0, 0.0..2.0)?;
            chart.configure_mesh().draw()?;
            chart
                .draw_series(LineSeries::new([(-1.0, 0.0), (1.0, 2.0)], RED))?
                .label("line")
                .legend(line_marker(RED));
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            Ok(())
        };
        write_svg(&ours, (300, 200), draw).unwrap();
        {
            let root = SVGBackend::new(&theirs, (300, 200)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            draw(&root).unwrap();
            root.present().unwrap();
        }
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap()
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn failures_name_the_path_and_leave_no_file() {
        let missing = std::env::temp_dir().join("chart-svg-no-such-folder/figure.svg");
        let e = write_svg(&missing, (10, 10), |_| Ok(())).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(
            e.to_string().starts_with(&missing.display().to_string()),
            "{e}"
        );

        let dir = temp_dir("fail");
        let path = dir.join("figure.svg");
        std::fs::write(&path, "old").unwrap();
        let e = write_svg(&path, (10, 10), |_| Err("no data".into())).unwrap_err();
        assert!(matches!(e, Error::Draw { .. }));
        assert!(e.to_string().contains("no data"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn diverging_colours_at_the_ends_and_the_middle() {
        assert_eq!(diverging(0.0), RGBColor(255, 255, 255));
        assert_eq!(diverging(-1.0), RGBColor(33, 102, 172));
        assert_eq!(diverging(1.0), RGBColor(178, 24, 43));
        assert_eq!(diverging(7.0), diverging(1.0));
        assert_eq!(diverging(-0.5), RGBColor(144, 179, 214));
    }
}
