//! The networks: GEBLNet (per-site bilinear layers) and GEConvNet (a GEBL branch and a GEConv branch
//! merged by a two-input GEBL, or the fused L-CNN layer), described by a serde [`NetConfig`].
//!
//! Each block is a layer followed by GEReLU and TrNorm (order set by [`NormPlacement`]); the output is
//! the per-site trace readout $f(x)$, whose sum over the lattice is the predicted Chern number.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn, nn::Module};

use crate::error::{Error, Result};
use crate::layers::{
    GeBilinear, GeBilinearConfig, GeConv, GeConvConfig, GeRelu, LConvBilinear, LConvBilinearConfig,
    TrNorm, TrNormConfig, TraceReadout, ge_bilinear, ge_bilinear2, ge_conv, ge_relu,
    l_conv_bilinear, tr_norm, trace_readout,
};

/// Which network to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// GEBL blocks only (the paper's GEBLNet).
    #[default]
    Geblnet,
    /// A GEBL branch and a GEConv branch on the input, merged by a two-input GEBL, then GEBL blocks.
    Geconvnet,
    /// The fused L-CNN convolution-bilinear layer first, then GEBL blocks.
    Lcnn,
}

/// Where TrNorm sits relative to GEReLU in each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// layer, GEReLU, TrNorm (the paper's order).
    #[default]
    AfterActivation,
    /// layer, TrNorm, GEReLU.
    BeforeActivation,
    /// No TrNorm.
    Off,
}

/// Architecture and hyper-parameters of a network (serde, e.g. the `model` table of a run config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Which network.
    pub architecture: Architecture,
    /// Output channels of the blocks, in order (default 32, 16, 8).
    pub channels: Vec<i64>,
    /// Options of every GEBL layer.
    pub gebl: GeBilinearConfig,
    /// Options of every TrNorm.
    pub trnorm: TrNormConfig,
    /// Order of TrNorm and GEReLU.
    pub norm_placement: NormPlacement,
    /// Options of the GEConv (or L-CB) layer.
    pub conv: GeConvConfig,
    /// Make the outputs odd under complex conjugation of the input,
    /// $f(x) = \tfrac12\,[g(W, U)(x) - g(W^*, U^*)(x)]$ with $g$ the network: conjugation negates
    /// every eigenphase and so the Chern number, and the symmetrised network respects that exactly
    /// (in particular $f = 0$ wherever $W(x) = 1$, so no constant offset per plaquette accumulates
    /// on large grids). Gauge invariance is kept ($W^*$ transforms with $\Omega^*$). Costs a
    /// second forward pass; no extra parameters.
    pub conjugation_odd: bool,
}

/// Held while libtorch's global generator is seeded and drawn from by this crate.
static GLOBAL_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Seeds libtorch's global random generator with `seed` and returns a guard: until it is dropped,
/// no other caller of this function in the process can reseed the generator, so that weights
/// drawn while holding it (by [`gauge_net`], say) depend on `seed` alone even when several
/// networks are built concurrently. (libtorch has no per-model generator; code that calls
/// `tch::manual_seed` directly bypasses the lock.)
pub fn seed_libtorch(seed: u64) -> std::sync::MutexGuard<'static, ()> {
    let guard = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::manual_seed(seed as i64);
    guard
}

/// The largest channel count of a layer [`NetConfig::validate`] accepts.
pub const MAX_CHANNELS: i64 = 4096;

