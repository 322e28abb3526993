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
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
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
