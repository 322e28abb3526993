//! Member predictions from a file of any supported format: streamed in blocks of samples when
//! the file's layout allows it, read whole and validated otherwise, with the same results and
//! the same errors either way.

use std::path::{Path, PathBuf};

use crate::ensemble::{EnsembleConfig, EnsemblePrediction, UncertaintyScores};
use crate::entropy::EntropyConvention;
use crate::error::{Error, Result};
use crate::input::{Labels, Logits, Probabilities};
use crate::io::{FloatArray3, read_array3, read_labels, split_field};
use crate::member_file::MemberFile;

/// What the values of a member array are: stated by the caller, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionKind {
    /// Logits, validated as by [`Logits::new`].
    Logits,
    /// Probabilities, validated as by [`Probabilities::new`] (default tolerance).
    Probabilities,
}

/// Validated member predictions in memory, in the kind and precision they were read as.
#[derive(Debug, Clone)]
pub enum MemberArray {
    /// float32 logits.
    Logits32(Logits<f32>),
    /// float64 logits.
    Logits64(Logits<f64>),
    /// float32 probabilities.
    Probs32(Probabilities<f32>),
    /// float64 probabilities.
    Probs64(Probabilities<f64>),
}

impl MemberArray {
    /// Validates `values` as `kind`.
    ///
    /// # Errors
    /// The validation errors of [`Logits::new`] or [`Probabilities::new`].
    pub fn new(values: FloatArray3, kind: PredictionKind) -> Result<Self> {
        Ok(match (values, kind) {
            (FloatArray3::F32(a), PredictionKind::Logits) => Self::Logits32(Logits::new(a)?),
            (FloatArray3::F64(a), PredictionKind::Logits) => Self::Logits64(Logits::new(a)?),
            (FloatArray3::F32(a), PredictionKind::Probabilities) => {
                Self::Probs32(Probabilities::new(a)?)
            }
            (FloatArray3::F64(a), PredictionKind::Probabilities) => {
                Self::Probs64(Probabilities::new(a)?)
            }
        })
    }

    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        match self {
            Self::Logits32(x) => x.shape(),
            Self::Logits64(x) => x.shape(),
            Self::Probs32(x) => x.shape(),
            Self::Probs64(x) => x.shape(),
        }
    }

    /// [`EnsemblePrediction::new`] of these predictions.
    ///
    /// # Errors
    /// As [`EnsemblePrediction::new`].
    pub fn predict(&self, labels: &Labels, config: EnsembleConfig) -> Result<EnsemblePrediction> {
        match self {
            Self::Logits32(x) => EnsemblePrediction::new(x, labels, config),
            Self::Logits64(x) => EnsemblePrediction::new(x, labels, config),
            Self::Probs32(x) => EnsemblePrediction::new(x, labels, config),
            Self::Probs64(x) => EnsemblePrediction::new(x, labels, config),
        }
    }

    /// [`UncertaintyScores::push`] of these predictions onto `out`.
    ///
    /// # Errors
    /// As [`UncertaintyScores::push`].
    pub fn push_scores(&self, out: &mut UncertaintyScores, c: EntropyConvention) -> Result<()> {
        match self {
            Self::Logits32(x) => out.push(x, c),
            Self::Logits64(x) => out.push(x, c),
            Self::Probs32(x) => out.push(x, c),
            Self::Probs64(x) => out.push(x, c),
        }
    }
}

/// Integer labels read from a file, with the file named in their errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFile {
    /// The file.
    pub path: PathBuf,
    /// The field ("" for a file with one array).
    pub field: String,
    /// The labels as stored (validated against the number of classes when used).
    pub values: Vec<i64>,
}

impl LabelFile {
    /// Reads `spec`, a path with an optional `:field` ([`split_field`]).
    ///
    /// # Errors
    /// As [`read_labels`].
    pub fn read(spec: &str) -> Result<Self> {
        let (path, field) = split_field(spec);
        let values = read_labels(&path, field.as_deref())?;
        Ok(Self {
            path,
            field: field.unwrap_or_default(),
            values,
        })
    }

    /// The labels validated for `classes` classes.
    ///
    /// # Errors
    /// [`Error::InFile`] naming this file around the errors of [`Labels::from_signed`].
    pub fn labels(&self, classes: usize) -> Result<Labels> {
        Labels::from_signed(&self.values, classes).map_err(|e| e.in_file(&self.path, &self.field))
    }
}