impl NetConfig {
    /// An upper estimate of the bytes one forward and backward pass of `batch` samples needs on a
    /// lattice of `volume` sites (a float: sizes from users may exceed `usize`) with $n\times n$ matrices, `planes` plaquette planes, and real
    /// elements of `real_bytes` bytes (4 in single, 8 in double precision): every block's input
    /// after the enlargement by conjugates and identity, its output, the bilinear layer's
    /// intermediates (the largest: `enlarged input channels x output channels` fields), and the gradients, for each
    /// of the two passes of a conjugation-odd network, plus the weights. For refusing work up front;
    /// not a measurement.
    pub fn memory_estimate(
        &self,
        planes: usize,
        volume: f64,
        n: usize,
        batch: usize,
        real_bytes: usize,
    ) -> f64 {
        let complex = 2.0 * real_bytes as f64;
        let site = volume * (n as f64).powi(2) * complex;
        let mut c_in = planes as f64;
        let (mut activations, mut weights) = (planes as f64, 0.0);
        for &c in &self.channels {
            let enlarged = 2.0 * c_in + 1.0;
            // The enlarged input, the block's output and its non-linear stages, plus the bilinear
            // layer's intermediates: the product with the weights holds `enlarged * c` fields
            // (`bilinear_contract`), the left multiplication `n * enlarged`.
            activations +=
                2.0 * enlarged + 3.0 * c as f64 + enlarged * c as f64 + n as f64 * enlarged;
            weights += c as f64 * enlarged * enlarged * complex;
            c_in = c as f64;
        }
        let passes = if self.conjugation_odd { 2.0 } else { 1.0 };
        // Forward activations kept for the backward pass, and their gradients.
        2.0 * passes * batch as f64 * site * activations + 4.0 * weights
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Geblnet,
            channels: vec![32, 16, 8],
            gebl: GeBilinearConfig::default(),
            trnorm: TrNormConfig::default(),
            norm_placement: NormPlacement::AfterActivation,
            conv: GeConvConfig::default(),
            conjugation_odd: false,
        }
    }
}

