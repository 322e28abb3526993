//! Timing of one training step (forward + backward) of a LoRA ensemble, for
//! `benches/compare/lora`: an MLP of `layers` linear layers of width `width`, batch `batch`,
//! every layer adapted (r = 8), M members.
//!
//! ```text
//! cargo run --release -p lora-ensemble --example ensemble_bench -- onepass|sequential [M] [reps]
//! ```
//! - `onepass`: all M members in one batched pass (shared input, member axis).
//! - `sequential`: one adapter slot; for each member its A and B are copied in (adapter
//!   swapping, as the reference code evaluates members), then forward + backward.
//! - `onepass-eval`, `sequential-eval`: the same, forward only (evaluation, no gradients).
//!
//! Prints one JSON line: the median milliseconds per step over all members, and the peak RSS.

use lora_ensemble::{LoraConfig, LoraEnsemble, TargetModules};
use tch::{Device, Kind, Tensor, nn};

const WIDTH: i64 = 1024;
const LAYERS: usize = 4;
const BATCH: i64 = 64;
const RANK: usize = 8;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn build(members: usize) -> (nn::VarStore, LoraEnsemble, Vec<lora_ensemble::LoraLinear>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let names: Vec<String> = (0..LAYERS).map(|i| format!("l{i}")).collect();
    let config = LoraConfig::new(RANK, 16.0, TargetModules::names(&names));
    let seeds = (0..members as u64).collect();
    let ensemble = LoraEnsemble::new(config, seeds, Device::Cpu).expect("valid config");
    let layers = names
        .iter()
        .map(|n| {
            ensemble
                .linear_at(&(vs.root() / n.as_str()), WIDTH, WIDTH, Default::default())
                .expect("layer")
        })
        .collect();
    ensemble.check_targets().expect("targets");
    // Non-zero B, as after some training.
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

fn forward(layers: &[lora_ensemble::LoraLinear], x: &Tensor) -> Tensor {
    let mut h = layers[0].forward_shared(x, true).expect("shape").relu();
    for l in &layers[1..] {
        h = l.forward_members(&h, true).expect("shape").relu();
    }
    h
}

/// Median milliseconds of `reps` calls after 3 warm-up calls.
fn time_reps(reps: usize, mut step: impl FnMut()) -> Vec<f64> {
    let mut times = Vec::with_capacity(reps);
    for rep in 0..reps + 3 {
        let t0 = std::time::Instant::now();
        step();
        if rep >= 3 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "onepass".into());
    let members: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let reps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let threads = tch::get_num_threads();
    tch::manual_seed(0);
    let x = Tensor::randn([BATCH, WIDTH], (Kind::Float, Device::Cpu));
    let target = Tensor::randn([BATCH, WIDTH], (Kind::Float, Device::Cpu));
    let mut times = Vec::with_capacity(reps);
    match mode.as_str() {
        "onepass" => {
            let (_vs, ensemble, layers) = build(members);
            let vars = ensemble.var_store().trainable_variables();
            for rep in 0..reps + 3 {
                let t0 = std::time::Instant::now();
                for v in &vars {
                    let mut g = v.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                let y = forward(&layers, &x);
                let loss = (y - &target).square().mean(Kind::Float) * members as f64;
                loss.backward();
                if rep >= 3 {
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        "sequential" => {
            // All members' adapters kept aside; one slot computes.
            let (_vs_all, all, _) = build(members);
            let stored: Vec<(Tensor, Tensor)> = all
                .updates()
                .iter()
                .map(|u| (u.a().detach().copy(), u.b().detach().copy()))
                .collect();
            let (_vs, slot, layers) = build(1);
            let vars = slot.var_store().trainable_variables();
            for rep in 0..reps + 3 {
                let t0 = std::time::Instant::now();
                for m in 0..members as i64 {
                    for (u, (a, b)) in slot.updates().iter().zip(&stored) {
                        tch::no_grad(|| {
                            u.a().get(0).copy_(&a.get(m));
                            u.b().get(0).copy_(&b.get(m));
                        });
                    }
                    for v in &vars {
                        let mut g = v.grad();
                        if g.defined() {
                            let _ = g.zero_();
                        }
                    }
                    let y = forward(&layers, &x);
                    let loss = (y - &target).square().mean(Kind::Float);
                    loss.backward();
                }
                if rep >= 3 {
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        "onepass-eval" => {
            let (_vs, _ensemble, layers) = build(members);
            times = time_reps(reps, || {
                tch::no_grad(|| {
                    let _ = std::hint::black_box(forward(&layers, &x).sum(Kind::Float));
                });
            });
        }
        "sequential-eval" => {
            let (_vs_all, all, _) = build(members);
            let stored: Vec<(Tensor, Tensor)> = all
                .updates()
                .iter()
                .map(|u| (u.a().detach().copy(), u.b().detach().copy()))
                .collect();
            let (_vs, slot, layers) = build(1);
            times = time_reps(reps, || {
                tch::no_grad(|| {
                    for m in 0..members as i64 {
                        for (u, (a, b)) in slot.updates().iter().zip(&stored) {
                            u.a().get(0).copy_(&a.get(m));
                            u.b().get(0).copy_(&b.get(m));
                        }
                        let _ = std::hint::black_box(forward(&layers, &x).sum(Kind::Float));
                    }
                });
            });
        }
        other => {
            eprintln!(
                "unknown mode {other:?} (onepass, sequential, onepass-eval, sequential-eval)"
            );
            std::process::exit(1);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"impl\": \"rust-{mode}\", \"members\": {members}, \"threads\": {threads}, \"reps\": {reps}, \"median_ms\": {median:.4}, \"min_ms\": {:.4}, \"peak_rss_kib\": {}}}",
        times[0],
        peak_rss_kib()
    );
}