/// Member predictions of one file: a C-order float32/float64 `.npy` or a safetensors tensor is
/// streamed block by block ([`MemberFile`], a few MiB of memory); `.npz`, JSON and any other
/// layout are read whole ([`read_array3`]) and validated.
///
/// Errors in the values (a NaN logit, a negative probability, a row that does not sum to one)
/// and errors of the labels are [`Error::InFile`], naming the file; they are the same, first
/// offending entry in member, sample, class order, on both paths.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ensemble_uq::{EnsembleConfig, LabelFile, MemberSource, PredictionKind};
///
/// let dir = std::env::temp_dir().join(format!("ensemble-uq-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// // Two members, two samples, two classes, and their labels, as JSON.
/// std::fs::write(dir.join("logits.json"), "[[[2, 0], [0, 1]], [[1, 0], [0.5, 0.4]]]")?;
/// std::fs::write(dir.join("labels.json"), "[0, 1]")?;
///
/// let members = MemberSource::open(dir.join("logits.json"), None, PredictionKind::Logits)?;
/// assert_eq!(members.shape(), (2, 2, 2));
/// assert!(!members.is_streamed()); // JSON is read whole
/// let labels = LabelFile::read(dir.join("labels.json").to_str().unwrap())?;
/// let prediction = members.predict(&labels, EnsembleConfig::default())?;
/// assert_eq!(prediction.accuracy(), 1.0);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemberSource {
    path: PathBuf,
    field: String,
    kind: PredictionKind,
    data: Data,
}

#[derive(Debug)]
enum Data {
    Streamed(MemberFile),
    Whole(MemberArray),
}

impl MemberSource {
    /// Opens `path` (`field`: the array of an `.npz`, the tensor of a safetensors file, the key
    /// or JSON pointer of a JSON file) holding values of `kind`. A streamable file is only
    /// opened (its header read and checked against its size); any other is read and validated.
    ///
    /// # Errors
    /// [`Error::Io`] and [`Error::Format`] of the readers ([`read_array3`]); the validation
    /// errors of a file read whole, as [`Error::InFile`].
    pub fn open(path: impl AsRef<Path>, field: Option<&str>, kind: PredictionKind) -> Result<Self> {
        let path = path.as_ref();
        let field_name = field.unwrap_or_default();
        let data = match MemberFile::open(path, field)? {
            Some(file) => Data::Streamed(file),
            None => Data::Whole(
                MemberArray::new(read_array3(path, field)?, kind)
                    .map_err(|e| e.in_file(path, field_name))?,
            ),
        };
        Ok(Self {
            path: path.to_path_buf(),
            field: field_name.to_owned(),
            kind,
            data,
        })
    }

    /// Opens `spec`, a path with an optional `:field` ([`split_field`]).
    ///
    /// # Errors
    /// As [`MemberSource::open`].
    pub fn open_spec(spec: &str, kind: PredictionKind) -> Result<Self> {
        let (path, field) = split_field(spec);
        Self::open(path, field.as_deref(), kind)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// $(M, N, K)$.
    pub fn shape(&self) -> (usize, usize, usize) {
        match &self.data {
            Data::Streamed(f) => f.shape(),
            Data::Whole(a) => a.shape(),
        }
    }

    /// True when the values are streamed from the file rather than held in memory.
    pub fn is_streamed(&self) -> bool {
        matches!(self.data, Data::Streamed(_))
    }

    /// The ensemble prediction against `labels`, bit for bit that of [`EnsemblePrediction::new`]
    /// on the whole validated array.
    ///
    /// # Errors
    /// The values' validation errors first (as [`Error::InFile`] naming this file), then the
    /// labels' (as [`Error::InFile`] naming the label file: a label out of range, a sample
    /// count that disagrees), then those of [`EnsemblePrediction::new`]; [`Error::Io`] if
    /// reading fails.
    pub fn predict(
        &self,
        labels: &LabelFile,
        config: EnsembleConfig,
    ) -> Result<EnsemblePrediction> {
        let (_, n, k) = self.shape();
        let in_labels = |e: Error| e.in_file(&labels.path, &labels.field);
        let checked = labels.labels(k).and_then(|l| {
            if l.len() == n {
                Ok(l)
            } else {
                Err(in_labels(Error::mismatch("labels vs samples", n, l.len())))
            }
        });
        match (&self.data, checked) {
            (Data::Streamed(f), Ok(l)) => {
                f.predict(self.kind, &l, config).map_err(|e| self.wrap(e))
            }
            (Data::Streamed(f), Err(e)) => {
                // As for a whole array: the values are validated before the labels are judged.
                f.validate(self.kind).map_err(|e| self.wrap(e))?;
                Err(e)
            }
            (Data::Whole(a), Ok(l)) => a.predict(&l, config),
            (Data::Whole(_), Err(e)) => Err(e),
        }
    }

    /// Per-sample uncertainty scores (no labels needed), bit for bit those of
    /// [`UncertaintyScores::from_members`] on the whole validated array.
    ///
    /// # Errors
    /// The values' validation errors as [`Error::InFile`]; [`Error::InvalidParameter`] for an
    /// invalid entropy convention; [`Error::Io`] if reading fails.
    pub fn scores(&self, convention: EntropyConvention) -> Result<UncertaintyScores> {
        match &self.data {
            Data::Streamed(f) => f.scores(self.kind, convention).map_err(|e| self.wrap(e)),
            Data::Whole(a) => {
                let mut out = UncertaintyScores::default();
                a.push_scores(&mut out, convention)?;
                Ok(out)
            }
        }
    }

    /// A validation error of the values, with this file named.
    fn wrap(&self, e: Error) -> Error {
        match e {
            Error::NonFinite { .. } | Error::NegativeProbability { .. } | Error::RowSum { .. } => {
                e.in_file(&self.path, &self.field)
            }
            other => other,
        }
    }
}