impl NetConfig {
    /// Checks the channel list (non-empty, positive; two blocks at least for GEConvNet) and TrNorm.
    pub fn validate(&self) -> Result<()> {
        let min = if self.architecture == Architecture::Geconvnet {
            2
        } else {
            1
        };
        if self.channels.len() < min || self.channels.iter().any(|&c| c < 1) {
            return Err(Error::InvalidParameter {
                name: "model.channels",
                value: format!("{:?}", self.channels),
                reason: if min == 2 {
                    "GEConvNet needs at least two positive channel counts".into()
                } else {
                    "needs at least one channel count, all positive".into()
                },
            });
        }
        if let Some(&c) = self.channels.iter().find(|&&c| c > MAX_CHANNELS) {
            return Err(Error::InvalidParameter {
                name: "model.channels",
                value: c.to_string(),
                reason: format!(
                    "at most {MAX_CHANNELS} channels per layer (the GEBL weights grow as the cube \
                     of the channel count; the published networks use 32)"
                ),
            });
        }
        if self.trnorm.threshold.is_nan() || self.trnorm.threshold <= 0.0 {
            return Err(Error::InvalidParameter {
                name: "model.trnorm.threshold",
                value: self.trnorm.threshold.to_string(),
                reason: "must be positive".into(),
            });
        }
        if self.conv.kernel_size < 1 || self.conv.dilation < 1 {
            return Err(Error::InvalidParameter {
                name: "model.conv",
                value: format!(
                    "kernel_size {} dilation {}",
                    self.conv.kernel_size, self.conv.dilation
                ),
                reason: "kernel size and dilation must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Activation and normalisation after a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Post {
    relu: GeRelu,
    norm: TrNorm,
    placement: NormPlacement,
}

impl Post {
    pub(crate) fn apply(&self, x: &Tensor) -> Tensor {
        match self.placement {
            NormPlacement::AfterActivation => self.norm.forward(&self.relu.forward(x)),
            NormPlacement::BeforeActivation => self.relu.forward(&self.norm.forward(x)),
            NormPlacement::Off => self.relu.forward(x),
        }
    }
}

/// The first stage of a GEConvNet.
#[derive(Debug)]
pub(crate) enum FirstStage {
    Branches {
        local: GeBilinear,
        conv: GeConv,
        merge: GeBilinear,
    },
    Fused(LConvBilinear),
}

/// A gauge-equivariant network built from a [`NetConfig`]: maps plaquettes `(B, P, sites.., n, n)` (and
/// links `(B, d, sites.., n, n)` for the convolutional architectures) to local outputs `(B, sites..)`.
#[derive(Debug)]
pub struct GaugeNet {
    pub(crate) config: NetConfig,
    dim: usize,
    in_channels: i64,
    pub(crate) first: Option<FirstStage>,
    pub(crate) blocks: Vec<GeBilinear>,
    pub(crate) post: Post,
    pub(crate) readout: TraceReadout,
    pub(crate) kind: Kind,
    device: tch::Device,
}

/// Number of plaquette planes $d(d-1)/2$ of a `dim`-dimensional lattice: the input channels.
pub fn planes_of_dim(dim: usize) -> i64 {
    (dim * dim.saturating_sub(1) / 2) as i64
}

/// Builds the network of `config` for a `dim`-dimensional lattice (weights under `path`).
pub fn gauge_net<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    path: P,
    dim: usize,
    config: &NetConfig,
) -> Result<GaugeNet> {
    config.validate()?;
    if dim < 2 {
        return Err(Error::InvalidParameter {
            name: "lattice dimension",
            value: dim.to_string(),
            reason: "plaquettes need at least two dimensions".into(),
        });
    }
    let path = path.borrow();
    let p = planes_of_dim(dim);
    let ch = &config.channels;
    let (first, rest_from, mut c_prev) = match config.architecture {
        Architecture::Geblnet => (None, 0, p),
        Architecture::Geconvnet => {
            let local = ge_bilinear(path / "local", p, ch[0], config.gebl);
            let conv = ge_conv(path / "conv", dim, p, ch[0], config.conv);
            let merge = ge_bilinear2(path / "merge", ch[0], ch[0], ch[1], config.gebl);
            (Some(FirstStage::Branches { local, conv, merge }), 2, ch[1])
        }
        Architecture::Lcnn => {
            let cfg = LConvBilinearConfig {
                conv: config.conv,
                init_std: config.gebl.init_std,
            };
            (
                Some(FirstStage::Fused(l_conv_bilinear(
                    path / "lcb",
                    dim,
                    p,
                    ch[0],
                    cfg,
                ))),
                1,
                ch[0],
            )
        }
    };
    let mut blocks = Vec::new();
    for (i, &c) in ch.iter().enumerate().skip(rest_from) {
        blocks.push(ge_bilinear(
            path / format!("gebl{}", i + 1),
            c_prev,
            c,
            config.gebl,
        ));
        c_prev = c;
    }
    let readout = trace_readout(path / "readout", c_prev);
    let post = Post {
        relu: ge_relu(),
        norm: tr_norm(config.trnorm),
        placement: config.norm_placement,
    };
    let kind = crate::layers::complex_of(path.kind());
    Ok(GaugeNet {
        config: config.clone(),
        dim,
        in_channels: p,
        first,
        blocks,
        post,
        readout,
        kind,
        device: path.device(),
    })
}

impl GaugeNet {
    /// The configuration the network was built from.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The device of the weights.
    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// The lattice dimension the network was built for.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The names of the weighted layers relative to the network's var-store path, in the order of
    /// the forward pass: `local`, `conv`, `merge` (GEConvNet) or `lcb` (L-CNN), then `gebl1`, ..,
    /// and `readout.dense`. These are the modules a LoRA ensemble can adapt
    /// ([`crate::lora_net::LoraGaugeNet`]).
    pub fn adapter_modules(&self) -> Vec<String> {
        // The blocks are named after their index in `channels` (see `gauge_net`).
        let (mut names, rest_from): (Vec<String>, usize) = match self.first {
            None => (Vec::new(), 0),
            Some(FirstStage::Branches { .. }) => {
                (vec!["local".into(), "conv".into(), "merge".into()], 2)
            }
            Some(FirstStage::Fused(_)) => (vec!["lcb".into()], 1),
        };
        for i in 0..self.blocks.len() {
            names.push(format!("gebl{}", i + rest_from + 1));
        }
        names.push("readout.dense".into());
        names
    }

    /// Whether the network reads the links (GEConvNet, L-CNN) or only the plaquettes.
    pub fn needs_links(&self) -> bool {
        self.first.is_some()
    }

    /// Local outputs $f(x)$, shape `(B, sites..)`, without shape checks (tch panics on mismatches);
    /// `links` may be `None` for GEBLNet.
    pub fn forward(&self, plaquettes: &Tensor, links: Option<&Tensor>) -> Tensor {
        if !self.config.conjugation_odd {
            return self.forward_raw(plaquettes, links);
        }
        // One pass over [W; W*] (and [U; U*]), then (g(W) - g(W*)) / 2.
        let b = plaquettes.size()[0];
        let both = |t: &Tensor| Tensor::cat(&[t.shallow_clone(), t.conj().resolve_conj()], 0);
        let links = links.map(both);
        let g = self.forward_raw(&both(plaquettes), links.as_ref());
        (g.narrow(0, 0, b) - g.narrow(0, b, b)) * 0.5
    }

    fn forward_raw(&self, plaquettes: &Tensor, links: Option<&Tensor>) -> Tensor {
        let x = plaquettes.to_kind(self.kind);
        let mut x = match &self.first {
            None => x,
            Some(stage) => {
                let links = links
                    .expect("this architecture needs the links")
                    .to_kind(self.kind);
                match stage {
                    FirstStage::Branches { local, conv, merge } => {
                        let a = self.post.apply(&local.forward(&x));
                        let b = self.post.apply(&conv.forward_links(&x, &links));
                        self.post.apply(&merge.forward_pair(&a, &b))
                    }
                    FirstStage::Fused(lcb) => self.post.apply(&lcb.forward_links(&x, &links)),
                }
            }
        };
        for block in &self.blocks {
            x = self.post.apply(&block.forward(&x));
        }
        self.readout.forward(&x)
    }

    /// [`GaugeNet::forward`] after checking the shapes of the inputs.
    pub fn forward_checked(&self, plaquettes: &Tensor, links: Option<&Tensor>) -> Result<Tensor> {
        let ps = plaquettes.size();
        let ok = ps.len() == self.dim + 4
            && ps[1] == self.in_channels
            && ps[ps.len() - 1] == ps[ps.len() - 2]
            && ps[ps.len() - 1] >= 1;
        if !ok {
            let mut expected = vec![-1; self.dim + 4];
            expected[1] = self.in_channels;
            return Err(Error::ShapeMismatch {
                what: "plaquettes",
                expected: format!("{expected:?}"),
                found: format!("{:?}", ps),
            });
        }
        if self.needs_links() {
            let mut want = ps.clone();
            want[1] = self.dim as i64;
            let found = links.map(|l| l.size()).unwrap_or_default();
            if found != want {
                return Err(Error::ShapeMismatch {
                    what: "links",
                    expected: format!("{:?}", want),
                    found: format!("{found:?}"),
                });
            }
        }
        Ok(self.forward(plaquettes, links))
    }

    /// Predicted Chern numbers $F=\sum_x f(x)$, shape `(B,)`.
    pub fn predict(&self, plaquettes: &Tensor, links: Option<&Tensor>) -> Tensor {
        self.forward(plaquettes, links)
            .flatten(1, -1)
            .sum_dim_intlist(1, false, None)
    }
}

/// Number of real trainable parameters (a complex weight counts as two).
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::{
        KIND, plaquettes, random_gauge, random_links, rel_err, transform_field, transform_links,
    };
    use tch::Device;

    fn store(kind: Kind) -> nn::VarStore {
        let mut vs = nn::VarStore::new(Device::Cpu);
        vs.set_kind(kind);
        vs
    }

    #[test]
    fn default_geblnet_has_the_papers_parameter_count() {
        let vs = store(Kind::Float);
        let _net = gauge_net(vs.root(), 2, &NetConfig::default()).unwrap();
        // GEBL(1->32): 32*3*3, GEBL(32->16): 16*65*65, GEBL(16->8): 8*33*33 complex; Linear(16, 1): 17.
        assert_eq!(
            parameter_count(&vs),
            2 * (32 * 9 + 16 * 65 * 65 + 8 * 33 * 33) + 17
        );
        assert_eq!(parameter_count(&vs), 153_217);
    }

    #[test]
    fn invalid_configs_are_errors() {
        let vs = store(Kind::Float);
        let cfg = NetConfig {
            channels: vec![],
            ..Default::default()
        };
        assert!(matches!(
            gauge_net(vs.root(), 2, &cfg),
            Err(Error::InvalidParameter { .. })
        ));
        let cfg = NetConfig {
            architecture: Architecture::Geconvnet,
            channels: vec![4],
            ..Default::default()
        };
        assert!(matches!(
            gauge_net(vs.root(), 2, &cfg),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            gauge_net(vs.root(), 1, &NetConfig::default()),
            Err(Error::InvalidParameter { .. })
        ));
        let net = gauge_net(vs.root() / "ok", 2, &NetConfig::default()).unwrap();
        let bad = Tensor::zeros([2, 2, 3, 3, 1, 1], (Kind::ComplexFloat, Device::Cpu));
        assert!(matches!(
            net.forward_checked(&bad, None),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    /// The whole network's local outputs are invariant under a random per-site U(n) transformation
    /// (links and plaquettes transformed together), relative tolerance 1e-8 in double precision.
    fn check_invariant(arch: Architecture, extents: &[i64], n: i64) {
        let vs = store(Kind::Double);
        let cfg = NetConfig {
            architecture: arch,
            channels: vec![6, 5, 4],
            ..Default::default()
        };
        let net = gauge_net(vs.root(), extents.len(), &cfg).unwrap();
        let links = random_links(3, extents, n);
        let w = plaquettes(&links);
        let g = random_gauge(3, extents, n);
        let f = net.forward(&w, Some(&links));
        let mut want = vec![3];
        want.extend_from_slice(extents);
        assert_eq!(f.size(), want);
        let f2 = net.forward(&transform_field(&w, &g), Some(&transform_links(&links, &g)));
        let err = rel_err(&f2, &f);
        assert!(err < 1e-8, "{arch:?} {extents:?} n = {n}: {err}");
        assert!(
            f.abs().max().double_value(&[]) > 1e-6,
            "outputs must not vanish"
        );
    }

    #[test]
    fn geblnet_is_invariant() {
        let _seed = seed_libtorch(11);
        for n in [1, 2, 4] {
            check_invariant(Architecture::Geblnet, &[5, 5], n);
        }
        check_invariant(Architecture::Geblnet, &[2, 3, 2, 2], 2);
    }

    #[test]
    fn geconvnet_and_lcnn_are_invariant() {
        let _seed = seed_libtorch(12);
        for arch in [Architecture::Geconvnet, Architecture::Lcnn] {
            check_invariant(arch, &[4, 5], 2);
            check_invariant(arch, &[2, 2, 2, 2], 1);
        }
    }

    #[test]
    fn conjugation_odd_networks_are_odd_invariant_and_equal_the_symmetrised_network() {
        let _seed = seed_libtorch(14);
        for (arch, extents, n) in [
            (Architecture::Geblnet, vec![4i64, 5], 2i64),
            (Architecture::Geblnet, vec![2, 2, 2, 2], 2),
            (Architecture::Geconvnet, vec![4, 4], 2),
            (Architecture::Lcnn, vec![3, 4], 1),
        ] {
            let vs = store(Kind::Double);
            let cfg = NetConfig {
                architecture: arch,
                channels: vec![6, 5, 4],
                conjugation_odd: true,
                ..Default::default()
            };
            let net = gauge_net(vs.root(), extents.len(), &cfg).unwrap();
            // The same weights without the symmetrisation: the oracle g.
            let raw_cfg = NetConfig {
                conjugation_odd: false,
                ..cfg.clone()
            };
            let mut vs_raw = store(Kind::Double);
            let raw = gauge_net(vs_raw.root(), extents.len(), &raw_cfg).unwrap();
            vs_raw.copy(&vs).unwrap();
            let links = random_links(3, &extents, n);
            let w = plaquettes(&links);
            let (wc, lc) = (w.conj().resolve_conj(), links.conj().resolve_conj());
            let f = net.forward(&w, Some(&links));
            let want = (raw.forward(&w, Some(&links)) - raw.forward(&wc, Some(&lc))) * 0.5;
            assert!(
                rel_err(&f, &want) < 1e-12,
                "{arch:?}: not (g(W) - g(W*)) / 2"
            );
            // Odd: f(W*) = -f(W).
            let fc = net.forward(&wc, Some(&lc));
            assert!(rel_err(&fc, &(-&f)) < 1e-12, "{arch:?}: not odd");
            // Zero on the trivial field W = 1 (links 1), where g is not.
            let ones_w = Tensor::eye(n, (KIND, Device::Cpu))
                .expand_as(&w)
                .contiguous();
            let ones_l = Tensor::eye(n, (KIND, Device::Cpu))
                .expand_as(&links)
                .contiguous();
            assert!(
                raw.forward(&ones_w, Some(&ones_l))
                    .abs()
                    .max()
                    .double_value(&[])
                    > 1e-6
            );
            assert_eq!(
                net.forward(&ones_w, Some(&ones_l))
                    .abs()
                    .max()
                    .double_value(&[]),
                0.0
            );
            // Still gauge invariant.
            let g = random_gauge(3, &extents, n);
            let f2 = net.forward(&transform_field(&w, &g), Some(&transform_links(&links, &g)));
            assert!(rel_err(&f2, &f) < 1e-8, "{arch:?}: not invariant");
            assert_eq!(parameter_count(&vs), parameter_count(&vs_raw));
        }
    }

    #[test]
    fn outputs_do_not_depend_on_the_rest_of_the_batch() {
        let _seed = seed_libtorch(13);
        let vs = store(Kind::Double);
        let net = gauge_net(vs.root(), 2, &NetConfig::default()).unwrap();
        let links = random_links(4, &[3, 3], 2);
        let w = plaquettes(&links);
        let all = net.forward(&w, None);
        for b in 0..4 {
            let one = net.forward(&w.narrow(0, b, 1), None);
            assert!(rel_err(&one, &all.narrow(0, b, 1)) < 1e-12);
        }
    }

    /// Obviously-correct forward pass of GEBLNet: per site, per channel, with explicit sums over the
    /// weights read back from the var store.
    fn reference_geblnet(vs: &nn::VarStore, cfg: &NetConfig, w: &Tensor) -> Tensor {
        let vars = vs.variables();
        let (b, s, n) = (w.size()[0], w.size()[2] * w.size()[3], w.size()[5]);
        let eye = Tensor::eye(n, (KIND, Device::Cpu));
        let tr = |m: &Tensor| m.diagonal(0, -2, -1).sum(KIND);
        let out = Tensor::zeros([b, s], (Kind::Double, Device::Cpu));
        for bi in 0..b {
            for si in 0..s {
                let site = w.get(bi).reshape([1, s, n, n]).select(1, si); // (1, n, n)
                let mut chans: Vec<Tensor> = vec![site.get(0)];
                for (i, _) in cfg.channels.iter().enumerate() {
                    let alpha = vars[&format!("gebl{}.alpha", i + 1)].view_as_complex();
                    let mut x: Vec<Tensor> = chans.iter().map(|t| t.shallow_clone()).collect();
                    x.extend(chans.iter().map(|m| m.conj().transpose(0, 1)));
                    x.push(eye.shallow_clone());
                    let mut next = Vec::new();
                    for u in 0..alpha.size()[0] {
                        let mut acc = Tensor::zeros([n, n], (KIND, Device::Cpu));
                        for (v, xv) in x.iter().enumerate() {
                            for (wi, xw) in x.iter().enumerate() {
                                acc += xv.matmul(xw) * alpha.get(u).get(v as i64).get(wi as i64);
                            }
                        }
                        // GEReLU
                        let gate = tr(&acc).real().double_value(&[]).max(0.0);
                        next.push(acc * gate);
                    }
                    // TrNorm after the activation
                    let mean = next
                        .iter()
                        .map(tr)
                        .fold(Tensor::zeros([], (KIND, Device::Cpu)), |a, t| a + t)
                        / next.len() as f64;
                    let denom = mean.abs().double_value(&[]).max(cfg.trnorm.threshold);
                    chans = next.into_iter().map(|m| m / denom).collect();
                }
                let weight = &vars["readout.dense.weight"];
                let bias = vars["readout.dense.bias"].double_value(&[0]);
                let mut f = bias;
                for (g, m) in chans.iter().enumerate() {
                    let t = tr(m) / n as f64;
                    f += weight.double_value(&[0, 2 * g as i64]) * t.real().double_value(&[]);
                    f += weight.double_value(&[0, 2 * g as i64 + 1]) * t.imag().double_value(&[]);
                }
                let _ = out.get(bi).get(si).fill_(f);
            }
        }
        out.reshape([b, w.size()[2], w.size()[3]])
    }

    #[test]
    fn geblnet_matches_reference_forward() {
        let _seed = seed_libtorch(14);
        let vs = store(Kind::Double);
        let cfg = NetConfig {
            channels: vec![4, 3, 2],
            ..Default::default()
        };
        let net = gauge_net(vs.root(), 2, &cfg).unwrap();
        for n in [1, 2] {
            let links = random_links(2, &[3, 2], n);
            let w = plaquettes(&links);
            let got = net.forward(&w, None);
            let want = reference_geblnet(&vs, &cfg, &w);
            assert!(
                rel_err(&got, &want) < 1e-10,
                "n = {n}: {}",
                rel_err(&got, &want)
            );
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = NetConfig {
            architecture: Architecture::Geconvnet,
            norm_placement: NormPlacement::BeforeActivation,
            ..Default::default()
        };
        let s = serde_json::to_string(&cfg).unwrap();
        let back: NetConfig = serde_json::from_str(&s).unwrap();
        assert_eq!(back, cfg);
        let partial: NetConfig = serde_json::from_str(r#"{"channels": [8, 4]}"#).unwrap();
        assert_eq!(partial.channels, vec![8, 4]);
        assert_eq!(partial.architecture, Architecture::Geblnet);
    }
}
