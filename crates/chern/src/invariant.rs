//! The invariant a model's k-space dimension calls for, with everything a report needs: the first
//! Chern number on a 2D grid ([`chern_number`]), the second on a 4D grid
//! ([`second_chern_number`]).
use crate::bands::{BandSet, BandStructure};
use crate::chern_number::{ChernConfig, ChernNumber, Method, chern_number, chern_number_of};
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::second_chern::second_chern_number;
use crate::wilson::wilson_loops;

/// Which bands are occupied: the `r` lowest, or an explicit set. Resolved against a model's
/// number of bands before anything is allocated, so that an absurd `r` is an error, not an
/// allocation of `r` indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Occupation {
    /// The `r` lowest bands $0..r$.
    Lowest(usize),
    /// An explicit set of bands (0-based), isolated by gaps.
    Bands(BandSet),
}

impl Occupation {
    /// The band set for a model with `n_bands` bands.
    ///
    /// # Errors
    /// [`Error::BadBandSet`] if the set is empty, repeats a band or names a band $\ge$ `n_bands`.
    pub fn resolve(&self, n_bands: usize) -> Result<BandSet> {
        let set = match self {
            // Listing an absurd number of bands would allocate them: name the count instead.
            Occupation::Lowest(r) if *r > n_bands.saturating_add(64) => {
                return Err(Error::BadBandSet {
                    bands: vec![*r],
                    n_bands,
                    reason: "more filled bands than the model has",
                });
            }
            Occupation::Lowest(r) => BandSet::lowest(*r),
            Occupation::Bands(set) => set.clone(),
        };
        set.check(n_bands)?;
        Ok(set)
    }
}

/// What to compute for a model: the grid ($L$ points per axis), the occupied bands, the
/// plaquette formula and tolerances, and whether to add the Wilson-loop winding (2D).
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Points per axis: an $L \times L$ grid in 2D, $L^4$ in 4D.
    pub grid: usize,
    /// The occupied bands.
    pub occupation: Occupation,
    /// Plaquette formula (2D) and tolerances.
    pub config: ChernConfig,
    /// Also compute the Wilson-loop winding along $k_1$ (2D only).
    pub wilson: bool,
}

impl Setup {
    /// The grid extents for a model of k-space dimension `dim`.
    pub fn extents(&self, dim: usize) -> Vec<usize> {
        vec![self.grid; dim]
    }

    /// Whether [`invariant`] streams the grid row by row for a model of dimension `dim` (memory
    /// $O(L N r)$ plus the flux field): the first Chern number by [`Method::Determinant`]
    /// without the Wilson-loop winding. The eigenphase sum, the winding and the second Chern
    /// number hold the whole grid's eigenvectors.
    pub fn streams(&self, dim: usize) -> bool {
        dim == 2 && self.config.method == Method::Determinant && !self.wilson
    }

    /// The memory (bytes) that [`invariant`] needs for a model with `n_bands` bands in `dim`
    /// dimensions on `threads` threads (the band structure, the links, the plaquettes and the
    /// flux field); `None` if the count overflows. Check it against a limit before computing
    /// (the `chern` command-line tool does).
    pub fn memory_estimate(&self, dim: usize, n_bands: usize, threads: usize) -> Option<u128> {
        let r = match &self.occupation {
            Occupation::Lowest(r) => *r,
            Occupation::Bands(set) => set.len(),
        }
        .min(n_bands) as u128;
        if self.streams(dim) {
            return crate::chern_number::chern_memory_estimate(
                n_bands,
                [self.grid, self.grid],
                r as usize,
                threads,
            );
        }
        let extents = self.extents(dim);
        let bands = BandStructure::memory_estimate(n_bands, &extents, r as usize, threads)?;
        let nk = crate::bands::n_kpoints(&extents)? as u128;
        // Links: dim matrices of r x r per k-point; plaquettes: dim (dim - 1) / 2 more; the
        // flux field and per-site densities: a few numbers per k-point.
        let planes = (dim * dim.saturating_sub(1) / 2) as u128;
        let matrices = nk
            .checked_mul(dim as u128 + planes)?
            .checked_mul(r.checked_mul(r)?.checked_mul(16)?)?;
        bands
            .checked_add(matrices)?
            .checked_add(nk.checked_mul(32)?)
    }
}

