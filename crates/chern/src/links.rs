//! Links of the occupied bands: overlaps $M_\mu(k) = V(k)^\dagger V(k+\hat\mu)$ made unitary by
//! their polar factor, as a [`LinkField`] on the k-grid.
use crate::bands::{BandSet, BandStructure, k_point, unravel};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use lattice_gauge::{Lattice, LinkField, matrix};
use ndarray::Array4;
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Tolerances shared by every computation from occupied eigenvectors, validated on construction
/// (and when deserialised): a NaN, negative or out-of-range tolerance is an error, never a silent
/// "accept everything".
///
/// ```
/// use chern::Tolerances;
/// let tol = Tolerances::new(1e-4, 1e-3)?;
/// assert_eq!((tol.gap(), tol.overlap()), (1e-4, 1e-3));
/// assert!(Tolerances::new(f64::NAN, 1e-3).is_err());
/// assert!(Tolerances::new(1e-4, -1.0).is_err());
/// # Ok::<(), chern::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "TolerancesSpec")]
pub struct Tolerances {
    gap: f64,
    overlap: f64,
}

/// The serialised form of [`Tolerances`], checked by [`Tolerances::new`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TolerancesSpec {
    gap: f64,
    overlap: f64,
}

impl TryFrom<TolerancesSpec> for Tolerances {
    type Error = Error;
    fn try_from(spec: TolerancesSpec) -> Result<Self> {
        Tolerances::new(spec.gap, spec.overlap)
    }
}

impl Tolerances {
    /// Tolerances with the smallest admissible gap between an occupied and an empty band
    /// anywhere on the grid (`gap`, finite and positive) and the smallest admissible
    /// $|\det M_\mu(k)|$ of an overlap matrix (`overlap`, in $(0, 1)$: on orthonormal
    /// eigenvectors $|\det M| \le 1$; below it the grid is too coarse).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the tolerance.
    pub fn new(gap: f64, overlap: f64) -> Result<Self> {
        check_gap_tolerance(gap)?;
        if !(overlap > 0.0 && overlap < 1.0) {
            return Err(Error::invalid(
                "overlap tolerance",
                overlap,
                "must be a number in (0, 1) (|det M| of orthonormal eigenvectors is at most 1)",
            ));
        }
        Ok(Self { gap, overlap })
    }
    /// Smallest admissible gap between an occupied and an empty band.
    pub fn gap(&self) -> f64 {
        self.gap
    }
    /// Smallest admissible $|\det M_\mu(k)|$.
    pub fn overlap(&self) -> f64 {
        self.overlap
    }
}

/// A gap tolerance must be finite and positive: a gap exactly zero is never admissible.
pub(crate) fn check_gap_tolerance(gap: f64) -> Result<()> {
    if gap.is_finite() && gap > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "gap tolerance",
            gap,
            "must be a finite positive number",
        ))
    }
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            gap: 1e-6,
            overlap: 1e-6,
        }
    }
}

/// $M_{ab} = \sum_i \overline{V_{a i}(k)}\, V_{b i}(k')$ for eigenvector rows `va`, `vb`.
///
/// Every entry is the sum in the order $i = 0, 1, \ldots$ (so the same number whatever the
/// blocking); four entries of a row run side by side, so that their four chains of additions
/// overlap instead of each waiting for its previous addition.
#[inline]
pub(crate) fn overlap_into(va: &[C64], vb: &[C64], out: &mut [C64], n: usize, r: usize) {
    const W: usize = 4;
    for a in 0..r {
        let x = &va[a * n..(a + 1) * n];
        let row = &mut out[a * r..(a + 1) * r];
        let mut b = 0;
        while b + W <= r {
            let y: [&[C64]; W] = std::array::from_fn(|t| &vb[(b + t) * n..(b + t + 1) * n]);
            let mut s = [C64::new(0.0, 0.0); W];
            for (i, p) in x.iter().enumerate() {
                let p = p.conj();
                for t in 0..W {
                    s[t] += p * y[t][i];
                }
            }
            row[b..b + W].copy_from_slice(&s);
            b += W;
        }
        for (b, o) in row.iter_mut().enumerate().skip(b) {
            let y = &vb[b * n..(b + 1) * n];
            let mut s = C64::new(0.0, 0.0);
            for (p, q) in x.iter().zip(y) {
                s += p.conj() * q;
            }
            *o = s;
        }
    }
}

