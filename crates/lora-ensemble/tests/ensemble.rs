//! Member axis, training, merge, init and ensemble folders: oracles from explicit formulas.

mod common;

use common::*;
use lora_ensemble::{
    Error, InitLoraWeights, LoraConfig, LoraEnsemble, TargetModules, TrainConfig, train,
};
use tch::{Device, Kind, Tensor, nn};

fn plain_config() -> LoraConfig {
    LoraConfig::new(4, 8.0, TargetModules::names(&["proj", "out"]))
}

/// An ensemble of [`plain_config`] with one member per seed, on the golden net of `kind`.
fn plain(seeds: Vec<u64>, kind: Kind) -> (LoraEnsemble, GoldenNet) {
    ensemble_on_net(plain_config(), seeds, kind)
}

#[test]
fn batched_members_equal_separate_single_member_passes() {
    let seeds = vec![11, 12, 13, 14];
    let (ensemble, net) = plain(seeds.clone(), Kind::Float);
    randomise_b(&ensemble, 7);
    tch::manual_seed(1);
    let x = Tensor::randn([9, D_IN], (Kind::Float, Device::Cpu));
    let y = net.forward_shared(&x);
    assert_eq!(y.size(), [4, 9, D_OUT]);
    let dir = tmp_dir("separate");
    for (m, &seed) in seeds.iter().enumerate() {
        ensemble.save_member(m, &dir.join(format!("m{m}"))).unwrap();
        let (single, single_net) = plain(vec![seed], Kind::Float);
        single.load_member(0, &dir.join(format!("m{m}"))).unwrap();
        let y_m = single_net.forward_shared(&x).get(0);
        let err = rel_err(&y.get(m as i64), &y_m);
        assert!(err <= 1e-6, "member {m}: {err:e}");
    }
    // And against the formula W x + b + s B A x written out for the first layer.
    let (proj0, _) = &net.blocks[0];
    let u = proj0.update().unwrap();
    let first = proj0.forward_shared(&x, false).unwrap();
    for m in 0..4 {
        let manual = x.linear(proj0.weight(), proj0.bias())
            + x.matmul(&u.a().get(m).tr()).matmul(&u.b().get(m).tr()) * u.scaling();
        assert!(rel_err(&first.get(m), &manual) <= 1e-6);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn wrong_input_shape_or_dtype_is_an_error_not_a_panic() {
    let (_ensemble, net) = plain(vec![1, 2], Kind::Float);
    let (proj0, _) = &net.blocks[0];
    let e = proj0
        .forward_shared(
            &Tensor::zeros([3, D_IN], (Kind::Double, Device::Cpu)),
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("encoder.layers.0.proj") && e.contains("Double"),
        "{e}"
    );
    let e = proj0
        .forward_shared(
            &Tensor::zeros([3, D_IN + 1], (Kind::Float, Device::Cpu)),
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("shape mismatch"), "{e}");
    let e = proj0
        .forward_members(
            &Tensor::zeros([3, 4, D_IN], (Kind::Float, Device::Cpu)),
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("per-member input") && e.contains("[3, 4, 5]"),
        "{e}"
    );
}

#[test]
fn untargeted_layer_is_the_base_for_every_member() {
    let (_ensemble, net) = plain(vec![1, 2], Kind::Float);
    assert!(net.head.update().is_none());
    let h = Tensor::randn([2, 3, D_HIDDEN], (Kind::Float, Device::Cpu));
    let y = net.head.forward_members(&h, false).unwrap();
    assert!(y.equal(&h.linear(net.head.weight(), net.head.bias())));
}

fn trained(seeds: Vec<u64>, kind: Kind) -> (LoraEnsemble, GoldenNet) {
    let (ensemble, net) = plain(seeds, kind);
    let x = seeded_normal(&[40, D_IN], kind, 3);
    let y = x.narrow(1, 0, D_OUT).sin();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 8,
        learning_rate: 0.02,
        weight_decay: 0.01,
        lambda: 0.1,
        max_grad_norm: Some(0.3),
    };
    train(&ensemble, &x, &y, &cfg, |xs, ys| {
        member_mse(net.forward_members(xs, true), ys, kind)
    })
    .unwrap();
    (ensemble, net)
}

#[test]
fn training_changes_only_adapters_and_leaves_the_base_bit_for_bit() {
    let (ensemble, net) = plain(vec![1, 2], Kind::Float);
    let before = snapshot(&net.vs);
    let b_before: Vec<_> = ensemble.updates().iter().map(|u| u.b().copy()).collect();
    let x = Tensor::randn([16, D_IN], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([16, D_OUT], (Kind::Float, Device::Cpu));
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 4,
        learning_rate: 0.05,
        weight_decay: 0.1,
        lambda: 1.0,
        max_grad_norm: None,
    };
    let stats = train(&ensemble, &x, &y, &cfg, |xs, ys| {
        member_mse(net.forward_members(xs, true), ys, Kind::Float)
    })
    .unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(ensemble.epochs(), 2);
    for (name, w) in before {
        assert!(net.vs.variables()[&name].equal(&w), "base {name} changed");
    }
    for (u, b0) in ensemble.updates().iter().zip(b_before) {
        assert!(!u.b().equal(&b0), "{}: B did not train", u.module());
    }
}

#[test]
fn a_member_trains_the_same_with_or_without_others() {
    let (together, _) = trained(vec![5, 6, 7], Kind::Double);
    let (alone, _) = trained(vec![6], Kind::Double);
    for (u3, u1) in together.updates().iter().zip(alone.updates()) {
        assert!(!u1.b().abs().max().double_value(&[]).eq(&0.0));
        let a_err = rel_err(&u3.a().get(1), &u1.a().get(0));
        let b_err = rel_err(&u3.b().get(1), &u1.b().get(0));
        assert!(
            a_err <= 1e-12 && b_err <= 1e-12,
            "{}: A {a_err:e}, B {b_err:e}",
            u3.module()
        );
    }
}

#[test]
fn members_differ_by_seed_and_data_order() {
    let a = lora_ensemble::member_order(1, 1, 50);
    let b = lora_ensemble::member_order(2, 1, 50);
    let a2 = lora_ensemble::member_order(1, 2, 50);
    assert_ne!(a, b);
    assert_ne!(a, a2);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<i64>>());
    let (ensemble, _net) = plain(vec![1, 2], Kind::Float);
    for u in ensemble.updates() {
        assert!(!u.a().get(0).equal(&u.a().get(1)));
    }
}

