//! [proptest](https://docs.rs/proptest) strategies for property-testing code that uses gauge fields
//! (feature `proptest-support`).
//!
//! Random values are drawn from a seeded [`ChaCha8Rng`], the seed being what proptest generates, so
//! every failure is reproducible (proptest cannot shrink a unitary matrix meaningfully; it shrinks the
//! seed).
//!
//! ```
//! use lattice_gauge::proptest::{gauge_transform, link_field};
//! use lattice_gauge::{matrix, Dir, Site};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(8), |(u in link_field(&[4, 3], 2), g in gauge_transform(&[4, 3], 2))| {
//!     let v = g.apply_links(&u).unwrap();
//!     let (a, b) = (u.plaquette(Dir(0), Dir(1), Site(5)), v.plaquette(Dir(0), Dir(1), Site(5)));
//!     prop_assert!((matrix::trace(&a, 2) - matrix::trace(&b, 2)).norm() < 1e-12);
//! });
//! ```

use ::proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::C64;
use crate::gauge_transform::GaugeTransform;
use crate::lattice::Lattice;
use crate::link_field::LinkField;
use crate::matrix;

fn lattice_or_panic(extents: &[usize], n: usize) -> Lattice {
    assert!(n >= 1, "strategies need a matrix size n >= 1");
    match Lattice::new(extents) {
        Ok(lattice) => lattice,
        Err(e) => panic!("invalid extents {extents:?} for a strategy: {e}"),
    }
}

/// Haar-random $U(n)$ matrices, row-major ([`matrix::haar_unitary`]).
pub fn unitary(n: usize) -> impl Strategy<Value = Vec<C64>> {
    any::<u64>().prop_map(move |seed| matrix::haar_unitary(&mut ChaCha8Rng::seed_from_u64(seed), n))
}

/// Link fields on the lattice with the given extents, every link Haar-random in $U(n)$.
///
/// # Panics
/// When called (not when sampled) with invalid extents or $n = 0$: a test-setup error.
pub fn link_field(extents: &[usize], n: usize) -> impl Strategy<Value = LinkField> + use<> {
    let lattice = lattice_or_panic(extents, n);
    any::<u64>().prop_map(move |seed| {
        LinkField::haar_random(&lattice, n, &mut ChaCha8Rng::seed_from_u64(seed))
            .expect("n >= 1 was checked when the strategy was made")
    })
}

/// Gauge transformations on the lattice with the given extents, every $\Omega(x)$ Haar-random.
///
/// # Panics
/// When called (not when sampled) with invalid extents or $n = 0$: a test-setup error.
pub fn gauge_transform(
    extents: &[usize],
    n: usize,
) -> impl Strategy<Value = GaugeTransform> + use<> {
    let lattice = lattice_or_panic(extents, n);
    any::<u64>().prop_map(move |seed| {
        GaugeTransform::random(&lattice, n, &mut ChaCha8Rng::seed_from_u64(seed))
            .expect("n >= 1 was checked when the strategy was made")
    })
}

/// Lattices of dimension `dim` with independent extents in `1..=max_extent`.
///
/// # Panics
/// When called with `dim == 0` or `max_extent == 0`.
pub fn lattice(dim: usize, max_extent: usize) -> impl Strategy<Value = Lattice> {
    assert!(
        dim >= 1 && max_extent >= 1,
        "need dim >= 1 and max_extent >= 1"
    );
    ::proptest::collection::vec(1..=max_extent, dim)
        .prop_map(|extents| Lattice::new(&extents).expect("extents are >= 1"))
}

/// Link fields together with a gauge transformation on the same random lattice of dimension
/// `dim` (extents in `1..=max_extent`), for $U(n)$.
///
/// # Panics
/// When called with `dim == 0`, `max_extent == 0` or $n = 0$.
pub fn links_and_transform(
    dim: usize,
    max_extent: usize,
    n: usize,
) -> impl Strategy<Value = (LinkField, GaugeTransform)> {
    assert!(n >= 1, "strategies need a matrix size n >= 1");
    (lattice(dim, max_extent), any::<u64>()).prop_map(move |(lattice, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let links = LinkField::haar_random(&lattice, n, &mut rng).expect("n >= 1");
        let omega = GaugeTransform::random(&lattice, n, &mut rng).expect("n >= 1");
        (links, omega)
    })
}
