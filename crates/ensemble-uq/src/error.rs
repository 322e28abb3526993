//! The crate's error type: every variant carries the offending values.

use std::path::PathBuf;

/// Errors of `ensemble-uq`. Each variant names what is wrong and where (member, sample, class,
/// value; file and field), so that a user can find the bad entry in their own arrays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input with nothing in it (a zero extent, no samples, no answer tokens).
    #[error("empty input: {what}")]
    EmptyInput {
        /// What is empty, with its shape where it has one.
        what: String,
    },
    /// A logit or probability is NaN or infinite.
    #[error("non-finite value {value} at member {member}, sample {sample}, class {class}")]
    NonFinite {
        /// Member index m.
        member: usize,
        /// Sample index i.
        sample: usize,
        /// Class index k.
        class: usize,
        /// The value found.
        value: f64,
    },
    /// A probability is negative.
    #[error("negative probability {value} at member {member}, sample {sample}, class {class}")]
    NegativeProbability {
        /// Member index m.
        member: usize,
        /// Sample index i.
        sample: usize,
        /// Class index k.
        class: usize,
        /// The value found.
        value: f64,
    },
    /// A probability row does not sum to one within the stated tolerance.
    #[error(
        "probabilities of member {member}, sample {sample} sum to {sum}, not 1 within {tolerance}"
    )]
    RowSum {
        /// Member index m.
        member: usize,
        /// Sample index i.
        sample: usize,
        /// The row sum found.
        sum: f64,
        /// The tolerance on |sum - 1|.
        tolerance: f64,
    },
    /// A tolerance, epsilon, bin count or other option is out of its domain.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its value, as text (a count is written as the integer it is).
        value: String,
        /// What it must satisfy.
        reason: String,
    },
    /// A label is negative or not smaller than the number of classes.
    #[error("label {label} of sample {sample} is out of range 0..{classes}")]
    LabelOutOfRange {
        /// Sample index i.
        sample: usize,
        /// The label found.
        label: i128,
        /// Number of classes K.
        classes: usize,
    },
    /// Two inputs disagree in shape.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Which extent disagrees.
        what: &'static str,
        /// The extent required.
        expected: String,
        /// The extent found.
        found: String,
    },
    /// A detection metric needs both positives and negatives.
    #[error("{metric} is undefined with {positives} positives and {negatives} negatives")]
    DegenerateClasses {
        /// The metric asked for.
        metric: &'static str,
        /// Number of positives.
        positives: usize,
        /// Number of negatives.
        negatives: usize,
    },
    /// A detection score or selective-prediction confidence is NaN.
    #[error("score of sample {sample} is NaN")]
    NanScore {
        /// Sample index i.
        sample: usize,
    },
    /// An answer-token id is not in the vocabulary, or repeated.
    #[error(
        "answer token id {token} (position {position}) is invalid for a vocabulary of {vocabulary}: {reason}"
    )]
    AnswerToken {
        /// The token id.
        token: usize,
        /// Its position in the answer list.
        position: usize,
        /// Vocabulary size V.
        vocabulary: usize,
        /// Out of range or repeated.
        reason: &'static str,
    },
    /// A per-epoch series or a stream was given inputs with different members or classes.
    #[error("epoch/batch {index}: {what} is {found}, earlier input had {expected}")]
    Inconsistent {
        /// Index of the offending batch or epoch.
        index: usize,
        /// Which extent.
        what: &'static str,
        /// Earlier extent.
        expected: usize,
        /// This extent.
        found: usize,
    },
    /// An input file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An input file is malformed or its field is missing, ambiguous or of the wrong type or shape.
    #[error("{}{}: {reason}", path.display(), field_label(field))]
    Format {
        /// The file.
        path: PathBuf,
        /// The field (array name, tensor name or JSON pointer); "" when the file has one array.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing a report or a plot failed.
    #[error("{}: cannot write: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An error in the values of a file (a NaN logit, a probability row that does not sum to
    /// one, a label out of range), with the file named.
    #[error("{}{}: {error}", path.display(), field_label(field))]
    InFile {
        /// The file.
        path: PathBuf,
        /// The field (array name, tensor name or JSON pointer); "" when the file has one array.
        field: String,
        /// What is wrong with its values.
        error: Box<Error>,
    },
    /// Work that would need more memory than allowed, refused before anything is allocated.
    #[error("{reason}")]
    MemoryLimit {
        /// The estimate, the limit and how to raise it.
        reason: String,
    },
}

impl Error {
    /// [`Error::InvalidParameter`] with the value written by its `Display`.
    pub(crate) fn invalid(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidParameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// [`Error::ShapeMismatch`] with the extents written by their `Display`.
    pub(crate) fn mismatch(
        what: &'static str,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) -> Self {
        Self::ShapeMismatch {
            what,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// [`Error::EmptyInput`].
    pub(crate) fn empty(what: impl Into<String>) -> Self {
        Self::EmptyInput { what: what.into() }
    }

    /// This error with the file it was found in, unless it already names a file.
    pub(crate) fn in_file(self, path: &std::path::Path, field: &str) -> Self {
        match self {
            Self::Io { .. }
            | Self::Format { .. }
            | Self::Write { .. }
            | Self::InFile { .. }
            | Self::MemoryLimit { .. } => self,
            other => Self::InFile {
                path: path.to_path_buf(),
                field: field.to_owned(),
                error: Box::new(other),
            },
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// `": field \"name\""`, or nothing for a file that holds a single array.
fn field_label(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(": field {field:?}")
    }
}
