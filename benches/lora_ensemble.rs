//! lora-ensemble: one training step (forward + backward) of an M = 5 LoRA ensemble in one batched
//! pass, against the same members one after another with adapter swapping, and the evaluation
//! forward alone (MLP of 4 layers of 256, batch 64, r = 8, one libtorch thread).
//!
//! `cargo bench --bench lora_ensemble`. The side-by-side comparison with PyTorch + peft at width
//! 1024: `benches/compare/lora/run.sh`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lora_ensemble::{LoraConfig, LoraEnsemble, LoraLinear, TargetModules};
use tch::{Device, Kind, Tensor, nn};

const WIDTH: i64 = 256;
const LAYERS: usize = 4;
const BATCH: i64 = 64;
const MEMBERS: usize = 5;

fn build(members: usize) -> (nn::VarStore, LoraEnsemble, Vec<LoraLinear>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let names: Vec<String> = (0..LAYERS).map(|i| format!("l{i}")).collect();
    let config = LoraConfig::new(8, 16.0, TargetModules::names(&names));
    let ensemble = LoraEnsemble::new(config, (0..members as u64).collect(), Device::Cpu)
        .expect("valid config");
    let layers = names
        .iter()
        .map(|n| {
            ensemble
                .linear_at(&(vs.root() / n.as_str()), WIDTH, WIDTH, Default::default())
                .expect("layer")
        })
        .collect();
    tch::manual_seed(1);
    for u in ensemble.updates() {
        tch::no_grad(|| {
            u.b()
                .shallow_clone()
                .copy_(&(Tensor::randn(u.b().size(), (Kind::Float, Device::Cpu)) * 0.01));
        });
    }
    (vs, ensemble, layers)
}

fn forward(layers: &[LoraLinear], x: &Tensor, train: bool) -> Tensor {
    let mut h = layers[0].forward_shared(x, train).expect("shape").relu();
    for l in &layers[1..] {
        h = l.forward_members(&h, train).expect("shape").relu();
    }
    h
}

fn bench(c: &mut Criterion) {
    // One intra-op thread: on a shared 2-core machine libtorch's spinning worker threads make the
    // timings of both variants swing by 2x or more.
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let x = Tensor::randn([BATCH, WIDTH], (Kind::Float, Device::Cpu));
    let target = Tensor::randn([BATCH, WIDTH], (Kind::Float, Device::Cpu));
    let (_vs, ensemble, layers) = build(MEMBERS);
    let (_vs1, slot, slot_layers) = build(1);
    let stored: Vec<(Tensor, Tensor)> = ensemble
        .updates()
        .iter()
        .map(|u| (u.a().detach().copy(), u.b().detach().copy()))
        .collect();
    let mut g = c.benchmark_group("lora_ensemble_step_m5");
    g.bench_function("one_pass", |b| {
        b.iter(|| {
            let y = forward(&layers, &x, true);
            let loss = (y - &target).square().mean(Kind::Float);
            loss.backward();
            black_box(loss)
        })
    });
    g.bench_function("sequential_swap", |b| {
        b.iter(|| {
            for m in 0..MEMBERS as i64 {
                for (u, (a, bm)) in slot.updates().iter().zip(&stored) {
                    tch::no_grad(|| {
                        u.a().get(0).copy_(&a.get(m));
                        u.b().get(0).copy_(&bm.get(m));
                    });
                }
                let y = forward(&slot_layers, &x, true);
                let loss = (y - &target).square().mean(Kind::Float);
                loss.backward();
                let _ = black_box(loss);
            }
        })
    });
    g.bench_function("one_pass_eval", |b| {
        b.iter(|| tch::no_grad(|| black_box(forward(&layers, &x, false))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
