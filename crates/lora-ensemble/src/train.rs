//! Training every member in one pass: disjoint parameters, a data order per member.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::nn::OptimizerConfig;
use tch::{Kind, Tensor, nn};

use crate::ensemble::LoraEnsemble;
use crate::error::{Error, Result};

/// Hyper-parameters of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per step and member.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay on the adapter matrices ($\ge 0$).
    pub weight_decay: f64,
    /// $\lambda$ of the regulariser $\lambda \sum_\text{layers} \lVert B_m A_m\rVert_F^2$ ($\ge 0$).
    pub lambda: f64,
    /// Gradient clipping per member: member m's gradient (over all its adapter matrices) is scaled
    /// by $\min(1, c / (\lVert g_m\rVert_2 + 10^{-6}))$, torch's `clip_grad_norm_` applied to each
    /// member on its own (the paper clips at 0.3). `None`: no clipping.
    pub max_grad_norm: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            lambda: 0.0,
            max_grad_norm: None,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", 0, "must be >= 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "must be >= 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                self.learning_rate,
                "must be > 0",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                self.weight_decay,
                "must be >= 0",
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::invalid("lambda", self.lambda, "must be >= 0"));
        }
        if let Some(c) = self.max_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid("max_grad_norm", c, "must be > 0"));
        }
        Ok(())
    }
}

/// Per-epoch means of each member's data loss and regulariser.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochStats {
    /// Epoch, counted from 1 (continuing the ensemble's count).
    pub epoch: usize,
    /// Mean data loss of each member over the epoch's steps.
    pub member_loss: Vec<f64>,
    /// Mean $\sum_\text{layers}\lVert B_m A_m\rVert_F^2$ of each member over the epoch's steps.
    pub regulariser: Vec<f64>,
}

/// The sample order of member `member` (seed `seed`) in epoch `epoch`: a permutation of
/// `0..n` drawn from the member's own stream, independent of the other members.
pub fn member_order(seed: u64, epoch: usize, n: usize) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0x6461_7461_0000_0000 ^ epoch as u64);
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut rng);
    order
}

