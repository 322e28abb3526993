//! Layer tests: slow reference implementations and gauge equivariance under random per-site U(n)
//! from `lattice-gauge`.
//!
//! Tolerances: all checks run in `ComplexDouble` and compare with a relative tolerance of 1e-9
//! (reference) or 1e-8 (equivariance, which goes through several products of unitaries).
use lattice_gauge::{C64, GaugeTransform, Lattice, LinkField, MatrixField, PlaquetteField, matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor, nn, nn::Module};

use super::*;
use crate::convert::{Precision, TensorField, complex_tensor};

pub(crate) const KIND: Kind = Kind::ComplexDouble;

// Random unitaries, links, plaquettes and gauge transformations come from `lattice-gauge` (Haar
// measure, the plaquette products, the transformation rules), an implementation independent of
// the layers' tensor code; only the conversion to tensors is this crate's. Seeds are drawn from
// libtorch's generator, so that `seed_libtorch` at the top of a test fixes everything.

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]) as u64,
    )
}

fn lattice_of(extents: &[i64]) -> Lattice {
    let e: Vec<usize> = extents.iter().map(|&l| l as usize).collect();
    Lattice::new(&e).expect("test extents are positive")
}

/// Haar-random unitaries of shape `(batch.., n, n)` ([`matrix::haar_unitary`]).
pub(crate) fn random_unitary(shape: &[i64], n: i64) -> Tensor {
    let count: i64 = shape.iter().product();
    let mut rng = rng();
    let data: Vec<C64> = (0..count)
        .flat_map(|_| matrix::haar_unitary(&mut rng, n as usize))
        .collect();
    let mut s = shape.to_vec();
    s.extend([n, n]);
    complex_tensor(&data, &s, Precision::Double).expect("consistent shape")
}

/// Haar-random links `(B, d, L.., n, n)` ([`LinkField::haar_random`]).
pub(crate) fn random_links(b: i64, extents: &[i64], n: i64) -> Tensor {
    let lattice = lattice_of(extents);
    let mut rng = rng();
    let fields: Vec<LinkField> = (0..b)
        .map(|_| LinkField::haar_random(&lattice, n as usize, &mut rng).expect("n >= 1"))
        .collect();
    LinkField::batch_to_tensor(&fields, Precision::Double).expect("one lattice")
}

pub(crate) fn adj(t: &Tensor) -> Tensor {
    t.conj().transpose(-2, -1)
}

/// The lattice of a batched field `(B, C, L.., n, n)`.
fn field_lattice(t: &Tensor) -> Lattice {
    let s = t.size();
    lattice_of(&s[2..s.len() - 2])
}

/// Plaquettes `(B, P, L.., n, n)` of links `(B, d, L.., n, n)`, by [`LinkField::plaquettes`].
pub(crate) fn plaquettes(links: &Tensor) -> Tensor {
    let fields = LinkField::batch_from_tensor(links, &field_lattice(links)).expect("unitary links");
    let w: Vec<PlaquetteField> = fields.iter().map(LinkField::plaquettes).collect();
    PlaquetteField::batch_to_tensor(&w, Precision::Double).expect("one lattice")
}

/// Random gauge transformations $\Omega$ `(B, L.., n, n)` ([`GaugeTransform::random`]).
pub(crate) fn random_gauge(b: i64, extents: &[i64], n: i64) -> Tensor {
    let lattice = lattice_of(extents);
    let mut rng = rng();
    let g: Vec<GaugeTransform> = (0..b)
        .map(|_| GaugeTransform::random(&lattice, n as usize, &mut rng).expect("n >= 1"))
        .collect();
    GaugeTransform::batch_to_tensor(&g, Precision::Double).expect("one lattice")
}

fn gauges(omega: &Tensor) -> Vec<GaugeTransform> {
    let s = omega.size();
    let lattice = lattice_of(&s[1..s.len() - 2]);
    GaugeTransform::batch_from_tensor(omega, &lattice).expect("unitary gauge transformations")
}

/// $W(x)\to\Omega(x)W(x)\Omega(x)^\dagger$ for every channel of a field `(B, C, L.., n, n)`
/// ([`GaugeTransform::apply_covariant`]).
pub(crate) fn transform_field(w: &Tensor, omega: &Tensor) -> Tensor {
    let lattice = field_lattice(w);
    let out: Vec<Tensor> = gauges(omega)
        .iter()
        .enumerate()
        .map(|(b, g)| {
            let channels: Vec<Tensor> = (0..w.size()[1])
                .map(|c| {
                    let y = MatrixField::from_tensor(&w.get(b as i64).get(c), &lattice)
                        .expect("a matrix field");
                    g.apply_covariant(&y)
                        .expect("same lattice")
                        .to_tensor(Precision::Double)
                        .expect("a tensor")
                })
                .collect();
            Tensor::stack(&channels, 0)
        })
        .collect();
    Tensor::stack(&out, 0)
}

