//! Merging an adapter into a base model file, as peft's `merge_and_unload()` does for linear
//! layers.

use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;
use serde::Serialize;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::files;
use crate::peft::{PeftAdapter, lora_a_key};

/// What [`merge_into_file`] did.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// Base keys replaced by $W + s B A$.
    pub merged: Vec<String>,
    /// Base tensors copied unchanged.
    pub copied: usize,
}

/// Writes `out`: every tensor of the safetensors file `base` copied byte for byte (same keys,
/// dtypes and metadata), except that each adapted module's `<module>.weight` is replaced by
/// $W + s\,B A$, computed in the base weight's dtype (f32 or f64) as peft does. Refuses, naming
/// the key, an adapter for a module the base lacks, a shape mismatch, a base weight that is not
/// f32/f64, and a merged weight that is not finite. `out` is written atomically.
pub fn merge_into_file(base: &Path, adapter: &PeftAdapter, out: &Path) -> Result<MergeReport> {
    let bytes = files::read_bytes(base)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::file(base, "header", format!("not a valid safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::file(base, "header", format!("not a valid safetensors file: {e}")))?;
    let scaling = adapter.config.scaling();
    let mut merged_data: Vec<(String, Vec<u8>)> = Vec::new();
    for (module, w) in &adapter.modules {
        let key = format!("{module}.weight");
        let view = st.tensor(&key).map_err(|_| {
            Error::file(
                &adapter.weights_path(),
                &lora_a_key(module),
                format!("the base {} has no tensor `{key}`", base.display()),
            )
        })?;
        let kind = files::kind_of(view.dtype()).ok_or_else(|| {
            Error::file(
                base,
                &key,
                format!(
                    "dtype {:?}; merging needs an F32 or F64 weight",
                    view.dtype()
                ),
            )
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let expected = [w.b.size()[0], w.a.size()[1]];
        if shape != expected {
            return Err(Error::file(
                base,
                &key,
                format!(
                    "shape {shape:?}, but the adapter {} is {:?} (out, in)",
                    adapter.weights_path().display(),
                    expected
                ),
            ));
        }
        let weight = files::tensor_from_view(base, &key, &view)?;
        let delta = w.b.to_kind(kind).matmul(&w.a.to_kind(kind)) * scaling;
        let merged: Tensor = weight + delta;
        if !bool::try_from(merged.isfinite().all()).unwrap_or(false) {
            return Err(Error::NonFinite {
                what: format!("merged weight {key} (from {})", adapter.dir.display()),
            });
        }
        let (_, _, data) = files::tensor_bytes(&merged)?;
        merged_data.push((key, data));
    }
    let mut views: Vec<(String, TensorView<'_>)> = Vec::new();
    let mut copied = 0;
    for (name, view) in st.tensors() {
        if let Some((_, data)) = merged_data.iter().find(|(k, _)| *k == name) {
            let v = TensorView::new(view.dtype(), view.shape().to_vec(), data)
                .map_err(|e| Error::file(base, &name, e))?;
            views.push((name, v));
        } else {
            copied += 1;
            views.push((name, view));
        }
    }
    let out_bytes = safetensors::serialize(views, header.metadata().clone())
        .map_err(|e| Error::file(out, "header", e))?;
    files::write_atomic(out, &out_bytes)?;
    Ok(MergeReport {
        merged: merged_data.into_iter().map(|(k, _)| k).collect(),
        copied,
    })
}
