//! Hostile input to the peft file readers: truncations, bit flips, random bytes and absurd headers
//! give a clean error (or a valid read), never a panic, and allocation bounded by the file.

mod common;

use std::path::Path;

use common::*;
use lora_ensemble::{EnsembleManifest, LoraConfig, LoraEnsemble, PeftAdapter, inspect};
use proptest::prelude::*;
use tch::{Device, Kind};

fn golden_bytes(file: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join("plain_f32").join(file)).unwrap()
}

/// Writes an adapter folder with the given weights and config bytes and runs every reader on it.
fn read_everything(dir: &Path, weights: &[u8], config: &[u8]) {
    std::fs::write(dir.join("adapter_model.safetensors"), weights).unwrap();
    std::fs::write(dir.join("adapter_config.json"), config).unwrap();
    if let Err(e) = PeftAdapter::read(dir) {
        let msg = e.to_string();
        assert!(
            msg.contains("adapter_") || msg.contains("target_modules"),
            "unnamed file: {msg}"
        );
    }
    let _ = inspect(dir);
    let _ = LoraConfig::read(&dir.join("adapter_config.json"));
    let out = dir.join("merged.safetensors");
    if let Ok(a) = PeftAdapter::read(dir) {
        let _ = lora_ensemble::merge_into_file(&base_file(Kind::Float), &a, &out);
        // Into a model: errors or loads, never panics.
        if let Ok(e) = LoraEnsemble::new(golden_config("plain_f32"), vec![0], Device::Cpu)
            && GoldenNet::build(&e, Kind::Float).is_ok()
        {
            let _ = e.load_member(0, dir);
        }
    }
    // The same bytes as a base model file.
    if let Ok(a) = PeftAdapter::read(&golden_dir().join("plain_f32")) {
        let base = dir.join("base.safetensors");
        std::fs::write(&base, weights).unwrap();
        let _ = lora_ensemble::merge_into_file(&base, &a, &out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn truncated_weights(cut in 0usize..2000) {
        let dir = tmp_dir("hostile-trunc");
        let w = golden_bytes("adapter_model.safetensors");
        let cut = cut.min(w.len());
        read_everything(&dir, &w[..cut], &golden_bytes("adapter_config.json"));
    }

    #[test]
    fn flipped_bits(flips in proptest::collection::vec((0usize..4000, 0u8..8), 1..6)) {
        let dir = tmp_dir("hostile-flip");
        let mut w = golden_bytes("adapter_model.safetensors");
        let mut c = golden_bytes("adapter_config.json");
        for (i, bit) in flips {
            if i < w.len() { w[i] ^= 1 << bit } else { let j = (i - w.len()) % c.len(); c[j] ^= 1 << bit }
        }
        read_everything(&dir, &w, &c);
    }

    #[test]
    fn random_bytes(w in proptest::collection::vec(any::<u8>(), 0..512),
                    c in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = tmp_dir("hostile-random");
        read_everything(&dir, &w, &c);
    }

    #[test]
    fn absurd_headers(len in any::<u64>(), shape in proptest::collection::vec(any::<u64>(), 0..4),
                      end in any::<u64>()) {
        let dir = tmp_dir("hostile-header");
        // A well-formed header that declares a huge tensor or a huge header length.
        let header = format!(
            r#"{{"base_model.model.encoder.layers.0.proj.lora_A.weight":{{"dtype":"F32","shape":{shape:?},"data_offsets":[0,{end}]}}}}"#
        );
        let mut w = (header.len() as u64).to_le_bytes().to_vec();
        w.extend_from_slice(header.as_bytes());
        w.extend_from_slice(&[0u8; 64]);
        read_everything(&dir, &w, &golden_bytes("adapter_config.json"));
        let mut w2 = len.to_le_bytes().to_vec();
        w2.extend_from_slice(header.as_bytes());
        read_everything(&dir, &w2, &golden_bytes("adapter_config.json"));
        // Absurd config values.
        let cfg = format!(r#"{{"r": {len}, "lora_alpha": 1e308, "target_modules": ["proj"]}}"#);
        read_everything(&dir, &golden_bytes("adapter_model.safetensors"), cfg.as_bytes());
    }

    #[test]
    fn hostile_manifests(text in "\\PC{0,200}", members in any::<u64>()) {
        let dir = tmp_dir("hostile-manifest");
        std::fs::write(dir.join("manifest.json"), &text).unwrap();
        let _ = EnsembleManifest::read(&dir);
        let _ = inspect(&dir);
        let m = format!(r#"{{"format":"chernet-lora-ensemble","version":1,"members":{members},"seeds":[1],"epochs":0,"base":{{"file":"x","sha256":"0","bytes":0}}}}"#);
        std::fs::write(dir.join("manifest.json"), m).unwrap();
        let _ = inspect(&dir);
        let _ = PeftAdapter::open(&dir, Some(0));
    }
}