/// $U_\mu(x)\to\Omega(x)U_\mu(x)\Omega(x+\mu)^\dagger$ for links `(B, d, L.., n, n)`
/// ([`GaugeTransform::apply_links`]).
pub(crate) fn transform_links(links: &Tensor, omega: &Tensor) -> Tensor {
    let fields = LinkField::batch_from_tensor(links, &field_lattice(links)).expect("unitary links");
    let moved: Vec<LinkField> = gauges(omega)
        .iter()
        .zip(&fields)
        .map(|(g, u)| g.apply_links(u).expect("same lattice"))
        .collect();
    LinkField::batch_to_tensor(&moved, Precision::Double).expect("one lattice")
}

/// Largest entry of `|a - b|` relative to the largest entry of `|b|` (at least 1).
pub(crate) fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let diff = (a - b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]).max(1.0);
    diff / scale
}

fn store() -> nn::VarStore {
    let mut vs = nn::VarStore::new(Device::Cpu);
    vs.set_kind(Kind::Double);
    vs
}

/// Reference GEBL: explicit loops over batch, sites and channel pairs.
fn gebl_reference(alpha: &Tensor, x: &Tensor, z: &Tensor) -> Tensor {
    let (b, cl, s, n) = field_dims(x);
    let cr = z.size()[1];
    let cout = alpha.size()[0];
    let x = x.reshape([b, cl, s, n, n]);
    let z = z.reshape([b, cr, s, n, n]);
    let out = Tensor::zeros([b, cout, s, n, n], (KIND, Device::Cpu));
    for bi in 0..b {
        for si in 0..s {
            for u in 0..cout {
                let mut acc = Tensor::zeros([n, n], (KIND, Device::Cpu));
                for v in 0..cl {
                    for w in 0..cr {
                        let prod = x.get(bi).get(v).get(si).matmul(&z.get(bi).get(w).get(si));
                        acc += prod * alpha.get(u).get(v).get(w);
                    }
                }
                out.get(bi).get(u).get(si).copy_(&acc);
            }
        }
    }
    out
}

#[test]
fn enlarge_appends_adjoints_and_identity() {
    let w = random_unitary(&[2, 3, 4], 2);
    let x = enlarge(&w, true, true);
    assert_eq!(x.size(), [2, 7, 4, 2, 2]);
    assert!(rel_err(&x.narrow(1, 3, 3), &adj(&w)) < 1e-15);
    let eye = Tensor::eye(2, (KIND, Device::Cpu));
    assert!(rel_err(&x.select(1, 6).get(1).get(3), &eye) < 1e-15);
}

#[test]
fn gebl_matches_reference() {
    let _seed = crate::model::seed_libtorch(1);
    for n in [1, 2, 3] {
        let vs = store();
        let layer = ge_bilinear(vs.root() / "g", 2, 3, Default::default());
        let w = random_unitary(&[2, 2, 3, 2], n) * 0.7;
        let got = layer.forward(&w);
        let x = enlarge(&w, true, true);
        let want = gebl_reference(&layer.weights(), &x, &x).reshape([2, 3, 3, 2, n, n]);
        assert!(
            rel_err(&got, &want) < 1e-12,
            "n = {n}: {}",
            rel_err(&got, &want)
        );
    }
}

#[test]
fn two_input_gebl_matches_reference() {
    let _seed = crate::model::seed_libtorch(2);
    let vs = store();
    let cfg = GeBilinearConfig {
        conjugates: true,
        identity: true,
        init_std: None,
    };
    let layer = ge_bilinear2(vs.root() / "g", 2, 3, 4, cfg);
    let left = random_unitary(&[3, 2, 5], 2);
    let right = random_unitary(&[3, 3, 5], 2) * 1.3;
    let got = layer.forward_pair(&left, &right);
    let want = gebl_reference(
        &layer.weights(),
        &enlarge(&left, true, true),
        &enlarge(&right, true, true),
    );
    assert!(rel_err(&got, &want) < 1e-12);
}

#[test]
fn gebl_parameter_count() {
    let vs = store();
    let _ = ge_bilinear(vs.root() / "g", 32, 16, Default::default());
    // 16 x 65 x 65 complex weights, two reals each.
    assert_eq!(
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum::<usize>(),
        2 * 16 * 65 * 65
    );
}

