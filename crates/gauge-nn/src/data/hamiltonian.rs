//! Samples from gapped Bloch Hamiltonians of the `chern` crate.
use chern::{BandSet, Hofstadter, Qwz, RandomSmooth, RandomSmoothConfig, Tolerances};
use lattice_gauge::{GaugeTransform, Lattice};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::general::{LinkSample, labels_2d};
use super::{SampleSource, Stream, sample_rng};
use crate::convert::Precision;
use crate::error::{Error, Result};

/// The family of Hamiltonians a [`HamiltonianSource`] draws from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HamiltonianModel {
    /// A fresh [`RandomSmooth`] model per sample (random Fourier series, seeded from the
    /// sample's stream).
    RandomSmooth {
        /// Number of bands $N$.
        n_bands: usize,
        /// Highest harmonic $K$.
        max_harmonic: usize,
        /// Amplitude decay per harmonic order.
        decay: f64,
        /// On-site offsets that push bands apart.
        spread: f64,
    },
    /// The QWZ model with the mass $m$ uniform on `m_min..=m_max` (two bands).
    Qwz {
        /// Smallest mass.
        m_min: f64,
        /// Largest mass.
        m_max: f64,
    },
    /// The Hofstadter model at flux $p/q$ ($q$ bands, hopping 1).
    Hofstadter {
        /// Numerator of the flux.
        p: i64,
        /// Denominator of the flux.
        q: usize,
    },
}

impl HamiltonianModel {
    /// The number of bands of the model's Hamiltonians.
    pub fn n_bands(&self) -> usize {
        match self {
            HamiltonianModel::RandomSmooth { n_bands, .. } => *n_bands,
            HamiltonianModel::Qwz { .. } => 2,
            HamiltonianModel::Hofstadter { q, .. } => *q,
        }
    }
}

/// A Hamiltonian family by name, as a user types it: `qwz` (two bands, mass uniform in
/// $[-3, 3]$), `random-smooth` (random smooth Fourier Hamiltonians with twice as many bands as are
/// occupied) or `hofstadter:P/Q` ($Q$ bands, flux $P/Q$).
///
/// ```
/// use gauge_nn::data::{HamiltonianModel, ModelSpec};
///
/// let spec: ModelSpec = "hofstadter:1/3".parse().unwrap();
/// assert_eq!(spec.model(1), HamiltonianModel::Hofstadter { p: 1, q: 3 });
/// assert_eq!(spec.to_string(), "hofstadter:1/3");
/// assert!("hofstadter:1/0".parse::<ModelSpec>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// `qwz`.
    Qwz,
    /// `random-smooth`.
    RandomSmooth,
    /// `hofstadter:P/Q`.
    Hofstadter {
        /// Numerator of the flux.
        p: i64,
        /// Denominator of the flux (positive).
        q: usize,
    },
}

impl ModelSpec {
    /// The model for `occupied` filled bands.
    pub fn model(self, occupied: usize) -> HamiltonianModel {
        match self {
            ModelSpec::Qwz => HamiltonianModel::Qwz {
                m_min: -3.0,
                m_max: 3.0,
            },
            ModelSpec::RandomSmooth => HamiltonianModel::RandomSmooth {
                n_bands: 2 * occupied,
                max_harmonic: 1,
                decay: 0.5,
                spread: 1.0,
            },
            ModelSpec::Hofstadter { p, q } => HamiltonianModel::Hofstadter { p, q },
        }
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<ModelSpec> {
        let bad = |reason: &str| Error::InvalidParameter {
            name: "Hamiltonian model",
            value: spec.to_string(),
            reason: reason.to_string(),
        };
        match spec.trim() {
            "qwz" => Ok(ModelSpec::Qwz),
            "random-smooth" => Ok(ModelSpec::RandomSmooth),
            s => {
                let flux = s
                    .strip_prefix("hofstadter:")
                    .ok_or_else(|| bad("use qwz, random-smooth or hofstadter:P/Q"))?;
                let (p, q) = flux
                    .split_once('/')
                    .ok_or_else(|| bad("expected hofstadter:P/Q, e.g. hofstadter:1/3"))?;
                let p: i64 = p
                    .trim()
                    .parse()
                    .map_err(|_| bad("P of hofstadter:P/Q must be an integer"))?;
                let q: usize = q
                    .trim()
                    .parse()
                    .map_err(|_| bad("Q of hofstadter:P/Q must be a positive integer"))?;
                if q == 0 {
                    return Err(bad("Q of hofstadter:P/Q must be a positive integer"));
                }
                Ok(ModelSpec::Hofstadter { p, q })
            }
        }
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::Qwz => write!(f, "qwz"),
            ModelSpec::RandomSmooth => write!(f, "random-smooth"),
            ModelSpec::Hofstadter { p, q } => write!(f, "hofstadter:{p}/{q}"),
        }
    }
}

