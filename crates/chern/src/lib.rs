//! # chern
//!
//! Bloch Hamiltonians of topological insulators and exact, fast Fukui–Hatsugai–Suzuki Chern
//! numbers.
//!
//! ```
//! use chern::{chern_number_of, BandSet, ChernConfig, Qwz};
//! let c = chern_number_of(&Qwz::new(1.0), &[24, 24], &BandSet::lowest(1), &ChernConfig::default())?;
//! assert_eq!(c.chern, 1);
//! # Ok::<(), chern::Error>(())
//! ```
mod bands;
mod chern_number;
mod eigen;
mod error;
mod hamiltonian;
mod links;
mod models;
mod second_chern;
mod wilson;

pub use bands::{BandSet, BandStructure, k_point};
pub use chern_number::{
    BandGroupChern, ChernConfig, ChernNumber, Method, band_chern_numbers, chern_number,
    chern_number_of,
};
pub use error::{Error, Result};
pub use hamiltonian::{BlochHamiltonian, DynHamiltonian, FnHamiltonian, KPoint};
pub use links::{Tolerances, links_of, occupied_links};
pub use models::combine::{DirectSum, Plane, Rotated};
pub use models::dirac4d::Dirac4d;
pub use models::haldane::Haldane;
pub use models::hofstadter::Hofstadter;
pub use models::qwz::Qwz;
pub use models::random::{RandomSmooth, RandomSmoothConfig};
pub use models::tight_binding::{Amplitude, Hopping, ModelFormat, TightBinding};
pub use models::wannier90::Wannier90;
pub use num_complex::Complex64 as C64;
pub use second_chern::{SecondChern, second_chern_number};
pub use wilson::{WilsonLoops, wilson_loops};
