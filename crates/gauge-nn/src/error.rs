//! The crate's error type.
//!
//! Every fallible public function of `gauge-nn` returns [`Result`]. Variants carry the offending
//! values (shapes, kinds, file names and fields, sample indices), so that a message says what was
//! wrong without a debugger.
use std::path::PathBuf;

/// Errors of `gauge-nn`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error raised by libtorch (through `tch`).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// An error raised by `lora-ensemble` (adapter configuration, ensemble folders).
    #[error("lora-ensemble: {0}")]
    Lora(#[from] lora_ensemble::Error),

    /// An error raised by `ensemble-uq` (a metric it cannot compute on the given arrays).
    #[error("ensemble-uq: {0}")]
    Uq(#[from] ensemble_uq::Error),

    /// An error raised by `lattice-gauge` (bad lattice, non-unitary matrices, ...).
    #[error("lattice-gauge: {0}")]
    Lattice(#[from] lattice_gauge::Error),

    /// An error raised by `chern` (a model parameter, band set or Hamiltonian it rejects).
    #[error("chern: {0}")]
    Chern(#[from] chern::Error),

    /// libtorch failed inside a network pass (an out-of-memory error on the GPU or the CPU, a
    /// device error), reported instead of tch's panic with what was being computed, where, on
    /// how many samples at once, and what to do about it.
    #[error(
        "{what} on {} failed in libtorch with {batch} samples per pass on the {grid} grid{}: {message}; {hint}",
        crate::torch_failure::device_name(*device),
        if first_batch > batch { format!(" (halved from {first_batch} after out-of-memory errors)") } else { String::new() }
    )]
    Libtorch {
        /// What was computed: `evaluation` or `training step`.
        what: &'static str,
        /// The device.
        device: tch::Device,
        /// The grid, as `L1xL2`.
        grid: String,
        /// Samples per network pass when it failed.
        batch: usize,
        /// The samples per pass first tried (more than `batch` where evaluation halved them
        /// after out-of-memory errors).
        first_batch: usize,
        /// The first line of libtorch's message.
        message: String,
        /// What to change.
        hint: &'static str,
    },

    /// A tensor has a kind that the operation does not accept.
    #[error("{what}: tensor kind {found:?} not accepted, expected one of {expected:?}")]
    Kind {
        /// What the tensor was meant to hold.
        what: &'static str,
        /// The kinds the operation accepts.
        expected: Vec<tch::Kind>,
        /// The kind it got.
        found: tch::Kind,
    },

    /// A tensor or array does not have the shape the operation needs.
    #[error("{what}: expected shape {expected}, found {found}")]
    ShapeMismatch {
        /// What the tensor was meant to hold.
        what: &'static str,
        /// The expected shape (`-1` where any size is accepted).
        expected: String,
        /// The shape it has.
        found: String,
    },

    /// A batch of fields (or samples), or a count of samples, is empty where at least one is
    /// needed.
    #[error("{what}: empty input, at least one is needed")]
    EmptyInput {
        /// What was empty.
        what: &'static str,
    },

    /// The members of a batch of fields do not live on the same lattice or have different `n`.
    #[error(
        "{what}: member {index} has extents {found_extents:?} and n = {found_n}, \
         member 0 has extents {expected_extents:?} and n = {expected_n}"
    )]
    BatchMismatch {
        /// What the batch holds.
        what: &'static str,
        /// Index of the first member that differs from member 0.
        index: usize,
        /// Lattice extents of member 0.
        expected_extents: Vec<usize>,
        /// Matrix size of member 0.
        expected_n: usize,
        /// Lattice extents of the offending member.
        found_extents: Vec<usize>,
        /// Matrix size of the offending member.
        found_n: usize,
    },

    /// A configuration parameter is out of its range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// What the parameter must satisfy.
        reason: String,
    },

    /// Rejection sampling of trivial (Chern number 0) samples gave up.
    #[error("no sample with Chern number 0 after {attempts} draws (sample index {sample})")]
    RejectionExhausted {
        /// Index of the sample in the source's stream.
        sample: u64,
        /// Number of draws made.
        attempts: usize,
    },

    /// Every draw of a Hamiltonian sample was refused: its gap closed on the grid, or the grid
    /// does not resolve it (a plaquette flux above chern's bound, so that its label could be off
    /// by an integer).
    #[error(
        "sample {sample}: all {attempts} draws of {model} on the {grid} grid were refused ({unresolved} not resolved by the grid, {gapless} with the gap closed or a singular overlap; the last: {last}); use a finer grid or another model"
    )]
    HamiltonianDrawsRefused {
        /// Index of the sample in the source's stream.
        sample: u64,
        /// The Hamiltonian family ([`crate::data::HamiltonianModel::describe`]).
        model: String,
        /// The grid, as `L1xL2`.
        grid: String,
        /// Number of draws made.
        attempts: usize,
        /// Draws whose plaquette flux exceeded chern's bound.
        unresolved: usize,
        /// Draws whose gap closed or whose overlaps were singular.
        gapless: usize,
        /// chern's message for the last refused draw.
        last: String,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A `.safetensors` file could not be read or written.
    #[error("{path}: safetensors: {source}")]
    SafeTensors {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: safetensors::SafeTensorError,
    },

    /// A field of an `.npz` archive could not be written.
    #[error("{path}: writing field `{field}`: {source}")]
    NpzWrite {
        /// The file.
        path: PathBuf,
        /// The field (array name).
        field: String,
        /// The underlying error.
        #[source]
        source: ndarray_npy::WriteNpzError,
    },

    /// A field of an `.npz` archive could not be read (missing, wrong type or dimension).
    #[error("{path}: reading field `{field}`: {source}")]
    NpzRead {
        /// The file.
        path: PathBuf,
        /// The field (array name).
        field: String,
        /// The underlying error.
        #[source]
        source: ndarray_npy::ReadNpzError,
    },

    /// A field of a data file has the wrong element type or shape.
    #[error("{path}: field `{field}`: expected {expected}, found {found}")]
    BadField {
        /// The file.
        path: PathBuf,
        /// The field (array or tensor name).
        field: String,
        /// What the field should be (dtype and shape).
        expected: String,
        /// What it is.
        found: String,
    },

    /// A file has an extension this crate does not know how to read or write.
    #[error("{path}: unknown data file extension (expected .npz or .safetensors)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// Training produced a loss that is NaN or infinite; the weights were not updated and the last
    /// checkpoint on disk is the last good state.
    #[error("non-finite loss {loss} at epoch {epoch}, step {step}")]
    NonFiniteLoss {
        /// The epoch (from 1) in which it happened.
        epoch: usize,
        /// The optimiser step (from 1) that produced it.
        step: usize,
        /// The loss value.
        loss: f64,
    },

    /// A file is damaged: truncated, its checksum does not match, or its header is inconsistent.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A checkpoint holds a NaN or an infinity in a tensor: refused rather than evaluated.
    #[error("{path}: tensor `{tensor}` holds NaN or infinite values; the checkpoint is unusable")]
    NonFiniteWeights {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
    },

    /// A network produced a NaN or an infinity on a sample (no accuracy is reported from it).
    #[error("the network's output on sample {sample} is {value} (not finite): no prediction")]
    NonFiniteOutput {
        /// Index of the sample in the evaluated set.
        sample: usize,
        /// The output.
        value: f64,
    },

    /// A plot could not be drawn or written.
    #[error("{path}: plotting: {message}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },

    /// A sweep directory holds a run whose configuration differs from the one asked for.
    #[error(
        "{path}: holds a run with another configuration (field `{field}`: stored {stored}, asked {asked}); \
         use another --out or remove that directory"
    )]
    SweepMismatch {
        /// The run directory.
        path: PathBuf,
        /// The first configuration field that differs.
        field: String,
        /// Its stored value (JSON).
        stored: String,
        /// Its requested value (JSON).
        asked: String,
    },

    /// The output scale of a trivial-only model cannot be fitted: the outputs vanish or are not finite.
    #[error(
        "cannot fit the output scale on {samples} calibration samples: sum of squared outputs {sum_of_squares}"
    )]
    Calibration {
        /// Number of calibration samples.
        samples: usize,
        /// $\sum_b F_b^2$.
        sum_of_squares: f64,
    },

    /// Work refused up front by the caller's memory check (a [`crate::eval::MemoryCheck`]):
    /// its message names the work, the estimate, the limit and how to raise it.
    #[error("{message}")]
    MemoryLimit {
        /// The check's message.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
