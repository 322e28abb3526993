//! Time-reversal-invariant models named by their parameters (as a command line gives them), their
//! $\mathbb Z_2$ report, and two-parameter phase diagrams.
use super::{Z2Config, Z2Method, z2_indices, z2_invariant};
use crate::error::{Error, Result};
use crate::hamiltonian::{BlochHamiltonian, DynHamiltonian};
use crate::inversion::Inversion;
use crate::models::{
    bhz::Bhz, fu_kane_mele::FuKaneMele, kane_mele::KaneMele, qwz::Qwz, tight_binding::TightBinding,
    wannier90::Wannier90,
};
use crate::time_reversal::{SpinOrdering, TimeReversal};
use std::path::PathBuf;

/// A model for $\mathbb Z_2$ invariants with its parameters, or a spinful model file. Serialises
/// as the model's description in reports: `{"name": "kane-mele", "t": 1.0, ...}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Z2Model {
    /// [`KaneMele`] (2D).
    KaneMele {
        /// Hopping $t$.
        t: f64,
        /// Intrinsic spin–orbit coupling $\lambda_{SO}$.
        lambda_so: f64,
        /// Rashba coupling $\lambda_R$.
        lambda_r: f64,
        /// Staggered potential $\lambda_v$.
        lambda_v: f64,
    },
    /// [`Bhz`] (2D).
    Bhz {
        /// $A$.
        a: f64,
        /// $B$.
        b: f64,
        /// $M$.
        m: f64,
    },
    /// [`FuKaneMele`] (3D: strong and weak indices).
    FuKaneMele {
        /// Hopping $t$.
        t: f64,
        /// Spin–orbit coupling $\lambda_{SO}$.
        lambda_so: f64,
        /// Change $\delta t$ of the $(111)$ bond.
        dt: f64,
    },
    /// [`Qwz`] read as one spinful orbital ($U_T = i s_y$): a Chern insulator, which breaks time
    /// reversal; asking for its $\mathbb Z_2$ is answered with [`Error::TimeReversalBroken`].
    Qwz {
        /// Mass $m$.
        m: f64,
    },
    /// A spinful [`TightBinding`] hopping list (2D or 3D), $U_T = \mathbb 1\otimes is_y$ in the
    /// given spin order.
    Tb {
        /// The model file.
        file: PathBuf,
        /// The basis order of spin.
        spin: SpinOrdering,
    },
    /// A spinful [`Wannier90`] `_hr.dat` model (3D).
    W90 {
        /// The `_hr.dat` file.
        file: PathBuf,
        /// The basis order of spin.
        spin: SpinOrdering,
    },
}

/// A model with its time reversal and, where it has one, its inversion.
pub struct Z2System {
    /// The Hamiltonian.
    pub hamiltonian: DynHamiltonian,
    /// Its time reversal.
    pub time_reversal: TimeReversal,
    /// Its inversion, for the parity criterion.
    pub inversion: Option<Inversion>,
}

impl std::fmt::Debug for Z2System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Z2System")
            .field("n_bands", &self.hamiltonian.n_bands())
            .field("time_reversal", &self.time_reversal)
            .field("inversion", &self.inversion)
            .finish()
    }
}

/// The spinful time reversal of a model file with `n` basis states.
fn spinful(n: usize, spin: SpinOrdering, file: &std::path::Path) -> Result<TimeReversal> {
    if n % 2 == 1 {
        return Err(Error::BadSymmetry {
            operator: "time reversal U_T",
            reason: format!(
                "{} has {n} orbitals: a spinful basis has an even number",
                file.display()
            ),
        });
    }
    TimeReversal::spinful(n / 2, spin)
}

