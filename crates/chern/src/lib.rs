//! # chern
//!
//! Bloch Hamiltonians of topological insulators and exact, fast Fukui–Hatsugai–Suzuki (FHS)
//! Chern numbers.
//!
//! - **Models** implement [`BlochHamiltonian`] (k-space dimension, number of bands, $H(k)$
//!   written into a buffer); closures work through [`FnHamiltonian`]. Built in: [`Qwz`],
//!   [`Haldane`], [`Hofstadter`], [`DirectSum`] and [`Rotated`] combinations, the 4D lattice
//!   Dirac model [`Dirac4d`], seeded [`RandomSmooth`] multiband models, PythTB-like hopping lists
//!   [`TightBinding`] (JSON/TOML) and Wannier90 `_hr.dat` files [`Wannier90`] with a 2D [`Plane`].
//! - **Band structure** on the periodic grid $k_j = 2\pi i_j/L_j$: [`BandStructure`]
//!   diagonalises every $H(k)$ once (closed form for $2\times2$; above, Householder
//!   tridiagonalisation, root-free QL eigenvalues and one twisted factorisation per wanted
//!   eigenvector, with implicit QL as the fallback for degenerate bands), in parallel, keeping
//!   the eigenvectors of a [`BandSet`] only.
//! - **Links** $U_\mu(k)$, the polar factors of $M_\mu(k) = V(k)^\dagger V(k+\hat\mu)$, as a
//!   [`lattice_gauge::LinkField`]: [`occupied_links`], [`links_of`].
//! - **Invariants**: [`chern_number`] by the determinant formula ([`Method::Determinant`], FHS's
//!   sign: QWZ's lower band has $C = +1$ for $0 < m < 2$) or the eigenphase sum
//!   ([`Method::EigenphaseSum`], GENet's label), with the Berry-flux field; per-band values
//!   [`band_chern_numbers`]; Wilson-loop spectra and their winding [`wilson_loops`]; the second
//!   Chern number in 4D [`second_chern_number`].
//! - **$\mathbb Z_2$ invariants** of time-reversal-symmetric insulators ($\Theta = U_T K$,
//!   [`TimeReversal`], checked on the grid): [`z2_invariant`] in 2D and the strong and weak
//!   indices [`z2_indices`] in 3D, by Fukui–Hatsugai's lattice formula, the Wannier-charge-centre
//!   flow with Z2Pack's largest-gap tracking ([`WccFlow`]) or Fu–Kane parities ([`Inversion`]);
//!   the spin Chern number [`spin_chern_number`] where $S_z$ is conserved. Models: [`KaneMele`],
//!   [`Bhz`], [`FuKaneMele`], and any hopping list or `_hr.dat` file with
//!   [`TimeReversal::spinful`].
//! - **Errors, not numbers**, where the answer is undefined: a gap below tolerance
//!   ([`Error::GapClosed`] with the k-point and the gap), a nearly singular overlap
//!   ([`Error::SingularOverlap`]: grid too coarse), a non-Hermitian or non-finite $H(k)$, a bad
//!   band set, a malformed model file (file, line, field).
//!
//! - **Reports and scans** as the `chern` command line makes them: [`invariant`] (the first
//!   Chern number in 2D, the second in 4D, as one serialisable [`Invariant`]), models named by
//!   their parameters [`ModelSpec`], phase diagrams along a validated [`Sweep`]
//!   ([`phase_diagram`]), SVG figures in [`plots`] (feature `plots`).
//!
//! The formulas, sign conventions and the models' known answers are in [`conventions`].
//!
//! ```
//! use chern::{chern_number_of, BandSet, ChernConfig, Hofstadter, Method, Qwz};
//! let c = chern_number_of(&Qwz::new(1.0), &[24, 24], &BandSet::lowest(1), &ChernConfig::default())?;
//! assert_eq!(c.chern, 1);
//! assert!((c.raw - 1.0).abs() < 1e-9);
//!
//! // The two lowest Hofstadter bands at flux 1/5 carry C = -2 (TKNN), by either formula.
//! let h = Hofstadter::new(1, 5, 1.0)?;
//! let config = ChernConfig { method: Method::EigenphaseSum, ..Default::default() };
//! assert_eq!(chern_number_of(&h, &[40, 40], &BandSet::lowest(2), &config)?.chern, -2);
//!
//! // At m = 2 the gap closes at (pi, pi): an error, not a number.
//! assert!(chern_number_of(&Qwz::new(2.0), &[24, 24], &BandSet::lowest(1), &ChernConfig::default()).is_err());
//! # Ok::<(), chern::Error>(())
//! ```
#![deny(missing_docs)]

mod bands;
mod chern_number;
pub mod conventions;
mod error;
mod hamiltonian;
mod invariant;
mod inversion;
mod links;
mod models;
mod phase_diagram;
#[cfg(feature = "plots")]
pub mod plots;
mod second_chern;
mod sign_convention;
mod time_reversal;
mod wilson;
mod z2;

pub use bands::{BandSet, BandStructure, k_point};
pub use chern_number::{
    BandGroupChern, ChernConfig, ChernNumber, MAX_RESOLVED_FLUX, Method, band_chern_numbers,
    chern_memory_estimate, chern_number, chern_number_of, chern_number_of_links,
};
pub use error::{Error, Result};
pub use hamiltonian::{BlochHamiltonian, DynHamiltonian, FnHamiltonian, KPoint};
pub use invariant::{Invariant, Occupation, Setup, invariant};
pub use inversion::Inversion;
pub use links::{Tolerances, links_of, occupied_links};
pub use models::bhz::Bhz;
pub use models::combine::{DirectSum, Plane, Rotated};
pub use models::dirac4d::Dirac4d;
pub use models::fu_kane_mele::FuKaneMele;
pub use models::haldane::Haldane;
pub use models::hofstadter::Hofstadter;
pub use models::kane_mele::KaneMele;
pub use models::qwz::Qwz;
pub use models::random::{RandomSmooth, RandomSmoothConfig};
pub use models::spec::{ModelFamily, ModelSpec};
pub use models::tight_binding::{Amplitude, Hopping, ModelFormat, TightBinding};
pub use models::wannier90::Wannier90;
pub use num_complex::Complex64 as C64;
pub use phase_diagram::{
    MAX_SCAN_POINTS, PhaseDiagram, PhasePoint, Sweep, phase_diagram, phase_diagram_of,
};
pub use second_chern::{SECOND_CHERN_RESOLUTION, SecondChern, second_chern_number};
pub use sign_convention::SignConvention;
pub use time_reversal::{SpinOrdering, TimeReversal};
pub use wilson::{WilsonLoops, wilson_loops};
pub use z2::{
    SpinChern, TrimParity, WccFlow, Z2Config, Z2Details, Z2Indices, Z2Invariant, Z2Method, Z2Model,
    Z2PhaseDiagram, Z2PhasePoint, Z2Report, Z2System, spin_chern_number, z2_indices, z2_invariant,
    z2_memory_estimate, z2_of, z2_phase_diagram,
};