/// Trains every member of `ensemble` together: in each step member m sees its own batch of
/// `(inputs, targets)` (rows in the member's own order, [`member_order`]), `member_losses`
/// returns the data loss of every member, `[M]`, from the stacked batches `[M, B, ...]`, and the
/// optimiser (AdamW on the ensemble's var store only: the base stays frozen) minimises
/// $$\sum_m \Big(L_m + \lambda \sum_\text{layers}\lVert B_m A_m\rVert_F^2\Big).$$
/// The members' parameters are disjoint and AdamW acts element-wise, so member m's trajectory is
/// the one it would have alone: it does not depend on how many members train beside it. (With
/// `lora_dropout > 0` the masks come from libtorch's global generator, which breaks that.)
///
/// Stops with [`Error::NonFinite`] naming the member, epoch and step when a loss is not finite.
pub fn train<F>(
    ensemble: &LoraEnsemble,
    inputs: &Tensor,
    targets: &Tensor,
    config: &TrainConfig,
    mut member_losses: F,
) -> Result<Vec<EpochStats>>
where
    F: FnMut(&Tensor, &Tensor) -> Tensor,
{
    config.validate()?;
    let n = inputs.size().first().copied().unwrap_or(0);
    if n == 0 {
        return Err(Error::EmptyInput {
            what: "training inputs (0 samples)".into(),
        });
    }
    if targets.size().first() != Some(&n) {
        return Err(Error::shape("training targets", &[n], &targets.size()));
    }
    let m_count = ensemble.members() as i64;
    let mut opt = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(ensemble.var_store(), config.learning_rate)
    .map_err(Error::torch("building the AdamW optimiser"))?;
    let device = ensemble.var_store().device();
    let batch = config.batch_size as i64;
    let steps = (n + batch - 1) / batch;
    let mut stats = Vec::with_capacity(config.epochs);
    for _ in 0..config.epochs {
        let epoch = ensemble.epochs() + 1;
        let orders: Vec<Vec<i64>> = ensemble
            .seeds()
            .iter()
            .map(|&s| member_order(s, epoch, n as usize))
            .collect();
        let mut loss_sum = vec![0.0; ensemble.members()];
        let mut reg_sum = vec![0.0; ensemble.members()];
        for step in 0..steps {
            let lo = (step * batch) as usize;
            let hi = ((step + 1) * batch).min(n) as usize;
            let idx: Vec<i64> = orders
                .iter()
                .flat_map(|o| o[lo..hi].iter().copied())
                .collect();
            let idx = Tensor::from_slice(&idx).to_device(device);
            let bsz = (hi - lo) as i64;
            let mut xs_shape = vec![m_count, bsz];
            xs_shape.extend_from_slice(&inputs.size()[1..]);
            let mut ys_shape = vec![m_count, bsz];
            ys_shape.extend_from_slice(&targets.size()[1..]);
            let xs = inputs.index_select(0, &idx).reshape(&xs_shape);
            let ys = targets.index_select(0, &idx).reshape(&ys_shape);
            let losses = member_losses(&xs, &ys);
            if losses.size() != [m_count] {
                return Err(Error::shape("member losses", &[m_count], &losses.size()));
            }
            let reg = ensemble.frobenius_regulariser();
            let loss_values = Vec::<f64>::try_from(losses.detach().to_kind(Kind::Double))
                .map_err(Error::torch("reading the losses"))?;
            for (m, &l) in loss_values.iter().enumerate() {
                if !l.is_finite() {
                    return Err(Error::NonFinite {
                        what: format!("loss {l} of member {m} at epoch {epoch}, step {step}"),
                    });
                }
                loss_sum[m] += l;
            }
            let reg_values = Vec::<f64>::try_from(reg.detach().to_kind(Kind::Double))
                .map_err(Error::torch("reading the regulariser"))?;
            for (m, r) in reg_values.iter().enumerate() {
                reg_sum[m] += r;
            }
            let total = if config.lambda > 0.0 {
                losses.sum(losses.kind()) + reg.sum(reg.kind()) * config.lambda
            } else {
                losses.sum(losses.kind())
            };
            opt.zero_grad();
            total.backward();
            if let Some(c) = config.max_grad_norm {
                clip_grad_norm_per_member(ensemble, c)?;
            }
            opt.step();
        }
        ensemble.set_epochs(epoch);
        stats.push(EpochStats {
            epoch,
            member_loss: loss_sum.iter().map(|s| s / steps as f64).collect(),
            regulariser: reg_sum.iter().map(|s| s / steps as f64).collect(),
        });
    }
    Ok(stats)
}

/// Scales each member's gradient (over all its adapter matrices) to norm at most `max_norm`, with
/// torch's `clip_grad_norm_` rule $g_m \leftarrow g_m \min(1, c/(\lVert g_m\rVert_2 + 10^{-6}))$,
/// member by member so that clipping does not couple the members. Returns the norms before
/// clipping. For training loops of your own; [`train`] calls it with
/// [`TrainConfig::max_grad_norm`].
pub fn clip_grad_norm_per_member(ensemble: &LoraEnsemble, max_norm: f64) -> Result<Vec<f64>> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::invalid("max_grad_norm", max_norm, "must be > 0"));
    }
    tch::no_grad(|| {
        let mut grads = Vec::new();
        for u in ensemble.updates() {
            for t in [u.a(), u.b()] {
                let g = t.grad();
                if g.defined() {
                    grads.push(g);
                }
            }
        }
        let Some(first) = grads.first() else {
            return Ok(vec![0.0; ensemble.members()]);
        };
        let mut sq = Tensor::zeros([ensemble.members() as i64], (first.kind(), first.device()));
        for g in &grads {
            sq += g
                .square()
                .sum_dim_intlist([1i64, 2].as_slice(), false, None);
        }
        let norms = sq.sqrt();
        let factor = ((&norms + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
        for g in &mut grads {
            let _ = g.g_mul_(&factor.view([-1, 1, 1]));
        }
        Vec::<f64>::try_from(norms.to_kind(Kind::Double))
            .map_err(Error::torch("reading gradient norms"))
    })
}
