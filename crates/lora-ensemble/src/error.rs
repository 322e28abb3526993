//! The crate's error type: every variant names the bad value, and for files the file and the key.

use std::path::PathBuf;

/// Errors of `lora-ensemble`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value or argument is out of its domain.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name (a peft config field where it is one).
        name: String,
        /// Its value as written.
        value: String,
        /// What it must satisfy.
        reason: String,
    },
    /// A tensor or weight has another shape than expected.
    #[error("shape mismatch for {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What was checked (a module path, an input, a key).
        what: String,
        /// The expected shape.
        expected: String,
        /// The shape found.
        found: String,
    },
    /// Something that must not be empty is.
    #[error("empty input: {what}")]
    EmptyInput {
        /// What was empty.
        what: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file is malformed or disagrees with the model: truncated, wrong dtype, missing or extra
    /// key, another base model.
    #[error("{}: {key}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The key (tensor name or JSON field) at fault; `header` for the file as a whole.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Entries of `target_modules` that match no module of the model.
    #[error("target_modules {targets:?} match no module of the model (its modules: {available:?})")]
    UnmatchedTargets {
        /// The entries (or the regex) that matched nothing.
        targets: Vec<String>,
        /// The module paths the model offered.
        available: Vec<String>,
    },
    /// A weight, loss or gradient became NaN or infinite.
    #[error("non-finite {what}")]
    NonFinite {
        /// What is non-finite, with where (the weight's name and member, the epoch and step).
        what: String,
    },
    /// A member index is out of range, or an operation conflicts with a merged member.
    #[error("member {member}: {reason}")]
    Member {
        /// The member index.
        member: usize,
        /// What is wrong.
        reason: String,
    },
    /// libtorch refused an operation.
    #[error("libtorch: {context}: {source}")]
    Torch {
        /// What was being done.
        context: String,
        /// libtorch's error.
        source: tch::TchError,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(name: &str, value: impl ToString, reason: impl ToString) -> Self {
        Error::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn file(path: &std::path::Path, key: &str, reason: impl ToString) -> Self {
        Error::File {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn shape(what: impl ToString, expected: &[i64], found: &[i64]) -> Self {
        Error::ShapeMismatch {
            what: what.to_string(),
            expected: format!("{expected:?}"),
            found: format!("{found:?}"),
        }
    }

    pub(crate) fn torch(context: impl ToString) -> impl FnOnce(tch::TchError) -> Self {
        move |source| Error::Torch {
            context: context.to_string(),
            source,
        }
    }
}
