//! peft's adapter files both ways: `adapter_model.safetensors` + `adapter_config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;
use tch::{Kind, Tensor};

use crate::config::LoraConfig;
use crate::ensemble::LoraEnsemble;
use crate::error::{Error, Result};
use crate::files;

/// File name of the adapter weights in a peft adapter folder.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// File name of the adapter configuration in a peft adapter folder.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// Prefix of every key peft saves for a model wrapped by `get_peft_model`.
pub const KEY_PREFIX: &str = "base_model.model.";

/// peft's key of module `module`'s A matrix: `base_model.model.<module>.lora_A.weight`.
pub fn lora_a_key(module: &str) -> String {
    format!("{KEY_PREFIX}{module}.lora_A.weight")
}

/// peft's key of module `module`'s B matrix: `base_model.model.<module>.lora_B.weight`.
pub fn lora_b_key(module: &str) -> String {
    format!("{KEY_PREFIX}{module}.lora_B.weight")
}

/// One module's adapter matrices as stored: A `[r, in]`, B `[out, r]`.
#[derive(Debug)]
pub struct AdapterWeights {
    /// A, `[r, in]`.
    pub a: Tensor,
    /// B, `[out, r]`.
    pub b: Tensor,
}

/// One adapter (one member) as peft stores it, read without a model: its configuration and its
/// matrices by module path. Every read checks the file against itself and the config (key names,
/// 2-D shapes that agree with r and with each other, one float dtype, finite values) and names the
/// file and key of the first problem.
#[derive(Debug)]
pub struct PeftAdapter {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// `adapter_config.json`.
    pub config: LoraConfig,
    /// The matrices by module path, sorted.
    pub modules: BTreeMap<String, AdapterWeights>,
    /// Their dtype (f32 or f64).
    pub kind: Kind,
}

impl PeftAdapter {
    /// Reads a peft adapter folder.
    pub fn read(dir: &Path) -> Result<Self> {
        let config = LoraConfig::read(&dir.join(ADAPTER_CONFIG))?;
        let path = dir.join(ADAPTER_WEIGHTS);
        let bytes = files::read_bytes(&path)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| {
            Error::file(
                &path,
                "header",
                format!("not a valid safetensors file: {e}"),
            )
        })?;
        let mut a_map = BTreeMap::new();
        let mut b_map = BTreeMap::new();
        let mut kind = None;
        let r = config.r as i64;
        for (key, view) in st.tensors() {
            let (module, is_a) = parse_key(&key).ok_or_else(|| {
                Error::file(
                    &path,
                    &key,
                    format!(
                        "not a LoRA weight (expected {KEY_PREFIX}<module>.lora_A.weight or .lora_B.weight)"
                    ),
                )
            })?;
            let t = files::tensor_from_view(&path, &key, &view)?;
            if *kind.get_or_insert(t.kind()) != t.kind() {
                return Err(Error::file(
                    &path,
                    &key,
                    format!(
                        "dtype {:?} differs from the other tensors' {kind:?}",
                        t.kind()
                    ),
                ));
            }
            let size = t.size();
            let ok = size.len() == 2 && if is_a { size[0] == r } else { size[1] == r };
            if !ok {
                let expected = if is_a { "[r, in]" } else { "[out, r]" };
                return Err(Error::file(
                    &path,
                    &key,
                    format!(
                        "shape {size:?}, expected {expected} with r = {r} (adapter_config.json)"
                    ),
                ));
            }
            if is_a {
                a_map.insert(module.to_string(), t);
            } else {
                b_map.insert(module.to_string(), t);
            }
        }
        let mut modules = BTreeMap::new();
        for (module, a) in a_map {
            let b = b_map.remove(&module).ok_or_else(|| {
                Error::file(&path, &lora_b_key(&module), "missing (lora_A is present)")
            })?;
            modules.insert(module, AdapterWeights { a, b });
        }
        if let Some(module) = b_map.keys().next() {
            return Err(Error::file(
                &path,
                &lora_a_key(module),
                "missing (lora_B is present)",
            ));
        }
        let kind = kind.ok_or_else(|| Error::EmptyInput {
            what: format!("{}: no LoRA weights", path.display()),
        })?;
        Ok(PeftAdapter {
            dir: dir.to_path_buf(),
            config,
            modules,
            kind,
        })
    }

    /// Reads member `member` of an ensemble folder, or a plain peft adapter folder (where `member`
    /// must be `None` or `Some(0)`).
    pub fn open(dir: &Path, member: Option<usize>) -> Result<Self> {
        if dir.join(crate::ensemble_dir::MANIFEST).exists() {
            let manifest = crate::ensemble_dir::EnsembleManifest::read(dir)?;
            let m = member.ok_or_else(|| {
                Error::invalid(
                    "member",
                    "none",
                    format!(
                        "{} is an ensemble of {} members: name one (0..{})",
                        dir.display(),
                        manifest.members,
                        manifest.members
                    ),
                )
            })?;
            if m >= manifest.members {
                return Err(Error::Member {
                    member: m,
                    reason: format!("{} has {} members", dir.display(), manifest.members),
                });
            }
            Self::read(&crate::ensemble_dir::member_dir(dir, m))
        } else {
            if let Some(m) = member.filter(|&m| m != 0) {
                return Err(Error::Member {
                    member: m,
                    reason: format!("{} is a single adapter (member 0)", dir.display()),
                });
            }
            Self::read(dir)
        }
    }

    /// Adapter parameters: $\sum r(\text{in} + \text{out})$.
    pub fn parameters(&self) -> i64 {
        self.modules
            .values()
            .map(|w| w.a.numel() as i64 + w.b.numel() as i64)
            .sum()
    }

    /// The path of the weights file (for messages).
    pub fn weights_path(&self) -> PathBuf {
        self.dir.join(ADAPTER_WEIGHTS)
    }
}

