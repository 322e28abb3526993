//! The diagonal dataset (GENet App. C.2, with links).
use std::f64::consts::{PI, TAU};

use lattice_gauge::{C64, Lattice, LinkField, PlaquetteField, matrix};
use ndarray::Array4;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{LinkSample, SampleSource, Stream, sample_rng};
use crate::convert::Precision;
use crate::error::{Error, Result};

/// Which Chern numbers the samples have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChernChoice {
    /// Every sample has $C = 0$ (trivial-only training).
    #[default]
    Zero,
    /// Every sample has this $C$.
    Fixed(i64),
    /// $C$ uniform on the integers `lo..=hi`.
    Range {
        /// Smallest Chern number.
        lo: i64,
        /// Largest Chern number (inclusive).
        hi: i64,
    },
}

impl ChernChoice {
    fn draw(self, rng: &mut ChaCha8Rng) -> i64 {
        match self {
            ChernChoice::Zero => 0,
            ChernChoice::Fixed(c) => c,
            ChernChoice::Range { lo, hi } => rng.random_range(lo..=hi),
        }
    }
}

/// The law of the eigenphases at one site, before the totals are fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EigenphaseDistribution {
    /// Eigenphases of a Haar-random $U(n)$ matrix (circular unitary ensemble), like the
    /// plaquettes of the general dataset.
    #[default]
    Cue,
    /// Independent, uniform on $(-\pi, \pi]$.
    Uniform,
}

/// Configuration of a [`DiagonalSource`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiagonalConfig {
    /// Lattice extents $(L_1, L_2)$ (two-dimensional).
    pub extents: Vec<usize>,
    /// Number of bands $n$ (size of the diagonal matrices).
    pub n: usize,
    /// The Chern numbers of the samples.
    pub chern: ChernChoice,
    /// The law of the eigenphases.
    pub eigenphases: EigenphaseDistribution,
    /// Seed of the sample streams.
    pub seed: u64,
    /// Threads that draw samples: `None` uses rayon's global pool. Does not change the samples.
    pub threads: Option<usize>,
    /// Complex kind of the link and plaquette tensors.
    pub precision: Precision,
    /// Draws per sample after which sampling gives up (shifted eigenphases out of range).
    pub max_attempts: usize,
}

impl Default for DiagonalConfig {
    fn default() -> Self {
        DiagonalConfig {
            extents: vec![5, 5],
            n: 1,
            chern: ChernChoice::Zero,
            eigenphases: EigenphaseDistribution::Cue,
            seed: 0,
            threads: None,
            precision: Precision::Single,
            max_attempts: 100_000,
        }
    }
}

/// One diagonal sample.
#[derive(Clone, Debug)]
pub struct DiagonalSample {
    /// Diagonal links whose plaquettes are `diag(exp(i eigenphases))`.
    pub links: LinkField,
    /// $\theta_a(x)$ at index `site * n + a`, each in $(-\pi, \pi]$.
    pub eigenphases: Vec<f64>,
    /// $f(x) = \sum_a \theta_a(x) / 2\pi$ per site.
    pub site_labels: Vec<f64>,
    /// $C = \sum_x f(x)$.
    pub chern: i64,
}

impl DiagonalSample {
    /// The plaquettes $W(x) = \mathrm{diag}(e^{i\theta_a(x)})$, row-major per site.
    pub fn plaquette_data(&self) -> Vec<C64> {
        let n = self.links.n();
        let mut out = vec![C64::new(0.0, 0.0); self.eigenphases.len() * n];
        for (k, theta) in self.eigenphases.iter().enumerate() {
            let (site, a) = (k / n, k % n);
            out[site * n * n + a * n + a] = C64::from_polar(1.0, *theta);
        }
        out
    }
}