fn check_equivariant(f: impl Fn(&Tensor) -> Tensor, c: i64, extents: &[i64], n: i64) {
    let b = 2;
    let mut s = vec![b, c];
    s.extend_from_slice(extents);
    let w = random_unitary(&s, n);
    let omega = random_gauge(b, extents, n);
    let lhs = f(&transform_field(&w, &omega));
    let rhs = transform_field(&f(&w), &omega);
    let err = rel_err(&lhs, &rhs);
    assert!(
        err < 1e-9,
        "equivariance error {err} (n = {n}, extents {extents:?})"
    );
}

#[test]
fn per_site_layers_are_equivariant() {
    let _seed = crate::model::seed_libtorch(3);
    for n in [1, 2, 4] {
        for extents in [vec![3i64, 4], vec![2, 2, 2, 2]] {
            let vs = store();
            let g = ge_bilinear(vs.root() / "g", 2, 3, Default::default());
            check_equivariant(|w| g.forward(w), 2, &extents, n);
            check_equivariant(|w| ge_relu().forward(w), 2, &extents, n);
            for on_abs_trace in [false, true] {
                let norm = tr_norm(TrNormConfig {
                    threshold: 1e-3,
                    on_abs_trace,
                });
                check_equivariant(|w| norm.forward(w), 2, &extents, n);
            }
        }
    }
}

#[test]
fn gerelu_and_trnorm_values() {
    // W = diag(a, b) per channel: Re Tr = Re(a + b).
    let w = Tensor::from_slice(&[2.0, 0.0, 0.0, -1.0, -3.0, 0.0, 0.0, 1.0])
        .reshape([1, 2, 1, 2, 2])
        .to_kind(KIND);
    let r = ge_relu().forward(&w);
    assert!(rel_err(&r.select(1, 0), &w.select(1, 0)) < 1e-15); // Tr = 1 > 0: kept
    assert_eq!(r.select(1, 1).abs().max().double_value(&[]), 0.0); // Tr = -2: zeroed
    // Mean trace (1 + (-2)) / 2 = -0.5: every channel divided by 0.5.
    let t = tr_norm(TrNormConfig::default()).forward(&w);
    assert!(rel_err(&t, &(&w * 2.0)) < 1e-15);
    // |Tr| variant: (1 + 2) / 2 = 1.5.
    let t = tr_norm(TrNormConfig {
        threshold: 1e-3,
        on_abs_trace: true,
    })
    .forward(&w);
    assert!(rel_err(&t, &(&w / 1.5)) < 1e-15);
    // Threshold: zero field divided by 1e-3, stays zero and finite.
    let z = Tensor::zeros([1, 2, 1, 2, 2], (KIND, Device::Cpu));
    let t = tr_norm(TrNormConfig::default()).forward(&z);
    assert_eq!(t.abs().max().double_value(&[]), 0.0);
}

#[test]
fn trace_readout_is_invariant_and_reads_traces() {
    let _seed = crate::model::seed_libtorch(4);
    let vs = store();
    let readout = trace_readout(vs.root() / "r", 3);
    let w = random_unitary(&[2, 3, 4, 5], 2);
    let omega = random_gauge(2, &[4, 5], 2);
    let f = readout.forward(&w);
    assert_eq!(f.size(), [2, 4, 5]);
    assert!(rel_err(&readout.forward(&transform_field(&w, &omega)), &f) < 1e-12);
    // Features are [Re T_1, Im T_1, Re T_2, ...] with T = Tr W / n.
    let feats = TraceReadout::features(&w);
    let t = matrix_trace(&w.get(1).select(1, 2).select(1, 3)) / 2.0; // (C,)
    let t1 = t.get(1);
    assert!(
        (feats.get(1).get(2).get(3).get(2).double_value(&[]) - t1.real().double_value(&[])).abs()
            < 1e-14
    );
    assert!(
        (feats.get(1).get(2).get(3).get(3).double_value(&[]) - t1.imag().double_value(&[])).abs()
            < 1e-14
    );
}

