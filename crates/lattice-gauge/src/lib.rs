//! # lattice-gauge
//!
//! $U(n)$ lattice gauge fields on periodic hypercubic lattices of any dimension and shape:
//! link fields $U_\mu(x)$, gauge transformations $\Omega(x)$, plaquettes, rectangular Wilson loops,
//! Polyakov loops and parallel transport of covariant fields, with fast small-matrix kernels
//! ([`matrix`]) for $n = 1, \dots, 8$.
//!
//! | Item | What it is |
//! |---|---|
//! | [`Lattice`], [`Site`], [`Dir`] | periodic geometry, row-major site indices, neighbours, planes |
//! | [`matrix`] | products, adjoint, trace, det, eigenvalues/eigenphases, polar factor, $-i\log$ of a unitary, Haar sampling |
//! | [`hermitian`] | eigen-decomposition of small Hermitian matrices (Bloch Hamiltonians) |
//! | [`LinkField`] | $U_\mu(x)$: plaquettes, Wilson and Polyakov loops, parallel transport |
//! | [`MatrixField`], [`PlaquetteField`] | covariant fields: one matrix per site (and plane) |
//! | [`GaugeTransform`] | $\Omega(x)$ acting on links and covariant fields |
//! | [`Error`], [`Result`] | every failure, with the offending values |
//! | `proptest` (feature `proptest-support`) | strategies for property tests |
//!
//! Conventions (the Bloch-band side, links from overlaps of eigenvectors and the Chern numbers
//! built from them, is in the `chern` crate's `conventions` module):
//! - Sites are numbered row-major, the last axis fastest; steps wrap around periodically.
//! - A gauge transformation acts as
//!   $U_\mu(x) \mapsto \Omega(x)\,U_\mu(x)\,\Omega(x+\hat\mu)^\dagger$ on links and as
//!   $Y(x) \mapsto \Omega(x)\,Y(x)\,\Omega(x)^\dagger$ on covariant fields.
//! - The plaquette runs counter-clockwise in the $(\mu,\nu)$ plane,
//!   $W_{\mu\nu}(x) = U_\mu(x)\,U_\nu(x+\hat\mu)\,U_\mu(x+\hat\nu)^\dagger\,U_\nu(x)^\dagger$,
//!   and transforms covariantly, so its trace and eigenphases are gauge invariant. So do the
//!   $R \times T$ Wilson loops and the Polyakov loops $P_\mu(x) = \prod_k U_\mu(x + k\hat\mu)$.
//! - Parallel transport of a covariant field: $T_\mu\[Y\](x) = U_\mu(x)\,Y(x+\hat\mu)\,U_\mu(x)^\dagger$.
//!
//! ```
//! use lattice_gauge::{matrix, Dir, GaugeTransform, Lattice, LinkField, Site};
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! # fn main() -> lattice_gauge::Result<()> {
//! let lattice = Lattice::new(&[6, 5])?;
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let links = LinkField::haar_random(&lattice, 3, &mut rng)?;
//! let omega = GaugeTransform::random(&lattice, 3, &mut rng)?;
//! let transformed = omega.apply_links(&links)?;
//!
//! // Traces and eigenphases of plaquettes and Wilson loops are gauge invariant.
//! let x = lattice.site(&[2, 4])?;
//! let w = links.plaquette(Dir(0), Dir(1), x);
//! let w2 = transformed.plaquette(Dir(0), Dir(1), x);
//! assert!((matrix::trace(&w, 3) - matrix::trace(&w2, 3)).norm() < 1e-12);
//!
//! let loop_before = links.wilson_loop(Dir(0), Dir(1), 2, 3, x)?;
//! let loop_after = transformed.wilson_loop(Dir(0), Dir(1), 2, 3, x)?;
//! let (a, b) = (matrix::eigenphases(&loop_before, 3), matrix::eigenphases(&loop_after, 3));
//! assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-10));
//!
//! // The phases of det W sum to 2 pi times an integer over the torus (the FHS Chern number).
//! let flux: f64 = lattice
//!     .sites()
//!     .map(|s| matrix::principal_arg(matrix::det(&links.plaquette(Dir(0), Dir(1), s), 3)))
//!     .sum();
//! let c = flux / (2.0 * std::f64::consts::PI);
//! assert!((c - c.round()).abs() < 1e-9);
//! # let _ = Site(0);
//! # Ok(())
//! # }
//! ```
//!
//! Feature `proptest-support` exports [proptest](https://docs.rs/proptest) strategies for random
//! unitaries, link fields and gauge transformations in the `proptest` module.
#![deny(missing_docs)]

mod error;
mod field_checks;
mod gauge_transform;
pub mod hermitian;
mod lattice;
mod link_field;
mod loops;
pub mod matrix;
mod matrix_field;
mod plaquette_field;
#[cfg(feature = "proptest-support")]
pub mod proptest;

pub use error::{Error, Result};
pub use gauge_transform::GaugeTransform;
pub use lattice::{Dir, Lattice, Site};
pub use link_field::LinkField;
pub use matrix_field::MatrixField;
pub use num_complex::Complex64 as C64;
pub use plaquette_field::PlaquetteField;
