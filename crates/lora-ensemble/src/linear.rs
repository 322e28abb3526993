//! [`LoraLinear`]: a frozen linear layer with an adapter per member, evaluated in one pass.

use tch::Tensor;

use crate::error::{Error, Result};
use crate::low_rank::LowRankUpdate;

/// A frozen `nn::Linear` ($W$ `[out, in]`, $b$) with a LoRA adapter per member:
/// $$y_m = W x + b + s\, B_m A_m\, \mathrm{dropout}(x), \qquad m = 1..M,$$
/// all members in one batched pass. Dropout acts only on the adapter branch and only in
/// training, with an independent mask per member. A layer that `target_modules` does not select
/// has no adapter and returns the base output for every member.
///
/// Two input modes:
/// - [`LoraLinear::forward_shared`]: one input `[..., in]` for all members, the base product
///   computed once -> `[M, ..., out]` (the first layer of an ensemble evaluation);
/// - [`LoraLinear::forward_members`]: one input per member `[M, ..., in]` -> `[M, ..., out]`
///   (every later layer, and training with a data order per member).
#[derive(Debug)]
pub struct LoraLinear {
    module: String,
    ws: Tensor,
    bs: Option<Tensor>,
    update: Option<LowRankUpdate>,
    dropout: f64,
    members: i64,
}

impl LoraLinear {
    pub(crate) fn new(
        module: String,
        ws: Tensor,
        bs: Option<Tensor>,
        update: Option<LowRankUpdate>,
    ) -> Self {
        LoraLinear {
            module,
            ws,
            bs,
            update,
            dropout: 0.0,
            members: 0,
        }
    }

    pub(crate) fn with_members(mut self, members: usize, dropout: f64) -> Self {
        self.members = members as i64;
        self.dropout = dropout;
        self
    }

    /// The module path.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The frozen base weight `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.ws
    }

    /// The frozen base bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bs.as_ref()
    }

    /// The adapter, if this module is targeted.
    pub fn update(&self) -> Option<&LowRankUpdate> {
        self.update.as_ref()
    }

    fn in_features(&self) -> i64 {
        self.ws.size()[1]
    }

    fn check_last(&self, x: &Tensor) -> Result<()> {
        if x.kind() != self.ws.kind() || x.device() != self.ws.device() {
            return Err(Error::invalid(
                &format!("input of {}", self.module),
                format!("{:?} on {:?}", x.kind(), x.device()),
                format!(
                    "the layer is {:?} on {:?}",
                    self.ws.kind(),
                    self.ws.device()
                ),
            ));
        }
        let size = x.size();
        if size.last() != Some(&self.in_features()) {
            return Err(Error::shape(
                format!("input of {}", self.module),
                &[-1, self.in_features()],
                &size,
            ));
        }
        Ok(())
    }

    fn adapter_input(&self, x: Tensor, train: bool) -> Tensor {
        if train && self.dropout > 0.0 {
            x.dropout(self.dropout, true)
        } else {
            x
        }
    }

    /// One input `[..., in]` shared by all members -> `[M, ..., out]`; the base product is
    /// computed once.
    pub fn forward_shared(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.check_last(x)?;
        let size = x.size();
        let base = x.linear(&self.ws, self.bs.as_ref());
        let mut out_shape = vec![self.members];
        out_shape.extend_from_slice(&size[..size.len() - 1]);
        out_shape.push(self.ws.size()[0]);
        let Some(update) = &self.update else {
            return Ok(base.unsqueeze(0).expand(&out_shape, false));
        };
        let flat = x.reshape([-1, self.in_features()]);
        let branch_in = if train && self.dropout > 0.0 {
            // An independent dropout mask per member.
            let n = flat.size()[0];
            self.adapter_input(
                flat.unsqueeze(0).expand([self.members, n, -1], false),
                train,
            )
        } else {
            flat
        };
        let branch = update.branch(&branch_in);
        Ok((base.reshape([1, -1, self.ws.size()[0]]) + branch).reshape(&out_shape))
    }

    /// One input per member `[M, ..., in]` -> `[M, ..., out]`.
    pub fn forward_members(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.check_last(x)?;
        let size = x.size();
        if size.len() < 2 || size[0] != self.members {
            return Err(Error::shape(
                format!("per-member input of {}", self.module),
                &[self.members, -1, self.in_features()],
                &size,
            ));
        }
        let base = x.linear(&self.ws, self.bs.as_ref());
        let Some(update) = &self.update else {
            return Ok(base);
        };
        let flat = x.reshape([self.members, -1, self.in_features()]);
        let branch = update.branch(&self.adapter_input(flat, train));
        let shape = base.size();
        Ok(base + branch.reshape(shape))
    }
}

/// Per-member mode ([`LoraLinear::forward_members`]), so that adapted layers compose with
/// `nn::seq_t()`.
///
/// # Panics
/// On an input that is not `[M, ..., in]`, as tch's own layers panic on shape errors; the checked
/// twin is [`LoraLinear::forward_members`].
impl tch::nn::ModuleT for LoraLinear {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self.forward_members(xs, train) {
            Ok(y) => y,
            Err(e) => panic!("{e}"),
        }
    }
}
