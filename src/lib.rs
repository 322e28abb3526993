//! # chernet
//!
//! Umbrella crate of the chernet workspace. It re-exports the five libraries so that examples,
//! benches and workspace tests can use one dependency:
//!
//! - [`lattice_gauge`]: U(n) link fields on periodic lattices, gauge transformations, Wilson loops.
//! - [`chern`]: Bloch Hamiltonians and exact Fukui–Hatsugai–Suzuki Chern numbers.
//! - [`gauge_nn`]: gauge-equivariant networks (GEBLNet, GEConv, TrNorm) on libtorch.
//! - [`ensemble_uq`]: uncertainty metrics for LoRA ensembles.
//! - [`lora_ensemble`]: LoRA adapters and LoRA ensembles on libtorch, interchangeable with peft's files.
//!
//! [`cli`] holds the argument checks and the memory limit shared by the example binaries.
pub mod cli;

pub use chern;
pub use ensemble_uq;
pub use gauge_nn;
pub use lattice_gauge;
pub use lora_ensemble;
