//! LoRA ensembles of a trained gauge-equivariant network (gauge-nn's `ensemble` module): one-pass
//! training equals training each member alone, every fine-tuned member stays gauge invariant and
//! conjugation-odd, resume equals an uninterrupted run, the NaN guard keeps the last good state,
//! the explicit ensemble, the evaluation's consistency, and refused inputs. Small double-precision
//! networks on 3x3 lattices, trained for a few steps.
mod common;
use common::ensemble::{base, explicit, fine_tuned, haar, small};

use gauge_nn::Error;
use gauge_nn::convert::Precision;
use gauge_nn::ensemble::{
    ENSEMBLE_MANIFEST, EnsembleEvalOptions, EnsembleEvalRequest, EnsembleKind,
    EnsembleTrainOptions, FINETUNE_CHECKPOINT, FinetuneConfig, LoraTrainer, MemoryCheck, OodSet,
    TrainedEnsemble, evaluate_ensemble, evaluate_ensemble_dir, member_seeds, read_finetune_metrics,
    train_ensemble, train_explicit,
};
use gauge_nn::eval::predict;
use gauge_nn::train::Checkpoint;
use tch::{Device, Kind, Tensor};

/// A fresh scratch directory for the test `name`.
fn tmp(name: &str) -> std::path::PathBuf {
    common::ensemble::tmp("ens", name)
}

/// The adapters (A and B of every layer) of member `m`, in the ensemble's order.
fn member_adapters(t: &LoraTrainer, m: i64) -> Vec<Tensor> {
    t.ensemble()
        .updates()
        .iter()
        .flat_map(|u| [u.a().get(m), u.b().get(m)])
        .collect()
}

fn max_rel_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs().max().double_value(&[]);
            d / x.abs().max().double_value(&[]).max(1e-300)
        })
        .fold(0.0, f64::max)
}

