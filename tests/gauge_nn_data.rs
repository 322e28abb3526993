//! Cross-crate checks of gauge-nn's data side: tensor conversion against `lattice-gauge` on
//! random lattices (proptest), datasets that survive a file round trip with links that still
//! produce their plaquettes, and Hamiltonian samples against `chern`'s FHS Chern numbers.
use chern::{BandSet, ChernConfig, Qwz, chern_number_of};
use gauge_nn::convert::{Precision, TensorField};
use gauge_nn::data::{
    ChernChoice, Dataset, DiagonalConfig, DiagonalSource, GeneralConfig, HaarSource,
    HamiltonianConfig, HamiltonianModel, HamiltonianSource, SampleSource,
};
use lattice_gauge::{LinkField, PlaquetteField, proptest as lgp};
use proptest::prelude::*;
use tch::{Kind, Tensor};

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Double-precision conversion is exact for every lattice shape and n, and the tensor
    /// layout puts U_mu(x) at [mu, x..].
    #[test]
    fn conversion_round_trips_exactly((links, omega) in lgp::links_and_transform(3, 3, 2)) {
        let t = links.to_tensor(Precision::Double).unwrap();
        let lattice = links.lattice().clone();
        let back = LinkField::from_tensor(&t, &lattice).unwrap();
        prop_assert_eq!(back.as_array(), links.as_array());
        let w = links.plaquettes();
        let tw = w.to_tensor(Precision::Double).unwrap();
        let back = PlaquetteField::from_tensor(&tw, &lattice).unwrap();
        prop_assert_eq!(back.as_array(), w.as_array());
        let to = omega.to_tensor(Precision::Double).unwrap();
        let back = lattice_gauge::GaugeTransform::from_tensor(&to, &lattice).unwrap();
        prop_assert_eq!(back.as_field().as_array(), omega.as_field().as_array());
    }

    /// Omega(x) U_mu(x) Omega(x + mu)^dagger done with `roll` and `matmul` on tensors equals
    /// lattice-gauge's gauge transformation, on random lattices of dimension 2 and 3.
    #[test]
    fn gauge_transformation_on_tensors_matches(
        (links, omega) in lgp::links_and_transform(2, 4, 3),
        (links3, omega3) in lgp::links_and_transform(3, 3, 2),
    ) {
        for (links, omega) in [(links, omega), (links3, omega3)] {
            let u = links.to_tensor(Precision::Double).unwrap();
            let o = omega.to_tensor(Precision::Double).unwrap();
            let moved: Vec<Tensor> = (0..links.lattice().dim() as i64)
                .map(|mu| o.matmul(&u.get(mu)).matmul(&o.roll([-1i64], [mu]).adjoint()))
                .collect();
            let expected = omega.apply_links(&links).unwrap().to_tensor(Precision::Double).unwrap();
            prop_assert!(max_diff(&Tensor::stack(&moved, 0), &expected) < 1e-12);
        }
    }
}

#[test]
fn diagonal_dataset_survives_a_file_round_trip_with_consistent_links() {
    let mut source = DiagonalSource::new(DiagonalConfig {
        extents: vec![4, 5],
        n: 3,
        chern: ChernChoice::Range { lo: -2, hi: 2 },
        seed: 21,
        precision: Precision::Double,
        ..Default::default()
    })
    .unwrap();
    let data = Dataset::generate(&mut source, 6).unwrap();
    let dir = std::env::temp_dir().join(format!("chernet-gauge-nn-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["diag.npz", "diag.safetensors"] {
        let path = dir.join(name);
        data.save(&path).unwrap();
        let back = Dataset::load(&path).unwrap();
        let batch = back.batch();
        assert!(batch.plaquettes.equal(&data.batch().plaquettes));
        // The stored links produce the stored plaquettes (through lattice-gauge).
        let lattice = source.lattice().clone();
        let links = LinkField::batch_from_tensor(batch.links().unwrap(), &lattice).unwrap();
        let w = PlaquetteField::batch_from_tensor(&batch.plaquettes, &lattice).unwrap();
        for (u, w) in links.iter().zip(&w) {
            assert!(u.plaquettes().max_abs_diff(w).unwrap() < 1e-12);
        }
        let sums = batch
            .site_labels
            .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
        assert!(max_diff(&sums, &batch.chern.to_kind(Kind::Double)) < 1e-5);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn u1_general_dataset_labels_sum_to_the_fhs_chern_number() {
    // For U(1) links det W = W, so the FHS number of lattice-gauge's plaquettes must equal the
    // sum of the eigenphase labels.
    let mut source = HaarSource::new(GeneralConfig {
        extents: vec![5, 5],
        n: 1,
        seed: 8,
        precision: Precision::Double,
        ..Default::default()
    })
    .unwrap();
    let batch = source.sample(16).unwrap();
    let lattice = source.lattice().clone();
    let links = LinkField::batch_from_tensor(batch.links().unwrap(), &lattice).unwrap();
    let chern = Vec::<i64>::try_from(&batch.chern).unwrap();
    for (u, c) in links.iter().zip(chern) {
        let fhs: f64 = lattice
            .sites()
            .map(|x| {
                let w = u.plaquette(lattice_gauge::Dir(0), lattice_gauge::Dir(1), x);
                lattice_gauge::matrix::principal_arg(lattice_gauge::matrix::det(&w, 1))
            })
            .sum::<f64>()
            / std::f64::consts::TAU;
        assert!((fhs - c as f64).abs() < 1e-10);
    }
}

#[test]
fn qwz_samples_agree_with_chern_fhs_numbers() {
    for m in [-1.3, 0.7, 2.6] {
        let expected = chern_number_of(
            &Qwz::new(m),
            &[10, 10],
            &BandSet::lowest(1),
            &ChernConfig::default(),
        )
        .unwrap()
        .chern;
        let source = HamiltonianSource::new(HamiltonianConfig::new(
            vec![10, 10],
            HamiltonianModel::Qwz { m_min: m, m_max: m },
            1,
            5,
        ))
        .unwrap();
        assert_eq!(source.sample_at(0).unwrap().chern, expected, "m = {m}");
    }
}
