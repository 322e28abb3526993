//! The Hofstadter model at rational flux in the Landau gauge.
use crate::error::{Error, Result};
use crate::hamiltonian::{BlochHamiltonian, KPoint};
use num_complex::Complex64 as C64;
use std::f64::consts::PI;

/// Hofstadter model at flux $p/q$ per plaquette, Landau gauge, $q$ bands:
/// $H_{mm} = -2t\cos(k_2 + 2\pi p m/q)$, $H_{m,m+1} = H_{m+1,m} = -t$,
/// $H_{q-1,0} \mathrel{+}= -t e^{ik_1}$, $H_{0,q-1} \mathrel{+}= -t e^{-ik_1}$.
///
/// The $r$ lowest bands carry $C = -t_r$ with $r = q s_r + p t_r$, $|t_r| \le q/2$ (TKNN).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "HofstadterParams")]
pub struct Hofstadter {
    p: i64,
    q: usize,
    t: f64,
}

/// Unchecked parameters, validated into a [`Hofstadter`] on deserialisation.
#[derive(serde::Deserialize)]
struct HofstadterParams {
    p: i64,
    q: usize,
    t: f64,
}

impl TryFrom<HofstadterParams> for Hofstadter {
    type Error = Error;
    fn try_from(h: HofstadterParams) -> Result<Self> {
        Hofstadter::new(h.p, h.q, h.t)
    }
}

impl Hofstadter {
    /// Flux `p/q` with hopping `t`; errors on `q == 0` or a non-finite or zero `t`.
    pub fn new(p: i64, q: usize, t: f64) -> Result<Self> {
        if q == 0 {
            return Err(Error::invalid("q", q, "q must be at least 1"));
        }
        if !t.is_finite() || t == 0.0 {
            return Err(Error::invalid("t", t, "t must be finite and non-zero"));
        }
        Ok(Self { p, q, t })
    }
    /// Numerator of the flux.
    pub fn p(&self) -> i64 {
        self.p
    }
    /// Denominator of the flux (the number of bands).
    pub fn q(&self) -> usize {
        self.q
    }
    /// Hopping amplitude.
    pub fn t(&self) -> f64 {
        self.t
    }
    /// The TKNN Chern number of the `r` lowest bands, $-t_r$ with $r = q s_r + p t_r$,
    /// $|t_r| \le q/2$; `None` if no solution is unique (the gap above band `r` closes, as at
    /// half filling for even $q$) or `r` is out of `1..q`.
    pub fn tknn_chern(&self, r: usize) -> Option<i64> {
        let q = self.q as i64;
        if r == 0 || r as i64 >= q {
            return None;
        }
        let mut found = None;
        for t_r in -q / 2..=q / 2 {
            if 2 * t_r.abs() > q {
                continue;
            }
            let rest = r as i64 - self.p * t_r;
            if rest.rem_euclid(q) == 0 {
                if found.is_some() {
                    return None;
                }
                found = Some(-t_r);
            }
        }
        found
    }
}

impl BlochHamiltonian for Hofstadter {
    fn dim(&self) -> usize {
        2
    }
    /// $q$ points along $k_2$: $H(k_1, k_2 + 2\pi p/q)$ is unitarily equivalent to $H(k)$, so the
    /// bands repeat $q$ times across $k_2$ (on 4 points $p/q = 2/7$ gives $C = -1$ for the lowest
    /// band, whose Chern number is 3, with every plaquette flux below 1.5).
    fn min_resolving_extents(&self) -> Option<Vec<usize>> {
        Some(vec![crate::bands::MIN_RESOLVING_EXTENT, self.q])
    }
    fn n_bands(&self) -> usize {
        self.q
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let (s1, c1) = k[0].sin_cos();
        let (s2, c2) = k[1].sin_cos();
        self.write(s1, c1, s2, c2, h);
    }
    fn write_hamiltonian_at(&self, k: &KPoint<'_>, h: &mut [C64]) {
        self.write(k.sin[0], k.cos[0], k.sin[1], k.cos[1], h);
    }
}

impl Hofstadter {
    /// $H(k)$ from $\sin k_j$, $\cos k_j$: $\cos(k_2 + 2\pi p m/q)$ by complex rotation,
    /// $e^{i(k_2 + 2\pi p m/q)} = e^{ik_2}\,(e^{2\pi i p/q})^m$, one `sin_cos` per call
    /// instead of $q$ cosines (rounding error $\sim q\epsilon$).
    fn write(&self, s1: f64, c1: f64, s2: f64, c2: f64, h: &mut [C64]) {
        let q = self.q;
        let t = self.t;
        h.fill(C64::new(0.0, 0.0));
        let (sd, cd) = (2.0 * PI * (self.p.rem_euclid(q as i64) as f64) / (q as f64)).sin_cos();
        let step = C64::new(cd, sd);
        let mut z = C64::new(c2, s2);
        for m in 0..q {
            h[m * q + m] = C64::new(-2.0 * t * z.re, 0.0);
            z *= step;
        }
        for m in 0..q.saturating_sub(1) {
            h[m * q + m + 1] = C64::new(-t, 0.0);
            h[(m + 1) * q + m] = C64::new(-t, 0.0);
        }
        let e = C64::new(t * c1, t * s1);
        h[(q - 1) * q] -= e;
        h[q - 1] -= e.conj();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The rotation recurrence against the defining formula, entry by entry.
    #[test]
    fn hamiltonian_matches_the_landau_gauge_formula() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (p, q) in [(1, 1), (1, 2), (1, 3), (-2, 5), (3, 7), (9, 7), (5, 12)] {
            let model = Hofstadter::new(p, q, 0.8).unwrap();
            for _ in 0..20 {
                let k = [rng.random_range(-7.0..7.0), rng.random_range(-7.0..7.0)];
                let mut expected = vec![C64::new(0.0, 0.0); q * q];
                for m in 0..q {
                    let phase = 2.0 * PI * (p as f64) * (m as f64) / (q as f64);
                    expected[m * q + m] = C64::new(-1.6 * (k[1] + phase).cos(), 0.0);
                }
                for m in 0..q.saturating_sub(1) {
                    expected[m * q + m + 1] = C64::new(-0.8, 0.0);
                    expected[(m + 1) * q + m] = C64::new(-0.8, 0.0);
                }
                let e = C64::from_polar(0.8, k[0]);
                expected[(q - 1) * q] -= e;
                expected[q - 1] -= e.conj();
                let h = model.hamiltonian(&k);
                for (a, b) in h.iter().zip(&expected) {
                    assert!(
                        (a - b).norm() < 1e-14,
                        "p/q = {p}/{q}, k = {k:?}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
