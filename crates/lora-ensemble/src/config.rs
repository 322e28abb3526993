//! [`LoraConfig`]: the fields and defaults of peft's `adapter_config.json`, validated.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Which modules get an adapter (peft's `target_modules`).
///
/// peft's matching rules, reproduced exactly:
/// - a list of names matches a module whose path equals a name or ends with `.name`
///   (`"proj"` matches `encoder.layers.0.proj` but not `encoder.layers.0.outproj`);
/// - a single string is a regular expression that must match the whole module path
///   (Python's `re.fullmatch`; the syntax is Rust's `regex`, which agrees with Python's for the
///   usual patterns but has no look-around or back-references);
/// - the string `"all-linear"` (any case) targets every linear layer except the output layer.
///   peft knows the output layer only for transformers models (their output embeddings); here the
///   model declares it with [`crate::LoraEnsemble::set_output_layer`]. Without that declaration
///   every linear layer is targeted, as peft does for a plain `torch.nn.Module`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names matched exactly or as the last components of the path.
    Names(Vec<String>),
    /// A regular expression for the full module path, or `"all-linear"`.
    Pattern(String),
}

impl TargetModules {
    /// peft's shorthand for every linear layer but the output layer.
    pub const ALL_LINEAR: &'static str = "all-linear";

    /// `target_modules = "all-linear"`.
    pub fn all_linear() -> Self {
        TargetModules::Pattern(Self::ALL_LINEAR.to_string())
    }

    /// Targets given by name (exact or `.name` suffix match).
    pub fn names<S: ToString>(names: &[S]) -> Self {
        TargetModules::Names(names.iter().map(ToString::to_string).collect())
    }

    /// Whether this is the `"all-linear"` shorthand.
    pub fn is_all_linear(&self) -> bool {
        matches!(self, TargetModules::Pattern(p) if p.eq_ignore_ascii_case(Self::ALL_LINEAR))
    }

    /// A compiled matcher; fails on an invalid regular expression or an empty list.
    pub(crate) fn matcher(&self) -> Result<TargetMatcher> {
        match self {
            TargetModules::Names(names) => {
                if names.is_empty() {
                    return Err(Error::EmptyInput {
                        what: "target_modules (an empty list targets nothing)".into(),
                    });
                }
                Ok(TargetMatcher::Names(names.clone()))
            }
            TargetModules::Pattern(_) if self.is_all_linear() => Ok(TargetMatcher::AllLinear),
            TargetModules::Pattern(p) => regex::Regex::new(&format!("^(?:{p})$"))
                .map(|re| TargetMatcher::Regex(p.clone(), re))
                .map_err(|e| Error::invalid("target_modules", format!("{p:?}"), e)),
        }
    }
}

/// A compiled [`TargetModules`].
#[derive(Debug, Clone)]
pub(crate) enum TargetMatcher {
    Names(Vec<String>),
    Regex(String, regex::Regex),
    AllLinear,
}

impl TargetMatcher {
    /// Does the module at `path` (of a linear layer when `linear`) get an adapter?
    pub(crate) fn matches(&self, path: &str, linear: bool, output_layer: Option<&str>) -> bool {
        match self {
            TargetMatcher::Names(names) => names.iter().any(|n| name_matches(n, path)),
            TargetMatcher::Regex(_, re) => re.is_match(path),
            TargetMatcher::AllLinear => linear && Some(path) != output_layer,
        }
    }

    /// The entries that matched none of `paths` (all of them for a regex that matched nothing).
    pub(crate) fn unmatched(&self, paths: &[(String, bool)], output: Option<&str>) -> Vec<String> {
        match self {
            TargetMatcher::Names(names) => names
                .iter()
                .filter(|n| !paths.iter().any(|(p, _)| name_matches(n, p)))
                .cloned()
                .collect(),
            TargetMatcher::Regex(p, _) => {
                if paths
                    .iter()
                    .any(|(path, lin)| self.matches(path, *lin, output))
                {
                    vec![]
                } else {
                    vec![p.clone()]
                }
            }
            TargetMatcher::AllLinear => {
                if paths
                    .iter()
                    .any(|(path, lin)| self.matches(path, *lin, output))
                {
                    vec![]
                } else {
                    vec![TargetModules::ALL_LINEAR.to_string()]
                }
            }
        }
    }
}

