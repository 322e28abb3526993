//! # Conventions and formulas
//!
//! Everything this crate computes, in one convention, with the facts the tests check. Lattice
//! gauge conventions (site numbering, gauge transformations, plaquettes, Wilson and Polyakov
//! loops) are those of [`lattice_gauge`]; here they meet Bloch bands.
//!
//! ## The k-grid
//! A periodic grid $k_j = 2\pi i_j / L_j$, $i_j = 0, \dots, L_j - 1$, with no duplicated endpoint.
//! Axis 0 is $k_1$ ("x"), axis 1 is $k_2$; sites are numbered row-major, the last axis fastest
//! ($s = i_1 L_2 + i_2$ in 2D). Swapping the axes flips the sign of every Chern number.
//!
//! ## Links
//! The occupied bands at $k$ are the columns of the $N \times r$ matrix $V(k)$ of eigenvectors of
//! the $r$ chosen bands. The overlap along direction $\mu$ is
//! $$M_\mu(k) = V(k)^\dagger\, V(k + \hat\mu),$$
//! an $r \times r$ matrix, and the link variable is its unitary polar factor
//! $$U_\mu(k) = M_\mu(k)\,\bigl(M_\mu(k)^\dagger M_\mu(k)\bigr)^{-1/2}.$$
//! A change of eigenvector basis $V(k) \mapsto V(k)\,g(k)$, $g(k) \in U(r)$, acts as a lattice gauge
//! transformation $U_\mu(k) \mapsto g(k)^\dagger U_\mu(k)\, g(k + \hat\mu)$, so everything built
//! from plaquettes is independent of the phases (and, for degenerate bands, the bases) the
//! eigen-solver returns. (A QR projection instead of the polar factor would not be covariant.)
//! $|\det M_\mu(k)| \le 1$ for orthonormal eigenvectors; where it nearly vanishes the neighbouring
//! occupied subspaces are almost orthogonal, the grid is too coarse, and the computation stops
//! with [`Error::SingularOverlap`](crate::Error::SingularOverlap).
//!
//! ## Plaquettes and the first Chern number
//! The plaquette at $k$ runs counter-clockwise in the $(k_1, k_2)$ plane:
//! $$W(k) = U_1(k)\,U_2(k + \hat 1)\,U_1(k + \hat 2)^\dagger\,U_2(k)^\dagger,$$
//! covariant ($W \mapsto g^\dagger W g$), so its determinant and eigenvalues are gauge invariant.
//! The Fukui–Hatsugai–Suzuki (FHS) Chern number ([`Method::Determinant`](crate::Method)) is
//! $$C = \frac{1}{2\pi} \sum_k F(k), \qquad F(k) = \arg\det W(k) \in (-\pi, \pi],$$
//! on the principal branch. Because $\prod_k \det W(k) = 1$ on the torus, $C$ is an exact integer
//! on any grid (up to the rounding of the sum, reported as `raw`). The eigenphase sum
//! ([`Method::EigenphaseSum`](crate::Method)), $F(k) = \sum_a \arg\lambda_a(W(k))$, is also an
//! integer once summed; it is the per-plaquette label of gauge-equivariant networks. For smooth
//! gapped models on fine grids the two agree; for Haar-random links they generally differ.
//!
//! **Sign.** This is FHS's sign: the lower band of [`Qwz`](crate::Qwz) has $C = +1$ for
//! $0 < m < 2$. PythTB's `berry_flux` (the textbook $A = i\langle u|\nabla u\rangle$) returns $-C$;
//! TopologicalNumbers.jl returns $+C$. See [`SignConvention`](crate::SignConvention).
//!
//! **When the answer is undefined** the result is an error, never a number: a gap between an
//! occupied and an empty band below the tolerance anywhere on the grid
//! ([`Error::GapClosed`](crate::Error::GapClosed), with the k-point and the gap), a nearly singular
//! overlap (above), or a grid with fewer than 3 points along an axis
//! ([`Error::BadGrid`](crate::Error::BadGrid)): with one point every link joins a k-point to
//! itself, with two the link back is the inverse of the link forth, and the fluxes cancel, so
//! the sum would be 0 whatever the bands. The FHS integer equals the continuum Chern number once
//! the grid resolves the Berry curvature. A flux $F(k)$ stands for any $F + 2\pi n$, so a grid
//! whose largest $|F(k)|$ (`max_abs_flux`) exceeds [`MAX_RESOLVED_FLUX`](crate::MAX_RESOLVED_FLUX)
//! $= 3\pi/4$ is refused ([`Error::Unresolved`](crate::Error::Unresolved), naming the plaquette):
//! near $\pi$ the flux could as well be $F \mp 2\pi$. A grid coarser than the period on which a
//! model's bands repeat aliases them and can be wrong with small fluxes, so models that know that
//! period say so ([`BlochHamiltonian::min_resolving_extents`](crate::BlochHamiltonian::min_resolving_extents))
//! and coarser grids are refused ([`Error::GridTooCoarse`](crate::Error::GridTooCoarse)):
//! [`Hofstadter`](crate::Hofstadter) at $p/q = 1/5$ gave $C = 1$ for two bands on $3\times3$
//! (true $-2$), at $2/7$ $C = -1$ for one band on $4\times4$ (true $3$, largest $|F|$ 1.41).
//!
//! ## Wilson loops
//! The Wilson loop along $k_\mu$ at fixed perpendicular momentum $k_\perp$ is the ordered product of
//! the links around the Brillouin torus, $\mathcal W(k_\perp) = \prod_j U_\mu(k_j, k_\perp)$. Its
//! eigenphases $\theta_a(k_\perp)$ give the hybrid Wannier centres $\bar x_a = -\theta_a / 2\pi$.
//! The winding $w$ of the total phase $\Phi = \arg\det \mathcal W$ across $k_\perp$ gives, in the
//! FHS sign, $C = -w$ for loops along $k_1$ and $C = +w$ for loops along $k_2$ (a plaquette sum
//! over a strip telescopes into the difference of neighbouring loop phases).
//!
//! ## The second Chern number (4D)
//! On a 4D grid, with the lattice field strength
//! $$F_{\mu\nu}(x) = -i \log W_{\mu\nu}(x)$$
//! (the Hermitian principal logarithm, eigenvalues in $(-\pi, \pi]$,
//! [`lattice_gauge::matrix::log_unitary`]),
//! $$C_2 \approx \frac{1}{8\pi^2} \sum_x 2\,\bigl[\operatorname{Tr} F_{01}F_{23} - \operatorname{Tr} F_{02}F_{13} + \operatorname{Tr} F_{03}F_{12}\bigr].$$
//! It is gauge invariant but, unlike the 2D formula, not an integer on a finite grid: it converges
//! slowly with the grid. For [`Dirac4d`](crate::Dirac4d) at $m = 1$ ($C_2 = -3$) the raw sum is
//! $-1.93$ at $L = 6$ (which rounds to $-2$), about $-2.52$ at $L = 10$ and $-2.65$ at $L = 12$:
//! the rounded value is given out ([`SecondChern::resolved`](crate::SecondChern::resolved), used by
//! [`invariant`](crate::invariant)) only when the largest plaquette phase and the distance of the
//! raw sum from the integer are both at most
//! [`SECOND_CHERN_RESOLUTION`](crate::SECOND_CHERN_RESOLUTION) $= 0.25$ (at $m = 1$: from
//! $L = 16$ on, raw $-2.80$). (Taking the
//! element-wise imaginary part of $\log W$ instead of $-i\log W$ is not gauge invariant.)
//!
//! ## Z2 invariants (time-reversal-invariant insulators)
//! Time reversal is $\Theta = U_T K$ with $U_T\overline{U_T} = -1$ ([`TimeReversal`](crate::TimeReversal);
//! spinful models: $U_T = \mathbb 1\otimes i s_y$ with $i s_y = \left(\begin{smallmatrix}0&1\\-1&0
//! \end{smallmatrix}\right)$ on $(\uparrow, \downarrow)$), and a model has it when
//! $U_T\overline{H(k)}U_T^\dagger = H(-k)$ on the whole grid; otherwise
//! [`Error::TimeReversalBroken`](crate::Error::TimeReversalBroken) names the k-point. The number of
//! occupied bands must be even (whole Kramers pairs) and the grid even (so that $k = 0, \pi$ are
//! grid points). Three methods, which the tests cross-check:
//!
//! - **Fukui–Hatsugai** (J. Phys. Soc. Jpn. 76, 053702 (2007)): on the half zone $B^- = \{k_2 \in
//!   [0, \pi]\}$ the eigenvectors on the two time-reversal-invariant lines $k_2 = 0, \pi$ are
//!   rebuilt so that $u_{2p+1}(-k) = \Theta u_{2p}(k)$ (Kramers-pair bases at $k_1 = 0, \pi$); with
//!   $U_\mu = \det M_\mu$, $A = \arg U$, $F = \arg U_1 U_2 \bar U_1 \bar U_2$ (principal
//!   branches), $2\pi n(k) = F(k) - [A_1(k) + A_2(k + \hat 1) - A_1(k + \hat 2) - A_2(k)]$ is an
//!   integer and $\mathbb Z_2 = \sum_{B^-} n(k) \bmod 2$, exact once the grid resolves the gap.
//! - **Wannier-centre flow** (Soluyanov and Vanderbilt, Phys. Rev. B 83, 235401 (2011)): Wilson
//!   loops along $k_1$ on lines $k_2 \in [0, \pi]$, centres $\bar x = -\theta/2\pi \bmod 1$ as above;
//!   the parity of the number of centres that the middle of the largest gap passes over is
//!   $\mathbb Z_2$ (Z2Pack's rule). It depends neither on the sign of $\bar x$ nor on the direction of
//!   the loops. Lines are added half-way where a centre comes within 0.3 of the largest gap's size
//!   of the neighbouring line's gap (Z2Pack's `move_tol`).
//! - **Parities** (Fu and Kane, Phys. Rev. B 76, 045302 (2007)), with an inversion $P$ ($P H(k)
//!   P^\dagger = H(-k)$, $P^2 = 1$, commuting with $\Theta$): $(-1)^{\mathbb Z_2} = \prod_i
//!   \delta_i$ over the time-reversal-invariant momenta, $\delta_i$ the product of the parities of
//!   one state of each occupied Kramers pair.
//!
//! In 3D the strong and weak indices are $\nu_i = z_i(\pi)$ and $\nu_0 = z_i(0) + z_i(\pi) \bmod 2$
//! from the six planes $k_i = 0, \pi$ (in units of the reciprocal vectors of the model's reduced
//! coordinates); the three values of $\nu_0$ must agree. Where $S_z$ is conserved the spin Chern
//! number $(C_\uparrow - C_\downarrow)/2$ (FHS sign per block) is $\mathbb Z_2 \bmod 2$.
//!
//! Known answers, checked by the tests: [`KaneMele`](crate::KaneMele) ($t = 1$) at $\lambda_R = 0$
//! is $\mathbb Z_2 = 1$ exactly for $|\lambda_v| < 3\sqrt3\lambda_{SO}$, its spin-up block has
//! $C = +1$ there; at $\lambda_{SO} = 0.06$, $\lambda_R = 0.05$: $\lambda_v = 0.1$ is 1, $0.4$ is 0.
//! [`Bhz`](crate::Bhz) ($B > 0$): 1 for $0 < M/B < 4$ and $4 < M/B < 8$, else 0.
//! [`FuKaneMele`](crate::FuKaneMele) ($t = 1$, $\lambda_{SO} = 0.125$): $(1;111)$ for $\delta t = 0.4$,
//! $(0;111)$ for $\delta t = -0.4$.
//!
//! ## Models with known answers
//! The tests check these at two grid sizes with both plaquette formulas.
//!
//! - **QWZ** ([`Qwz`](crate::Qwz)):
//!   $H = \sin k_1\,\sigma_x + \sin k_2\,\sigma_y + (m + \cos k_1 + \cos k_2)\,\sigma_z$, lower band: $C = 0$ for $|m| > 2$, $-1$ for
//!   $-2 < m < 0$, $+1$ for $0 < m < 2$; the gap closes at $m = 0, \pm 2$. Both bands: 0; the
//!   upper band alone at $m = 1$: $-1$.
//! - **Haldane** ([`Haldane`](crate::Haldane)), in reduced coordinates $k_i = k\cdot a_i$ with
//!   $f(k) = t_1(1 + e^{-ik_1} + e^{-ik_2})$ and $\kappa = (k_1, k_2 - k_1, -k_2)$:
//!   $$H = \begin{pmatrix} M + 2t_2\sum_j\cos(\kappa_j + \phi) & f \\ \bar f &
//!   -M + 2t_2\sum_j\cos(\kappa_j - \phi)\end{pmatrix},$$
//!   lower band: $C = \operatorname{sgn}(\sin\phi)$ if $|M| < 3\sqrt3\,t_2|\sin\phi|$, else 0.
//! - **Hofstadter** ([`Hofstadter`](crate::Hofstadter)) at flux $p/q$ in the Landau gauge, a
//!   $q\times q$ Bloch matrix: $H_{mm} = -2t\cos(k_2 + 2\pi pm/q)$, $H_{m,m+1} = H_{m+1,m} = -t$,
//!   $H_{q-1,0} = -t\,e^{ik_1}$, $H_{0,q-1} = -t\,e^{-ik_1}$. The $r$ lowest bands carry
//!   $C = -t_r$ where $r = q s_r + p t_r$ with $|t_r| \le q/2$ (TKNN): at $1/3$, $-1$ and $+1$ for
//!   $r = 1, 2$; at $1/5$, $-1, -2, +2, +1$ for $r = 1, \dots, 4$. Single bands follow by
//!   differences; for even $q$ the central gap closes.
//! - **Direct sums** ([`DirectSum`](crate::DirectSum), [`Rotated`](crate::Rotated)):
//!   $Q\,(H_1 \oplus H_2)\,Q^\dagger$ with a fixed unitary $Q$ has the sum of the parts' Chern
//!   numbers.
//! - **4D Dirac** ([`Dirac4d`](crate::Dirac4d)): $C_2 = 0$ for $|m| > 4$, $-1$ for
//!   $-4 < m < -2$, $+3$ for $-2 < m < 0$, $-3$ for $0 < m < 2$, $+1$ for $2 < m < 4$.
//!
//! ## References
//! T. Fukui, Y. Hatsugai, H. Suzuki, J. Phys. Soc. Jpn. **74**, 1674 (2005) (the lattice Chern
//! number); D. J. Thouless, M. Kohmoto, M. P. Nightingale, M. den Nijs, Phys. Rev. Lett. **49**,
//! 405 (1982) (TKNN); F. D. M. Haldane, Phys. Rev. Lett. **61**, 2015 (1988); X.-L. Qi, Y.-S. Wu,
//! S.-C. Zhang, Phys. Rev. B **74**, 085308 (2006) (QWZ).