#[test]
fn frobenius_regulariser_is_the_unscaled_norm_of_b_a() {
    let (ensemble, _net) = plain(vec![1, 2, 3], Kind::Double);
    randomise_b(&ensemble, 9);
    let reg = ensemble.frobenius_regulariser();
    for m in 0..3 {
        let direct: f64 = ensemble
            .updates()
            .iter()
            .map(|u| {
                u.b()
                    .get(m)
                    .matmul(&u.a().get(m))
                    .square()
                    .sum(Kind::Double)
                    .double_value(&[])
            })
            .sum();
        let got = reg.double_value(&[m]);
        assert!((got - direct).abs() <= 1e-12 * direct, "{got} vs {direct}");
    }
}

#[test]
fn kaiming_and_gaussian_inits_follow_peft() {
    let mut c = LoraConfig::new(16, 16.0, TargetModules::all_linear());
    let vs = nn::VarStore::new(Device::Cpu);
    let e = LoraEnsemble::new(c.clone(), vec![1], Device::Cpu).unwrap();
    let l = e
        .linear_at(&(vs.root() / "w"), 4096, 64, Default::default())
        .unwrap();
    let a = l.update().unwrap().a().get(0);
    let bound = 1.0 / 4096f64.sqrt();
    assert!(a.abs().max().double_value(&[]) <= bound);
    // Variance of U(-b, b) is b^2 / 3; 65536 draws give it to well under 2%.
    let var = a.to_kind(Kind::Double).var(false).double_value(&[]);
    assert!((var / (bound * bound / 3.0) - 1.0).abs() < 0.02, "{var}");
    assert_eq!(l.update().unwrap().b().abs().max().double_value(&[]), 0.0);

    c.init_lora_weights = InitLoraWeights::Gaussian;
    let e = LoraEnsemble::new(c, vec![1], Device::Cpu).unwrap();
    let l = e
        .linear_at(&(vs.root() / "g"), 4096, 64, Default::default())
        .unwrap();
    let std = l
        .update()
        .unwrap()
        .a()
        .to_kind(Kind::Double)
        .std(false)
        .double_value(&[]);
    assert!((std * 16.0 - 1.0).abs() < 0.02, "std {std}, expected 1/r");
}