/// peft's list rule: the key equals the name or ends with `.name`.
fn name_matches(name: &str, path: &str) -> bool {
    path == name
        || (path.len() > name.len()
            && path.ends_with(name)
            && path.as_bytes()[path.len() - name.len() - 1] == b'.')
}

/// How the adapter matrices start (peft's `init_lora_weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitLoraWeights {
    /// `true`: $A \sim U(-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}})$ (Kaiming-uniform with
    /// $a = \sqrt 5$, as `torch.nn.Linear`), $B = 0$: the adapted model starts as the base.
    #[default]
    Kaiming,
    /// `"gaussian"`: $A \sim \mathcal N(0, \sigma^2)$ with $\sigma = 1/r$, $B = 0$.
    Gaussian,
    /// `false`: A and B both Kaiming-uniform like `torch.nn.Linear` (bounds $1/\sqrt{\text{in}}$ and
    /// $1/\sqrt r$); the adapted model does not start as the base (peft offers it for debugging).
    NoInit,
}

impl Serialize for InitLoraWeights {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            InitLoraWeights::Kaiming => s.serialize_bool(true),
            InitLoraWeights::Gaussian => s.serialize_str("gaussian"),
            InitLoraWeights::NoInit => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for InitLoraWeights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(InitLoraWeights::Kaiming),
            serde_json::Value::Bool(false) => Ok(InitLoraWeights::NoInit),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("gaussian") => {
                Ok(InitLoraWeights::Gaussian)
            }
            other => Err(serde::de::Error::custom(format!(
                "init_lora_weights = {other}: supported are true, false and \"gaussian\""
            ))),
        }
    }
}

/// Bias handling (peft's `bias`); only `"none"` (biases stay frozen and are not saved) is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bias {
    /// Biases are part of the frozen base.
    #[default]
    None,
}

fn default_r() -> usize {
    8
}
fn default_alpha() -> f64 {
    8.0
}
fn default_peft_type() -> String {
    "LORA".to_string()
}
fn default_true() -> bool {
    true
}

/// A LoRA configuration with the field names and defaults of peft's `LoraConfig`
/// (`r = 8`, `lora_alpha = 8`, `lora_dropout = 0`, `use_rslora = false`,
/// `init_lora_weights = true`, `bias = "none"`).
///
/// An adapted linear layer computes
/// $$y = W x + b + s\, B A\, \mathrm{dropout}(x), \qquad A \in \mathbb R^{r\times\text{in}},\;
/// B \in \mathbb R^{\text{out}\times r},$$
/// with the scaling $s = \alpha / r$, or $s = \alpha/\sqrt r$ with `use_rslora` (rank-stabilised
/// LoRA). Serialised, it is an `adapter_config.json` that peft reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r of the update ($\ge 1$).
    #[serde(default = "default_r")]
    pub r: usize,
    /// $\alpha$ of the scaling (finite).
    #[serde(default = "default_alpha")]
    pub lora_alpha: f64,
    /// Dropout probability on the adapter branch's input, in $[0, 1)$; only in training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Which modules get adapters (required to build a model).
    #[serde(default)]
    pub target_modules: Option<TargetModules>,
    /// Scale by $\alpha/\sqrt r$ instead of $\alpha/r$.
    #[serde(default)]
    pub use_rslora: bool,
    /// Initialisation of A and B.
    #[serde(default)]
    pub init_lora_weights: InitLoraWeights,
    /// Bias handling.
    #[serde(default)]
    pub bias: Bias,
    /// peft's `fan_in_fan_out` (weights stored as [in, out]); only `false` is supported.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Always `"LORA"`.
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    /// peft's `task_type` (kept as written; `null` for a plain module).
    #[serde(default)]
    pub task_type: Option<String>,
    /// peft's `base_model_name_or_path` (kept as written).
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// peft's `inference_mode`; saved adapters say `true`, as peft writes them.
    #[serde(default = "default_true")]
    pub inference_mode: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: default_r(),
            lora_alpha: default_alpha(),
            lora_dropout: 0.0,
            target_modules: None,
            use_rslora: false,
            init_lora_weights: InitLoraWeights::Kaiming,
            bias: Bias::None,
            fan_in_fan_out: false,
            peft_type: default_peft_type(),
            task_type: None,
            base_model_name_or_path: None,
            inference_mode: true,
        }
    }
}

