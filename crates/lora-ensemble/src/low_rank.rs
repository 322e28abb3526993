//! [`LowRankUpdate`]: the low-rank update of one weight tensor, for every member at once.

use std::sync::{Arc, Mutex};

use tch::Tensor;

use crate::error::{Error, Result};

/// The low-rank update $\Delta W_m = s\, B_m A_m$ of one frozen weight tensor $W$, for members
/// $m = 1..M$, with $A$ stored as `[M, r, in]` and $B$ as `[M, out, r]`.
///
/// $W$ may have any shape: its leading `out_dims` dimensions form `out`, the rest form `in`, and
/// $B_m A_m$ (`[out, in]`) is reshaped to $W$'s shape. A linear layer's `[out, in]` weight has
/// `out_dims = 1`; a convolution's `[out, in, k, k]` too (peft's convention, `in` = in·k·k).
///
/// A cheap handle (shared state): clones refer to the same tensors, so the layer that computes
/// with it and the [`crate::LoraEnsemble`] that saves, merges and regularises it agree.
#[derive(Debug)]
pub struct LowRankUpdate {
    inner: Inner,
}

#[derive(Debug)]
struct Inner {
    module: String,
    a: Tensor,
    b: Tensor,
    base: Tensor,
    scaling: f64,
    out_dims: usize,
    /// The member whose update is currently added into the base weight (shared by all clones).
    merged: Arc<Mutex<Option<usize>>>,
}

impl Clone for LowRankUpdate {
    fn clone(&self) -> Self {
        let i = &self.inner;
        LowRankUpdate {
            inner: Inner {
                module: i.module.clone(),
                a: i.a.shallow_clone(),
                b: i.b.shallow_clone(),
                base: i.base.shallow_clone(),
                scaling: i.scaling,
                out_dims: i.out_dims,
                merged: Arc::clone(&i.merged),
            },
        }
    }
}

impl LowRankUpdate {
    pub(crate) fn new(
        module: String,
        a: Tensor,
        b: Tensor,
        base: Tensor,
        scaling: f64,
        out_dims: usize,
    ) -> Self {
        LowRankUpdate {
            inner: Inner {
                module,
                a,
                b,
                base,
                scaling,
                out_dims,
                merged: Arc::new(Mutex::new(None)),
            },
        }
    }

    /// The module path (peft's key without `base_model.model.` and `.lora_A.weight`).
    pub fn module(&self) -> &str {
        &self.inner.module
    }

    /// $A$, `[M, r, in]` (a trainable variable of the ensemble's var store).
    pub fn a(&self) -> &Tensor {
        &self.inner.a
    }

    /// $B$, `[M, out, r]`.
    pub fn b(&self) -> &Tensor {
        &self.inner.b
    }

    /// The frozen base weight $W$ this update belongs to (shared with the layer).
    pub fn base_weight(&self) -> &Tensor {
        &self.inner.base
    }

    /// The scaling $s$.
    pub fn scaling(&self) -> f64 {
        self.inner.scaling
    }

    /// Number of members M.
    pub fn members(&self) -> usize {
        self.inner.a.size()[0] as usize
    }

    /// The rank r.
    pub fn rank(&self) -> i64 {
        self.inner.a.size()[1]
    }

    /// `in`: the product of W's trailing dimensions.
    pub fn in_features(&self) -> i64 {
        self.inner.a.size()[2]
    }

    /// `out`: the product of W's leading `out_dims` dimensions.
    pub fn out_features(&self) -> i64 {
        self.inner.b.size()[1]
    }

    /// Adapter parameters per member: $r(\text{in} + \text{out})$.
    pub fn parameters_per_member(&self) -> i64 {
        self.rank() * (self.in_features() + self.out_features())
    }

