//! The Hofstadter model at rational flux in the Landau gauge.
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
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
            return Err(Error::BadParameter {
                name: "q",
                value: 0.0,
                reason: "q must be at least 1",
            });
        }
        if !t.is_finite() || t == 0.0 {
            return Err(Error::BadParameter {
                name: "t",
                value: t,
                reason: "t must be finite and non-zero",
            });
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
    fn n_bands(&self) -> usize {
        self.q
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let q = self.q;
        let t = self.t;
        h.fill(C64::new(0.0, 0.0));
        for m in 0..q {
            let phase = 2.0 * PI * (self.p as f64) * (m as f64) / (q as f64);
            h[m * q + m] = C64::new(-2.0 * t * (k[1] + phase).cos(), 0.0);
        }
        for m in 0..q.saturating_sub(1) {
            h[m * q + m + 1] = C64::new(-t, 0.0);
            h[(m + 1) * q + m] = C64::new(-t, 0.0);
        }
        let e = C64::from_polar(t, k[0]);
        h[(q - 1) * q] -= e;
        h[q - 1] -= e.conj();
    }
}
