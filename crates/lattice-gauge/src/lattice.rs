//! Periodic hypercubic lattices: shape, row-major site indexing, neighbours.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Index of a lattice site, `0..volume`, in row-major order (last axis fastest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Site(pub usize);

/// A lattice direction (axis) $\mu$, `0..dim`; $\hat\mu$ is the unit step along it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dir(pub usize);

/// A periodic hypercubic lattice of any dimension $d \ge 1$ with extents $L_0, \dots, L_{d-1}$.
///
/// Sites are numbered row-major (the last axis runs fastest):
/// $s = \sum_\mu x_\mu \prod_{\nu > \mu} L_\nu$. Steps wrap around periodically.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "LatticeRepr", into = "LatticeRepr")]
pub struct Lattice {
    extents: Vec<usize>,
    strides: Vec<usize>,
    volume: usize,
}

#[derive(Serialize, Deserialize)]
struct LatticeRepr {
    extents: Vec<usize>,
}

impl TryFrom<LatticeRepr> for Lattice {
    type Error = Error;
    fn try_from(repr: LatticeRepr) -> Result<Self> {
        Lattice::new(&repr.extents)
    }
}

impl From<Lattice> for LatticeRepr {
    fn from(lattice: Lattice) -> Self {
        LatticeRepr {
            extents: lattice.extents,
        }
    }
}

/// Lets constructors take either a `Lattice` or a `&Lattice`.
impl From<&Lattice> for Lattice {
    fn from(lattice: &Lattice) -> Self {
        lattice.clone()
    }
}

impl Lattice {
    /// A lattice with the given extents, one per axis.
    ///
    /// # Errors
    /// [`Error::EmptyShape`] for no axes, [`Error::ZeroExtent`] for an extent of 0,
    /// [`Error::VolumeOverflow`] if the number of sites does not fit into `usize`.
    pub fn new(extents: &[usize]) -> Result<Lattice> {
        if extents.is_empty() {
            return Err(Error::EmptyShape);
        }
        if let Some(axis) = extents.iter().position(|&l| l == 0) {
            return Err(Error::ZeroExtent {
                axis,
                extents: extents.to_vec(),
            });
        }
        let mut strides = vec![1usize; extents.len()];
        let mut volume = 1usize;
        for axis in (0..extents.len()).rev() {
            strides[axis] = volume;
            volume = volume
                .checked_mul(extents[axis])
                .ok_or_else(|| Error::VolumeOverflow {
                    extents: extents.to_vec(),
                })?;
        }
        Ok(Lattice {
            extents: extents.to_vec(),
            strides,
            volume,
        })
    }

    /// The number of axes $d$.
    pub fn dim(&self) -> usize {
        self.extents.len()
    }

    /// The extents $L_0, \dots, L_{d-1}$.
    pub fn extents(&self) -> &[usize] {
        &self.extents
    }

    /// The extent $L_\mu$ of one axis, or `None` if `mu` is out of range.
    pub fn extent(&self, mu: Dir) -> Option<usize> {
        self.extents.get(mu.0).copied()
    }

    /// The number of sites $\prod_\mu L_\mu$.
    pub fn volume(&self) -> usize {
        self.volume
    }

    /// The site with the given coordinates (row-major: the last axis runs fastest).
    ///
    /// # Errors
    /// [`Error::CoordinateCount`] if `coords.len() != dim`, [`Error::CoordinateOutOfRange`] if a
    /// coordinate is not below its extent.
    pub fn site(&self, coords: &[usize]) -> Result<Site> {
        if coords.len() != self.dim() {
            return Err(Error::CoordinateCount {
                expected: self.dim(),
                found: coords.len(),
            });
        }
        let mut s = 0;
        for (axis, (&x, &l)) in coords.iter().zip(&self.extents).enumerate() {
            if x >= l {
                return Err(Error::CoordinateOutOfRange {
                    axis,
                    coordinate: x,
                    extent: l,
                });
            }
            s += x * self.strides[axis];
        }
        Ok(Site(s))
    }

    /// The site with the given coordinates taken modulo the extents (any integers are allowed).
    ///
    /// # Errors
    /// [`Error::CoordinateCount`] if `coords.len() != dim`.
    pub fn site_wrapped(&self, coords: &[isize]) -> Result<Site> {
        if coords.len() != self.dim() {
            return Err(Error::CoordinateCount {
                expected: self.dim(),
                found: coords.len(),
            });
        }
        let s = coords
            .iter()
            .zip(&self.extents)
            .zip(&self.strides)
            .map(|((&x, &l), &stride)| wrap(x, l) * stride)
            .sum();
        Ok(Site(s))
    }

    /// The coordinates of a site.
    ///
    /// # Panics
    /// If `s` is not a site of this lattice (`s.0 >= volume`); see [`Lattice::try_coords`].
    pub fn coords(&self, s: Site) -> Vec<usize> {
        assert!(
            s.0 < self.volume,
            "site {} is outside 0..{}",
            s.0,
            self.volume
        );
        self.extents
            .iter()
            .zip(&self.strides)
            .map(|(&l, &stride)| (s.0 / stride) % l)
            .collect()
    }

