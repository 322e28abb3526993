//! Phase diagrams: an invariant along a sweep of one model parameter, with the points where the
//! gap closes on the grid recorded as such rather than given a number.
use crate::error::{Error, Result};
use crate::invariant::{Setup, invariant};
use crate::models::spec::{ModelFamily, ModelSpec};

/// The most points a [`Sweep`] may have: a scan beyond it is a typing error (a step of `1e-300`),
/// not a phase diagram.
pub const MAX_SCAN_POINTS: usize = 100_000;

/// The values $a, a + s, a + 2s, \dots \le b$ of a parameter sweep `a:b:s`, validated: finite
/// ends with $a \le b$, a finite step $s > 0$, and at most [`MAX_SCAN_POINTS`] values.
///
/// ```
/// let sweep: chern::Sweep = "-1:1:0.5".parse()?;
/// assert_eq!(sweep.values(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
/// assert!("0:inf:1".parse::<chern::Sweep>().is_err());
/// assert!("0:1:1e-300".parse::<chern::Sweep>().is_err());
/// # Ok::<(), chern::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sweep {
    start: f64,
    step: f64,
    count: usize,
}

impl Sweep {
    /// The sweep from `start` to `stop` (inclusive, up to rounding of $10^{-9}$ steps) by `step`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad end, the step or the number of points.
    pub fn new(start: f64, stop: f64, step: f64) -> Result<Self> {
        let text = || format!("{start:?}:{stop:?}:{step:?}");
        if !start.is_finite() || !stop.is_finite() {
            return Err(Error::invalid("range", text(), "both ends must be finite"));
        }
        if stop < start {
            return Err(Error::invalid("range", text(), "need start <= stop"));
        }
        if !(step.is_finite() && step > 0.0) {
            return Err(Error::invalid(
                "range",
                text(),
                "the step must be finite and positive",
            ));
        }
        let intervals = ((stop - start) / step + 1e-9).floor();
        if intervals.is_nan() || intervals >= MAX_SCAN_POINTS as f64 {
            return Err(Error::invalid(
                "range",
                text(),
                format!(
                    "{intervals:.3e} points, more than the {MAX_SCAN_POINTS} a scan allows: use a larger step"
                ),
            ));
        }
        Ok(Self {
            start,
            step,
            count: intervals as usize + 1,
        })
    }

    /// The values of the sweep, ascending.
    pub fn values(&self) -> Vec<f64> {
        (0..self.count)
            .map(|i| self.start + i as f64 * self.step)
            .collect()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Never true: a sweep has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::str::FromStr for Sweep {
    type Err = Error;
    /// Parses `a:b:step`.
    fn from_str(s: &str) -> Result<Self> {
        let num = |x: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|e| Error::invalid("range", s, format!("`{x}`: {e}")))
        };
        match s.split(':').collect::<Vec<_>>().as_slice() {
            // Errors quote the range as typed.
            [a, b, step] => Sweep::new(num(a)?, num(b)?, num(step)?).map_err(|e| match e {
                Error::InvalidParameter { name, reason, .. } => Error::InvalidParameter {
                    name,
                    value: s.to_string(),
                    reason,
                },
                e => e,
            }),
            _ => Err(Error::invalid("range", s, "expected a:b:step")),
        }
    }
}

/// One point of a phase diagram. Serialises as `{"value", "chern", "raw", "min_gap"}` where the
/// invariant is defined and `{"value", "chern": null, "gap_closed": true, "error"}` where the gap
/// closes on the grid (or the overlaps become singular, or the grid does not resolve the
/// curvature there: [`Error::Unresolved`]; `error` says which).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PhasePoint {
    /// The parameter's value.
    pub value: f64,
    /// The invariant, `None` where it is undefined on the grid.
    pub chern: Option<i64>,
    /// The unrounded sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<f64>,
    /// The smallest gap isolating the occupied bands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_gap: Option<f64>,
    /// Whether the invariant is undefined here (a closed gap, a singular overlap, or a grid that
    /// does not resolve the curvature).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gap_closed: bool,
    /// Why it is undefined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An invariant along a sweep of one parameter.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PhaseDiagram {
    /// The parameter swept.
    pub parameter: String,
    /// Points per axis of the grid.
    pub grid: usize,
    /// The occupied bands.
    pub bands: Vec<usize>,
    /// One point per value of the sweep.
    pub points: Vec<PhasePoint>,
}

