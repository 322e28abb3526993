//! The second Chern number of occupied bands on a 4D grid.
use crate::bands::{BandSet, BandStructure, k_point, unravel};
use crate::error::{Error, Result};
use crate::links::{Tolerances, occupied_links};
use lattice_gauge::hermitian::Eigensolver;
use lattice_gauge::{Lattice, Site, matrix};
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::f64::consts::PI;

/// A second Chern number with the data behind it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SecondChern {
    /// The nearest integer to `raw`.
    pub c2: i64,
    /// $\frac1{8\pi^2}\sum_x 2\,[\operatorname{Tr}F_{01}F_{23} - \operatorname{Tr}F_{02}F_{13} + \operatorname{Tr}F_{03}F_{12}]$.
    pub raw: f64,
    /// Smallest gap isolating the bands.
    pub min_gap: f64,
    /// The grid.
    pub grid: Vec<usize>,
    /// The bands.
    pub bands: Vec<usize>,
}

/// The second Chern number of the occupied `set` on a 4D band structure, by
/// $C_2 = \frac1{8\pi^2}\sum_x 2\,[\operatorname{Tr}F_{01}F_{23} - \operatorname{Tr}F_{02}F_{13} + \operatorname{Tr}F_{03}F_{12}]$
/// with $F_{\mu\nu}(x) = -i\log W_{\mu\nu}(x)$ ([`lattice_gauge::matrix::log_unitary`]): gauge invariant, converging with the grid (not
/// an exact integer on a finite grid).
pub fn second_chern_number(
    bands: &BandStructure,
    set: &BandSet,
    tol: &Tolerances,
) -> Result<SecondChern> {
    if bands.extents().len() != 4 {
        return Err(Error::BadGrid {
            extents: bands.extents().to_vec(),
            reason: "a second Chern number needs a 4D grid",
        });
    }
    crate::bands::check_resolves(bands.extents())?;
    let min_gap = bands.check_isolated(set, tol.gap())?;
    let links = occupied_links(bands, set, tol)?;
    let plaquettes = links.plaquettes();
    let r = set.len();
    let nk = bands.n_kpoints();
    // Planes in Lattice::planes() order: (0,1),(0,2),(0,3),(1,2),(1,3),(2,3).
    let density: Vec<std::result::Result<f64, (usize, lattice_gauge::Error)>> = (0..nk)
        .into_par_iter()
        .map_init(
            || Eigensolver::new(r),
            |solver, s| {
                let mut f = vec![C64::new(0.0, 0.0); 6 * r * r];
                for (p, fp) in f.chunks_mut(r * r).enumerate() {
                    matrix::log_unitary_into(plaquettes.plaquette(p, Site(s)), fp, r, solver)
                        .map_err(|e| (p, e))?;
                }
                let tr = |a: usize, b: usize| -> f64 {
                    let (fa, fb) = (
                        &f[a * r * r..(a + 1) * r * r],
                        &f[b * r * r..(b + 1) * r * r],
                    );
                    (0..r)
                        .flat_map(|i| (0..r).map(move |j| (i, j)))
                        .map(|(i, j)| fa[i * r + j] * fb[j * r + i])
                        .sum::<C64>()
                        .re
                };
                Ok(2.0 * (tr(0, 5) - tr(1, 4) + tr(2, 3)))
            },
        )
        .collect();
    let mut total = 0.0;
    for (s, d) in density.into_iter().enumerate() {
        match d {
            Ok(x) => total += x,
            Err((p, source)) => {
                let (mu, nu) = Lattice::new(bands.extents())?.planes()[p];
                let index = unravel(bands.extents(), s);
                return Err(Error::PlaquetteLogarithm {
                    k: k_point(bands.extents(), &index),
                    index,
                    mu: mu.0,
                    nu: nu.0,
                    source: Box::new(source),
                });
            }
        }
    }
    let raw = total / (8.0 * PI * PI);
    Ok(SecondChern {
        c2: raw.round() as i64,
        raw,
        min_gap,
        grid: bands.extents().to_vec(),
        bands: set.bands().to_vec(),
    })
}