    /// The coordinates of a site, or an error if it is not a site of this lattice.
    ///
    /// # Errors
    /// [`Error::SiteOutOfRange`].
    pub fn try_coords(&self, s: Site) -> Result<Vec<usize>> {
        self.check_site(s)?;
        Ok(self.coords(s))
    }

    /// The coordinate $x_\mu$ of a site along one axis.
    ///
    /// # Panics
    /// If `mu` is out of range.
    pub fn coord(&self, s: Site, mu: Dir) -> usize {
        (s.0 / self.strides[mu.0]) % self.extents[mu.0]
    }

    /// The site $x + \text{steps}\,\hat\mu$, wrapping around periodically.
    ///
    /// # Panics
    /// If `mu` is out of range (`mu.0 >= dim`); see [`Lattice::try_shift`].
    pub fn shift(&self, s: Site, mu: Dir, steps: isize) -> Site {
        let l = self.extents[mu.0];
        let stride = self.strides[mu.0];
        let x = (s.0 / stride) % l;
        let y = wrap(x as isize + steps % l as isize, l);
        Site(s.0 - x * stride + y * stride)
    }

    /// The table of shifted sites, `table[x] = x + steps * mu` for every site $x$ in index order
    /// (a gather index for whole-field shifts), computed without per-site divisions.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`].
    pub fn shift_table(&self, mu: Dir, steps: isize) -> Result<Vec<Site>> {
        self.check_dir(mu)?;
        Ok(self
            .shift_indices(mu, steps)
            .into_iter()
            .map(Site)
            .collect())
    }

    /// The index stride of axis `mu` (product of the later extents); `mu` must be in range.
    pub(crate) fn stride(&self, mu: Dir) -> usize {
        self.strides[mu.0]
    }

    /// [`Lattice::shift_table`] as plain indices; `mu` must be in range.
    pub(crate) fn shift_indices(&self, mu: Dir, steps: isize) -> Vec<usize> {
        let l = self.extents[mu.0];
        let stride = self.strides[mu.0];
        let block = l * stride;
        let mut table = Vec::with_capacity(self.volume);
        for outer in (0..self.volume).step_by(block) {
            for x in 0..l {
                let y = wrap(x as isize + steps % l as isize, l);
                let base = outer + y * stride;
                table.extend(base..base + stride);
            }
        }
        table
    }

    /// [`Lattice::shift`] with range checks.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SiteOutOfRange`].
    pub fn try_shift(&self, s: Site, mu: Dir, steps: isize) -> Result<Site> {
        self.check_dir(mu)?;
        self.check_site(s)?;
        Ok(self.shift(s, mu, steps))
    }

    /// The forward neighbour $x + \hat\mu$.
    ///
    /// # Panics
    /// If `mu` is out of range.
    pub fn forward(&self, s: Site, mu: Dir) -> Site {
        self.shift(s, mu, 1)
    }

    /// The backward neighbour $x - \hat\mu$.
    ///
    /// # Panics
    /// If `mu` is out of range.
    pub fn backward(&self, s: Site, mu: Dir) -> Site {
        self.shift(s, mu, -1)
    }

    /// All planes $(\mu, \nu)$ with $\mu < \nu$ in lexicographic order:
    /// $(0,1), (0,2), \dots, (d-2, d-1)$. Empty for $d = 1$.
    pub fn planes(&self) -> Vec<(Dir, Dir)> {
        let d = self.dim();
        (0..d)
            .flat_map(|mu| (mu + 1..d).map(move |nu| (Dir(mu), Dir(nu))))
            .collect()
    }

    /// The index of the plane $(\mu, \nu)$, $\mu < \nu$, in [`Lattice::planes`].
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], or [`Error::SameDirection`] for $\mu = \nu$. The order of `mu` and
    /// `nu` does not matter.
    pub fn plane_index(&self, mu: Dir, nu: Dir) -> Result<usize> {
        self.check_plane(mu, nu)?;
        let (a, b) = if mu.0 < nu.0 {
            (mu.0, nu.0)
        } else {
            (nu.0, mu.0)
        };
        let d = self.dim();
        // Planes (a, *) before a: sum_{i<a} (d-1-i).
        Ok(a * (2 * d - a - 1) / 2 + (b - a - 1))
    }

    /// All directions $0, \dots, d-1$.
    pub fn dirs(&self) -> impl Iterator<Item = Dir> + use<> {
        (0..self.dim()).map(Dir)
    }

    /// All sites in index order.
    pub fn sites(&self) -> impl Iterator<Item = Site> + use<> {
        (0..self.volume).map(Site)
    }

    /// Checks that `mu` is a direction of this lattice.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`].
    pub fn check_dir(&self, mu: Dir) -> Result<()> {
        if mu.0 < self.dim() {
            Ok(())
        } else {
            Err(Error::DirOutOfRange {
                dir: mu.0,
                dim: self.dim(),
            })
        }
    }

    /// Checks that `s` is a site of this lattice.
    ///
    /// # Errors
    /// [`Error::SiteOutOfRange`].
    pub fn check_site(&self, s: Site) -> Result<()> {
        if s.0 < self.volume {
            Ok(())
        } else {
            Err(Error::SiteOutOfRange {
                site: s.0,
                volume: self.volume,
            })
        }
    }

    /// Checks that $(\mu, \nu)$ is a plane: two different directions of this lattice.
    ///
    /// # Errors
    /// [`Error::DirOutOfRange`], [`Error::SameDirection`].
    pub fn check_plane(&self, mu: Dir, nu: Dir) -> Result<()> {
        self.check_dir(mu)?;
        self.check_dir(nu)?;
        if mu == nu {
            return Err(Error::SameDirection { dir: mu.0 });
        }
        Ok(())
    }

    pub(crate) fn check_same(&self, other: &Lattice) -> Result<()> {
        if self.extents == other.extents {
            Ok(())
        } else {
            Err(Error::LatticeMismatch {
                expected: self.extents.clone(),
                found: other.extents.clone(),
            })
        }
    }
}

