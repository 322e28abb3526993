//! [`LoraEnsemble`]: the adapters of every targeted module of a model, for M members.

use std::cell::RefCell;

use tch::{Device, Tensor, nn};

use crate::config::{InitLoraWeights, LoraConfig, TargetMatcher};
use crate::error::{Error, Result};
use crate::init;
use crate::linear::LoraLinear;
use crate::low_rank::LowRankUpdate;

/// The module path of a tch var-store path: its components joined by `.`, which is also the
/// PyTorch module name (`vs.root() / "encoder" / "layers" / 0 / "proj"` -> `encoder.layers.0.proj`).
pub fn module_path(path: &nn::Path<'_>) -> String {
    path.components().collect::<Vec<_>>().join(".")
}

/// The LoRA adapters of one model for M members: one [`LowRankUpdate`] per targeted module, all
/// variables in the ensemble's own var store (the base model's var store is never touched, so an
/// optimiser built on [`LoraEnsemble::var_store`] can only change adapters).
///
/// Build the model with [`LoraEnsemble::linear`] (or [`LoraEnsemble::low_rank`] for other
/// weights) in place of plain layers, then call [`LoraEnsemble::check_targets`]. Member m is
/// initialised from its own seed only (see [`InitLoraWeights`]); M = 1 is a plain LoRA.
#[derive(Debug)]
pub struct LoraEnsemble {
    config: LoraConfig,
    matcher: TargetMatcher,
    seeds: Vec<u64>,
    vs: nn::VarStore,
    updates: RefCell<Vec<LowRankUpdate>>,
    /// Every module offered while building: (path, is it a linear layer).
    seen: RefCell<Vec<(String, bool)>>,
    output_layer: RefCell<Option<String>>,
    epochs: std::cell::Cell<usize>,
}