impl Z2Model {
    /// The model's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Z2Model::KaneMele { .. } => "kane-mele",
            Z2Model::Bhz { .. } => "bhz",
            Z2Model::FuKaneMele { .. } => "fu-kane-mele",
            Z2Model::Qwz { .. } => "qwz",
            Z2Model::Tb { .. } => "tb",
            Z2Model::W90 { .. } => "w90",
        }
    }

    /// The Hamiltonian with its symmetries (reading the file where there is one).
    ///
    /// # Errors
    /// File errors; [`Error::BadSymmetry`] for a model file with an odd number of orbitals.
    pub fn build(&self) -> Result<Z2System> {
        Ok(match self {
            Z2Model::KaneMele {
                t,
                lambda_so,
                lambda_r,
                lambda_v,
            } => {
                let h = KaneMele::new(*t, *lambda_so, *lambda_r, *lambda_v);
                Z2System {
                    time_reversal: h.time_reversal(),
                    inversion: Some(h.inversion()),
                    hamiltonian: Box::new(h),
                }
            }
            Z2Model::Bhz { a, b, m } => {
                let h = Bhz::new(*a, *b, *m);
                Z2System {
                    time_reversal: h.time_reversal(),
                    inversion: Some(h.inversion()),
                    hamiltonian: Box::new(h),
                }
            }
            Z2Model::FuKaneMele { t, lambda_so, dt } => {
                let h = FuKaneMele::new(*t, *lambda_so, *dt);
                Z2System {
                    time_reversal: h.time_reversal(),
                    inversion: Some(h.inversion()),
                    hamiltonian: Box::new(h),
                }
            }
            Z2Model::Qwz { m } => Z2System {
                hamiltonian: Box::new(Qwz::new(*m)),
                time_reversal: TimeReversal::spin_half(1, SpinOrdering::Interleaved),
                inversion: None,
            },
            Z2Model::Tb { file, spin } => {
                let h = TightBinding::from_file(file)?;
                Z2System {
                    time_reversal: spinful(h.n_bands(), *spin, file)?,
                    inversion: None,
                    hamiltonian: Box::new(h),
                }
            }
            Z2Model::W90 { file, spin } => {
                let h = Wannier90::from_file(file)?;
                Z2System {
                    time_reversal: spinful(h.num_wann(), *spin, file)?,
                    inversion: None,
                    hamiltonian: Box::new(h),
                }
            }
        })
    }

    /// The real parameters a phase diagram can vary.
    pub fn scan_parameters(&self) -> &'static [&'static str] {
        match self {
            Z2Model::KaneMele { .. } => &["t", "lambda_so", "lambda_r", "lambda_v"],
            Z2Model::Bhz { .. } => &["a", "b", "m"],
            Z2Model::FuKaneMele { .. } => &["t", "lambda_so", "dt"],
            Z2Model::Qwz { .. } => &["m"],
            Z2Model::Tb { .. } | Z2Model::W90 { .. } => &[],
        }
    }

    /// `self` with `parameter` set to `x`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the model has no such parameter.
    pub fn with(&self, parameter: &str, x: f64) -> Result<Z2Model> {
        let mut spec = self.clone();
        let slot = match (&mut spec, parameter) {
            (Z2Model::KaneMele { t, .. }, "t") => t,
            (Z2Model::KaneMele { lambda_so, .. }, "lambda_so") => lambda_so,
            (Z2Model::KaneMele { lambda_r, .. }, "lambda_r") => lambda_r,
            (Z2Model::KaneMele { lambda_v, .. }, "lambda_v") => lambda_v,
            (Z2Model::Bhz { a, .. }, "a") => a,
            (Z2Model::Bhz { b, .. }, "b") => b,
            (Z2Model::Bhz { m, .. }, "m") => m,
            (Z2Model::FuKaneMele { t, .. }, "t") => t,
            (Z2Model::FuKaneMele { lambda_so, .. }, "lambda_so") => lambda_so,
            (Z2Model::FuKaneMele { dt, .. }, "dt") => dt,
            (Z2Model::Qwz { m }, "m") => m,
            _ => {
                return Err(Error::invalid(
                    "scan parameter",
                    parameter,
                    "not a parameter of this model (see Z2Model::scan_parameters)",
                ));
            }
        };
        *slot = x;
        Ok(spec)
    }
}

/// The $\mathbb Z_2$ invariant of a [`Z2Model`]: the 2D invariant, or for 3D models the strong
/// index with the weak ones.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Z2Report {
    /// The model.
    pub model: Z2Model,
    /// $\mathbb Z_2$ (2D) or the strong index $\nu_0$ (3D).
    pub z2: u8,
    /// 3D: $[\nu_0, \nu_1, \nu_2, \nu_3]$.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indices: Option<[u8; 4]>,
    /// The method.
    pub method: Z2Method,
    /// The grid.
    pub grid: Vec<usize>,
    /// Number of occupied bands.
    pub occupied: usize,
    /// Smallest direct gap above the occupied bands.
    pub min_gap: f64,
    /// Largest violation of time reversal on the grid (relative).
    pub time_reversal_violation: f64,
    /// The 2D invariant, or the 3D indices, with all their diagnostics.
    #[serde(skip)]
    pub details: Z2Details,
}

/// The full result behind a [`Z2Report`].
#[derive(Clone, Debug, PartialEq)]
pub enum Z2Details {
    /// A 2D model.
    Plane(super::Z2Invariant),
    /// A 3D model.
    Bulk(super::Z2Indices),
}

/// The $\mathbb Z_2$ invariant of `model` on a grid of `grid` points per axis: [`z2_invariant`]
/// for 2D models, [`z2_indices`] for 3D ones. For [`Z2Method::Parity`] without an inversion in
/// `config`, the model's own inversion is used.
///
/// # Errors
/// [`Z2Model::build`]'s, then those of [`z2_invariant`] / [`z2_indices`]; a model of another
/// dimension is [`Error::BadGrid`].
pub fn z2_of(model: &Z2Model, grid: usize, config: &Z2Config) -> Result<Z2Report> {
    let system = model.build()?;
    let h = system.hamiltonian.as_ref();
    let mut config = config.clone();
    if config.method == Z2Method::Parity && config.inversion.is_none() {
        config.inversion = system.inversion.clone();
    }
    let theta = &system.time_reversal;
    match h.dim() {
        2 => {
            let z = z2_invariant(h, theta, [grid, grid], &config)?;
            Ok(Z2Report {
                model: model.clone(),
                z2: z.z2,
                indices: None,
                method: z.method,
                grid: z.grid.to_vec(),
                occupied: z.occupied,
                min_gap: z.min_gap,
                time_reversal_violation: z.time_reversal_violation,
                details: Z2Details::Plane(z),
            })
        }
        3 => {
            let z = z2_indices(h, theta, [grid; 3], &config)?;
            Ok(Z2Report {
                model: model.clone(),
                z2: z.z2,
                indices: Some(z.indices),
                method: z.method,
                grid: z.grid.to_vec(),
                occupied: z.occupied,
                min_gap: z.min_gap,
                time_reversal_violation: z.time_reversal_violation,
                details: Z2Details::Bulk(z),
            })
        }
        d => Err(Error::BadGrid {
            extents: vec![grid; d],
            reason: "Z2 invariants are computed for 2D and 3D models",
        }),
    }
}