/// Site reached from `s` by one step along `mu` on a periodic row-major grid.
#[inline]
pub(crate) fn neighbour(extents: &[usize], s: usize, mu: usize) -> usize {
    let stride: usize = extents[mu + 1..].iter().product();
    let l = extents[mu];
    let coord = (s / stride) % l;
    if coord + 1 == l {
        s + stride - l * stride
    } else {
        s + stride
    }
}

/// The [`Error::SingularOverlap`] of the link from site `s` along `dir`.
#[cold]
#[inline(never)]
pub(crate) fn singular(
    extents: &[usize],
    s: usize,
    dir: usize,
    modulus: f64,
    tolerance: f64,
) -> Error {
    let index = unravel(extents, s);
    Error::SingularOverlap {
        k: k_point(extents, &index),
        index,
        dir,
        modulus,
        tolerance,
    }
}

/// The unitary links $U_\mu(k) = M (M^\dagger M)^{-1/2}$ of the occupied `set` on the grid of
/// `bands` (one direction per grid axis), checking that the set is isolated by gaps of at least
/// `tol.gap()` and that every $|\det M_\mu(k)| \ge$ `tol.overlap()`.
///
/// Under a gauge change $V(k) \to V(k) g(k)$ they transform as $U_\mu(k)\to g(k)^\dagger
/// U_\mu(k) g(k+\hat\mu)$; plaquettes, Wilson loops and every Chern number follow from them.
pub fn occupied_links(bands: &BandStructure, set: &BandSet, tol: &Tolerances) -> Result<LinkField> {
    bands.check_isolated(set, tol.gap())?;
    let frame = bands.frame(set)?;
    let extents = bands.extents().to_vec();
    let (n, r) = (bands.n_bands(), set.len());
    let nk = bands.n_kpoints();
    let d = extents.len();
    let lattice = Lattice::new(&extents)?;
    let mut data = vec![C64::new(0.0, 0.0); d * nk * r * r];
    data.par_chunks_mut(r * r).enumerate().try_for_each_init(
        || vec![C64::new(0.0, 0.0); r * r],
        |m, (idx, out)| -> Result<()> {
            let (mu, s) = (idx / nk, idx % nk);
            let t = neighbour(&extents, s, mu);
            overlap_into(
                &frame[s * r * n..(s + 1) * r * n],
                &frame[t * r * n..(t + 1) * r * n],
                m,
                n,
                r,
            );
            let modulus = matrix::det(m, r).norm();
            if modulus.is_nan() || modulus < tol.overlap() {
                return Err(singular(&extents, s, mu, modulus, tol.overlap()));
            }
            matrix::polar_unitary_into(m, out, r, 1e-12)?;
            Ok(())
        },
    )?;
    let array = Array4::from_shape_vec((d, nk, r, r), data).expect("shape matches the buffer");
    Ok(LinkField::from_array(lattice, r, array)?)
}

/// [`occupied_links`] of model `h` on a grid with `extents`, diagonalising only once per k-point
/// and keeping only the eigenvectors of `set`. The way to turn Hamiltonian samples into link
/// fields for gauge-equivariant networks.
pub fn links_of<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    extents: &[usize],
    set: &BandSet,
    tol: &Tolerances,
) -> Result<LinkField> {
    let bands = BandStructure::compute_for(h, extents, set)?;
    occupied_links(&bands, set, tol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The blocked overlap is bit for bit the plain sum in order, for every shape.
    #[test]
    fn blocked_overlap_is_the_plain_sum_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (n, r) in [
            (1, 1),
            (2, 1),
            (4, 2),
            (5, 3),
            (8, 4),
            (9, 5),
            (32, 16),
            (31, 7),
        ] {
            let mut z = || C64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
            let va: Vec<C64> = (0..r * n).map(|_| z()).collect();
            let vb: Vec<C64> = (0..r * n).map(|_| z()).collect();
            let mut out = vec![C64::new(0.0, 0.0); r * r];
            overlap_into(&va, &vb, &mut out, n, r);
            for a in 0..r {
                for b in 0..r {
                    let mut s = C64::new(0.0, 0.0);
                    for i in 0..n {
                        s += va[a * n + i].conj() * vb[b * n + i];
                    }
                    let got = out[a * r + b];
                    assert_eq!(
                        (got.re.to_bits(), got.im.to_bits()),
                        (s.re.to_bits(), s.im.to_bits()),
                        "n {n} r {r} entry ({a}, {b})"
                    );
                }
            }
        }
    }
}