/// Configuration of a [`HamiltonianSource`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HamiltonianConfig {
    /// The k-grid $(L_1, L_2)$, which is the training lattice.
    pub extents: Vec<usize>,
    /// The Hamiltonians.
    pub model: HamiltonianModel,
    /// Number of occupied (lowest) bands $n$: links are in $U(n)$.
    pub occupied: usize,
    /// Apply a random gauge transformation to each sample's links (the eigensolver's gauge is
    /// otherwise a fixed function of $H(k)$).
    pub random_gauge: bool,
    /// Gap and overlap tolerances; a Hamiltonian that violates them on the grid is redrawn.
    pub tolerances: Tolerances,
    /// Seed of the sample streams.
    pub seed: u64,
    /// Threads that draw samples: `None` uses rayon's global pool. Does not change the samples.
    pub threads: Option<usize>,
    /// Complex kind of the link and plaquette tensors.
    pub precision: Precision,
    /// Draws per sample after which sampling gives up (gap closings, coarse grid).
    pub max_attempts: usize,
}

impl HamiltonianConfig {
    /// A configuration with the default tolerances, a random gauge, rayon's global pool,
    /// single precision and 1000 attempts.
    pub fn new(extents: Vec<usize>, model: HamiltonianModel, occupied: usize, seed: u64) -> Self {
        HamiltonianConfig {
            extents,
            model,
            occupied,
            random_gauge: true,
            tolerances: Tolerances::default(),
            seed,
            threads: None,
            precision: Precision::Single,
            max_attempts: 1000,
        }
    }
}

/// Samples from gapped Hamiltonians: the links of the occupied bands (overlaps of neighbouring
/// eigenvectors made unitary by their polar factor, `chern::links_of`) on the training grid,
/// labelled like the general dataset by the principal eigenphase sums of the plaquettes.
///
/// On a coarse grid the lattice Chern number (the sum of the labels) need not be the continuum
/// one; it is the exact integer the network can learn from these links.
pub struct HamiltonianSource {
    config: HamiltonianConfig,
    lattice: Lattice,
    stream: Stream,
}

impl std::fmt::Debug for HamiltonianSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HamiltonianSource")
            .field("config", &self.config)
            .field("next", &self.stream.position())
            .finish()
    }
}