/// The diagonal dataset: diagonal plaquettes with prescribed Chern number, and links that
/// realise them.
///
/// GEBLNet acts per site and is gauge equivariant, and every unitary plaquette is unitarily
/// diagonalisable, so diagonal plaquettes $W(x) = \mathrm{diag}(e^{i\theta_1(x)}, \dots,
/// e^{i\theta_n(x)})$ reach every gauge orbit of a single plaquette (GENet, App. C.2). Here each
/// diagonal component $a$ is itself a $U(1)$ gauge field: its plaquette angles sum to
/// $\sum_x \theta_a(x) = 2\pi c_a$ with an integer $c_a$, and $\sum_a c_a = C$. That is what a
/// diagonal link field needs to exist on the torus, so the samples come with links
/// $U_\mu(x) = \mathrm{diag}(e^{i A^a_\mu(x)})$ (an axial-like gauge) whose plaquettes are the
/// $W(x)$: models that transport along links (GEConv) can train on them too.
///
/// Labels: $f(x) = F(x)/2\pi$ with $F(x) = \sum_a \theta_a(x)$ and every
/// $\theta_a(x) \in (-\pi, \pi]$, so $f(x)$ is the principal eigenphase sum over $2\pi$ of $W(x)$,
/// exactly the label of the general dataset, and $\sum_x f(x) = C$.
///
/// Sampling of one sample:
/// 1. The target $C$ ([`ChernChoice`]).
/// 2. At every site, $n$ eigenphases: the eigenphases of a Haar-random $U(n)$ matrix in random
///    order ([`EigenphaseDistribution::Cue`], the law of the eigenphases of the general
///    dataset's plaquettes, which are Haar distributed), or i.i.d. uniform on $(-\pi, \pi]$
///    ([`EigenphaseDistribution::Uniform`]).
/// 3. Component totals $T_a = \sum_x \theta_a(x)$; integers $c_a$ nearest to $T_a/2\pi$,
///    corrected by unit steps on the components closest to the other rounding until
///    $\sum_a c_a = C$; every $\theta_a(x)$ is shifted by $(2\pi c_a - T_a)/V$ ($V$ sites), the
///    smallest uniform shift that makes the totals right. If a shifted eigenphase leaves
///    $(-\pi, \pi]$ the whole sample is redrawn.
///
/// When the target can be met by rounding ($C = 0$, or $|C|$ small against the spread
/// $\sqrt{nV/12}$ of $\sum_a T_a/2\pi$), each shift is of order $\pi/V$ and the per-site law is
/// close to the unshifted one; for larger $|C|$ the shifts grow like $2\pi |C| / (nV)$, the
/// per-site law is visibly tilted and the rejection rate grows.
pub struct DiagonalSource {
    config: DiagonalConfig,
    lattice: Lattice,
    stream: Stream,
}

impl std::fmt::Debug for DiagonalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagonalSource")
            .field("config", &self.config)
            .field("next", &self.stream.position())
            .finish()
    }
}

