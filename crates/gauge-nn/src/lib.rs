//! Gauge-equivariant networks (in progress).

pub mod convert;
pub mod data;
mod error;

pub use error::{Error, Result};