fn wrap(x: isize, l: usize) -> usize {
    x.rem_euclid(l as isize) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_major_indexing_round_trips() {
        let lat = Lattice::new(&[3, 4, 5]).unwrap();
        assert_eq!(lat.volume(), 60);
        assert_eq!(lat.site(&[0, 0, 1]).unwrap(), Site(1));
        assert_eq!(lat.site(&[0, 1, 0]).unwrap(), Site(5));
        assert_eq!(lat.site(&[1, 0, 0]).unwrap(), Site(20));
        for s in lat.sites() {
            assert_eq!(lat.site(&lat.coords(s)).unwrap(), s);
        }
    }

    #[test]
    fn shifts_wrap_periodically() {
        let lat = Lattice::new(&[3, 4]).unwrap();
        for s in lat.sites() {
            let c = lat.coords(s);
            for mu in 0..2 {
                for steps in -9isize..=9 {
                    let t = lat.shift(s, Dir(mu), steps);
                    let mut e = c.clone();
                    e[mu] =
                        (c[mu] as isize + steps).rem_euclid(lat.extents()[mu] as isize) as usize;
                    assert_eq!(lat.coords(t), e);
                    let w: Vec<isize> = e.iter().map(|&x| x as isize).collect();
                    assert_eq!(lat.site_wrapped(&w).unwrap(), t);
                }
            }
        }
    }

    #[test]
    fn shift_tables_match_shift() {
        let lat = Lattice::new(&[3, 1, 4, 2]).unwrap();
        for mu in lat.dirs() {
            for steps in [-5isize, -1, 0, 1, 2, 7] {
                let table = lat.shift_table(mu, steps).unwrap();
                let expected: Vec<Site> = lat.sites().map(|s| lat.shift(s, mu, steps)).collect();
                assert_eq!(table, expected);
            }
        }
        assert!(lat.shift_table(Dir(4), 1).is_err());
    }

    #[test]
    fn planes_are_lexicographic_and_indexed() {
        let lat = Lattice::new(&[2, 3, 2, 2]).unwrap();
        let planes = lat.planes();
        let expected: Vec<(usize, usize)> = vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
        assert_eq!(
            planes.iter().map(|(a, b)| (a.0, b.0)).collect::<Vec<_>>(),
            expected
        );
        for (i, &(mu, nu)) in planes.iter().enumerate() {
            assert_eq!(lat.plane_index(mu, nu).unwrap(), i);
            assert_eq!(lat.plane_index(nu, mu).unwrap(), i);
        }
        assert!(Lattice::new(&[5]).unwrap().planes().is_empty());
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(Lattice::new(&[]), Err(Error::EmptyShape));
        assert_eq!(
            Lattice::new(&[3, 0]),
            Err(Error::ZeroExtent {
                axis: 1,
                extents: vec![3, 0]
            })
        );
        assert!(matches!(
            Lattice::new(&[usize::MAX, 2]),
            Err(Error::VolumeOverflow { .. })
        ));
        let lat = Lattice::new(&[3, 4]).unwrap();
        assert!(matches!(
            lat.site(&[3, 0]),
            Err(Error::CoordinateOutOfRange { axis: 0, .. })
        ));
        assert!(matches!(lat.site(&[0]), Err(Error::CoordinateCount { .. })));
        assert!(matches!(
            lat.try_shift(Site(0), Dir(2), 1),
            Err(Error::DirOutOfRange { dir: 2, dim: 2 })
        ));
        assert!(matches!(
            lat.plane_index(Dir(1), Dir(1)),
            Err(Error::SameDirection { dir: 1 })
        ));
    }

    #[test]
    fn serde_validates() {
        let lat = Lattice::new(&[3, 4]).unwrap();
        let json = serde_json::to_string(&lat).unwrap();
        assert_eq!(json, r#"{"extents":[3,4]}"#);
        assert_eq!(serde_json::from_str::<Lattice>(&json).unwrap(), lat);
        assert!(serde_json::from_str::<Lattice>(r#"{"extents":[3,0]}"#).is_err());
    }
}
