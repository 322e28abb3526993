//! The second Chern number of occupied bands on a 4D grid.
use crate::bands::{BandSet, BandStructure};
use crate::eigen::Eigensolver;
use crate::error::{Error, Result};
use crate::links::{Tolerances, occupied_links};
use lattice_gauge::{Site, matrix};
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

/// $F = -i\log W$ for unitary $W$ (principal branch), Hermitian, written into `f`.
///
/// $W$ is normal, so it shares its eigenvectors with the Hermitian $A = \tfrac12(W+W^\dagger) +
/// \tfrac{\alpha}{2i}(W-W^\dagger)$; a generic $\alpha$ separates distinct eigenphases, and the
/// result is checked ($V^\dagger W V$ diagonal) and retried with another $\alpha$ if not.
fn log_unitary(w: &[C64], f: &mut [C64], r: usize, solver: &mut Eigensolver) -> Option<()> {
    let mut a = vec![C64::new(0.0, 0.0); r * r];
    let mut e = vec![0.0; r];
    let mut v = vec![C64::new(0.0, 0.0); r * r];
    for alpha in [
        0.618_033_988_749_895,
        -1.324_717_957_244_746,
        2.414_213_562_373_095,
    ] {
        for i in 0..r {
            for j in 0..r {
                let wij = w[i * r + j];
                let wji = w[j * r + i].conj();
                a[i * r + j] = (wij + wji) * 0.5 + (wij - wji) * C64::new(0.0, -0.5 * alpha);
            }
        }
        solver.solve(&a, &mut e, &mut v).ok()?;
        // λ_a = v_a^† W v_a; check the off-diagonal elements vanish.
        let mut theta = vec![0.0; r];
        let mut off = 0.0f64;
        for p in 0..r {
            for q in 0..r {
                let mut s = C64::new(0.0, 0.0);
                for i in 0..r {
                    let wv: C64 = (0..r).map(|j| w[i * r + j] * v[q * r + j]).sum();
                    s += v[p * r + i].conj() * wv;
                }
                if p == q {
                    theta[p] = matrix::principal_arg(s);
                } else {
                    off = off.max(s.norm());
                }
            }
        }
        if off < 1e-9 {
            for i in 0..r {
                for j in 0..r {
                    f[i * r + j] = (0..r)
                        .map(|a| v[a * r + i] * theta[a] * v[a * r + j].conj())
                        .sum();
                }
            }
            return Some(());
        }
    }
    None
}

/// The second Chern number of the occupied `set` on a 4D band structure, by
/// $C_2 = \frac1{8\pi^2}\sum_x 2\,[\operatorname{Tr}F_{01}F_{23} - \operatorname{Tr}F_{02}F_{13} + \operatorname{Tr}F_{03}F_{12}]$
/// with $F_{\mu\nu}(x) = -i\log W_{\mu\nu}(x)$: gauge invariant, converging with the grid (not
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
    let min_gap = bands.check_isolated(set, tol.gap)?;
    let links = occupied_links(bands, set, tol)?;
    let plaquettes = links.plaquettes();
    let r = set.len();
    let nk = bands.n_kpoints();
    // Planes in Lattice::planes() order: (0,1),(0,2),(0,3),(1,2),(1,3),(2,3).
    let density: Vec<Option<f64>> = (0..nk)
        .into_par_iter()
        .map_init(
            || Eigensolver::new(r),
            |solver, s| {
                let mut f = vec![C64::new(0.0, 0.0); 6 * r * r];
                for (p, fp) in f.chunks_mut(r * r).enumerate() {
                    log_unitary(plaquettes.plaquette(p, Site(s)), fp, r, solver)?;
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
                Some(2.0 * (tr(0, 5) - tr(1, 4) + tr(2, 3)))
            },
        )
        .collect();
    let mut total = 0.0;
    for (s, d) in density.iter().enumerate() {
        match d {
            Some(x) => total += x,
            None => {
                return Err(Error::BadParameter {
                    name: "plaquette logarithm at site",
                    value: s as f64,
                    reason: "no eigenbasis of the plaquette found",
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