#[test]
fn initialisation_does_not_depend_on_the_other_members() {
    let (e3, _n3) = plain(vec![8, 9, 10], Kind::Float);
    let (e1, _n1) = plain(vec![9], Kind::Float);
    for (u3, u1) in e3.updates().iter().zip(e1.updates()) {
        assert!(u3.a().get(1).equal(&u1.a().get(0)));
    }
}

#[test]
fn merge_per_member_keeps_every_members_output() {
    let (ensemble, net) = plain(vec![1, 2, 3], Kind::Float);
    randomise_b(&ensemble, 4);
    let x = Tensor::randn([5, D_IN], (Kind::Float, Device::Cpu));
    let y = net.forward_shared(&x);
    let w0 = net.blocks[0].0.weight().copy();
    ensemble.safe_merge(2).unwrap();
    let err = rel_err(&net.forward_shared(&x), &y);
    assert!(err <= 1e-6, "merged forward {err:e}");
    // The merged weight is W + s B_2 A_2.
    let u = net.blocks[0].0.update().unwrap();
    let expected = &w0 + u.b().get(2).matmul(&u.a().get(2)) * u.scaling();
    assert!(rel_err(net.blocks[0].0.weight(), &expected) <= 1e-6);
    // generic weights() agree with the merged layer too.
    assert!(rel_err(&u.weights().get(0), &(&w0 + u.delta_member(0).unwrap())) <= 1e-6);
    assert!(matches!(
        ensemble.merge(1),
        Err(Error::Member { member: 1, .. })
    ));
    ensemble.unmerge().unwrap();
    assert!(rel_err(net.blocks[0].0.weight(), &w0) <= 1e-6);
    assert!(matches!(
        ensemble.merge(3),
        Err(Error::Member { member: 3, .. })
    ));
}

#[test]
fn safe_merge_refuses_a_non_finite_weight_and_names_it() {
    let (ensemble, net) = plain(vec![1], Kind::Float);
    let before = snapshot(&net.vs);
    let last = ensemble.updates().pop().unwrap();
    tch::no_grad(|| {
        let _ = last.b().shallow_clone().fill_(3e38);
        let _ = last.a().shallow_clone().fill_(3e38);
    });
    let e = ensemble.safe_merge(0).unwrap_err().to_string();
    assert!(
        e.contains("encoder.layers.1.out") && e.contains("member 0"),
        "{e}"
    );
    for (name, w) in before {
        assert!(
            net.vs.variables()[&name].equal(&w),
            "{name} changed by a refused merge"
        );
    }
}

#[test]
fn generic_low_rank_update_reshapes_to_any_weight() {
    let c = LoraConfig::new(2, 4.0, TargetModules::names(&["conv"]));
    let e = LoraEnsemble::new(c, vec![1, 2, 3], Device::Cpu).unwrap();
    let w = Tensor::randn([6, 4, 3, 3], (Kind::Double, Device::Cpu));
    let u = e.low_rank("net.conv", &w, 1).unwrap().unwrap();
    assert_eq!((u.out_features(), u.in_features()), (6, 36));
    assert!(e.low_rank("net.other", &w, 1).unwrap().is_none());
    randomise_b(&e, 5);
    let ws = u.weights();
    assert_eq!(ws.size(), [3, 6, 4, 3, 3]);
    for m in 0..3 {
        let delta = (u.b().get(m).matmul(&u.a().get(m)) * 2.0).view([6, 4, 3, 3]);
        assert!(rel_err(&ws.get(m), &(&w + delta)) <= 1e-12);
    }
    // Gradients reach A and B through weights().
    ws.sum(Kind::Double).backward();
    assert!(u.b().grad().defined());
    e.check_targets().unwrap();
}

