//! An ensemble on disk: `member-<i>/` peft adapter folders and a `manifest.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TargetModules;
use crate::ensemble::LoraEnsemble;
use crate::error::{Error, Result};
use crate::files;
use crate::peft::PeftAdapter;

/// File name of the ensemble manifest. It is written last: a folder without it is incomplete.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's `format` value.
pub const MANIFEST_FORMAT: &str = "chernet-lora-ensemble";

/// The folder of member `m`: `<dir>/member-<m>` (a peft adapter folder).
pub fn member_dir(dir: &Path, m: usize) -> PathBuf {
    dir.join(format!("member-{m}"))
}

/// The base model an ensemble was trained on: its file name as given and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRecord {
    /// The base file as it was named when saving.
    pub file: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// `manifest.json` of an ensemble folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Number of members M.
    pub members: usize,
    /// Each member's seed.
    pub seeds: Vec<u64>,
    /// Epochs trained.
    pub epochs: usize,
    /// The base model.
    pub base: BaseRecord,
}

impl EnsembleManifest {
    /// Reads and checks `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = files::read_text(&path, 1 << 20)?;
        let m: EnsembleManifest = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, "manifest", format!("{e}")))?;
        if m.format != MANIFEST_FORMAT || m.version != 1 {
            return Err(Error::file(
                &path,
                "format",
                format!(
                    "{:?} version {}, expected {MANIFEST_FORMAT:?} version 1",
                    m.format, m.version
                ),
            ));
        }
        if m.members == 0 {
            return Err(Error::file(
                &path,
                "members",
                "= 0: an ensemble has >= 1 member",
            ));
        }
        if m.seeds.len() != m.members {
            return Err(Error::file(
                &path,
                "seeds",
                format!("{} seeds for {} members", m.seeds.len(), m.members),
            ));
        }
        Ok(m)
    }
}

impl LoraEnsemble {
    /// Saves the ensemble into `dir`: `member-<i>/` for every member (peft adapter folders) and,
    /// last, `manifest.json` with M, the seeds, the epochs trained and the base file's name and
    /// SHA-256. Every file is written atomically; an old manifest is removed first, so a folder
    /// whose save was interrupted has no manifest and is refused by [`LoraEnsemble::load`].
    pub fn save(&self, dir: &Path, base_file: &Path) -> Result<()> {
        files::create_dir(dir)?;
        let manifest_path = dir.join(MANIFEST);
        match std::fs::remove_file(&manifest_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&manifest_path, e)),
        }
        let base = BaseRecord {
            file: base_file.display().to_string(),
            sha256: files::sha256_file(base_file)?,
            bytes: std::fs::metadata(base_file)
                .map_err(|e| Error::io(base_file, e))?
                .len(),
        };
        for m in 0..self.members() {
            self.save_member(m, &member_dir(dir, m))?;
        }
        let manifest = EnsembleManifest {
            format: MANIFEST_FORMAT.into(),
            version: 1,
            members: self.members(),
            seeds: self.seeds().to_vec(),
            epochs: self.epochs(),
            base,
        };
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| Error::invalid("manifest", "json", e))?;
        files::write_atomic(&manifest_path, text.as_bytes())
    }

    /// Loads every member from an ensemble folder written by [`LoraEnsemble::save`]. The folder
    /// must have as many members as this ensemble, the same seeds, and a base file with the
    /// recorded SHA-256 (`base_file` is hashed and compared); nothing is changed unless every
    /// member file passes its checks.
    pub fn load(&self, dir: &Path, base_file: &Path) -> Result<EnsembleManifest> {
        let manifest = EnsembleManifest::read(dir)?;
        let path = dir.join(MANIFEST);
        if manifest.members != self.members() {
            return Err(Error::file(
                &path,
                "members",
                format!(
                    "= {}, this ensemble has {}",
                    manifest.members,
                    self.members()
                ),
            ));
        }
        if manifest.seeds != self.seeds() {
            return Err(Error::file(
                &path,
                "seeds",
                format!(
                    "= {:?}, this ensemble has {:?}",
                    manifest.seeds,
                    self.seeds()
                ),
            ));
        }
        let hash = files::sha256_file(base_file)?;
        if hash != manifest.base.sha256 {
            return Err(Error::file(
                &path,
                "base.sha256",
                format!(
                    "the ensemble was trained on {} (sha256 {}), but {} has sha256 {hash}: another base model",
                    manifest.base.file,
                    manifest.base.sha256,
                    base_file.display()
                ),
            ));
        }
        let adapters = (0..manifest.members)
            .map(|m| PeftAdapter::read(&member_dir(dir, m)))
            .collect::<Result<Vec<_>>>()?;
        // Check every member against the model before changing any.
        for a in &adapters {
            self.check_adapter(a)?;
        }
        for (m, a) in adapters.iter().enumerate() {
            self.load_adapter(m, a)?;
        }
        self.set_epochs(manifest.epochs);
        Ok(manifest)
    }
}