/// The phase diagram of `model` along `parameter` over `sweep`: [`invariant`] at each value.
/// A point where the gap closes or the overlaps become singular is recorded with the error;
/// any other error stops the scan. With the `progress` feature and `progress = true`, a
/// progress bar on standard error.
///
/// ```
/// use chern::{phase_diagram, ChernConfig, ModelSpec, Occupation, Setup};
/// let setup = Setup { grid: 16, occupation: Occupation::Lowest(1), config: ChernConfig::default(), wilson: false };
/// let d = phase_diagram(&ModelSpec::Qwz { m: 0.0 }, "m", &"-3:3:1".parse()?, &setup, false)?;
/// let c: Vec<Option<i64>> = d.points.iter().map(|p| p.chern).collect();
/// assert_eq!(c, [Some(0), None, Some(-1), None, Some(1), None, Some(0)]);
/// # Ok::<(), chern::Error>(())
/// ```
///
/// # Errors
/// [`ModelSpec::family`]'s errors and those of [`invariant`] other than a closed gap.
pub fn phase_diagram(
    model: &ModelSpec,
    parameter: &str,
    sweep: &Sweep,
    setup: &Setup,
    progress: bool,
) -> Result<PhaseDiagram> {
    let family = model.family(parameter)?;
    phase_diagram_of(&family, parameter, sweep, setup, progress)
}

/// [`phase_diagram`] of any family of models.
///
/// # Errors
/// As [`phase_diagram`].
pub fn phase_diagram_of(
    family: &ModelFamily,
    parameter: &str,
    sweep: &Sweep,
    setup: &Setup,
    progress: bool,
) -> Result<PhaseDiagram> {
    let bar = Progress::new(sweep.len(), progress);
    let mut points = Vec::with_capacity(sweep.len());
    let mut bands = None;
    for x in sweep.values() {
        let h = family(x)?;
        if bands.is_none() {
            bands = Some(setup.occupation.resolve(h.n_bands())?.bands().to_vec());
        }
        let point = match invariant(h.as_ref(), setup) {
            Ok(c) => PhasePoint {
                value: x,
                chern: Some(c.chern),
                raw: Some(c.raw),
                min_gap: Some(c.min_gap),
                gap_closed: false,
                error: None,
            },
            Err(
                e @ (Error::GapClosed { .. }
                | Error::SingularOverlap { .. }
                | Error::Unresolved { .. }
                | Error::WilsonLoopUnresolved { .. }
                | Error::GridTooCoarse { .. }
                | Error::SecondChernUnresolved { .. }),
            ) => PhasePoint {
                value: x,
                chern: None,
                raw: None,
                min_gap: None,
                gap_closed: true,
                error: Some(e.to_string()),
            },
            Err(e) => return Err(e),
        };
        points.push(point);
        bar.inc();
    }
    bar.finish();
    Ok(PhaseDiagram {
        parameter: parameter.to_string(),
        grid: setup.grid,
        bands: bands.unwrap_or_default(),
        points,
    })
}

/// A progress bar on standard error where the `progress` feature is on and one is wanted.
struct Progress {
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    fn new(len: usize, wanted: bool) -> Self {
        Self {
            #[cfg(feature = "progress")]
            bar: wanted.then(|| indicatif::ProgressBar::new(len as u64)),
        }
    }
    fn inc(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
    fn finish(&self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