#[test]
fn targets_that_match_nothing_are_named() {
    let c = LoraConfig::new(2, 4.0, TargetModules::names(&["proj", "q_proj", "v_proj"]));
    let e = LoraEnsemble::new(c, vec![1], Device::Cpu).unwrap();
    let err = GoldenNet::build(&e, Kind::Float).err().unwrap().to_string();
    assert!(
        err.contains("q_proj") && err.contains("v_proj") && !err.contains("[\"proj"),
        "{err}"
    );
    let c = LoraConfig::new(2, 4.0, TargetModules::Pattern("nothing.*".into()));
    let e = LoraEnsemble::new(c, vec![1], Device::Cpu).unwrap();
    assert!(matches!(
        GoldenNet::build(&e, Kind::Float),
        Err(Error::UnmatchedTargets { .. })
    ));
}

#[test]
fn all_linear_leaves_out_the_declared_output_layer() {
    let e = LoraEnsemble::new(
        LoraConfig::new(2, 4.0, TargetModules::all_linear()),
        vec![1],
        Device::Cpu,
    )
    .unwrap();
    e.set_output_layer("head");
    let net = GoldenNet::build(&e, Kind::Float).unwrap();
    assert_eq!(e.updates().len(), 4);
    assert!(net.head.update().is_none());
}

