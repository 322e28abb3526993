//! The reverse direction of the golden check: Rust trains 3-member LoRA ensembles on the golden
//! base model (f32 and f64), saves them as ensemble folders, and records every member's output on
//! a fixed input, for `tests/golden/make_golden.py --check-reverse` to compare with peft's.
//!
//! ```text
//! cargo run --release -p lora-ensemble --example peft_reverse -- tests/golden OUT
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use common::*;
use lora_ensemble::{LoraEnsemble, TrainConfig, train};
use tch::{Device, Kind, Tensor};

fn main() -> lora_ensemble::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(_golden), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: peft_reverse GOLDEN_DIR OUT_DIR");
        std::process::exit(1);
    };
    let out = PathBuf::from(out);
    for (tag, kind) in [("f32", Kind::Float), ("f64", Kind::Double)] {
        // The plain case's config (r = 4, alpha = 8, targets proj and out) with the rsLoRA scaling
        // switched on, so that peft must read use_rslora from our config to agree.
        let mut config = golden_config("plain_f32");
        config.use_rslora = true;
        let ensemble = LoraEnsemble::new(config, vec![101, 202, 303], Device::Cpu)?;
        let net = GoldenNet::build(&ensemble, kind)?;
        tch::manual_seed(5);
        let x = Tensor::randn([64, D_IN], (kind, Device::Cpu));
        let y = x.narrow(1, 0, D_OUT).cos();
        let cfg = TrainConfig {
            epochs: 4,
            batch_size: 16,
            learning_rate: 0.02,
            weight_decay: 0.01,
            lambda: 0.1,
            max_grad_norm: Some(1.0),
        };
        let stats = train(&ensemble, &x, &y, &cfg, |xs, ys| {
            (net.forward_members(xs, true) - ys)
                .square()
                .mean_dim(&[1i64, 2][..], false, kind)
        })?;
        let dir = out.join(tag);
        ensemble.save(&dir, &base_file(kind))?;
        let probe = x.narrow(0, 0, 9);
        let ys = net.forward_shared(&probe);
        let mut named = vec![("x".to_string(), probe.shallow_clone())];
        for m in 0..3 {
            named.push((format!("y.{m}"), ys.get(m).contiguous()));
        }
        Tensor::write_safetensors(&named, dir.join("rust_outputs.safetensors")).map_err(|e| {
            lora_ensemble::Error::Io {
                path: dir.join("rust_outputs.safetensors"),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        let last = stats
            .last()
            .map(|s| s.member_loss.clone())
            .unwrap_or_default();
        println!(
            "{tag}: trained 3 members, last-epoch losses {last:?}, saved to {}",
            dir.display()
        );
    }
    Ok(())
}