/// Reference transport: the explicit Wilson line from x to x + k mu (k may be negative), sites by
/// coordinates, one matrix at a time.
fn conv_reference(x: &Tensor, links: &Tensor, kernel: i64, dilation: i64) -> Tensor {
    let size = x.size();
    let (b, c) = (size[0], size[1]);
    let extents: Vec<i64> = size[2..size.len() - 2].to_vec();
    let dim = extents.len();
    let n = size[size.len() - 1];
    let mut terms = vec![x.shallow_clone()];
    let at = |t: &Tensor, coords: &[i64]| {
        let mut v = t.shallow_clone();
        for &cc in coords {
            v = v.get(cc);
        }
        v
    };
    for mu in 0..dim {
        for sign in [1i64, -1] {
            for k in 1..=kernel {
                let steps = k * dilation * sign;
                let out = Tensor::zeros(size.as_slice(), (KIND, Device::Cpu));
                let volume: i64 = extents.iter().product();
                for site in 0..volume {
                    let mut coords = vec![0i64; dim];
                    let mut r = site;
                    for a in (0..dim).rev() {
                        coords[a] = r % extents[a];
                        r /= extents[a];
                    }
                    for bi in 0..b {
                        let lb = links.get(bi).get(mu as i64);
                        // Wilson line along mu from coords, |steps| links.
                        let mut line = Tensor::eye(n, (KIND, Device::Cpu));
                        let mut cur = coords.clone();
                        for _ in 0..steps.abs() {
                            if sign > 0 {
                                line = line.matmul(&at(&lb, &cur));
                                cur[mu] = (cur[mu] + 1).rem_euclid(extents[mu]);
                            } else {
                                cur[mu] = (cur[mu] - 1).rem_euclid(extents[mu]);
                                line = line.matmul(&adj(&at(&lb, &cur)));
                            }
                        }
                        for ci in 0..c {
                            let y = at(&x.get(bi).get(ci), &cur);
                            let v = line.matmul(&y).matmul(&adj(&line));
                            at(&out.get(bi).get(ci), &coords).copy_(&v);
                        }
                    }
                }
                terms.push(out);
            }
        }
    }
    let stacked = Tensor::stack(&terms, 2);
    let mut s = size.clone();
    s[1] *= terms.len() as i64;
    stacked.reshape(s.as_slice())
}

#[test]
fn transport_matches_wilson_line_reference() {
    let _seed = crate::model::seed_libtorch(5);
    for (kernel, dilation) in [(1usize, 1usize), (2, 1), (1, 2)] {
        let links = random_links(2, &[4, 3], 2);
        let x = random_unitary(&[2, 2, 4, 3], 2);
        let got = transported_stack(&x, &links, kernel, dilation);
        let want = conv_reference(&x, &links, kernel as i64, dilation as i64);
        assert!(
            rel_err(&got, &want) < 1e-12,
            "kernel {kernel} dilation {dilation}"
        );
    }
}

#[test]
fn geconv_matches_reference_and_is_equivariant() {
    let _seed = crate::model::seed_libtorch(6);
    let vs = store();
    let cfg = GeConvConfig {
        kernel_size: 2,
        dilation: 1,
        conjugates: true,
        identity: true,
    };
    let conv = ge_conv(vs.root() / "c", 2, 2, 3, cfg);
    let links = random_links(2, &[5, 4], 2);
    let w = plaquettes(&links).repeat([1, 2, 1, 1, 1, 1]);
    let got = conv.forward_links(&w, &links);
    // Reference: omega applied to the explicit stack (+ identity channel).
    let x = enlarge(&w, true, false);
    let stack = enlarge(&conv_reference(&x, &links, 2, 1), false, true);
    let mut want = Tensor::zeros(got.size().as_slice(), (KIND, Device::Cpu));
    let omega = conv.weights();
    for u in 0..3 {
        for t in 0..stack.size()[1] {
            want.narrow(1, u, 1)
                .copy_(&(want.narrow(1, u, 1) + stack.narrow(1, t, 1) * omega.get(u).get(t)));
        }
    }
    want = want.shallow_clone();
    assert!(rel_err(&got, &want) < 1e-12);
    // Equivariance: transform links and plaquettes together.
    let g = random_gauge(2, &[5, 4], 2);
    let lhs = conv.forward_links(&transform_field(&w, &g), &transform_links(&links, &g));
    let rhs = transform_field(&got, &g);
    assert!(rel_err(&lhs, &rhs) < 1e-9);
}

#[test]
fn lcnn_layer_is_equivariant_in_2d_and_4d() {
    let _seed = crate::model::seed_libtorch(8);
    for (extents, n) in [(vec![4i64, 3], 2i64), (vec![2, 2, 2, 2], 2)] {
        let dim = extents.len();
        let vs = store();
        let p = (dim * (dim - 1) / 2) as i64;
        let lcb = l_conv_bilinear(vs.root() / "l", dim, p, 3, Default::default());
        let links = random_links(2, &extents, n);
        let w = plaquettes(&links);
        let g = random_gauge(2, &extents, n);
        let out = lcb.forward_links(&w, &links);
        assert_eq!(out.size()[1], 3);
        let lhs = lcb.forward_links(&transform_field(&w, &g), &transform_links(&links, &g));
        assert!(rel_err(&lhs, &transform_field(&out, &g)) < 1e-9);
    }
}