/// Fields of newer peft configs that change what an adapter computes. lora-ensemble does not
/// implement them, so a file that sets them is refused rather than silently misread.
const UNSUPPORTED_WHEN_SET: &[&str] = &[
    "use_dora",
    "lora_bias",
    "rank_pattern",
    "alpha_pattern",
    "layers_to_transform",
    "layers_pattern",
    "exclude_modules",
    "modules_to_save",
    "target_parameters",
    "layer_replication",
    "trainable_token_indices",
    "use_qalora",
    "use_bdlora",
    "alora_invocation_tokens",
    "arrow_config",
    "monteclora_config",
    "velora_config",
    "kasa_config",
    "megatron_config",
];

fn is_unset(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null | serde_json::Value::Bool(false) => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Number(_) | serde_json::Value::Bool(true) => false,
    }
}

impl LoraConfig {
    /// A configuration with rank `r`, `lora_alpha` and the given targets; other fields default.
    pub fn new(r: usize, lora_alpha: f64, target_modules: TargetModules) -> Self {
        LoraConfig {
            r,
            lora_alpha,
            target_modules: Some(target_modules),
            ..Default::default()
        }
    }

    /// The scaling $s$: $\alpha/r$, or $\alpha/\sqrt r$ with `use_rslora`.
    pub fn scaling(&self) -> f64 {
        let r = self.r as f64;
        if self.use_rslora {
            self.lora_alpha / r.sqrt()
        } else {
            self.lora_alpha / r
        }
    }