    /// The member whose update is merged into the base weight, if any.
    pub fn merged_member(&self) -> Option<usize> {
        *self.inner.merged.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_member(&self, member: usize) -> Result<()> {
        if member >= self.members() {
            return Err(Error::Member {
                member,
                reason: format!("out of range: the ensemble has {} members", self.members()),
            });
        }
        Ok(())
    }

    /// $s\,B_m A_m$ of every member, shaped `[M, *W.shape]` (differentiable).
    pub fn delta(&self) -> Tensor {
        let mut shape = vec![self.members() as i64];
        shape.extend(self.inner.base.size());
        (self.inner.b.matmul(&self.inner.a) * self.inner.scaling).reshape(&shape)
    }

    /// $s\,B_m A_m$ of one member, shaped like W.
    pub fn delta_member(&self, member: usize) -> Result<Tensor> {
        self.check_member(member)?;
        let m = member as i64;
        Ok(
            (self.inner.b.get(m).matmul(&self.inner.a.get(m)) * self.inner.scaling)
                .reshape(self.inner.base.size()),
        )
    }

    /// Every member's adapted weight $W + s B_m A_m$, `[M, *W.shape]` (differentiable in A and B);
    /// correct also while a member is merged into W. This is how a layer other than a linear one
    /// (a convolution, a bilinear form) computes with its adapters.
    pub fn weights(&self) -> Tensor {
        let delta = self.delta();
        let w = self.inner.base.unsqueeze(0);
        match self.merged_member() {
            None => w + delta,
            Some(k) => {
                let dk = delta.get(k as i64).unsqueeze(0);
                w + delta - dk
            }
        }
    }

    /// $\lVert B_m A_m\rVert_F^2$ for every member, `[M]` (the unscaled product, as the paper's
    /// regulariser), computed as $\operatorname{tr}\big((B_m^\top B_m)(A_m A_m^\top)\big)$ in
    /// $O(r^2(\text{in}+\text{out}))$ without forming $B_m A_m$.
    pub fn frobenius_sq(&self) -> Tensor {
        let btb = self.inner.b.transpose(1, 2).matmul(&self.inner.b);
        let aat = self.inner.a.matmul(&self.inner.a.transpose(1, 2));
        (btb * aat).sum_dim_intlist([1i64, 2].as_slice(), false, None)
    }

    /// The adapter branch of a linear layer, $s\,x A_m^\top B_m^\top$, minus the merged member's
    /// branch while one is merged. `x` is `[M, N, in]` (an input per member) or `[N, in]` (one
    /// input shared by all members, broadcast); the result is `[M, N, out]`.
    pub(crate) fn branch(&self, x: &Tensor) -> Tensor {
        let i = &self.inner;
        let u = x.matmul(&i.a.transpose(1, 2)).matmul(&i.b.transpose(1, 2)) * i.scaling;
        match self.merged_member() {
            None => u,
            Some(k) => {
                // W already holds member k's update: take it off again for every member's input.
                let k = k as i64;
                let uk = x.matmul(&i.a.get(k).tr()).matmul(&i.b.get(k).tr()) * i.scaling;
                u - uk
            }
        }
    }

    /// Adds member `member`'s update into the base weight ($W \leftarrow W + s B_m A_m$), as peft's
    /// `merge(safe_merge=False)`. Outputs of every member stay the same. One member at a time.
    pub fn merge(&self, member: usize) -> Result<()> {
        self.merge_impl(member, false)
    }

    /// As [`LowRankUpdate::merge`], but computes the merged weight first and refuses, naming the
    /// weight, if it is not finite (peft's `safe_merge=True`); W is then unchanged.
    pub fn safe_merge(&self, member: usize) -> Result<()> {
        self.merge_impl(member, true)
    }

    fn merge_impl(&self, member: usize, safe: bool) -> Result<()> {
        self.check_member(member)?;
        let mut merged = self.inner.merged.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = *merged {
            return Err(Error::Member {
                member,
                reason: format!(
                    "cannot merge into {}: member {k} is already merged (unmerge first)",
                    self.inner.module
                ),
            });
        }
        let delta = tch::no_grad(|| self.delta_member(member))?;
        tch::no_grad(|| {
            if safe {
                let new = &self.inner.base + &delta;
                if !bool::try_from(new.isfinite().all()).unwrap_or(false) {
                    return Err(Error::NonFinite {
                        what: format!(
                            "merged weight of {} for member {member} (safe merge refused)",
                            self.inner.module
                        ),
                    });
                }
                self.inner.base.shallow_clone().copy_(&new);
            } else {
                let _ = self.inner.base.shallow_clone().g_add_(&delta);
            }
            Ok(())
        })?;
        *merged = Some(member);
        Ok(())
    }

    /// Subtracts the merged member's update again (peft's `unmerge`); no-op when none is merged.
    pub fn unmerge(&self) -> Result<()> {
        let mut merged = self.inner.merged.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = *merged {
            let delta = tch::no_grad(|| self.delta_member(k))?;
            tch::no_grad(|| {
                let _ = self.inner.base.shallow_clone().g_sub_(&delta);
            });
            *merged = None;
        }
        Ok(())
    }

    /// Copies `a` (`[r, in]`) and `b` (`[out, r]`) into member `member`'s slots.
    pub(crate) fn set_member(&self, member: usize, a: &Tensor, b: &Tensor) -> Result<()> {
        self.check_member(member)?;
        if self.merged_member().is_some() {
            return Err(Error::Member {
                member,
                reason: format!(
                    "cannot replace adapters of {} while a member is merged",
                    self.inner.module
                ),
            });
        }
        let m = member as i64;
        tch::no_grad(|| {
            self.inner.a.get(m).copy_(a);
            self.inner.b.get(m).copy_(b);
        });
        Ok(())
    }

    /// `out_dims`: how many leading dimensions of W form `out`.
    pub fn out_dims(&self) -> usize {
        self.inner.out_dims
    }
}