impl LoraEnsemble {
    /// An empty ensemble of `seeds.len()` members (member m initialised from `seeds[m]`), with
    /// adapter variables on `device` in the dtype of each adapted weight.
    pub fn new(config: LoraConfig, seeds: Vec<u64>, device: Device) -> Result<Self> {
        config.validate()?;
        let matcher = config.target_matcher()?;
        if seeds.is_empty() {
            return Err(Error::EmptyInput {
                what: "member seeds (an ensemble needs M >= 1 members)".into(),
            });
        }
        Ok(LoraEnsemble {
            config,
            matcher,
            seeds,
            vs: nn::VarStore::new(device),
            updates: RefCell::new(Vec::new()),
            seen: RefCell::new(Vec::new()),
            output_layer: RefCell::new(None),
            epochs: std::cell::Cell::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Number of members M.
    pub fn members(&self) -> usize {
        self.seeds.len()
    }

    /// The members' seeds.
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// The scaling $s$ of every update.
    pub fn scaling(&self) -> f64 {
        self.config.scaling()
    }

    /// The var store holding every adapter variable (and nothing else): build the optimiser on it.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Epochs trained so far (recorded in the ensemble manifest).
    pub fn epochs(&self) -> usize {
        self.epochs.get()
    }

    /// Sets the epochs trained (for training loops of your own; [`crate::train()`] counts its
    /// own).
    pub fn set_epochs(&self, epochs: usize) {
        self.epochs.set(epochs);
    }

    /// Declares the model's output layer, which `target_modules = "all-linear"` leaves out (peft
    /// does so for transformers models). Call before building the layers.
    pub fn set_output_layer(&self, module: &str) {
        *self.output_layer.borrow_mut() = Some(module.to_string());
    }

    /// The updates of every targeted module, in the order the model created them.
    pub fn updates(&self) -> Vec<LowRankUpdate> {
        self.updates.borrow().clone()
    }

    /// Adapter parameters per member: $\sum_\text{modules} r(\text{in} + \text{out})$.
    pub fn parameters_per_member(&self) -> i64 {
        self.updates
            .borrow()
            .iter()
            .map(|u| u.parameters_per_member())
            .sum()
    }

    /// Wraps a linear layer of the base model. If `module` is targeted, the layer gets an adapter
    /// for every member; otherwise it stays a plain (frozen) layer. The base weight and bias are
    /// frozen either way (`requires_grad = false`).
    pub fn linear(&self, module: &str, base: nn::Linear) -> Result<LoraLinear> {
        let nn::Linear { ws, bs } = base;
        let ws = ws.set_requires_grad(false);
        let bs = bs.map(|b| b.set_requires_grad(false));
        if ws.dim() != 2 {
            return Err(Error::shape(
                format!("weight of linear layer {module}"),
                &[-1, -1],
                &ws.size(),
            ));
        }
        let update = self.adapt(module, &ws, 1, true)?;
        Ok(LoraLinear::new(module.to_string(), ws, bs, update)
            .with_members(self.members(), self.config.lora_dropout))
    }

    /// Creates a base linear layer at `path` of the base var store (named as PyTorch would,
    /// `<module>.weight`, `<module>.bias`) and wraps it as [`LoraEnsemble::linear`] does.
    pub fn linear_at(
        &self,
        path: &nn::Path<'_>,
        in_dim: i64,
        out_dim: i64,
        config: nn::LinearConfig,
    ) -> Result<LoraLinear> {
        let base = nn::linear(path, in_dim, out_dim, config);
        self.linear(&module_path(path), base)
    }

    /// A low-rank update for any weight tensor `weight` of module `module` (frozen here): its
    /// leading `out_dims` dimensions form `out`, the rest `in`. Returns `None` if `module` is not
    /// targeted. Use [`LowRankUpdate::weights`] to compute with the adapted weights `[M, *shape]`.
    /// Such modules count as non-linear for `"all-linear"`.
    pub fn low_rank(
        &self,
        module: &str,
        weight: &Tensor,
        out_dims: usize,
    ) -> Result<Option<LowRankUpdate>> {
        let _ = weight.shallow_clone().set_requires_grad(false);
        self.adapt(module, weight, out_dims, false)
    }

    fn adapt(
        &self,
        module: &str,
        weight: &Tensor,
        out_dims: usize,
        linear: bool,
    ) -> Result<Option<LowRankUpdate>> {
        if self.seen.borrow().iter().any(|(p, _)| p == module) {
            return Err(Error::invalid(
                "module",
                module,
                "was already registered (module paths must be unique)",
            ));
        }
        self.seen.borrow_mut().push((module.to_string(), linear));
        let output = self.output_layer.borrow().clone();
        if !self.matcher.matches(module, linear, output.as_deref()) {
            return Ok(None);
        }
        let shape = weight.size();
        if out_dims == 0 || out_dims >= shape.len() {
            return Err(Error::invalid(
                "out_dims",
                out_dims,
                format!("must split the weight shape {shape:?} of {module} into out and in"),
            ));
        }
        let out: i64 = shape[..out_dims].iter().product();
        let inp: i64 = shape[out_dims..].iter().product();
        if out <= 0 || inp <= 0 {
            return Err(Error::shape(format!("weight of {module}"), &[1, 1], &shape));
        }
        let kind = weight.kind();
        if !matches!(kind, tch::Kind::Float | tch::Kind::Double) {
            return Err(Error::invalid(
                "dtype",
                format!("{kind:?}"),
                format!("the weight of {module} must be f32 or f64 to carry an adapter"),
            ));
        }
        let r = self.config.r as i64;
        let mut a_members = Vec::with_capacity(self.members());
        let mut b_members = Vec::with_capacity(self.members());
        for &seed in &self.seeds {
            let (a, b) = self.init_member(seed, module, r, inp, out, kind)?;
            a_members.push(a);
            b_members.push(b);
        }
        let device = self.vs.device();
        let a = Tensor::stack(&a_members, 0).to_device(device);
        let b = Tensor::stack(&b_members, 0).to_device(device);
        let mut path = self.vs.root();
        for c in module.split('.') {
            path = path.sub(c);
        }
        let a = path.add("lora_A", a, true);
        let b = path.add("lora_B", b, true);
        let update = LowRankUpdate::new(
            module.to_string(),
            a,
            b,
            weight.shallow_clone(),
            self.config.scaling(),
            out_dims,
        );
        self.updates.borrow_mut().push(update.clone());
        Ok(Some(update))
    }

    fn init_member(
        &self,
        seed: u64,
        module: &str,
        r: i64,
        inp: i64,
        out: i64,
        kind: tch::Kind,
    ) -> Result<(Tensor, Tensor)> {
        let mut rng_a = init::stream(seed, module, "lora_A");
        let zeros = || {
            Tensor::f_zeros([out, r], (kind, Device::Cpu)).map_err(Error::torch(format!(
                "allocating B [{out}, {r}] of {module}"
            )))
        };
        Ok(match self.config.init_lora_weights {
            InitLoraWeights::Kaiming => {
                (init::kaiming_uniform(&mut rng_a, [r, inp], kind)?, zeros()?)
            }
            InitLoraWeights::Gaussian => (
                init::gaussian(&mut rng_a, [r, inp], 1.0 / r as f64, kind)?,
                zeros()?,
            ),
            InitLoraWeights::NoInit => {
                let mut rng_b = init::stream(seed, module, "lora_B");
                (
                    init::kaiming_uniform(&mut rng_a, [r, inp], kind)?,
                    init::kaiming_uniform(&mut rng_b, [out, r], kind)?,
                )
            }
        })
    }

    /// Checks that every entry of `target_modules` matched a module (for a regex or
    /// `"all-linear"`: that something matched); call after building the model.
    pub fn check_targets(&self) -> Result<()> {
        let seen = self.seen.borrow();
        let output = self.output_layer.borrow().clone();
        let unmatched = self.matcher.unmatched(&seen, output.as_deref());
        if unmatched.is_empty() {
            Ok(())
        } else {
            Err(Error::UnmatchedTargets {
                targets: unmatched,
                available: seen.iter().map(|(p, _)| p.clone()).collect(),
            })
        }
    }

    /// The paper's regulariser per member, $\sum_\text{layers} \lVert B_m A_m\rVert_F^2$ on the
    /// unscaled product: `[M]` (zeros when nothing is targeted).
    pub fn frobenius_regulariser(&self) -> Tensor {
        let updates = self.updates.borrow();
        let mut total: Option<Tensor> = None;
        for u in updates.iter() {
            let f = u.frobenius_sq();
            total = Some(match total {
                None => f,
                Some(t) => t + f,
            });
        }
        total.unwrap_or_else(|| {
            Tensor::zeros(
                [self.members() as i64],
                (tch::Kind::Float, self.vs.device()),
            )
        })
    }

    /// Merges member `member` into every adapted base weight (peft's `merge_adapter`).
    pub fn merge(&self, member: usize) -> Result<()> {
        self.merge_all(member, false)
    }

    /// As [`LoraEnsemble::merge`], but refuses, naming the weight, if a merged weight would not be
    /// finite; weights merged before the failure are unmerged again.
    pub fn safe_merge(&self, member: usize) -> Result<()> {
        self.merge_all(member, true)
    }

    fn merge_all(&self, member: usize, safe: bool) -> Result<()> {
        let updates = self.updates.borrow();
        for (i, u) in updates.iter().enumerate() {
            let r = if safe {
                u.safe_merge(member)
            } else {
                u.merge(member)
            };
            if let Err(e) = r {
                for done in &updates[..i] {
                    done.unmerge()?;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Subtracts the merged member from every base weight again.
    pub fn unmerge(&self) -> Result<()> {
        for u in self.updates.borrow().iter() {
            u.unmerge()?;
        }
        Ok(())
    }

    /// Sets every B to zero: the adapted model equals the base for every member (the paper's
    /// "epoch 0" prior).
    pub fn zero_adapters(&self) -> Result<()> {
        for u in self.updates.borrow().iter() {
            if u.merged_member().is_some() {
                return Err(Error::invalid(
                    "merge state",
                    u.module(),
                    "unmerge before zeroing adapters",
                ));
            }
            tch::no_grad(|| {
                let _ = u.b().shallow_clone().zero_();
            });
        }
        Ok(())
    }
}
