//! Wilson-loop spectra (hybrid Wannier centres) whose winding gives the Chern number
//! independently of the plaquette sum, as Z2Pack does.
use crate::bands::{BandSet, BandStructure};
use crate::chern_number::{MAX_RESOLVED_FLUX, check_resolved, principal_arg};
use crate::error::{Error, Result};
use crate::links::{Tolerances, occupied_links};
use lattice_gauge::{Dir, LinkField, Site, matrix};
use ndarray::Array2;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Wilson loops $\mathcal W(k_\perp) = \prod_{j} U_\mu(k_j, k_\perp)$ around the Brillouin torus
/// along direction $\mu$, one for every momentum $k_\perp$ of the other axis.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WilsonLoops {
    /// Direction $\mu$ the loops run along.
    pub dir: usize,
    /// Principal eigenphases $\theta_a(k_\perp) \in (-\pi, \pi]$, ascending, one row per $k_\perp$.
    #[serde(skip)]
    pub phases: Array2<f64>,
    /// Winding number $w = \frac1{2\pi}\sum_{k_\perp}\operatorname{wrap}\bigl(\Phi(k_\perp+\delta)-\Phi(k_\perp)\bigr)$
    /// of the total phase $\Phi = \arg\det\mathcal W$.
    pub winding: i64,
    /// The Chern number it implies in our (FHS) convention: $C = -w$ for loops along $k_1$,
    /// $C = +w$ for loops along $k_2$ (a plaquette sum over a strip telescopes to a difference of
    /// neighbouring loop phases).
    pub chern: i64,
}

impl WilsonLoops {
    /// Hybrid Wannier centres $\bar x_a(k_\perp) = -\theta_a(k_\perp)/2\pi \in [-\tfrac12, \tfrac12)$,
    /// in units of the lattice constant along $\mu$. Their sum winds by $C$ along $k_2$ for loops
    /// along $k_1$.
    pub fn wannier_centres(&self) -> Array2<f64> {
        self.phases.mapv(|t| -t / (2.0 * PI))
    }
}

/// Wilson-loop spectra of the occupied `set` along `dir` (0 or 1) on a 2D band structure.
///
/// The winding counts the total phase $\Phi(k_\perp)$ from one loop to the next, and that step is
/// the Berry flux through the strip of plaquettes between the two loops, known only modulo
/// $2\pi$ to the loops. So the grid must resolve the curvature twice over, and both are checked
/// on the same links before the winding is trusted:
/// - every plaquette's flux $F(k) = \arg\det W(k)$ (the determinant route's) is at most
///   [`MAX_RESOLVED_FLUX`] in modulus, else [`Error::Unresolved`] naming the plaquette;
/// - every strip's flux $\sum_{k_\parallel} F$, the change of $\Phi$ between neighbouring loops,
///   is at most [`MAX_RESOLVED_FLUX`] in modulus, else [`Error::WilsonLoopUnresolved`] naming
///   the two loops. (A model of Chern number $C$ with even curvature needs more than $8|C|/3$
///   loops.)
///
/// A grid coarser than the model says its bands need is [`Error::GridTooCoarse`].
pub fn wilson_loops(
    bands: &BandStructure,
    set: &BandSet,
    dir: usize,
    tol: &Tolerances,
) -> Result<WilsonLoops> {
    let extents = bands.extents().to_vec();
    if extents.len() != 2 {
        return Err(Error::BadGrid {
            extents,
            reason: "Wilson-loop spectra are computed on a 2D grid",
        });
    }
    crate::bands::check_resolves(&extents)?;
    bands.check_model_resolves()?;
    if dir > 1 {
        return Err(Error::invalid("dir", dir, "direction must be 0 or 1"));
    }
    let links = occupied_links(bands, set, tol)?;
    let r = set.len();
    let other = 1 - dir;
    let lattice = links.lattice().clone();
    check_loops_resolved(&links, dir)?;
    let mut phases = Array2::zeros((extents[other], r));
    let mut total = Vec::with_capacity(extents[other]);
    let mut buf = vec![0.0; r];
    for j in 0..extents[other] {
        let mut coords = [0, 0];
        coords[other] = j;
        let start = lattice.site(&coords)?;
        let w: Vec<C64> = links.polyakov_loop(Dir(dir), start)?;
        matrix::eigenphases_into(&w, &mut buf, r);
        for (a, t) in buf.iter().enumerate() {
            phases[[j, a]] = *t;
        }
        total.push(matrix::principal_arg(matrix::det(&w, r)));
    }
    let m = total.len();
    let sum: f64 = (0..m)
        .map(|j| matrix::principal_arg(C64::from_polar(1.0, total[(j + 1) % m] - total[j])))
        .sum();
    let winding = (sum / (2.0 * PI)).round() as i64;
    let chern = if dir == 0 { -winding } else { winding };
    Ok(WilsonLoops {
        dir,
        phases,
        winding,
        chern,
    })
}

/// The resolution checks of [`wilson_loops`] on the occupied links: the flux of every plaquette
/// ($\arg$ of the product of the link determinants around it, as the determinant route computes
/// it), then the flux of every strip between neighbouring loops along `dir`.
fn check_loops_resolved(links: &LinkField, dir: usize) -> Result<()> {
    let lattice = links.lattice();
    let extents = lattice.extents().to_vec();
    let r = links.n();
    let dets: Vec<[C64; 2]> = (0..lattice.volume())
        .into_par_iter()
        .map(|s| [0, 1].map(|mu| matrix::det(links.link(Dir(mu), Site(s)), r)))
        .collect();
    let flux: Vec<f64> = (0..lattice.volume())
        .map(|s| {
            let (x, y) = (
                lattice.forward(Site(s), Dir(0)).0,
                lattice.forward(Site(s), Dir(1)).0,
            );
            principal_arg(dets[s][0] * dets[x][1] * (dets[y][0] * dets[s][1]).conj())
        })
        .collect();
    check_resolved(&flux, &extents)?;
    // Strip j between the loops at k_perp = j and j + 1: the plaquettes with that coordinate
    // across the loops (sites are row-major, the last axis fastest).
    let other = 1 - dir;
    let mut strips = vec![0.0; extents[other]];
    for (s, f) in flux.iter().enumerate() {
        let j = if other == 1 {
            s % extents[1]
        } else {
            s / extents[1]
        };
        strips[j] += f;
    }
    let (j, phase) = strips
        .iter()
        .enumerate()
        .fold((0, 0.0f64), |(j, m), (i, f)| {
            if f.abs() > m.abs() { (i, *f) } else { (j, m) }
        });
    if phase.abs() > MAX_RESOLVED_FLUX {
        let step = 2.0 * PI / extents[other] as f64;
        return Err(Error::WilsonLoopUnresolved {
            what: "the total phase of the loops (the Berry flux through the strip between them)",
            k_from: step * j as f64,
            k_to: step * (j + 1) as f64,
            phase,
            limit: MAX_RESOLVED_FLUX,
        });
    }
    Ok(())
}