    /// Checks every field: $r \ge 1$, finite $\alpha$, dropout in $[0, 1)$, `bias = "none"`,
    /// `fan_in_fan_out = false`, `peft_type = "LORA"`, and a valid `target_modules` where given.
    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            return Err(Error::invalid("r", self.r, "the rank must be >= 1"));
        }
        if self.r > i32::MAX as usize {
            return Err(Error::invalid("r", self.r, "the rank must be < 2^31"));
        }
        if !self.lora_alpha.is_finite() {
            return Err(Error::invalid(
                "lora_alpha",
                self.lora_alpha,
                "must be finite",
            ));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(Error::invalid(
                "lora_dropout",
                self.lora_dropout,
                "must lie in [0, 1)",
            ));
        }
        if self.fan_in_fan_out {
            return Err(Error::invalid(
                "fan_in_fan_out",
                true,
                "only weights stored as [out, in] (torch.nn.Linear) are supported",
            ));
        }
        if self.peft_type != "LORA" {
            return Err(Error::invalid(
                "peft_type",
                format!("{:?}", self.peft_type),
                "must be \"LORA\"",
            ));
        }
        if let Some(t) = &self.target_modules {
            t.matcher()?;
        }
        Ok(())
    }

    /// The target matcher; `target_modules` must be set.
    pub(crate) fn target_matcher(&self) -> Result<TargetMatcher> {
        self.target_modules
            .as_ref()
            .ok_or_else(|| {
                Error::invalid(
                    "target_modules",
                    "null",
                    "name the modules to adapt (a list, a regex, or \"all-linear\")",
                )
            })?
            .matcher()
    }

    /// Parses and validates an `adapter_config.json` text. Errors name `path` and the field.
    ///
    /// Fields that lora-ensemble does not need are ignored (newer peft versions write many);
    /// fields that would change what the adapter computes (`use_dora`, `rank_pattern`,
    /// `layers_to_transform`, ...) are refused when set.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::file(path, "header", format!("not valid JSON: {e}")))?;
        let map = value
            .as_object()
            .ok_or_else(|| Error::file(path, "header", "not a JSON object"))?;
        for key in UNSUPPORTED_WHEN_SET {
            if let Some(v) = map.get(*key)
                && !is_unset(v)
            {
                return Err(Error::file(
                    path,
                    key,
                    format!("= {v} is not supported by lora-ensemble (only plain LoRA)"),
                ));
            }
        }
        if let Some(init) = map.get("init_lora_weights")
            && !matches!(init, serde_json::Value::Bool(_))
            && init.as_str().map(|s| s.eq_ignore_ascii_case("gaussian")) != Some(true)
        {
            return Err(Error::file(
                path,
                "init_lora_weights",
                format!("= {init}: supported are true, false and \"gaussian\""),
            ));
        }
        let config: LoraConfig = serde_json::from_value(value.clone())
            .map_err(|e| Error::file(path, "adapter_config", e))?;
        config.validate().map_err(|e| match e {
            Error::InvalidParameter {
                name,
                value,
                reason,
            } => Error::file(path, &name, format!("= {value}: {reason}")),
            other => Error::file(path, "target_modules", other),
        })?;
        Ok(config)
    }

    /// Reads and validates `adapter_config.json` (or any file of that format).
    pub fn read(path: &Path) -> Result<Self> {
        let text = crate::files::read_text(path, 1 << 20)?;
        Self::from_json_str(&text, path)
    }

    /// The JSON text peft reads (pretty-printed, keys as peft writes them).
    pub fn to_json_string(&self) -> String {
        // Serialising a struct of plain fields cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_matching_is_exact_or_dot_suffix() {
        let m = TargetModules::names(&["proj", "layers.1.out"])
            .matcher()
            .unwrap();
        assert!(m.matches("proj", true, None));
        assert!(m.matches("encoder.layers.0.proj", true, None));
        assert!(!m.matches("encoder.layers.0.outproj", true, None));
        assert!(m.matches("encoder.layers.1.out", true, None));
        assert!(!m.matches("encoder.layers.0.out", true, None));
        let paths = vec![("a.proj".to_string(), true), ("b".to_string(), true)];
        assert_eq!(m.unmatched(&paths, None), vec!["layers.1.out".to_string()]);
    }

    #[test]
    fn regex_must_match_the_whole_path() {
        let m = TargetModules::Pattern(r".*layers\.\d+\.proj|head".into())
            .matcher()
            .unwrap();
        assert!(m.matches("encoder.layers.12.proj", true, None));
        assert!(m.matches("head", true, None));
        assert!(!m.matches("encoder.layers.1.proj.x", true, None));
        assert!(!m.matches("xhead", true, None));
    }

    #[test]
    fn all_linear_skips_the_declared_output_layer_and_non_linear_modules() {
        let m = TargetModules::Pattern("ALL-Linear".into())
            .matcher()
            .unwrap();
        assert!(m.matches("a", true, Some("head")));
        assert!(!m.matches("head", true, Some("head")));
        assert!(m.matches("head", true, None));
        assert!(!m.matches("conv", false, None));
    }

    #[test]
    fn scaling_follows_peft() {
        let mut c = LoraConfig::new(4, 8.0, TargetModules::all_linear());
        assert_eq!(c.scaling(), 2.0);
        c.use_rslora = true;
        assert_eq!(c.scaling(), 4.0);
    }

    #[test]
    fn defaults_are_pefts() {
        let c = LoraConfig::from_json_str("{}", Path::new("x.json")).unwrap();
        assert_eq!(c, LoraConfig::default());
        assert_eq!((c.r, c.lora_alpha, c.lora_dropout), (8, 8.0, 0.0));
        assert_eq!(c.init_lora_weights, InitLoraWeights::Kaiming);
    }

    #[test]
    fn validation_names_the_field_and_value() {
        let p = Path::new("cfg.json");
        for (text, key) in [
            (r#"{"r": 0}"#, "r"),
            (r#"{"lora_dropout": 1.0}"#, "lora_dropout"),
            (r#"{"lora_dropout": -0.1}"#, "lora_dropout"),
            (r#"{"use_dora": true}"#, "use_dora"),
            (r#"{"rank_pattern": {"a": 2}}"#, "rank_pattern"),
            (r#"{"init_lora_weights": "pissa"}"#, "init_lora_weights"),
            (r#"{"target_modules": "("}"#, "target_modules"),
            (r#"{"peft_type": "IA3"}"#, "peft_type"),
            (r#"{"bias": "all"}"#, "adapter_config"),
        ] {
            let e = LoraConfig::from_json_str(text, p).unwrap_err().to_string();
            assert!(
                e.starts_with("cfg.json: ") && e.contains(key),
                "{text}: {e}"
            );
        }
        let e = LoraConfig::new(2, f64::NAN, TargetModules::all_linear())
            .validate()
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid lora_alpha = NaN: must be finite");
    }
}