/// One point of a [`Z2PhaseDiagram`]: the invariant, or why it is undefined there.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Z2PhasePoint {
    /// The first parameter's value.
    pub x: f64,
    /// The second parameter's value.
    pub y: f64,
    /// $\mathbb Z_2$ (the strong index in 3D); `None` where it is undefined on the grid (see `error`).
    pub z2: Option<u8>,
    /// Smallest gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_gap: Option<f64>,
    /// Why the invariant is undefined (a closed gap, a singular overlap, unresolved centres).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// $\mathbb Z_2$ over a rectangle of two parameters (Kane and Mele's $\lambda_v$ against
/// $\lambda_R$, say).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Z2PhaseDiagram {
    /// The model at the base point.
    pub model: Z2Model,
    /// The first parameter (horizontal axis).
    pub x_parameter: String,
    /// The second parameter (vertical axis).
    pub y_parameter: String,
    /// Its values.
    pub x: Vec<f64>,
    /// Its values.
    pub y: Vec<f64>,
    /// Points per axis of the grid.
    pub grid: usize,
    /// The method.
    pub method: Z2Method,
    /// Points, `y` outer and `x` inner: point `j * x.len() + i` is at `(x[i], y[j])`.
    pub points: Vec<Z2PhasePoint>,
}

/// The phase diagram of `model` over `xs` of `x_parameter` and `ys` of `y_parameter`, [`z2_of`]
/// at each point. Points where the gap closes, an overlap is singular or the centres cannot be
/// followed are recorded with the error; any other error stops the scan.
///
/// ```
/// use chern::{Z2Config, Z2Model, z2_phase_diagram};
/// let km = Z2Model::KaneMele { t: 1.0, lambda_so: 0.06, lambda_r: 0.0, lambda_v: 0.0 };
/// let d = z2_phase_diagram(&km, "lambda_v", &[0.1, 0.5], "lambda_r", &[0.0], 18, &Z2Config::default())?;
/// let z: Vec<Option<u8>> = d.points.iter().map(|p| p.z2).collect();
/// assert_eq!(z, [Some(1), Some(0)]);
/// # Ok::<(), chern::Error>(())
/// ```
///
/// # Errors
/// [`Z2Model::with`] for an unknown parameter, [`Error::BadGrid`] for no values, and the errors
/// of [`z2_of`] other than those recorded.
pub fn z2_phase_diagram(
    model: &Z2Model,
    x_parameter: &str,
    xs: &[f64],
    y_parameter: &str,
    ys: &[f64],
    grid: usize,
    config: &Z2Config,
) -> Result<Z2PhaseDiagram> {
    if xs.is_empty() || ys.is_empty() {
        return Err(Error::BadGrid {
            extents: vec![xs.len(), ys.len()],
            reason: "a phase diagram needs at least one value of each parameter",
        });
    }
    // Unknown parameters fail before any work.
    model.with(x_parameter, xs[0])?.with(y_parameter, ys[0])?;
    let mut points = Vec::with_capacity(xs.len() * ys.len());
    for &y in ys {
        for &x in xs {
            let spec = model.with(x_parameter, x)?.with(y_parameter, y)?;
            let point = match z2_of(&spec, grid, config) {
                Ok(r) => Z2PhasePoint {
                    x,
                    y,
                    z2: Some(r.z2),
                    min_gap: Some(r.min_gap),
                    error: None,
                },
                Err(
                    e @ (Error::GapClosed { .. }
                    | Error::SingularOverlap { .. }
                    | Error::WccUnresolved { .. }
                    | Error::WilsonLoopUnresolved { .. }
                    | Error::Unresolved { .. }
                    | Error::InconsistentPlanes { .. }),
                ) => Z2PhasePoint {
                    x,
                    y,
                    z2: None,
                    min_gap: None,
                    error: Some(e.to_string()),
                },
                Err(e) => return Err(e),
            };
            points.push(point);
        }
    }
    Ok(Z2PhaseDiagram {
        model: model.clone(),
        x_parameter: x_parameter.to_string(),
        y_parameter: y_parameter.to_string(),
        x: xs.to_vec(),
        y: ys.to_vec(),
        grid,
        method: config.method,
        points,
    })
}
