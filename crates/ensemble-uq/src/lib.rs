//! Ensemble uncertainty (in progress).