#[test]
fn one_pass_training_equals_each_member_trained_alone() {
    let root = tmp("one-pass");
    let b = base(&root.join("base"), 3);
    let seed = 40;
    let all = fine_tuned(&b, small(3, seed), &root.join("all"));
    for m in 0..3 {
        let mut config = small(1, seed);
        config.member_seeds = vec![member_seeds(seed, 3)[m]];
        let alone = fine_tuned(&b, config, &root.join(format!("alone-{m}")));
        let (x, y) = (member_adapters(&all, m as i64), member_adapters(&alone, 0));
        // B moved away from zero: the comparison is not between two untouched priors.
        assert!(
            y.iter()
                .skip(1)
                .step_by(2)
                .all(|b| b.abs().max().double_value(&[]) > 1e-4)
        );
        let d = max_rel_diff(&x, &y);
        assert!(d < 1e-9, "member {m}: {d:e}");
        let (k, k1) = (all.state().rescales[m], alone.state().rescales[0]);
        assert!((k - k1).abs() < 1e-9 * k.abs(), "{k} {k1}");
    }
    // Members differ from each other (own seeds and data orders).
    let d = max_rel_diff(&member_adapters(&all, 0), &member_adapters(&all, 1));
    assert!(d > 1e-2, "{d}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// A random U(2) per site of a 3x3 lattice, `(1, 1, 3, 3, 2, 2)`, from a QR decomposition.
fn random_gauge(seed: i64) -> Tensor {
    // Through the crate's lock on libtorch's global generator, so that networks built by tests
    // running in parallel keep the weights of their own seeds.
    let _seed = gauge_nn::model::seed_libtorch(seed as u64);
    let re = Tensor::randn([1, 1, 3, 3, 2, 2], (Kind::Double, Device::Cpu));
    let im = Tensor::randn([1, 1, 3, 3, 2, 2], (Kind::Double, Device::Cpu));
    let (q, _) = Tensor::linalg_qr(&Tensor::complex(&re, &im), "reduced");
    q
}

#[test]
fn every_fine_tuned_member_is_gauge_invariant_and_conjugation_odd() {
    let root = tmp("equivariance");
    let b = base(&root.join("base"), 5);
    let t = fine_tuned(&b, small(3, 7), &root.join("ens"));
    let w = haar(&[3, 3], 99, Precision::Double, 4).plaquettes;
    let g = random_gauge(1);
    let wg = g
        .matmul(&w)
        .matmul(&g.conj().transpose(-2, -1).resolve_conj());
    let net = t.net();
    let f = tch::no_grad(|| net.forward(&w, None));
    let fg = tch::no_grad(|| net.forward(&wg, None));
    let fc = tch::no_grad(|| net.forward(&w.conj().resolve_conj(), None));
    assert_eq!(f.size(), [3, 4, 3, 3]);
    for m in 0..3 {
        let (a, ag, ac) = (f.get(m), fg.get(m), fc.get(m));
        let scale = a.abs().max().double_value(&[]);
        assert!(scale > 1e-6);
        let inv = (&a - &ag).abs().max().double_value(&[]) / scale;
        let odd = (&a + &ac).abs().max().double_value(&[]) / scale;
        assert!(inv < 1e-10, "member {m} not gauge invariant: {inv:e}");
        assert!(odd < 1e-12, "member {m} not odd: {odd:e}");
    }
    // The fine-tuned members differ (the adapters are not zero any more).
    let spread = (f.get(0) - f.get(1)).abs().max().double_value(&[]);
    assert!(spread > 1e-6, "{spread}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resume_reproduces_an_uninterrupted_run_and_epoch_zero_is_the_prior() {
    let root = tmp("resume");
    let b = base(&root.join("base"), 11);
    let (full_dir, cut_dir) = (root.join("full"), root.join("cut"));
    let full = fine_tuned(&b, small(2, 1), &full_dir);
    let mut cut = LoraTrainer::new(&b, small(2, 1), &cut_dir).unwrap();
    cut.train_epochs(1, false).unwrap();
    // Interrupted: a checkpoint, but no ensemble.
    assert!(cut_dir.join(FINETUNE_CHECKPOINT).is_file());
    assert!(!cut_dir.join(ENSEMBLE_MANIFEST).exists());
    assert!(matches!(
        TrainedEnsemble::open(&cut_dir, Device::Cpu),
        Err(Error::Corrupt { .. })
    ));
    drop(cut);
    let mut resumed = LoraTrainer::resume(&cut_dir, None).unwrap();
    assert_eq!(resumed.state().epoch, 1);
    resumed.train(false).unwrap();
    // The peft-side manifest of lora-ensemble records the epochs too.
    let peft = lora_ensemble::EnsembleManifest::read(&cut_dir).unwrap();
    assert_eq!((peft.members, peft.epochs), (2, 2));
    for m in 0..2 {
        let d = max_rel_diff(&member_adapters(&full, m), &member_adapters(&resumed, m));
        assert!(d < 1e-12, "member {m}: {d:e}");
    }
    let (a, b) = (
        read_finetune_metrics(&full_dir).unwrap(),
        read_finetune_metrics(&cut_dir).unwrap(),
    );
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.epoch, y.epoch);
        assert!((x.nll - y.nll).abs() < 1e-9, "{} {}", x.nll, y.nll);
        assert_eq!(x.accuracy, y.accuracy);
    }
    // Epoch 0 is the prior: every member is the base network, so they agree exactly.
    assert_eq!(a[0].epoch, 0);
    assert!(a[0].mutual_information.abs() < 1e-12);
    assert!(a[0].member_loss.is_empty());
    assert_eq!(a[0].accuracy, a[0].member_accuracy);
    assert!(a[2].mutual_information > 0.0);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_good_state() {
    let root = tmp("nan");
    let b = base(&root.join("base"), 13);
    let dir = root.join("ens");
    let mut config = small(2, 3);
    config.epochs = 3;
    let mut t = LoraTrainer::new(&b, config, &dir).unwrap();
    t.train_epochs(1, false).unwrap();
    let before = std::fs::read(dir.join(FINETUNE_CHECKPOINT)).unwrap();
    let adapters: Vec<Tensor> = member_adapters(&t, 0)
        .iter()
        .chain(&member_adapters(&t, 1))
        .map(Tensor::copy)
        .collect();
    let mut pool = haar(&[3, 3], 5, Precision::Single, 8);
    pool.plaquettes = &pool.plaquettes * f64::NAN;
    let orders = vec![(0..8).collect::<Vec<i64>>(); 2];
    let batch = LoraTrainer::member_batch(&pool, &orders, 0, 8).unwrap();
    match t.train_step(&batch) {
        Err(Error::NonFiniteLoss {
            epoch: 2,
            step,
            loss,
        }) => {
            assert!(loss.is_nan());
            assert_eq!(step, t.state().step + 1);
        }
        other => panic!("expected NonFiniteLoss, got {other:?}"),
    }
    let after: Vec<Tensor> = member_adapters(&t, 0)
        .into_iter()
        .chain(member_adapters(&t, 1))
        .collect();
    for (x, y) in adapters.iter().zip(&after) {
        assert!(x.equal(y));
    }
    assert_eq!(
        std::fs::read(dir.join(FINETUNE_CHECKPOINT)).unwrap(),
        before
    );
    assert!(!dir.join(ENSEMBLE_MANIFEST).exists());
    std::fs::remove_dir_all(&root).unwrap();
}

/// A libtorch failure inside a fine-tuning step (here plaquettes that are not square matrices)
/// is an error naming the step, the device, the samples per member and the grid, not a panic,
/// and leaves the adapters untouched.
#[test]
fn a_libtorch_failure_in_a_fine_tuning_step_is_an_error() {
    let root = tmp("libtorch");
    let b = base(&root.join("base"), 13);
    let mut t = LoraTrainer::new(&b, small(2, 3), &root.join("ens")).unwrap();
    let adapters: Vec<Tensor> = member_adapters(&t, 0)
        .iter()
        .chain(&member_adapters(&t, 1))
        .map(Tensor::copy)
        .collect();
    let mut pool = haar(&[3, 3], 5, Precision::Single, 8);
    pool.plaquettes = pool.plaquettes.narrow(-1, 0, 1).contiguous();
    let orders = vec![(0..8).collect::<Vec<i64>>(); 2];
    let batch = LoraTrainer::member_batch(&pool, &orders, 0, 8).unwrap();
    let error = t.train_step(&batch).unwrap_err();
    assert!(matches!(error, Error::Libtorch { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(
            "fine-tuning step on cpu failed in libtorch with 8 samples per pass on the 3x3 grid: "
        ),
        "{text}"
    );
    assert!(
        text.ends_with(
            "; not an out-of-memory error: check the device and the libtorch installation"
        ),
        "{text}"
    );
    let after: Vec<Tensor> = member_adapters(&t, 0)
        .into_iter()
        .chain(member_adapters(&t, 1))
        .collect();
    for (x, y) in adapters.iter().zip(&after) {
        assert!(x.equal(y));
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_explicit_ensemble_is_its_members_runs() {
    let root = tmp("explicit");
    let b = base(&root.join("base"), 17);
    let dir = root.join("ens");
    let config = explicit(member_seeds(17, 2));
    let manifest = train_explicit(&b, &config, &dir, false).unwrap();
    assert_eq!(manifest.seeds, vec![18, 19]);
    let ens = TrainedEnsemble::open(&dir, Device::Cpu).unwrap();
    let data = haar(&[4, 4], 8, Precision::Double, 10);
    let y = ens.outputs(&data, 4).unwrap();
    for m in 0..2 {
        let ckpt = Checkpoint::read(&dir.join(format!("member-{m}"))).unwrap();
        assert_eq!(ckpt.config.seed, 18 + m as u64);
        let (_vs, net) = ckpt.network(Device::Cpu).unwrap();
        let f = predict(&net, &data, 10).unwrap();
        for (i, v) in f.iter().enumerate() {
            assert_eq!(y[[m, i]], v * ckpt.state.rescale);
        }
    }
    // Run again: the complete members are found, not retrained.
    let again = train_explicit(&b, &config, &dir, false).unwrap();
    assert_eq!(again.train_seconds, manifest.train_seconds);
    // A missing member is refused, naming it.
    std::fs::remove_dir_all(dir.join("member-1")).unwrap();
    let err = TrainedEnsemble::open(&dir, Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("member-1"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_evaluation_is_consistent_with_its_parts() {
    let root = tmp("eval");
    let b = base(&root.join("base"), 19);
    let dir = root.join("ens");
    fine_tuned(&b, small(3, 2), &dir);
    let ens = TrainedEnsemble::open(&dir, Device::Cpu).unwrap();
    // Batched members equal the members merged into the base one at a time.
    let data = haar(&[4, 4], 8, Precision::Double, 12);
    let (y, z) = (
        ens.outputs(&data, 5).unwrap(),
        ens.outputs_one_by_one(&data, 5).unwrap(),
    );
    let d = (&y - &z).iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(d < 1e-10, "{d:e}");
    // The base outputs are the checkpoint's network times its output scale.
    let ckpt = Checkpoint::read(&b).unwrap();
    let (_vs, net) = ckpt.network(Device::Cpu).unwrap();
    let f = predict(&net, &data, 12).unwrap();
    let single = ens.base_outputs(&data, 5).unwrap();
    for (a, b) in f.iter().zip(&single) {
        let want = a * ckpt.state.rescale;
        assert!((want - b).abs() < 1e-12 * want.abs().max(1.0), "{want} {b}");
    }
    let mut request = EnsembleEvalRequest::new(vec![4, 4], 60);
    request.calibration_samples = 40;
    request.ood = Some(OodSet::Bands(3));
    request.time_one_by_one = true;
    let e = evaluate_ensemble(&ens, &request).unwrap();
    let u = &e.uncertainty;
    assert_eq!((u.members, u.samples), (3, 60));
    assert!((0.0..=1.0).contains(&u.accuracy) && u.nll.is_finite() && u.sigma > 0.0);
    assert!(u.mutual_information >= 0.0 && u.predictive_entropy >= u.mutual_information);
    assert!(e.auroc_ood_entropy.is_some() && e.auroc_ood_mi.is_some());
    assert_eq!(e.ood.as_ref().unwrap().bands, 3);
    assert_eq!(e.details.entropy.len(), 60);
    let json = serde_json::to_value(&e).unwrap();
    for key in [
        "members",
        "samples",
        "grid",
        "accuracy",
        "member_accuracy",
        "nll",
        "brier",
        "ece",
        "predictive_entropy",
        "mutual_information",
        "auroc_entropy",
        "auroc_mi",
        "aurc",
        "accuracy_at_90",
        "auroc_margin",
        "accuracy_at_90_margin",
        "auroc_eigenphase",
        "auroc_ood_entropy",
        "auroc_ood_mi",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // QWZ has two bands: no OOD set with two filled bands, refused before any evaluation.
    let mut qwz = EnsembleEvalRequest::new(vec![4, 4], 10);
    qwz.ood = Some(OodSet::Hamiltonian(gauge_nn::data::ModelSpec::Qwz));
    assert!(matches!(
        evaluate_ensemble(&ens, &qwz),
        Err(Error::InvalidParameter {
            name: "occupied",
            ..
        })
    ));
    // Another band count for the test set is refused (it is an OOD set).
    let mut bad = EnsembleEvalRequest::new(vec![4, 4], 10);
    bad.bands = Some(3);
    assert!(matches!(
        evaluate_ensemble(&ens, &bad),
        Err(Error::InvalidParameter { name: "bands", .. })
    ));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_eigenphase_distance_is_the_distance_to_pi() {
    // Diagonal plaquettes diag(e^{i a}, e^{i b}) at every site: the distance is pi - max |phase|.
    let phases = [0.3f64, -3.0, 2.5, 1.0];
    let mut w = Tensor::zeros([1, 1, 2, 2, 2, 2], (Kind::ComplexDouble, Device::Cpu));
    for (s, p) in phases.iter().enumerate() {
        let (x, y) = ((s / 2) as i64, (s % 2) as i64);
        let z = Tensor::complex(
            &Tensor::from_slice(&[p.cos()]),
            &Tensor::from_slice(&[p.sin()]),
        );
        w.get(0)
            .get(0)
            .get(x)
            .get(y)
            .get(0)
            .get(0)
            .copy_(&z.squeeze());
        let _ = w.get(0).get(0).get(x).get(y).get(1).get(1).fill_(1.0);
    }
    w = w.contiguous();
    let batch = gauge_nn::data::Batch {
        links: None,
        plaquettes: w,
        site_labels: Tensor::zeros([1, 2, 2], (Kind::Float, Device::Cpu)),
        chern: Tensor::zeros([1], (Kind::Int64, Device::Cpu)),
    };
    let d = gauge_nn::ensemble::eigenphase_distance(&batch, 1).unwrap();
    assert!((d[0] - (std::f64::consts::PI - 3.0)).abs() < 1e-12, "{d:?}");
}

#[test]
fn bad_configurations_are_refused() {
    let mut c = FinetuneConfig::new(0, 1);
    assert!(matches!(
        c.validate(),
        Err(Error::InvalidParameter {
            name: "members",
            ..
        })
    ));
    c = FinetuneConfig::new(2, 1);
    c.rank = 0;
    assert!(matches!(
        c.validate(),
        Err(Error::InvalidParameter { name: "rank", .. })
    ));
    c = FinetuneConfig::new(2, 1);
    c.lambda = f64::NAN;
    assert!(c.validate().is_err());
    let root = tmp("refused");
    let b = base(&root.join("base"), 23);
    assert!(matches!(
        train_explicit(&b, &explicit(vec![]), &root.join("x"), false),
        Err(Error::InvalidParameter {
            name: "members",
            ..
        })
    ));
    // A base whose bytes changed after training is refused.
    let dir = root.join("ens");
    let mut cfg = small(2, 1);
    cfg.epochs = 1;
    fine_tuned(&b, cfg.clone(), &dir);
    assert!(TrainedEnsemble::open(&dir, Device::Cpu).is_ok());
    // A second fresh run into the same directory is refused.
    assert!(matches!(
        LoraTrainer::new(&b, cfg, &dir),
        Err(Error::InvalidParameter { name: "out", .. })
    ));
    let other = base(&root.join("other"), 29);
    std::fs::copy(
        other.join("checkpoint.safetensors"),
        b.join("checkpoint.safetensors"),
    )
    .unwrap();
    let err = TrainedEnsemble::open(&dir, Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_one_call_entry_point_trains_and_refuses_before_writing() {
    let root = tmp("entry");
    let b = base(&root.join("base"), 31);
    let out = root.join("ens");
    let options = EnsembleTrainOptions {
        members: 2,
        rank: 2,
        epochs: Some(1),
        samples_per_epoch: 16,
        batch: 8,
        ..EnsembleTrainOptions::new(&b, &out)
    };
    // Refused before anything is written: the directory is not even created.
    let refuse_all: MemoryCheck = |what, bytes| Err(format!("{what} needs {bytes} bytes"));
    let refusals = [
        (
            EnsembleTrainOptions {
                bands: Some(3),
                ..options.clone()
            },
            "trained on 2 filled bands",
        ),
        (
            EnsembleTrainOptions {
                members: 0,
                ..options.clone()
            },
            "invalid members = 0",
        ),
        (
            EnsembleTrainOptions {
                members: 0,
                kind: EnsembleKind::Explicit,
                ..options.clone()
            },
            "invalid members = 0",
        ),
        (
            EnsembleTrainOptions {
                rank: 0,
                ..options.clone()
            },
            "invalid rank = 0",
        ),
        (
            EnsembleTrainOptions {
                memory_check: Some(refuse_all),
                ..options.clone()
            },
            "training n = 2 on 3x3 with batch 16 needs",
        ),
        (
            EnsembleTrainOptions {
                memory_check: Some(refuse_all),
                kind: EnsembleKind::Explicit,
                ..options.clone()
            },
            "training n = 2 on 3x3 with batch 8 needs",
        ),
    ];
    for (o, needle) in refusals {
        let err = train_ensemble(&o).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(!out.exists(), "{needle}: {} was created", out.display());
    }
    // Trained: the report is the directory's state, and the ensemble opens.
    let r = train_ensemble(&options).unwrap();
    assert_eq!(
        (r.kind, r.members, r.rank, r.epochs, r.epochs_now),
        (EnsembleKind::Lora, 2, Some(2), 1, Some(1))
    );
    let metrics = read_finetune_metrics(&out).unwrap();
    assert_eq!(r.last.as_ref(), metrics.last());
    assert_eq!(r.last.as_ref().map(|m| m.epoch), Some(1));
    assert_eq!(r.base_grid, vec![3, 3]);
    let ens = TrainedEnsemble::open(&out, Device::Cpu).unwrap();
    assert_eq!(ens.manifest().train_seconds, r.train_seconds);
    // Evaluated in one call as well; asking for a missing ensemble names its manifest.
    let mut request = EnsembleEvalRequest::new(vec![3, 3], 20);
    request.calibration_samples = 20;
    let eval = evaluate_ensemble_dir(&EnsembleEvalOptions::new(&out, request.clone())).unwrap();
    let direct = evaluate_ensemble(&ens, &request).unwrap();
    assert_eq!(eval.uncertainty, direct.uncertainty);
    assert_eq!(eval.details, direct.details);
    assert_eq!(
        (eval.single_nll, eval.auroc_margin, eval.auroc_eigenphase),
        (
            direct.single_nll,
            direct.auroc_margin,
            direct.auroc_eigenphase
        )
    );
    // The passes shrink until the memory check accepts them (20 samples, then 10, 5, 2 per
    // pass; the figures change by rounding only), and a check that refuses even one sample per pass
    // is an error that names the work.
    let two_per_pass_only: MemoryCheck = |what, bytes| {
        if what.ends_with("(2 per pass)") {
            Ok(())
        } else {
            Err(format!("{what} needs {bytes} bytes"))
        }
    };
    let fitted = evaluate_ensemble_dir(&EnsembleEvalOptions {
        memory_check: Some(two_per_pass_only),
        ..EnsembleEvalOptions::new(&out, request.clone())
    })
    .unwrap();
    let (f, d) = (&fitted.uncertainty, &direct.uncertainty);
    assert_eq!(
        (f.samples, f.accuracy, f.window),
        (d.samples, d.accuracy, d.window)
    );
    for (a, b) in [
        (f.sigma, d.sigma),
        (f.nll, d.nll),
        (f.ece, d.ece),
        (f.predictive_entropy, d.predictive_entropy),
        (f.mutual_information, d.mutual_information),
        (f.aurc, d.aurc),
    ] {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let err = evaluate_ensemble_dir(&EnsembleEvalOptions {
        memory_check: Some(refuse_all),
        ..EnsembleEvalOptions::new(&out, request.clone())
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("evaluating 2 members on 20 samples of 3x3 (1 per pass) needs "),
        "{err}"
    );
    let missing = EnsembleEvalOptions::new(root.join("none"), request);
    let err = evaluate_ensemble_dir(&missing).unwrap_err().to_string();
    assert!(err.contains("ensemble.json"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
