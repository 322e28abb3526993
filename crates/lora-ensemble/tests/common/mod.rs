//! The golden model of tests/golden/make_golden.py, built on tch with adapters, and helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lora_ensemble::{LoraConfig, LoraEnsemble, LoraLinear, Result};
use tch::{Device, Kind, Tensor, nn};

pub const D_IN: i64 = 5;
pub const D_HIDDEN: i64 = 8;
pub const D_OUT: i64 = 3;

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `base_f32.safetensors` or `base_f64.safetensors`.
pub fn base_file(kind: Kind) -> PathBuf {
    golden_dir().join(match kind {
        Kind::Double => "base_f64.safetensors",
        _ => "base_f32.safetensors",
    })
}

/// encoder.layers.{0,1}.{proj,out} and head, as the Python `Net`.
pub struct GoldenNet {
    pub vs: nn::VarStore,
    pub blocks: Vec<(LoraLinear, LoraLinear)>,
    pub head: LoraLinear,
}

impl GoldenNet {
    /// Builds the net in `kind`, wraps its linear layers with `ensemble`, loads the golden base.
    pub fn build(ensemble: &LoraEnsemble, kind: Kind) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        vs.set_kind(kind);
        let root = vs.root();
        let layers = &root / "encoder" / "layers";
        let mut blocks = Vec::new();
        for (i, d_in) in [(0, D_IN), (1, D_HIDDEN)] {
            let p = &layers / i;
            let proj = ensemble.linear_at(&(&p / "proj"), d_in, D_HIDDEN, Default::default())?;
            let no_bias = nn::LinearConfig {
                bias: false,
                ..Default::default()
            };
            let out = ensemble.linear_at(&(&p / "out"), D_HIDDEN, D_HIDDEN, no_bias)?;
            blocks.push((proj, out));
        }
        let head = ensemble.linear_at(&(&root / "head"), D_HIDDEN, D_OUT, Default::default())?;
        ensemble.check_targets()?;
        vs.load(base_file(kind)).expect("golden base loads");
        Ok(GoldenNet { vs, blocks, head })
    }

    /// All members on one input `[N, 5]` -> `[M, N, 3]`.
    pub fn forward_shared(&self, x: &Tensor) -> Tensor {
        let (proj0, _) = &self.blocks[0];
        let h = proj0.forward_shared(x, false).unwrap().tanh();
        let h = &h + self.blocks[0].1.forward_members(&h, false).unwrap();
        self.rest(h, 1)
    }

    /// An input per member `[M, N, 5]` -> `[M, N, 3]`.
    pub fn forward_members(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (proj, out) in &self.blocks {
            h = proj.forward_members(&h, train).unwrap().tanh();
            h = &h + out.forward_members(&h, train).unwrap();
        }
        self.head.forward_members(&h, train).unwrap()
    }

    fn rest(&self, mut h: Tensor, from: usize) -> Tensor {
        for (proj, out) in &self.blocks[from..] {
            h = proj.forward_members(&h, false).unwrap().tanh();
            h = &h + out.forward_members(&h, false).unwrap();
        }
        self.head.forward_members(&h, false).unwrap()
    }
}

/// The config of a golden case folder.
pub fn golden_config(case: &str) -> LoraConfig {
    LoraConfig::read(&golden_dir().join(case).join("adapter_config.json")).unwrap()
}

/// Named tensors of a safetensors file.
pub fn read_tensors(path: &Path) -> Vec<(String, Tensor)> {
    Tensor::read_safetensors(path).unwrap()
}

pub fn tensor(named: &[(String, Tensor)], key: &str) -> Tensor {
    named
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .1
        .shallow_clone()
}

/// An ensemble of `config` with one member per seed and the golden net of `kind` it adapts.
pub fn ensemble_on_net(
    config: LoraConfig,
    seeds: Vec<u64>,
    kind: Kind,
) -> (LoraEnsemble, GoldenNet) {
    let ensemble = LoraEnsemble::new(config, seeds, Device::Cpu).unwrap();
    let net = GoldenNet::build(&ensemble, kind).unwrap();
    (ensemble, net)
}

/// Copies of every base variable, by name.
pub fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect()
}

/// The training loss of the tests: the mean squared error of each member, `[M]`.
pub fn member_mse(predicted: Tensor, target: &Tensor, kind: Kind) -> Tensor {
    (predicted - target)
        .square()
        .mean_dim(&[1i64, 2][..], false, kind)
}

/// max |a - b| / max |b|.
pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]).max(f64::MIN_POSITIVE);
    diff / scale
}

/// A fresh temporary folder for one test.
pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lora-ensemble-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Standard normal entries of `shape` in `kind` from a generator of this test's own, seeded with
/// `seed`. libtorch's global generator is shared by the tests that run in parallel threads, so two
/// draws after `tch::manual_seed` in one test can differ when another test draws in between;
/// tests that need the same input twice draw it here.
pub fn seeded_normal(shape: &[i64], kind: Kind, seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let count: i64 = shape.iter().product();
    let values: Vec<f64> = (0..count)
        .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
        .collect();
    Tensor::from_slice(&values).reshape(shape).to_kind(kind)
}

/// Gives every member's B random entries (so that the adapters matter), the same for the same
/// `seed` whatever else runs.
pub fn randomise_b(ensemble: &LoraEnsemble, seed: u64) {
    for (i, u) in ensemble.updates().iter().enumerate() {
        tch::no_grad(|| {
            let r = seeded_normal(&u.b().size(), u.b().kind(), seed.wrapping_add(i as u64)) * 0.3;
            u.b().shallow_clone().copy_(&r);
        });
    }
}