impl DiagonalSource {
    /// A source at the start of its stream.
    ///
    /// Errors on a lattice that is not two-dimensional, $n = 0$, an empty Chern range,
    /// a Chern number whose total flux $2\pi C$ no configuration reaches ($|C| \ge nV/2$),
    /// `threads = Some(0)` or `max_attempts = 0`.
    pub fn new(config: DiagonalConfig) -> Result<DiagonalSource> {
        let lattice = Lattice::new(&config.extents)?;
        if lattice.dim() != 2 {
            return Err(Error::InvalidParameter {
                name: "extents",
                value: format!("{:?}", config.extents),
                reason: "the diagonal dataset is two-dimensional: give two extents".into(),
            });
        }
        if config.n == 0 {
            return Err(Error::InvalidParameter {
                name: "n",
                value: "0".into(),
                reason: "plaquettes need at least one band".into(),
            });
        }
        if config.max_attempts == 0 {
            return Err(Error::InvalidParameter {
                name: "max_attempts",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let (lo, hi) = match config.chern {
            ChernChoice::Zero => (0, 0),
            ChernChoice::Fixed(c) => (c, c),
            ChernChoice::Range { lo, hi } => (lo, hi),
        };
        if lo > hi {
            return Err(Error::InvalidParameter {
                name: "chern",
                value: format!("{:?}", config.chern),
                reason: "empty range: lo > hi".into(),
            });
        }
        // Every eigenphase lies in (-pi, pi], so |2 pi C| < n V pi.
        let bound = (config.n * lattice.volume()) as i64;
        if 2 * lo.abs().max(hi.abs()) >= bound {
            return Err(Error::InvalidParameter {
                name: "chern",
                value: format!("{:?}", config.chern),
                reason: "|C| must be less than n * volume / 2 (each eigenphase lies in (-pi, pi])"
                    .into(),
            });
        }
        let stream = Stream::new(config.threads, config.precision)?;
        Ok(DiagonalSource {
            config,
            lattice,
            stream,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DiagonalConfig {
        &self.config
    }

    /// Sample `index` of the stream with its eigenphases, independent of the source's position
    /// ([`SampleSource::sample_at`] gives the same sample as plain fields).
    pub fn diagonal_sample(&self, index: u64) -> Result<DiagonalSample> {
        let mut rng = sample_rng(self.config.seed, index);
        let chern = self.config.chern.draw(&mut rng);
        let (n, volume) = (self.config.n, self.lattice.volume());
        let mut theta = vec![0.0; volume * n];
        for _ in 0..self.config.max_attempts {
            for site in theta.chunks_exact_mut(n) {
                self.draw_site(&mut rng, site);
            }
            if fix_totals(&mut theta, n, chern) {
                let site_labels: Vec<f64> = theta
                    .chunks_exact(n)
                    .map(|t| t.iter().sum::<f64>() / TAU)
                    .collect();
                let links = diagonal_links(&self.lattice, n, &theta)?;
                return Ok(DiagonalSample {
                    links,
                    eigenphases: theta,
                    site_labels,
                    chern,
                });
            }
        }
        Err(Error::RejectionExhausted {
            sample: index,
            attempts: self.config.max_attempts,
        })
    }

    fn draw_site(&self, rng: &mut ChaCha8Rng, out: &mut [f64]) {
        let n = out.len();
        match self.config.eigenphases {
            EigenphaseDistribution::Cue => {
                let u = matrix::haar_unitary(rng, n);
                out.copy_from_slice(&matrix::eigenphases(&u, n));
                out.shuffle(rng);
            }
            EigenphaseDistribution::Uniform => {
                for t in out.iter_mut() {
                    // Uniform on [-pi, pi), reflected onto (-pi, pi].
                    *t = -rng.random_range(-PI..PI);
                }
            }
        }
    }
}

/// Shifts each component's eigenphases uniformly so that its total is $2\pi c_a$ with integers
/// $\sum_a c_a = C$ (see [`DiagonalSource`]); `false` if a shifted eigenphase leaves $(-\pi, \pi]$.
fn fix_totals(theta: &mut [f64], n: usize, chern: i64) -> bool {
    let volume = theta.len() / n;
    let totals: Vec<f64> = (0..n)
        .map(|a| theta.iter().skip(a).step_by(n).sum::<f64>() / TAU)
        .collect();
    let mut c: Vec<i64> = totals.iter().map(|t| t.round() as i64).collect();
    let mut missing = chern - c.iter().sum::<i64>();
    while missing != 0 {
        let step = missing.signum();
        // The component whose total needs the smallest extra shift in the direction of `step`.
        let a = (0..n)
            .min_by(|&a, &b| {
                let cost = |k: usize| ((c[k] + step) as f64 - totals[k]).abs();
                cost(a).total_cmp(&cost(b))
            })
            .unwrap_or(0);
        c[a] += step;
        missing -= step;
    }
    let shifts: Vec<f64> = (0..n)
        .map(|a| TAU * (c[a] as f64 - totals[a]) / volume as f64)
        .collect();
    for (k, t) in theta.iter_mut().enumerate() {
        *t += shifts[k % n];
        if !(*t > -PI && *t <= PI) {
            return false;
        }
    }
    true
}

/// Diagonal links whose plaquette at every site is $\mathrm{diag}(e^{i\theta_a(x)})$, given
/// component totals in $2\pi\mathbb{Z}$.
///
/// Each component $a$ is an abelian field $A_\mu(x)$ with plaquette angle
/// $\phi(i,j) = A_0(i,j) + A_1(i{+}1,j) - A_0(i,j{+}1) - A_1(i,j)$. With
/// $\Phi_j = \sum_i \phi(i,j)$: $A_0(0,j) = -\sum_{j'<j}\Phi_{j'}$, $A_0(i \ge 1, j) = 0$,
/// $A_1(0,j) = 0$, and $A_1(i{+}1,j)$ from the plaquette equation at $(i,j)$ for
/// $i = 0..L_1-2$; the plaquettes at $i = L_1-1$ and across $j = L_2-1$ then close modulo $2\pi$
/// because the total of $\phi$ is a multiple of $2\pi$.
pub(crate) fn diagonal_links(lattice: &Lattice, n: usize, theta: &[f64]) -> Result<LinkField> {
    let (l1, l2) = (lattice.extents()[0], lattice.extents()[1]);
    let volume = l1 * l2;
    let mut data = Array4::<C64>::zeros((2, volume, n, n));
    let site = |i: usize, j: usize| i * l2 + j;
    let mut a0 = vec![0.0; volume];
    let mut a1 = vec![0.0; volume];
    for a in 0..n {
        let phi = |i: usize, j: usize| theta[site(i, j) * n + a];
        a0.fill(0.0);
        a1.fill(0.0);
        let mut acc = 0.0;
        for j in 0..l2 {
            a0[site(0, j)] = -acc;
            acc += (0..l1).map(|i| phi(i, j)).sum::<f64>();
        }
        for j in 0..l2 {
            for i in 0..l1.saturating_sub(1) {
                a1[site(i + 1, j)] =
                    phi(i, j) - a0[site(i, j)] + a0[site(i, (j + 1) % l2)] + a1[site(i, j)];
            }
        }
        for s in 0..volume {
            data[[0, s, a, a]] = C64::from_polar(1.0, a0[s]);
            data[[1, s, a, a]] = C64::from_polar(1.0, a1[s]);
        }
    }
    Ok(LinkField::from_array(lattice, n, data)?)
}

impl SampleSource for DiagonalSource {
    fn sample_at(&self, index: u64) -> Result<LinkSample> {
        let s = self.diagonal_sample(index)?;
        let (n, volume) = (self.config.n, self.lattice.volume());
        let plaquettes = PlaquetteField::new(
            self.lattice.clone(),
            n,
            Array4::from_shape_vec((1, volume, n, n), s.plaquette_data()).map_err(|_| {
                Error::ShapeMismatch {
                    what: "diagonal plaquettes",
                    expected: format!("{:?}", vec![1, volume as i64, n as i64, n as i64]),
                    found: format!("{:?}", vec![s.eigenphases.len() as i64 * n as i64]),
                }
            })?,
        )?;
        Ok(LinkSample {
            links: s.links,
            plaquettes,
            site_labels: s.site_labels,
            chern: s.chern,
        })
    }

    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    fn n(&self) -> usize {
        self.config.n
    }

    fn stream(&self) -> &Stream {
        &self.stream
    }

    fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::TensorField;
    use crate::data::Batch;
    use tch::Kind;

    fn source(
        extents: &[usize],
        n: usize,
        chern: ChernChoice,
        law: EigenphaseDistribution,
    ) -> DiagonalSource {
        DiagonalSource::new(DiagonalConfig {
            extents: extents.to_vec(),
            n,
            chern,
            eigenphases: law,
            seed: 17,
            precision: Precision::Double,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn labels_are_the_principal_eigenphase_sums_of_the_plaquettes() -> Result<()> {
        for law in [EigenphaseDistribution::Cue, EigenphaseDistribution::Uniform] {
            for n in [1, 2, 4] {
                let s = source(&[5, 5], n, ChernChoice::Range { lo: -2, hi: 2 }, law);
                for k in 0..5 {
                    let sample = s.diagonal_sample(k)?;
                    let w = sample.plaquette_data();
                    let mut total = 0.0;
                    for (x, (wx, f)) in w.chunks_exact(n * n).zip(&sample.site_labels).enumerate() {
                        let phases = matrix::eigenphases(wx, n);
                        let label = phases.iter().sum::<f64>() / TAU;
                        assert!((label - f).abs() < 1e-12, "site {x}: {label} vs {f}");
                        let mut theta = sample.eigenphases[x * n..(x + 1) * n].to_vec();
                        theta.sort_by(f64::total_cmp);
                        for (p, t) in phases.iter().zip(&theta) {
                            assert!((p - t).abs() < 1e-12);
                        }
                        total += f;
                    }
                    assert!((total - sample.chern as f64).abs() < 1e-10);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn links_realise_the_diagonal_plaquettes() -> Result<()> {
        for (extents, n, c) in [
            (&[5, 5][..], 3, 2),
            (&[4, 6][..], 1, -3),
            (&[1, 7][..], 2, 1),
            (&[3, 1][..], 2, 0),
        ] {
            let s = source(
                extents,
                n,
                ChernChoice::Fixed(c),
                EigenphaseDistribution::Cue,
            );
            let batch = s.clone_config_sample(3)?;
            let lattice = s.lattice().clone();
            let links = LinkField::batch_from_tensor(batch.links().unwrap(), &lattice)?;
            let w = PlaquetteField::batch_from_tensor(&batch.plaquettes, &lattice)?;
            for (u, w) in links.iter().zip(&w) {
                assert!(u.plaquettes().max_abs_diff(w)? < 1e-12);
            }
            assert!(batch.chern.eq(c).all().int64_value(&[]) == 1);
        }
        Ok(())
    }

    #[test]
    fn chern_numbers_follow_the_choice() -> Result<()> {
        let zero = source(&[4, 4], 2, ChernChoice::Zero, EigenphaseDistribution::Cue)
            .clone_config_sample(20)?;
        assert_eq!(zero.chern.abs().sum(Kind::Int64).int64_value(&[]), 0);
        let fixed = source(
            &[4, 4],
            2,
            ChernChoice::Fixed(3),
            EigenphaseDistribution::Uniform,
        )
        .clone_config_sample(10)?;
        let sums = fixed
            .site_labels
            .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
        assert!((sums - 3.0).abs().max().double_value(&[]) < 1e-5);
        let range = source(
            &[5, 5],
            2,
            ChernChoice::Range { lo: -2, hi: 1 },
            EigenphaseDistribution::Cue,
        )
        .clone_config_sample(200)?;
        let values: Vec<i64> = Vec::<i64>::try_from(&range.chern).map_err(Error::Torch)?;
        for c in -2..=1 {
            let count = values.iter().filter(|&&v| v == c).count();
            // Uniform on four values: 50 expected, far from 0 and 200.
            assert!((25..=75).contains(&count), "C = {c} drawn {count} times");
        }
        assert!(values.iter().all(|v| (-2..=1).contains(v)));
        Ok(())
    }

    #[test]
    fn eigenphase_laws_differ_as_cue_and_uniform_do() -> Result<()> {
        // E |Tr W|^2 = 1 for Haar-random U(n) (CUE), n for independent uniform phases.
        let n = 3;
        for (law, expected) in [
            (EigenphaseDistribution::Cue, 1.0),
            (EigenphaseDistribution::Uniform, 3.0),
        ] {
            let s = source(&[10, 10], n, ChernChoice::Zero, law);
            let mut acc = 0.0;
            let mut count = 0;
            for k in 0..20 {
                for w in s.diagonal_sample(k)?.plaquette_data().chunks_exact(n * n) {
                    acc += matrix::trace(w, n).norm_sqr();
                    count += 1;
                }
            }
            let mean = acc / count as f64;
            assert!((mean - expected).abs() < 0.15 * expected, "{law:?}: {mean}");
        }
        Ok(())
    }

    #[test]
    fn samples_are_reproducible_and_thread_independent() -> Result<()> {
        let config = DiagonalConfig {
            n: 2,
            chern: ChernChoice::Range { lo: -1, hi: 1 },
            seed: 5,
            threads: Some(1),
            ..Default::default()
        };
        let a = DiagonalSource::new(config.clone())?.sample(6)?;
        let mut s = DiagonalSource::new(DiagonalConfig {
            threads: Some(2),
            ..config
        })?;
        let b = Batch::cat(&[s.sample(1)?, s.sample(5)?])?;
        assert!(a.plaquettes.equal(&b.plaquettes) && a.links().unwrap().equal(b.links().unwrap()));
        assert!(a.site_labels.equal(&b.site_labels) && a.chern.equal(&b.chern));
        Ok(())
    }

    #[test]
    fn impossible_chern_numbers_are_errors() {
        let make = |chern| {
            DiagonalSource::new(DiagonalConfig {
                extents: vec![2, 2],
                n: 1,
                chern,
                ..Default::default()
            })
        };
        assert!(matches!(
            make(ChernChoice::Fixed(2)),
            Err(Error::InvalidParameter { name: "chern", .. })
        ));
        assert!(matches!(
            make(ChernChoice::Range { lo: 1, hi: 0 }),
            Err(Error::InvalidParameter { name: "chern", .. })
        ));
        assert!(make(ChernChoice::Fixed(1)).is_ok());
    }

    impl DiagonalSource {
        fn clone_config_sample(&self, batch: usize) -> Result<Batch> {
            DiagonalSource::new(self.config.clone())?.sample(batch)
        }
    }
}
