//! Adam, with its moments kept as tensors so that they can be checkpointed.
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (before the schedule).
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator floor.
    pub eps: f64,
    /// Gradient-norm clipping of the network trainer: before each update the gradient of all
    /// parameters together is scaled by $\min(1, c / (\lVert g\rVert_2 + 10^{-6}))$, torch's
    /// `clip_grad_norm_` rule. `None` (the default, left out of a saved config): no clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            clip_grad_norm: None,
        }
    }
}

/// Adam with its moments kept as tensors, so that they can be checkpointed.
#[derive(Debug)]
pub(crate) struct Adam {
    pub(crate) config: AdamConfig,
    pub(crate) m: Vec<Tensor>,
    pub(crate) v: Vec<Tensor>,
    pub(crate) t: i64,
}

impl Adam {
    pub(crate) fn new(config: AdamConfig, vars: &[Tensor]) -> Adam {
        let m = vars.iter().map(|p| p.zeros_like()).collect();
        let v = vars.iter().map(|p| p.zeros_like()).collect();
        Adam { config, m, v, t: 0 }
    }

    /// One update of `vars` from their accumulated gradients (clipping, where a trainer wants it,
    /// is [`clip_grad_norm`] before this call).
    pub(crate) fn step(&mut self, vars: &[Tensor], lr: f64) {
        self.t += 1;
        let c = self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        tch::no_grad(|| {
            for ((p, m), v) in vars.iter().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                *m *= c.beta1;
                *m += &g * (1.0 - c.beta1);
                *v *= c.beta2;
                *v += g.square() * (1.0 - c.beta2);
                let denom = (&*v / bc2).sqrt() + c.eps;
                let update = &*m / denom * (lr / bc1);
                let mut p = p.shallow_clone();
                p -= update;
            }
        });
    }
}

/// The Euclidean norm of the gradients of `vars` taken together (undefined gradients count as
/// zero); with `max_norm = Some(c)` the gradients are then scaled in place by
/// $\min(1, c / (\lVert g\rVert_2 + 10^{-6}))$. Returns the norm before scaling.
pub(crate) fn clip_grad_norm(vars: &[Tensor], max_norm: Option<f64>) -> f64 {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = vars
            .iter()
            .map(|p| p.grad())
            .filter(|g| g.defined())
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let squares: Vec<Tensor> = grads
            .iter()
            .map(|g| g.square().sum(tch::Kind::Double))
            .collect();
        // One reduction and one read, so that a GPU synchronises once per step.
        let norm = Tensor::stack(&squares, 0)
            .sum(tch::Kind::Double)
            .double_value(&[])
            .sqrt();
        if let Some(c) = max_norm {
            let factor = c / (norm + 1e-6);
            if factor < 1.0 {
                for g in &grads {
                    let mut g = g.shallow_clone();
                    g *= factor;
                }
            }
        }
        norm
    })
}

