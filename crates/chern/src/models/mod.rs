//! Built-in models.
pub(crate) mod bhz;
pub(crate) mod combine;
pub(crate) mod dirac4d;
pub(crate) mod fu_kane_mele;
pub(crate) mod haldane;
pub(crate) mod hofstadter;
pub(crate) mod kane_mele;
pub(crate) mod qwz;
pub(crate) mod random;
pub(crate) mod spec;
pub(crate) mod tight_binding;
pub(crate) mod wannier90;

/// The text of a model file, with the path in the error.
pub(crate) fn read_model_file(path: &std::path::Path) -> crate::Result<String> {
    std::fs::read_to_string(path).map_err(|source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
