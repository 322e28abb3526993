//! The spin Chern number of models that conserve $S_z$.
use crate::bands::{BandSet, check_grid, k_point, unravel};
use crate::chern_number::{ChernConfig, chern_number_of};
use crate::error::{Error, Result};
use crate::hamiltonian::{BlochHamiltonian, FnHamiltonian};
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Chern numbers of the two spin sectors of an $S_z$-conserving model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SpinChern {
    /// $C_\uparrow$: the lowest $r/2$ bands of the spin-up block.
    pub spin_up: i64,
    /// $C_\downarrow$: the lowest $r/2$ bands of the spin-down block.
    pub spin_down: i64,
    /// $C_s = (C_\uparrow - C_\downarrow)/2$ (an integer when time reversal makes
    /// $C_\downarrow = -C_\uparrow$).
    pub spin_chern: f64,
    /// $\mathbb Z_2 = C_\uparrow \bmod 2$ (Kane and Mele: the $\mathbb Z_2$ invariant is the
    /// spin Chern number mod 2 when $S_z$ is conserved).
    pub z2: u8,
    /// Smallest gap of the two blocks.
    pub min_gap: f64,
}

/// The spin Chern number of the `occupied` lowest bands of `h` on a 2D `grid`, where `spin_z`
/// gives the $S_z = \pm1$ of every basis state. Errors with [`Error::SpinNotConserved`] (naming
/// $k$) if $H(k)$ couples opposite spins by more than `tolerance` (relative to $\max(1, |H|)$),
/// [`Error::OddOccupation`] for an odd `occupied`, and as [`chern_number_of`] for each block.
pub fn spin_chern_number<H: BlochHamiltonian + Sync + ?Sized>(
    h: &H,
    spin_z: &[f64],
    grid: &[usize],
    occupied: usize,
    tolerance: f64,
    config: &ChernConfig,
) -> Result<SpinChern> {
    let n = h.n_bands();
    check_grid(grid, h.dim())?;
    if spin_z.len() != n || spin_z.iter().any(|&s| s != 1.0 && s != -1.0) {
        return Err(Error::BadSymmetry {
            operator: "S_z",
            reason: format!(
                "{} values for {n} basis states; each must be +1 or -1",
                spin_z.len()
            ),
        });
    }
    super::check_kramers_occupation(occupied, n)?;
    let up: Vec<usize> = (0..n).filter(|&i| spin_z[i] > 0.0).collect();
    let down: Vec<usize> = (0..n).filter(|&i| spin_z[i] < 0.0).collect();
    // Conservation of S_z on the grid.
    let count: usize = grid.iter().product();
    let (violation, s) = (0..count)
        .into_par_iter()
        .map_init(
            || vec![C64::new(0.0, 0.0); n * n],
            |hk, s| {
                h.write_hamiltonian(&k_point(grid, &unravel(grid, s)), hk);
                let scale = hk.iter().fold(1.0f64, |m, z| m.max(z.norm()));
                let mut worst = 0.0f64;
                for &i in &up {
                    for &j in &down {
                        worst = worst.max(hk[i * n + j].norm()).max(hk[j * n + i].norm());
                    }
                }
                (
                    if worst.is_nan() {
                        f64::INFINITY
                    } else {
                        worst / scale
                    },
                    s,
                )
            },
        )
        .reduce(|| (0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    if violation > tolerance {
        return Err(Error::SpinNotConserved {
            k: k_point(grid, &unravel(grid, s)),
            violation,
            tolerance,
        });
    }
    let block = |states: Vec<usize>| {
        let m = states.len();
        FnHamiltonian::new(h.dim(), m, move |k: &[f64], out: &mut [C64]| {
            let full = h.hamiltonian(k);
            for (a, &i) in states.iter().enumerate() {
                for (b, &j) in states.iter().enumerate() {
                    out[a * m + b] = full[i * n + j];
                }
            }
        })
    };
    let set = BandSet::lowest(occupied / 2);
    if up.len() <= occupied / 2 || down.len() <= occupied / 2 {
        return Err(Error::BadSymmetry {
            operator: "S_z",
            reason: format!(
                "{} spin-up and {} spin-down states cannot each hold {} occupied bands below a gap",
                up.len(),
                down.len(),
                occupied / 2
            ),
        });
    }
    let c_up = chern_number_of(&block(up), grid, &set, config)?;
    let c_down = chern_number_of(&block(down), grid, &set, config)?;
    Ok(SpinChern {
        spin_up: c_up.chern,
        spin_down: c_down.chern,
        spin_chern: (c_up.chern - c_down.chern) as f64 / 2.0,
        z2: c_up.chern.rem_euclid(2) as u8,
        min_gap: c_up.min_gap.min(c_down.min_gap),
    })
}
