//! Chern numbers (in progress).
