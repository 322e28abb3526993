//! # lora-ensemble
//!
//! LoRA adapters and LoRA ensembles on libtorch ([`tch`]), interchangeable with Python
//! [peft](https://github.com/huggingface/peft)'s adapter files.
//!
//! A LoRA ensemble (Balabanov and Linander 2024) fine-tunes M low-rank adapters around one frozen
//! base model; the members differ by the seed of their initialisation and by their data order,
//! and their disagreement measures epistemic uncertainty. Here every adapter carries a **member
//! axis** ($A$: `[M, r, in]`, $B$: `[M, out, r]`), so all members are trained and evaluated in one
//! batched pass instead of one after another:
//! $$y_m = W x + b + s\, B_m A_m\, \mathrm{dropout}(x), \qquad s = \alpha / r
//! \;\text{ or }\; \alpha/\sqrt r \text{ (rsLoRA)}.$$
//!
//! - [`LoraConfig`]: peft's `adapter_config.json` fields and defaults, validated;
//!   [`TargetModules`] with peft's matching rules.
//! - [`LoraEnsemble`]: builds the adapters of a model ([`LoraEnsemble::linear`] wraps a frozen
//!   `nn::Linear` into a [`LoraLinear`]; [`LoraEnsemble::low_rank`] adapts any weight tensor),
//!   the paper's regulariser, merge / unmerge / safe merge per member.
//! - [`train()`]: all members in one pass, each with its own data order ([`member_order`]),
//!   AdamW, weight decay, the regulariser, per-member gradient clipping
//!   ([`clip_grad_norm_per_member`]).
//! - peft files both ways: [`LoraEnsemble::save_member`] / [`LoraEnsemble::load_member`]
//!   (`adapter_model.safetensors` with peft's keys `base_model.model.<module>.lora_A.weight`),
//!   [`PeftAdapter`] to read one without a model, and ensemble folders
//!   ([`LoraEnsemble::save`] / [`LoraEnsemble::load`]: `member-<i>/` and a manifest with the
//!   base's SHA-256).
//! - [`merge_into_file`]: peft's `merge_and_unload()` on a safetensors base file; [`inspect`].
//!
//! # Example
//!
//! A two-layer network whose layers both get adapters, three members trained together, then
//! evaluated in one pass on a shared input:
//!
//! ```
//! use lora_ensemble::{LoraConfig, LoraEnsemble, TargetModules, TrainConfig, train};
//! use tch::{Device, Kind, Tensor, nn};
//!
//! # fn main() -> lora_ensemble::Result<()> {
//! tch::manual_seed(0);
//! let base = nn::VarStore::new(Device::Cpu); // the pre-trained model (e.g. loaded from a file)
//! let config = LoraConfig::new(4, 8.0, TargetModules::names(&["hidden", "out"]));
//! let ensemble = LoraEnsemble::new(config, vec![1, 2, 3], Device::Cpu)?;
//! let hidden = ensemble.linear_at(&(base.root() / "hidden"), 3, 16, Default::default())?;
//! let out = ensemble.linear_at(&(base.root() / "out"), 16, 1, Default::default())?;
//! ensemble.check_targets()?;
//!
//! let x = Tensor::randn([64, 3], (Kind::Float, Device::Cpu));
//! let y = x.sum_dim_intlist(1, true, Kind::Float).sin();
//! let cfg = TrainConfig { epochs: 3, batch_size: 16, learning_rate: 1e-2, ..Default::default() };
//! // Each member gets its own batch: xs is [M, B, 3], ys [M, B, 1]; return the M losses.
//! let stats = train(&ensemble, &x, &y, &cfg, |xs, ys| {
//!     let h = hidden.forward_members(xs, true).unwrap().relu();
//!     let pred = out.forward_members(&h, true).unwrap();
//!     (pred - ys).square().mean_dim(&[1i64, 2][..], false, Kind::Float)
//! })?;
//! assert_eq!(stats.len(), 3);
//!
//! // All members on one input, in one pass: [M, N, 1].
//! let h = hidden.forward_shared(&x, false)?.relu();
//! let pred = out.forward_members(&h, false)?;
//! assert_eq!(pred.size(), [3, 64, 1]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod ensemble;
mod ensemble_dir;
mod error;
mod files;
mod init;
mod linear;
mod low_rank;
mod merge;
mod peft;
mod train;

pub use config::{Bias, InitLoraWeights, LoraConfig, TargetModules};
pub use ensemble::{LoraEnsemble, module_path};
pub use ensemble_dir::{
    AdapterSummary, BaseRecord, EnsembleManifest, MANIFEST, MANIFEST_FORMAT, inspect, member_dir,
};
pub use error::{Error, Result};
pub use files::sha256_file;
pub use linear::LoraLinear;
pub use low_rank::LowRankUpdate;
pub use merge::{MergeReport, merge_into_file};
pub use peft::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterWeights, KEY_PREFIX, PeftAdapter, lora_a_key,
    lora_b_key,
};
pub use train::{EpochStats, TrainConfig, clip_grad_norm_per_member, member_order, train};