impl HamiltonianSource {
    /// A source at the start of its stream.
    ///
    /// Errors on a grid that is not two-dimensional, `occupied` outside `1..n_bands`, a bad
    /// mass range or model parameter, `threads = Some(0)` or `max_attempts = 0`.
    pub fn new(config: HamiltonianConfig) -> Result<HamiltonianSource> {
        let lattice = Lattice::new(&config.extents)?;
        let invalid = |parameter, value: String, reason: &str| {
            Err(Error::InvalidParameter {
                name: parameter,
                value,
                reason: reason.into(),
            })
        };
        if lattice.dim() != 2 {
            return invalid(
                "extents",
                format!("{:?}", config.extents),
                "Hamiltonian samples are two-dimensional: give two extents",
            );
        }
        let bands = config.model.n_bands();
        if config.occupied == 0 || config.occupied >= bands {
            return invalid(
                "occupied",
                config.occupied.to_string(),
                "must be at least 1 and less than the number of bands",
            );
        }
        match &config.model {
            HamiltonianModel::Qwz { m_min, m_max }
                if !(m_min <= m_max && m_max.is_finite() && m_min.is_finite()) =>
            {
                return invalid(
                    "model",
                    format!("{:?}", config.model),
                    "the mass range needs finite m_min <= m_max",
                );
            }
            HamiltonianModel::Hofstadter { p, q } => {
                Hofstadter::new(*p, *q, 1.0)?;
            }
            HamiltonianModel::RandomSmooth { .. } => {
                model_for(&config.model, 0, 0.0)?;
            }
            HamiltonianModel::Qwz { .. } => {}
        }
        if config.max_attempts == 0 {
            return invalid("max_attempts", "0".into(), "must be at least 1");
        }
        let stream = Stream::new(config.threads, config.precision)?;
        Ok(HamiltonianSource {
            config,
            lattice,
            stream,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HamiltonianConfig {
        &self.config
    }

    fn hamiltonian_sample(&self, index: u64) -> Result<LinkSample> {
        let mut rng = sample_rng(self.config.seed, index);
        let set = BandSet::lowest(self.config.occupied);
        for _ in 0..self.config.max_attempts {
            let model_seed: u64 = rng.random();
            let mass = match self.config.model {
                HamiltonianModel::Qwz { m_min, m_max } => rng.random_range(m_min..=m_max),
                _ => 0.0,
            };
            let h = model_for(&self.config.model, model_seed, mass)?;
            let links =
                match chern::links_of(&h, &self.config.extents, &set, &self.config.tolerances) {
                    Ok(links) => links,
                    Err(chern::Error::GapClosed { .. } | chern::Error::SingularOverlap { .. }) => {
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
            let links = if self.config.random_gauge {
                GaugeTransform::random(&self.lattice, self.config.occupied, &mut rng)?
                    .apply_links(&links)?
            } else {
                links
            };
            let plaquettes = links.plaquettes();
            let (site_labels, chern) = labels_2d(&plaquettes);
            return Ok(LinkSample {
                links,
                plaquettes,
                site_labels,
                chern,
            });
        }
        Err(Error::RejectionExhausted {
            sample: index,
            attempts: self.config.max_attempts,
        })
    }
}

/// The Hamiltonian of one sample.
fn model_for(
    model: &HamiltonianModel,
    seed: u64,
    mass: f64,
) -> Result<Box<dyn chern::BlochHamiltonian + Send + Sync>> {
    Ok(match *model {
        HamiltonianModel::RandomSmooth {
            n_bands,
            max_harmonic,
            decay,
            spread,
        } => Box::new(RandomSmooth::new(RandomSmoothConfig {
            n_bands,
            dim: 2,
            max_harmonic,
            decay,
            spread,
            seed,
        })?),
        HamiltonianModel::Qwz { .. } => Box::new(Qwz::new(mass)),
        HamiltonianModel::Hofstadter { p, q } => Box::new(Hofstadter::new(p, q, 1.0)?),
    })
}

impl SampleSource for HamiltonianSource {
    /// Sample `index`: a Hamiltonian drawn (and redrawn while the gap closes on the grid) from
    /// the sample's own random stream, its occupied-band links and their labels.
    fn sample_at(&self, index: u64) -> Result<LinkSample> {
        self.hamiltonian_sample(index)
    }

    fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    fn n(&self) -> usize {
        self.config.occupied
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
    use crate::data::Batch;
    use chern::{ChernConfig, Method, chern_number_of};

    #[test]
    fn qwz_samples_carry_the_known_chern_numbers() -> Result<()> {
        // QWZ (FHS sign convention): C = +1 for 0 < m < 2, -1 for -2 < m < 0, 0 for |m| > 2.
        for (m, expected) in [(1.0, 1), (-1.0, -1), (3.0, 0)] {
            let config = HamiltonianConfig::new(
                vec![12, 12],
                HamiltonianModel::Qwz { m_min: m, m_max: m },
                1,
                4,
            );
            let s = HamiltonianSource::new(config)?;
            let sample = s.sample_at(0)?;
            assert_eq!(sample.chern, expected, "m = {m}");
            let sum: f64 = sample.site_labels.iter().sum();
            assert!((sum - expected as f64).abs() < 1e-10);
        }
        Ok(())
    }

    #[test]
    fn hofstadter_bands_follow_tknn() -> Result<()> {
        // Flux 1/3: the lowest band has C = -1, the two lowest together +1.
        for (occupied, expected) in [(1, -1), (2, 1)] {
            let config = HamiltonianConfig::new(
                vec![18, 18],
                HamiltonianModel::Hofstadter { p: 1, q: 3 },
                occupied,
                1,
            );
            let mut s = HamiltonianSource::new(config)?;
            let batch = s.sample(2)?;
            assert_eq!(
                batch.links().unwrap().size(),
                [2, 2, 18, 18, occupied as i64, occupied as i64]
            );
            assert_eq!(Vec::<i64>::try_from(&batch.chern)?, [expected, expected]);
        }
        Ok(())
    }

    #[test]
    fn random_smooth_labels_match_the_eigenphase_chern_number_of_chern() -> Result<()> {
        let model = HamiltonianModel::RandomSmooth {
            n_bands: 3,
            max_harmonic: 1,
            decay: 0.5,
            spread: 1.0,
        };
        let config = HamiltonianConfig {
            random_gauge: false,
            ..HamiltonianConfig::new(vec![8, 8], model.clone(), 1, 4)
        };
        let s = HamiltonianSource::new(config)?;
        let mut rng = sample_rng(4, 0);
        let seed: u64 = rng.random();
        let h = model_for(&model, seed, 0.0)?;
        let sample = s.sample_at(0)?;
        // The first draw of this stream (seed 4) is gapped on the grid, has C = 1, and its largest
        // plaquette flux is below chern's MAX_RESOLVED_FLUX (seed 9's draw has a flux of -2.56,
        // which chern refuses as unresolved), so the sample is that Hamiltonian: chern's links
        // and eigenphase Chern number of it agree with the sample.
        let set = BandSet::lowest(1);
        let config = ChernConfig {
            method: Method::EigenphaseSum,
            ..ChernConfig::default()
        };
        let c = chern_number_of(&h, &[8, 8], &set, &config)?;
        let links = chern::links_of(&h, &[8, 8], &set, &Tolerances::default())?;
        assert!(links.max_abs_diff(&sample.links)? < 1e-12);
        assert_eq!(sample.chern, c.chern);
        for (f, label) in c.flux.iter().zip(&sample.site_labels) {
            assert!((f / std::f64::consts::TAU - label).abs() < 1e-12);
        }
        Ok(())
    }

    #[test]
    fn samples_are_reproducible_gauge_randomised_and_thread_independent() -> Result<()> {
        let model = HamiltonianModel::Qwz {
            m_min: -1.5,
            m_max: 1.5,
        };
        let config = HamiltonianConfig {
            threads: Some(1),
            ..HamiltonianConfig::new(vec![6, 6], model, 1, 3)
        };
        let a = HamiltonianSource::new(config.clone())?.sample(4)?;
        let mut s = HamiltonianSource::new(HamiltonianConfig {
            threads: Some(2),
            ..config.clone()
        })?;
        let b = Batch::cat(&[s.sample(3)?, s.sample(1)?])?;
        assert!(
            a.links().unwrap().equal(b.links().unwrap()) && a.site_labels.equal(&b.site_labels)
        );
        let plain = HamiltonianSource::new(HamiltonianConfig {
            random_gauge: false,
            ..config
        })?
        .sample(4)?;
        // Same Hamiltonians, other gauge: links differ, labels agree.
        assert!(!plain.links().unwrap().equal(a.links().unwrap()));
        let diff = (&plain.site_labels - &a.site_labels)
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5);
        Ok(())
    }

    #[test]
    fn bad_configurations_are_errors() {
        let qwz = HamiltonianModel::Qwz {
            m_min: 0.5,
            m_max: 1.0,
        };
        let make = |c: HamiltonianConfig| HamiltonianSource::new(c);
        assert!(matches!(
            make(HamiltonianConfig::new(vec![6, 6], qwz.clone(), 2, 0)),
            Err(Error::InvalidParameter {
                name: "occupied",
                ..
            })
        ));
        assert!(matches!(
            make(HamiltonianConfig::new(vec![6, 6, 6], qwz, 1, 0)),
            Err(Error::InvalidParameter {
                name: "extents",
                ..
            })
        ));
        assert!(matches!(
            make(HamiltonianConfig::new(
                vec![6, 6],
                HamiltonianModel::Qwz {
                    m_min: 1.0,
                    m_max: 0.0
                },
                1,
                0
            )),
            Err(Error::InvalidParameter { name: "model", .. })
        ));
        assert!(matches!(
            make(HamiltonianConfig::new(
                vec![6, 6],
                HamiltonianModel::Hofstadter { p: 1, q: 0 },
                1,
                0
            )),
            Err(Error::InvalidParameter { .. } | Error::Chern(_))
        ));
    }
}