/// A first (2D) or second (4D) Chern number with what a report prints.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Invariant {
    /// The integer: $C$ in 2D, the nearest integer to the second Chern sum in 4D.
    pub chern: i64,
    /// The unrounded sum.
    pub raw: f64,
    /// Smallest gap isolating the bands on the grid ($+\infty$, written `null`, when every
    /// band is occupied).
    pub min_gap: f64,
    /// The grid extents.
    pub grid: Vec<usize>,
    /// The occupied bands.
    pub bands: Vec<usize>,
    /// The formula: `det`, `eigenphase` or `second-chern`.
    pub method: String,
    /// `first Chern number` or `second Chern number`.
    pub invariant: String,
    /// Largest $|F(k)|$ of a plaquette (2D): close to $\pi$ means the grid barely resolves
    /// the curvature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_abs_flux: Option<f64>,
    /// The Wilson-loop winding's Chern number, where asked for (2D).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wilson_chern: Option<i64>,
    /// The full 2D result, with the Berry-flux field (for the curvature plot).
    #[serde(skip)]
    pub first: Option<ChernNumber>,
}

/// The invariant of `h` on the grid of `setup`: the first Chern number for a 2D model (and its
/// Wilson-loop winding if `setup.wilson`), the second Chern number for a 4D one.
///
/// ```
/// use chern::{invariant, ChernConfig, Occupation, Qwz, Setup};
/// let setup = Setup { grid: 24, occupation: Occupation::Lowest(1), config: ChernConfig::default(), wilson: true };
/// let c = invariant(&Qwz::new(1.0), &setup)?;
/// assert_eq!((c.chern, c.wilson_chern, c.method.as_str()), (1, Some(1), "det"));
/// # Ok::<(), chern::Error>(())
/// ```
///
/// # Errors
/// [`Error::BadGrid`] for a model that is neither 2D nor 4D or a grid too coarse to resolve an
/// invariant, and every error of the computations ([`Error::GapClosed`],
/// [`Error::SingularOverlap`], ...).
pub fn invariant<H: BlochHamiltonian + Sync + ?Sized>(h: &H, setup: &Setup) -> Result<Invariant> {
    let set = setup.occupation.resolve(h.n_bands())?;
    let grid = setup.extents(h.dim());
    if !matches!(h.dim(), 2 | 4) {
        return Err(Error::BadGrid {
            extents: grid,
            reason: "invariants are computed for 2D (first Chern number) and 4D (second Chern number) models",
        });
    }
    crate::bands::check_model_resolves(h, &grid)?;
    if setup.streams(h.dim()) {
        let c = chern_number_of(h, &grid, &set, &setup.config)?;
        return Ok(Invariant::first(c, grid, None));
    }
    let bands = BandStructure::compute_for(h, &grid, &set)?;
    if h.dim() == 4 {
        let c2 = second_chern_number(&bands, &set, &setup.config.tolerances)?;
        return Ok(Invariant {
            chern: c2.resolved()?,
            raw: c2.raw,
            min_gap: c2.min_gap,
            grid,
            bands: c2.bands,
            method: "second-chern".into(),
            invariant: "second Chern number".into(),
            max_abs_flux: None,
            wilson_chern: None,
            first: None,
        });
    }
    let c = chern_number(&bands, &set, &setup.config)?;
    let wilson_chern = if setup.wilson {
        Some(wilson_loops(&bands, &set, 0, &setup.config.tolerances)?.chern)
    } else {
        None
    };
    Ok(Invariant::first(c, grid, wilson_chern))
}

impl Invariant {
    /// The report of a first Chern number.
    fn first(c: ChernNumber, grid: Vec<usize>, wilson_chern: Option<i64>) -> Self {
        Invariant {
            chern: c.chern,
            raw: c.raw,
            min_gap: c.min_gap,
            grid,
            bands: c.bands.clone(),
            method: c.method.to_string(),
            invariant: "first Chern number".into(),
            max_abs_flux: Some(c.max_abs_flux),
            wilson_chern,
            first: Some(c),
        }
    }
}
