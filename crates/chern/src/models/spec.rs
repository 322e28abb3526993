//! A model named by its parameters (or its file), as a command line or a configuration gives it:
//! built into a Hamiltonian, described in reports, and varied along one parameter for scans.
use crate::error::{Error, Result};
use crate::hamiltonian::DynHamiltonian;
use crate::models::{
    dirac4d::Dirac4d, haldane::Haldane, hofstadter::Hofstadter, qwz::Qwz,
    tight_binding::TightBinding, wannier90::Wannier90,
};
use std::f64::consts::PI;
use std::path::PathBuf;

/// One of the built-in models with its parameters, or a model file. Serialises as the model's
/// description in reports: `{"name": "qwz", "m": 1.0}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "name", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ModelSpec {
    /// [`Qwz`] with mass `m`.
    Qwz {
        /// Mass $m$.
        m: f64,
    },
    /// [`Haldane`] in reduced coordinates.
    Haldane {
        /// Nearest-neighbour hopping $t_1$.
        t1: f64,
        /// Next-nearest-neighbour hopping $t_2$.
        t2: f64,
        /// Sublattice mass $M$.
        mass: f64,
        /// Flux phase $\phi$ (radians).
        phi: f64,
    },
    /// [`Hofstadter`] at flux $p/q$ with hopping $t$.
    Hofstadter {
        /// Flux numerator $p$.
        p: i64,
        /// Flux denominator $q$ (the number of bands).
        q: usize,
        /// Hopping $t$.
        t: f64,
    },
    /// [`Dirac4d`] with mass `m` (4D: second Chern number).
    Dirac4d {
        /// Mass $m$.
        m: f64,
    },
    /// A [`TightBinding`] hopping list (`.json` or `.toml`).
    Tb {
        /// The model file.
        file: PathBuf,
    },
    /// A [`Wannier90`] `_hr.dat` model on the plane $k_3 = 2\pi K$.
    W90 {
        /// The `_hr.dat` file.
        file: PathBuf,
        /// The fixed third momentum $K$ in reduced units.
        k3: f64,
    },
}

/// A family of models along one real parameter, for scans.
pub type ModelFamily = Box<dyn Fn(f64) -> Result<DynHamiltonian> + Send + Sync>;

impl ModelSpec {
    /// The model's name in reports (`qwz`, `haldane`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Qwz { .. } => "qwz",
            ModelSpec::Haldane { .. } => "haldane",
            ModelSpec::Hofstadter { .. } => "hofstadter",
            ModelSpec::Dirac4d { .. } => "dirac4d",
            ModelSpec::Tb { .. } => "tb",
            ModelSpec::W90 { .. } => "w90",
        }
    }

    /// The Hamiltonian (reading the model file where there is one).
    ///
    /// # Errors
    /// A model's own parameter checks ([`Hofstadter::new`], ...), and for files
    /// [`Error::Io`] and [`Error::ModelFile`].
    pub fn build(&self) -> Result<DynHamiltonian> {
        Ok(match self {
            ModelSpec::Qwz { m } => Box::new(Qwz::new(*m)),
            ModelSpec::Haldane { t1, t2, mass, phi } => {
                Box::new(Haldane::new(*t1, *t2, *mass, *phi))
            }
            ModelSpec::Hofstadter { p, q, t } => Box::new(Hofstadter::new(*p, *q, *t)?),
            ModelSpec::Dirac4d { m } => Box::new(Dirac4d::new(*m)),
            ModelSpec::Tb { file } => Box::new(TightBinding::from_file(file)?),
            ModelSpec::W90 { file, k3 } => {
                Box::new(Wannier90::from_file(file)?.plane_k3(2.0 * PI * k3)?)
            }
        })
    }

    /// The names of the real parameters a scan can vary.
    pub fn scan_parameters(&self) -> &'static [&'static str] {
        match self {
            ModelSpec::Qwz { .. } | ModelSpec::Dirac4d { .. } => &["m"],
            ModelSpec::Haldane { .. } => &["t1", "t2", "mass", "phi"],
            ModelSpec::Hofstadter { .. } => &["t"],
            ModelSpec::Tb { .. } => &[],
            ModelSpec::W90 { .. } => &["k3"],
        }
    }

    /// The models along `parameter` with the other parameters as in `self`. A model file is
    /// read once, here.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the model has no such parameter; file errors.
    pub fn family(&self, parameter: &str) -> Result<ModelFamily> {
        if !self.scan_parameters().contains(&parameter) {
            return Err(Error::invalid(
                "scan parameter",
                parameter,
                format!(
                    "the {} model can scan {:?}",
                    self.name(),
                    self.scan_parameters()
                ),
            ));
        }
        if let ModelSpec::W90 { file, .. } = self {
            let w = Wannier90::from_file(file)?;
            return Ok(Box::new(move |x| {
                Ok(Box::new(w.clone().plane_k3(2.0 * PI * x)?) as DynHamiltonian)
            }));
        }
        let base = self.clone();
        let parameter = parameter.to_string();
        Ok(Box::new(move |x| base.with(&parameter, x).build()))
    }

    /// `self` with `parameter` set to `x` (a parameter of [`Self::scan_parameters`]).
    fn with(&self, parameter: &str, x: f64) -> ModelSpec {
        let mut spec = self.clone();
        match (&mut spec, parameter) {
            (ModelSpec::Qwz { m } | ModelSpec::Dirac4d { m }, "m") => *m = x,
            (ModelSpec::Haldane { t1, .. }, "t1") => *t1 = x,
            (ModelSpec::Haldane { t2, .. }, "t2") => *t2 = x,
            (ModelSpec::Haldane { mass, .. }, "mass") => *mass = x,
            (ModelSpec::Haldane { phi, .. }, "phi") => *phi = x,
            (ModelSpec::Hofstadter { t, .. }, "t") => *t = x,
            (ModelSpec::W90 { k3, .. }, "k3") => *k3 = x,
            _ => unreachable!("checked against scan_parameters"),
        }
        spec
    }
}
