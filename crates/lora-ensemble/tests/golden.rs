//! Against golden files from real peft 0.21.2 / torch 2.13.0 (tests/golden/make_golden.py).

mod common;

use common::*;
use lora_ensemble::{LoraEnsemble, PeftAdapter, inspect, lora_a_key, merge_into_file};
use tch::{Device, Kind};

const CASES: [(&str, Kind, f64); 3] = [
    ("plain_f32", Kind::Float, 1e-6),
    ("plain_f64", Kind::Double, 1e-12),
    ("rslora_f64", Kind::Double, 1e-12),
];

#[test]
fn forward_reproduces_peft() {
    for (case, kind, tol) in CASES {
        let (ensemble, net) = ensemble_on_net(golden_config(case), vec![0], kind);
        ensemble.load_member(0, &golden_dir().join(case)).unwrap();
        let expected = read_tensors(&golden_dir().join(case).join("expected.safetensors"));
        let x = tensor(&expected, "x");
        let y = tensor(&expected, "y");
        let y_rust = net.forward_shared(&x).get(0);
        let err = rel_err(&y_rust, &y);
        eprintln!("{case}: forward, max |y_rust - y_peft| / max |y_peft| = {err:.2e}");
        assert!(err <= tol, "{case}: relative error {err:e} > {tol:e}");
        // The per-member input mode gives the same.
        let y_members = net.forward_members(&x.unsqueeze(0), false).get(0);
        let err = rel_err(&y_members, &y);
        assert!(
            err <= tol,
            "{case} per-member: relative error {err:e} > {tol:e}"
        );
    }
}

#[test]
fn rslora_scaling_and_targets_follow_peft() {
    let c = golden_config("rslora_f64");
    assert!(c.use_rslora);
    assert_eq!(c.scaling(), 3.0 / 2f64.sqrt());
    let ensemble = LoraEnsemble::new(c, vec![0], Device::Cpu).unwrap();
    let _net = GoldenNet::build(&ensemble, Kind::Double).unwrap();
    let modules: Vec<String> = ensemble
        .updates()
        .iter()
        .map(|u| u.module().to_string())
        .collect();
    // The regex `.*layers\.\d+\.proj|head` selects the same modules as peft did.
    let peft = PeftAdapter::read(&golden_dir().join("rslora_f64")).unwrap();
    let mut sorted = modules.clone();
    sorted.sort();
    assert_eq!(sorted, peft.modules.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        modules,
        ["encoder.layers.0.proj", "encoder.layers.1.proj", "head"]
    );
}

#[test]
fn merge_matches_merge_and_unload_and_unmerge_restores_the_base() {
    for (case, kind, tol) in CASES {
        let (ensemble, net) = ensemble_on_net(golden_config(case), vec![0], kind);
        ensemble.load_member(0, &golden_dir().join(case)).unwrap();
        let expected = read_tensors(&golden_dir().join(case).join("expected.safetensors"));
        let before = snapshot(&net.vs);
        ensemble.merge(0).unwrap();
        for (name, w) in net.vs.variables() {
            let err = rel_err(&w, &tensor(&expected, &format!("merged.{name}")));
            assert!(err <= tol, "{case}: merged {name}: {err:e}");
        }
        // Merged, the outputs are unchanged (the merged member's branch is subtracted).
        let err = rel_err(
            &net.forward_shared(&tensor(&expected, "x")).get(0),
            &tensor(&expected, "y"),
        );
        assert!(err <= tol, "{case}: merged forward {err:e}");
        ensemble.unmerge().unwrap();
        for (name, w) in before {
            let err = rel_err(&net.vs.variables()[&name], &w);
            assert!(err <= tol, "{case}: unmerged {name}: {err:e}");
        }
    }
}

#[test]
fn merge_into_file_matches_merge_and_unload() {
    for (case, kind, tol) in CASES {
        let dir = tmp_dir(&format!("merge-{case}"));
        let out = dir.join("merged.safetensors");
        let adapter = PeftAdapter::read(&golden_dir().join(case)).unwrap();
        let report = merge_into_file(&base_file(kind), &adapter, &out).unwrap();
        let expected = read_tensors(&golden_dir().join(case).join("expected.safetensors"));
        let merged = read_tensors(&out);
        assert_eq!(merged.len(), 8, "{case}: every base tensor is written");
        assert_eq!(report.merged.len() + report.copied, 8);
        for (name, w) in &merged {
            assert_eq!(w.kind(), kind);
            let err = rel_err(w, &tensor(&expected, &format!("merged.{name}")));
            assert!(err <= tol, "{case}: {name}: {err:e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn saved_member_has_pefts_keys_shapes_and_bytes() {
    for (case, kind, _) in CASES {
        let (ensemble, _net) = ensemble_on_net(golden_config(case), vec![3, 4], kind);
        ensemble.load_member(1, &golden_dir().join(case)).unwrap();
        let dir = tmp_dir(&format!("save-{case}"));
        ensemble.save_member(1, &dir).unwrap();
        let ours = read_tensors(&dir.join("adapter_model.safetensors"));
        let peft = read_tensors(&golden_dir().join(case).join("adapter_model.safetensors"));
        let mut ours_keys: Vec<_> = ours.iter().map(|(k, _)| k.clone()).collect();
        let mut peft_keys: Vec<_> = peft.iter().map(|(k, _)| k.clone()).collect();
        ours_keys.sort();
        peft_keys.sort();
        assert_eq!(ours_keys, peft_keys, "{case}");
        for (k, t) in &peft {
            let o = tensor(&ours, k);
            assert_eq!(o.size(), t.size());
            assert_eq!(o.kind(), t.kind());
            assert!(o.equal(t), "{case}: {k} not bit-identical");
        }
        // The config round-trips through peft's field names.
        let back = lora_ensemble::LoraConfig::read(&dir.join("adapter_config.json")).unwrap();
        assert_eq!(&back, ensemble.config());
        let text = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
        for field in [
            "\"peft_type\": \"LORA\"",
            "\"r\":",
            "\"lora_alpha\":",
            "\"target_modules\":",
            "\"use_rslora\":",
        ] {
            assert!(text.contains(field), "{field} missing in {text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn inspect_reports_the_golden_adapter() {
    let s = inspect(&golden_dir().join("plain_f32")).unwrap();
    assert_eq!((s.r, s.lora_alpha, s.scaling, s.members), (4, 8.0, 2.0, 1));
    // r (in + out) summed: proj0 4(5+8), out0 4(8+8), proj1 4(8+8), out1 4(8+8).
    assert_eq!(s.lora_parameters, 4 * 13 + 3 * 4 * 16);
    assert_eq!(s.modules.len(), 4);
    assert_eq!(s.dtype, "F32");
    let json = serde_json::to_value(&s).unwrap();
    for key in [
        "r",
        "lora_alpha",
        "scaling",
        "target_modules",
        "lora_parameters",
        "members",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(lora_a_key("head"), "base_model.model.head.lora_A.weight");
}
