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
//! Prints one JSON line: the median wall and CPU milliseconds per step over all members, and the
//! peak RSS. The CPU time is this thread's (`/proc/thread-self/schedstat`); with one libtorch
//! thread all the work runs here, and on a loaded machine it is far steadier than wall time.

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

/// CPU time of this thread in milliseconds.
fn thread_cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |ns| ns * 1e-6)
}

/// Wall and CPU milliseconds of `reps` calls after 3 warm-up calls.
fn time_reps(reps: usize, mut step: impl FnMut()) -> (Vec<f64>, Vec<f64>) {
    let mut wall = Vec::with_capacity(reps);
    let mut cpu = Vec::with_capacity(reps);
    for rep in 0..reps + 3 {
        let c0 = thread_cpu_ms();
        let t0 = std::time::Instant::now();
        step();
        if rep >= 3 {
            wall.push(t0.elapsed().as_secs_f64() * 1e3);
            cpu.push(thread_cpu_ms() - c0);
        }
    }
    (wall, cpu)
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
    let (mut wall, mut cpu) = match mode.as_str() {
        "onepass" => {
            let (_vs, ensemble, layers) = build(members);
            let vars = ensemble.var_store().trainable_variables();
            time_reps(reps, || {
                for v in &vars {
                    let mut g = v.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                let y = forward(&layers, &x);
                let loss = (y - &target).square().mean(Kind::Float) * members as f64;
                loss.backward();
            })
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
            time_reps(reps, || {
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
            })
        }
        "onepass-eval" => {
            let (_vs, _ensemble, layers) = build(members);
            time_reps(reps, || {
                tch::no_grad(|| {
                    let _ = std::hint::black_box(forward(&layers, &x).sum(Kind::Float));
                });
            })
        }
        "sequential-eval" => {
            let (_vs_all, all, _) = build(members);
            let stored: Vec<(Tensor, Tensor)> = all
                .updates()
                .iter()
                .map(|u| (u.a().detach().copy(), u.b().detach().copy()))
                .collect();
            let (_vs, slot, layers) = build(1);
            time_reps(reps, || {
                tch::no_grad(|| {
                    for m in 0..members as i64 {
                        for (u, (a, b)) in slot.updates().iter().zip(&stored) {
                            u.a().get(0).copy_(&a.get(m));
                            u.b().get(0).copy_(&b.get(m));
                        }
                        let _ = std::hint::black_box(forward(&layers, &x).sum(Kind::Float));
                    }
                });
            })
        }
        other => {
            eprintln!(
                "unknown mode {other:?} (onepass, sequential, onepass-eval, sequential-eval)"
            );
            std::process::exit(1);
        }
    };
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "{{\"impl\": \"rust-{mode}\", \"members\": {members}, \"threads\": {threads}, \"reps\": {reps}, \"median_ms\": {:.4}, \"min_ms\": {:.4}, \"median_cpu_ms\": {:.4}, \"peak_rss_kib\": {}}}",
        wall[wall.len() / 2],
        wall[0],
        cpu[cpu.len() / 2],
        peak_rss_kib()
    );
}