#[test]
fn ensemble_folder_round_trips_and_refuses_another_base() {
    let (ensemble, net) = trained(vec![21, 22, 23], Kind::Float);
    let x = Tensor::randn([4, D_IN], (Kind::Float, Device::Cpu));
    let y = net.forward_shared(&x);
    let dir = tmp_dir("ensemble");
    ensemble.save(&dir, &base_file(Kind::Float)).unwrap();
    for m in 0..3 {
        assert!(
            dir.join(format!("member-{m}/adapter_model.safetensors"))
                .exists()
        );
    }
    let (fresh, fresh_net) = plain(vec![21, 22, 23], Kind::Float);
    let manifest = fresh.load(&dir, &base_file(Kind::Float)).unwrap();
    assert_eq!((manifest.members, manifest.epochs), (3, 3));
    assert!(fresh_net.forward_shared(&x).equal(&y));
    let summary = lora_ensemble::inspect(&dir).unwrap();
    assert_eq!((summary.members, summary.epochs), (3, Some(3)));

    let e = fresh
        .load(&dir, &base_file(Kind::Double))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("manifest.json: base.sha256") && e.contains("another base"),
        "{e}"
    );
    let (other, _n) = plain(vec![1, 2], Kind::Float);
    let e = other
        .load(&dir, &base_file(Kind::Float))
        .unwrap_err()
        .to_string();
    assert!(e.contains("members"), "{e}");
    // Without its manifest (an interrupted save) the folder is refused.
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    assert!(matches!(
        fresh.load(&dir, &base_file(Kind::Float)),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_adapter_files_are_named_errors() {
    let (ensemble, _net) = plain(vec![1], Kind::Float);
    // f64 adapter into an f32 model.
    let e = ensemble
        .load_member(0, &golden_dir().join("plain_f64"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("adapter_model.safetensors") && e.contains("dtype"),
        "{e}"
    );
    // Another r.
    let e = ensemble
        .load_member(0, &golden_dir().join("rslora_f64"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("adapter_config.json: r"), "{e}");
    // Missing key, extra key, truncated file.
    let dir = tmp_dir("bad");
    let src = golden_dir().join("plain_f32");
    std::fs::copy(
        src.join("adapter_config.json"),
        dir.join("adapter_config.json"),
    )
    .unwrap();
    let named = read_tensors(&src.join("adapter_model.safetensors"));
    let drop_key = "base_model.model.encoder.layers.1.out.lora_B.weight";
    let fewer: Vec<_> = named
        .iter()
        .filter(|(k, _)| k != drop_key)
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    Tensor::write_safetensors(&fewer, dir.join("adapter_model.safetensors")).unwrap();
    let e = ensemble.load_member(0, &dir).unwrap_err().to_string();
    assert!(e.contains(drop_key) && e.contains("missing"), "{e}");
    let mut more: Vec<_> = named
        .iter()
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    more.push((
        "base_model.model.head.lora_A.weight".into(),
        Tensor::zeros([4, 8], (Kind::Float, Device::Cpu)),
    ));
    more.push((
        "base_model.model.head.lora_B.weight".into(),
        Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)),
    ));
    Tensor::write_safetensors(&more, dir.join("adapter_model.safetensors")).unwrap();
    let e = ensemble.load_member(0, &dir).unwrap_err().to_string();
    assert!(
        e.contains("base_model.model.head.lora_A.weight") && e.contains("no targeted module"),
        "{e}"
    );
    let bytes = std::fs::read(src.join("adapter_model.safetensors")).unwrap();
    std::fs::write(
        dir.join("adapter_model.safetensors"),
        &bytes[..bytes.len() - 10],
    )
    .unwrap();
    let e = ensemble.load_member(0, &dir).unwrap_err().to_string();
    assert!(e.contains("adapter_model.safetensors: header"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gradient_clipping_acts_per_member() {
    let (ensemble, net) = plain(vec![1, 2, 3], Kind::Double);
    randomise_b(&ensemble, 2);
    let x = Tensor::randn([6, D_IN], (Kind::Double, Device::Cpu));
    // Member losses of very different size: member 0 tiny, member 2 large.
    let y = net.forward_shared(&x);
    let weights = Tensor::from_slice(&[1e-6, 1.0, 100.0]).view([3, 1, 1]);
    (y.square() * weights).sum(Kind::Double).backward();
    let norms = |e: &LoraEnsemble| -> Vec<f64> {
        let mut sq = [0.0; 3];
        for u in e.updates() {
            for t in [u.a(), u.b()] {
                for (m, s) in sq.iter_mut().enumerate() {
                    *s += t
                        .grad()
                        .get(m as i64)
                        .square()
                        .sum(Kind::Double)
                        .double_value(&[]);
                }
            }
        }
        sq.iter().map(|s| s.sqrt()).collect()
    };
    let before = norms(&ensemble);
    let c = 0.5;
    assert!(before[0] < c && before[2] > c, "{before:?}");
    let reported = lora_ensemble::clip_grad_norm_per_member(&ensemble, c).unwrap();
    let after = norms(&ensemble);
    for m in 0..3 {
        assert!((reported[m] - before[m]).abs() <= 1e-12 * before[m]);
        let expected = before[m] * (c / (before[m] + 1e-6)).min(1.0);
        assert!(
            (after[m] - expected).abs() <= 1e-12 * expected.max(1e-30),
            "{m}: {after:?}"
        );
    }
    assert!(lora_ensemble::clip_grad_norm_per_member(&ensemble, -1.0).is_err());
}

#[test]
fn merging_a_saved_member_into_the_base_file_equals_merging_in_memory() {
    let (ensemble, net) = trained(vec![31, 32, 33], Kind::Float);
    let dir = tmp_dir("merge-member");
    ensemble.save(&dir, &base_file(Kind::Float)).unwrap();
    let e = lora_ensemble::PeftAdapter::open(&dir, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ensemble of 3 members"), "{e}");
    assert!(lora_ensemble::PeftAdapter::open(&dir, Some(3)).is_err());
    let adapter = lora_ensemble::PeftAdapter::open(&dir, Some(1)).unwrap();
    let out = dir.join("merged.safetensors");
    lora_ensemble::merge_into_file(&base_file(Kind::Float), &adapter, &out).unwrap();
    ensemble.merge(1).unwrap();
    let merged = read_tensors(&out);
    for (name, w) in net.vs.variables() {
        let err = rel_err(&tensor(&merged, &name), &w);
        assert!(err <= 1e-6, "{name}: {err:e}");
    }
    ensemble.unmerge().unwrap();
    // A corrupted member file makes the whole load fail, naming it, and changes nothing.
    let (fresh, _n) = plain(vec![31, 32, 33], Kind::Float);
    let before: Vec<_> = fresh.updates().iter().map(|u| u.a().copy()).collect();
    let member2 = dir.join("member-2/adapter_model.safetensors");
    let bytes = std::fs::read(&member2).unwrap();
    std::fs::write(&member2, &bytes[..bytes.len() / 2]).unwrap();
    let e = fresh
        .load(&dir, &base_file(Kind::Float))
        .unwrap_err()
        .to_string();
    assert!(e.contains("member-2/adapter_model.safetensors"), "{e}");
    for (u, a) in fresh.updates().iter().zip(before) {
        assert!(u.a().equal(&a), "{} changed by a failed load", u.module());
    }
    std::fs::remove_dir_all(dir).unwrap();
}