impl Adam {
    /// The moments as checkpoint entries `adam.m.<name>` and `adam.v.<name>`, in the order of
    /// `names` (the variables' [`ordered_names`]).
    pub(crate) fn moment_entries(&self, names: &[String]) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * names.len());
        for (i, name) in names.iter().enumerate() {
            out.push((format!("adam.m.{name}"), self.m[i].shallow_clone()));
            out.push((format!("adam.v.{name}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// Restores the moments of the variables `vars` named `names` from the checkpoint entries
    /// that `read(field, like)` returns (checked against the variable `like`), and the step `t`.
    pub(crate) fn restore_moments(
        &mut self,
        names: &[String],
        vars: &[Tensor],
        t: i64,
        mut read: impl FnMut(&str, &Tensor) -> crate::Result<Tensor>,
    ) -> crate::Result<()> {
        for (i, name) in names.iter().enumerate() {
            self.m[i] = read(&format!("adam.m.{name}"), &vars[i])?;
            self.v[i] = read(&format!("adam.v.{name}"), &vars[i])?;
        }
        self.t = t;
        Ok(())
    }
}

/// Trainable variables' names, sorted (the stable order of the optimiser state and of the
/// checkpoints' `adam.m.*`/`adam.v.*` entries).
pub(crate) fn ordered_names(vs: &nn::VarStore) -> Vec<String> {
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    names
}

/// Trainable variables in the order of [`ordered_names`].
pub(crate) fn ordered_vars(vs: &nn::VarStore) -> Vec<Tensor> {
    let vars = vs.variables();
    ordered_names(vs)
        .iter()
        .map(|n| vars[n].shallow_clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Two variables whose gradients are (3, 0) and (0, 4): norm 5 together.
    fn vars_with_grads() -> Vec<Tensor> {
        let a = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let b = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let loss = (&a * Tensor::from_slice(&[3.0f32, 0.0])).sum(Kind::Float)
            + (&b * Tensor::from_slice(&[0.0f32, 4.0])).sum(Kind::Float);
        loss.backward();
        vec![a, b]
    }

    fn grads(vars: &[Tensor]) -> Vec<f64> {
        vars.iter()
            .flat_map(|v| Vec::<f64>::try_from(v.grad().to_kind(Kind::Double)).unwrap())
            .collect()
    }

    #[test]
    fn clipping_scales_the_joint_gradient_to_the_bound() {
        let vars = vars_with_grads();
        let norm = clip_grad_norm(&vars, Some(1.0));
        assert!((norm - 5.0).abs() < 1e-6, "norm before clipping {norm}");
        let g = grads(&vars);
        let scale = 1.0 / (5.0 + 1e-6);
        for (got, want) in g.iter().zip([3.0 * scale, 0.0, 0.0, 4.0 * scale]) {
            assert!((got - want).abs() < 1e-6, "{g:?}");
        }
        let after: f64 = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((after - 1.0).abs() < 1e-5, "norm after clipping {after}");
    }

    #[test]
    fn a_gradient_within_the_bound_or_without_one_is_left_alone() {
        for bound in [Some(5.5), None] {
            let vars = vars_with_grads();
            let norm = clip_grad_norm(&vars, bound);
            assert!((norm - 5.0).abs() < 1e-6);
            assert_eq!(grads(&vars), vec![3.0, 0.0, 0.0, 4.0], "bound {bound:?}");
        }
    }

    #[test]
    fn a_clipped_adam_step_moves_as_far_as_an_unclipped_one_at_the_first_step() {
        // Adam's first update is lr * g / (|g| + eps'), independent of the gradient's scale:
        // clipping changes the moments' history, not the first step's size.
        let clipped = vars_with_grads();
        let plain = vars_with_grads();
        let mut a = Adam::new(AdamConfig::default(), &clipped);
        let mut b = Adam::new(AdamConfig::default(), &plain);
        assert!((clip_grad_norm(&clipped, Some(1.0)) - 5.0).abs() < 1e-6);
        assert!((clip_grad_norm(&plain, None) - 5.0).abs() < 1e-6);
        a.step(&clipped, 0.1);
        b.step(&plain, 0.1);
        for (x, y) in clipped.iter().zip(&plain) {
            let d = (x - y).abs().max().double_value(&[]);
            assert!(d < 1e-6, "first steps differ by {d}");
        }
        // The second moments differ by the clipping factor squared.
        let ratio =
            a.v[0].sum(Kind::Double).double_value(&[]) / b.v[0].sum(Kind::Double).double_value(&[]);
        assert!((ratio - 1.0 / 25.0).abs() < 1e-4, "ratio {ratio}");
    }

    #[test]
    fn the_default_config_saves_without_a_clipping_key() {
        let json = serde_json::to_value(AdamConfig::default()).unwrap();
        assert!(json.get("clip_grad_norm").is_none(), "{json}");
        let back: AdamConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, AdamConfig::default());
        let clipped: AdamConfig = serde_json::from_str(r#"{"clip_grad_norm": 0.5}"#).unwrap();
        assert_eq!(clipped.clip_grad_norm, Some(0.5));
    }
}