/// What `lora inspect` prints: the adapter's configuration and size, for a peft adapter folder or
/// an ensemble folder.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    /// Rank r.
    pub r: usize,
    /// $\alpha$.
    pub lora_alpha: f64,
    /// The scaling $s$.
    pub scaling: f64,
    /// Whether the scaling is rank-stabilised.
    pub use_rslora: bool,
    /// `target_modules` as configured.
    pub target_modules: Option<TargetModules>,
    /// The adapted module paths found in the weights.
    pub modules: Vec<String>,
    /// Adapter parameters per member.
    pub lora_parameters: i64,
    /// Number of members (1 for a peft adapter folder).
    pub members: usize,
    /// dtype of the adapter weights (`F32` or `F64`).
    pub dtype: String,
    /// The members' seeds (ensemble folders only).
    pub seeds: Option<Vec<u64>>,
    /// Epochs trained (ensemble folders only).
    pub epochs: Option<usize>,
    /// The base model (ensemble folders only).
    pub base: Option<BaseRecord>,
}

/// Reads a peft adapter folder or an ensemble folder (every member, checked to agree in
/// configuration and modules) and summarises it.
pub fn inspect(dir: &Path) -> Result<AdapterSummary> {
    let (manifest, adapters) = if dir.join(MANIFEST).exists() {
        let manifest = EnsembleManifest::read(dir)?;
        let adapters = (0..manifest.members)
            .map(|m| PeftAdapter::read(&member_dir(dir, m)))
            .collect::<Result<Vec<_>>>()?;
        (Some(manifest), adapters)
    } else {
        (None, vec![PeftAdapter::read(dir)?])
    };
    let first = &adapters[0];
    for a in &adapters[1..] {
        if a.config != first.config {
            return Err(Error::file(
                &a.dir.join(crate::peft::ADAPTER_CONFIG),
                "adapter_config",
                format!("differs from {}", first.dir.display()),
            ));
        }
        let same = a.kind == first.kind
            && a.modules.len() == first.modules.len()
            && a.modules
                .iter()
                .zip(&first.modules)
                .all(|((ka, wa), (kb, wb))| {
                    ka == kb && wa.a.size() == wb.a.size() && wa.b.size() == wb.b.size()
                });
        if !same {
            return Err(Error::file(
                &a.weights_path(),
                "modules",
                format!(
                    "modules, shapes or dtype differ from {}",
                    first.weights_path().display()
                ),
            ));
        }
    }
    let c = &first.config;
    Ok(AdapterSummary {
        r: c.r,
        lora_alpha: c.lora_alpha,
        scaling: c.scaling(),
        use_rslora: c.use_rslora,
        target_modules: c.target_modules.clone(),
        modules: first.modules.keys().cloned().collect(),
        lora_parameters: first.parameters(),
        members: adapters.len(),
        dtype: format!(
            "{:?}",
            files::dtype_of(first.kind).unwrap_or(safetensors::Dtype::F32)
        ),
        seeds: manifest.as_ref().map(|m| m.seeds.clone()),
        epochs: manifest.as_ref().map(|m| m.epochs),
        base: manifest.map(|m| m.base),
    })
}