/// `base_model.model.<module>.lora_A.weight` -> (`<module>`, true).
fn parse_key(key: &str) -> Option<(&str, bool)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    if let Some(m) = rest.strip_suffix(".lora_A.weight") {
        (!m.is_empty()).then_some((m, true))
    } else if let Some(m) = rest.strip_suffix(".lora_B.weight") {
        (!m.is_empty()).then_some((m, false))
    } else {
        None
    }
}

/// Serialises named tensors into safetensors bytes with peft's metadata (`format: pt`).
pub(crate) fn safetensors_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let mut owned = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let (dtype, shape, bytes) = files::tensor_bytes(t)?;
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let mut views = Vec::with_capacity(owned.len());
    for (name, dtype, shape, bytes) in &owned {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let view =
            TensorView::new(*dtype, shape, bytes).map_err(|e| Error::invalid("tensor", name, e))?;
        views.push((name.clone(), view));
    }
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    safetensors::serialize(views, metadata).map_err(|e| Error::invalid("tensors", "safetensors", e))
}

impl LoraEnsemble {
    /// Saves member `member` as a peft adapter folder (`adapter_model.safetensors` with peft's key
    /// names, `adapter_config.json`), each file written atomically. Python peft loads it with
    /// `PeftModel.from_pretrained(base, dir)`.
    pub fn save_member(&self, member: usize, dir: &Path) -> Result<()> {
        if member >= self.members() {
            return Err(Error::Member {
                member,
                reason: format!("out of range: the ensemble has {} members", self.members()),
            });
        }
        files::create_dir(dir)?;
        let m = member as i64;
        let mut tensors = Vec::new();
        for u in self.updates() {
            tensors.push((lora_a_key(u.module()), u.a().get(m).detach()));
            tensors.push((lora_b_key(u.module()), u.b().get(m).detach()));
        }
        files::write_atomic(&dir.join(ADAPTER_WEIGHTS), &safetensors_bytes(&tensors)?)?;
        files::write_atomic(
            &dir.join(ADAPTER_CONFIG),
            self.config().to_json_string().as_bytes(),
        )
    }

    /// Loads a peft adapter folder into member `member`. The file must carry exactly the modules
    /// this model targets, with the right shapes and dtype, and the same r and scaling; nothing is
    /// changed unless every check passes.
    pub fn load_member(&self, member: usize, dir: &Path) -> Result<()> {
        let adapter = PeftAdapter::read(dir)?;
        self.load_adapter(member, &adapter)
    }

    /// As [`LoraEnsemble::load_member`], from an adapter already read.
    pub fn load_adapter(&self, member: usize, adapter: &PeftAdapter) -> Result<()> {
        if member >= self.members() {
            return Err(Error::Member {
                member,
                reason: format!("out of range: the ensemble has {} members", self.members()),
            });
        }
        self.check_adapter(adapter)?;
        for u in &self.updates() {
            let w = &adapter.modules[u.module()];
            u.set_member(
                member,
                &w.a.to_device(u.a().device()),
                &w.b.to_device(u.a().device()),
            )?;
        }
        Ok(())
    }

    /// Checks that `adapter` fits this model (r, scaling, modules, shapes, dtype).
    pub(crate) fn check_adapter(&self, adapter: &PeftAdapter) -> Result<()> {
        let cfg_path = adapter.dir.join(ADAPTER_CONFIG);
        let path = adapter.weights_path();
        let c = &adapter.config;
        if c.r != self.config().r {
            return Err(Error::file(
                &cfg_path,
                "r",
                format!(
                    "= {}, the model's adapters have r = {}",
                    c.r,
                    self.config().r
                ),
            ));
        }
        if (c.scaling() - self.scaling()).abs() > 1e-12 * self.scaling().abs().max(1.0) {
            return Err(Error::file(
                &cfg_path,
                "lora_alpha",
                format!(
                    "= {} (use_rslora = {}) gives scaling {}, the model's is {}",
                    c.lora_alpha,
                    c.use_rslora,
                    c.scaling(),
                    self.scaling()
                ),
            ));
        }
        let updates = self.updates();
        for module in adapter.modules.keys() {
            if !updates.iter().any(|u| u.module() == module) {
                return Err(Error::file(
                    &path,
                    &lora_a_key(module),
                    format!("the model has no targeted module `{module}`"),
                ));
            }
        }
        for u in &updates {
            let w = adapter.modules.get(u.module()).ok_or_else(|| {
                Error::file(
                    &path,
                    &lora_a_key(u.module()),
                    "missing: the model targets this module",
                )
            })?;
            let (r, inp, out) = (u.rank(), u.in_features(), u.out_features());
            if w.a.size() != [r, inp] {
                return Err(Error::file(
                    &path,
                    &lora_a_key(u.module()),
                    format!("shape {:?}, the model expects [{r}, {inp}]", w.a.size()),
                ));
            }
            if w.b.size() != [out, r] {
                return Err(Error::file(
                    &path,
                    &lora_b_key(u.module()),
                    format!("shape {:?}, the model expects [{out}, {r}]", w.b.size()),
                ));
            }
            if adapter.kind != u.a().kind() {
                return Err(Error::file(
                    &path,
                    &lora_a_key(u.module()),
                    format!(
                        "dtype {:?}, the model's adapters are {:?}",
                        adapter.kind,
                        u.a().kind()
                    ),
                ));
            }
        }
        Ok(())
    }
}
