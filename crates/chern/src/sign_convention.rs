//! Which sign a Chern number carries: ours (Fukui–Hatsugai–Suzuki's) or the textbook one that
//! PythTB uses.
use crate::chern_number::ChernNumber;

/// The sign convention of Berry fluxes and Chern numbers.
///
/// This crate computes $F(k) = \arg\det W(k)$ with links $U_\mu(k) \propto \det V(k)^\dagger
/// V(k+\hat\mu)$, as Fukui, Hatsugai and Suzuki do. For small steps $\arg U_\mu \approx
/// \mathrm{Im}\langle u|\partial_\mu u\rangle\,\delta k = -i\langle u|\partial_\mu u\rangle\,
/// \delta k$: the negative of the textbook Berry connection $\mathcal A = i\langle u|\nabla_k
/// u\rangle$ that PythTB's `berry_flux` integrates. So the same hopping list gives $C$ here and
/// $-C$ in PythTB (every non-zero Chern number of random hopping lists fed to both has the
/// opposite sign; the crate's tests check it against PythTB 1.8's own numbers).
/// TopologicalNumbers.jl uses our sign.
///
/// [`SignConvention::Textbook`] flips the sign of everything a [`ChernNumber`] reports, so that
/// results match PythTB's ([`ChernNumber::with_sign`]; the `chern` CLI's `--sign textbook`).
/// $\mathbb Z_2$ invariants do not depend on the convention.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SignConvention {
    /// $C = \frac1{2\pi}\sum_k \arg\det W(k)$ (Fukui–Hatsugai–Suzuki; QWZ's lower band has
    /// $C = +1$ for $0 < m < 2$). The default.
    #[default]
    Fhs,
    /// The textbook $\mathcal A = i\langle u|\nabla_k u\rangle$, $C = \frac1{2\pi}\int
    /// \nabla_k\times\mathcal A$: the negative of [`SignConvention::Fhs`], PythTB's sign.
    Textbook,
}

impl SignConvention {
    /// $+1$ for [`SignConvention::Fhs`], $-1$ for [`SignConvention::Textbook`].
    pub fn factor(self) -> i64 {
        match self {
            SignConvention::Fhs => 1,
            SignConvention::Textbook => -1,
        }
    }
}

impl ChernNumber {
    /// The same Chern number in the convention `sign` (from ours, [`SignConvention::Fhs`]):
    /// `chern`, `raw` and the flux field change sign for [`SignConvention::Textbook`].
    pub fn with_sign(mut self, sign: SignConvention) -> Self {
        if sign == SignConvention::Textbook {
            self.chern = -self.chern;
            self.raw = -self.raw;
            self.flux.mapv_inplace(|f| -f);
        }
        self
    }
}

impl crate::invariant::Invariant {
    /// The same invariant in the convention `sign`: a first Chern number (and its Wilson-loop
    /// winding and flux field) changes sign for [`SignConvention::Textbook`]; a second Chern
    /// number is quadratic in the curvature and does not.
    pub fn with_sign(mut self, sign: SignConvention) -> Self {
        if sign == SignConvention::Textbook
            && let Some(first) = self.first.take()
        {
            self.first = Some(first.with_sign(sign));
            self.chern = -self.chern;
            self.raw = -self.raw;
            self.wilson_chern = self.wilson_chern.map(|w| -w);
        }
        self
    }
}

impl crate::phase_diagram::PhaseDiagram {
    /// The same phase diagram of first Chern numbers in the convention `sign` (every point's
    /// `chern` and `raw` change sign for [`SignConvention::Textbook`]). A diagram of second
    /// Chern numbers does not depend on the convention: leave it as it is.
    pub fn with_sign(mut self, sign: SignConvention) -> Self {
        if sign == SignConvention::Textbook {
            for p in &mut self.points {
                p.chern = p.chern.map(|c| -c);
                p.raw = p.raw.map(|r| -r);
            }
        }
        self
    }
}
