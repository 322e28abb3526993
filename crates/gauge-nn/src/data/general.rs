//! The general (Haar) dataset of GENet.
use lattice_gauge::{Lattice, LinkField, PlaquetteField};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::second_chern::second_chern_density_of;
use super::{SampleSource, Stream, eigenphase_label, sample_rng};
use crate::convert::Precision;
use crate::error::{Error, Result};

/// Configuration of a [`HaarSource`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneralConfig {
    /// Lattice extents: $(L_1, L_2)$, or four extents for second-Chern samples.
    pub extents: Vec<usize>,
    /// Number of bands $n$: links are in $U(n)$.
    pub n: usize,
    /// Keep only samples with Chern number 0 (redraw all links of a sample until $C = 0$).
    pub trivial_only: bool,
    /// Seed of the sample streams.
    pub seed: u64,
    /// Threads that draw samples: `None` uses rayon's global pool. Does not change the samples.
    pub threads: Option<usize>,
    /// Complex kind of the link and plaquette tensors.
    pub precision: Precision,
    /// With `trivial_only`, the number of draws per sample after which sampling gives up.
    pub max_attempts: usize,
    /// Mix in weak fields: this share of the samples has links near the identity instead of
    /// Haar-random ones (`None`: every sample Haar-random, the paper's general dataset; left
    /// out of the JSON then, so configurations save as they did before the field existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_identity: Option<NearIdentity>,
}

/// Samples of weak, disordered fields mixed into the general dataset.
///
/// Haar-random links give Haar-random plaquettes, whose eigenphases are spread over the whole
/// circle: plaquettes near the identity, where the label of a plaquette is $\operatorname{Tr}F /
/// 2\pi$ for $W = e^{iF}$ and the sum over a fine grid of a smooth Bloch bundle is the Chern
/// number, are almost never drawn, so nothing in training fixes a network's response there. A
/// network trained on Haar samples alone can answer small fluxes with a slope well off 1 (1.35
/// and 0.86 were measured for the n = 4 and n = 5 Table 2 networks), which is wrong by an integer
/// for |C| >= 2 on the fine grids of smooth Hamiltonians. A share of samples from
/// [`LinkField::random_near_identity`] (eigenphase spread of each link drawn uniformly from
/// $[0, \sigma_{\max}]$) covers that regime.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearIdentity {
    /// Share of the samples drawn near the identity, in $[0, 1]$.
    pub fraction: f64,
    /// Largest eigenphase spread $\sigma_{\max}$ of a link (radians, positive and finite).
    pub max_spread: f64,
}

impl NearIdentity {
    /// Checks both fields; errors name the field and its value.
    pub fn validate(&self) -> Result<()> {
        self.validate_named(["near_identity.fraction", "near_identity.max_spread"])
    }

    /// [`NearIdentity::validate`] with the names the errors give the two fields.
    pub(crate) fn validate_named(&self, names: [&'static str; 2]) -> Result<()> {
        if !(self.fraction.is_finite() && (0.0..=1.0).contains(&self.fraction)) {
            return Err(Error::InvalidParameter {
                name: names[0],
                value: self.fraction.to_string(),
                reason: "must be between 0 and 1".into(),
            });
        }
        if !(self.max_spread.is_finite() && self.max_spread > 0.0) {
            return Err(Error::InvalidParameter {
                name: names[1],
                value: self.max_spread.to_string(),
                reason: "must be positive and finite (radians)".into(),
            });
        }
        Ok(())
    }
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            extents: vec![5, 5],
            n: 1,
            trivial_only: false,
            seed: 0,
            threads: None,
            precision: Precision::Single,
            max_attempts: 100_000,
            near_identity: None,
        }
    }
}

/// The general dataset: every link $U_\mu(x)$ an independent Haar-random $U(n)$ matrix.
///
/// Labels per plaquette are the principal eigenphase sums over $2\pi$ ([`eigenphase_label`]),
/// the Chern number is their sum (an exact integer on the torus). Every call of
/// [`SampleSource::sample`] draws fresh samples; sample $k$ of the stream depends only on the
/// seed and $k$ (see the [module docs](super)).
pub struct HaarSource {
    config: GeneralConfig,
    lattice: Lattice,
    stream: Stream,
}

impl std::fmt::Debug for HaarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaarSource")
            .field("config", &self.config)
            .field("next", &self.stream.position())
            .finish()
    }
}

impl HaarSource {
    /// A source at the start of its stream.
    ///
    /// Errors on a lattice that is not two-dimensional or has a zero extent, on $n = 0$,
    /// `threads = Some(0)` or `max_attempts = 0`.
    pub fn new(config: GeneralConfig) -> Result<HaarSource> {
        let lattice = Lattice::new(&config.extents)?;
        if lattice.dim() != 2 && lattice.dim() != 4 {
            return Err(Error::InvalidParameter {
                name: "extents",
                value: format!("{:?}", config.extents),
                reason: "the general dataset is two-dimensional (Chern) or four-dimensional \
                         (second Chern): give two or four extents"
                    .into(),
            });
        }
        if config.n == 0 {
            return Err(Error::InvalidParameter {
                name: "n",
                value: "0".into(),
                reason: "links need at least one band".into(),
            });
        }
        if let Some(near) = &config.near_identity {
            near.validate()?;
        }
        if config.max_attempts == 0 {
            return Err(Error::InvalidParameter {
                name: "max_attempts",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let stream = Stream::new(config.threads, config.precision)?;
        Ok(HaarSource {
            config,
            lattice,
            stream,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneralConfig {
        &self.config
    }

    fn haar_sample(&self, index: u64) -> Result<LinkSample> {
        let mut rng = sample_rng(self.config.seed, index);
        let attempts = if self.config.trivial_only {
            self.config.max_attempts
        } else {
            1
        };
        for _ in 0..attempts {
            // Drawn only when weak fields are mixed in, so that the Haar stream of the plain
            // dataset stays what it was.
            let spread = match self.config.near_identity {
                Some(near) if near.fraction > 0.0 && rng.random::<f64>() < near.fraction => {
                    Some(near.max_spread * rng.random::<f64>())
                }
                _ => None,
            };
            let links = match spread {
                Some(spread) => {
                    LinkField::random_near_identity(&self.lattice, self.config.n, spread, &mut rng)?
                }
                None => LinkField::haar_random(&self.lattice, self.config.n, &mut rng)?,
            };
            let plaquettes = links.plaquettes();
            let (site_labels, chern) = match self.lattice.dim() {
                2 => labels_2d(&plaquettes),
                _ => labels_4d(&plaquettes)?,
            };
            if !self.config.trivial_only || chern == 0 {
                return Ok(LinkSample {
                    links,
                    plaquettes,
                    site_labels,
                    chern,
                });
            }
        }
        Err(Error::RejectionExhausted {
            sample: index,
            attempts,
        })
    }
}

/// Per-site second-Chern densities of a 4D plaquette field and their rounded sum.
pub(crate) fn labels_4d(plaquettes: &PlaquetteField) -> Result<(Vec<f64>, i64)> {
    let labels = second_chern_density_of(plaquettes)?;
    let chern = labels.iter().sum::<f64>().round() as i64;
    Ok((labels, chern))
}

/// One sample of the general dataset.
#[derive(Clone, Debug)]
pub struct LinkSample {
    /// The Haar-random links.
    pub links: LinkField,
    /// Their plaquettes (one plane in 2D, six in 4D).
    pub plaquettes: PlaquetteField,
    /// $f(x)$ per site (row-major): in 2D the [`eigenphase_label`] of the plaquette at $x$,
    /// in 4D the [`second_chern_density`](super::second_chern_density).
    pub site_labels: Vec<f64>,
    /// $C = \sum_x f(x)$ rounded: exact up to rounding errors in 2D, the nearest integer to
    /// the (non-integer) lattice $C_2$ in 4D.
    pub chern: i64,
}

/// Per-plaquette eigenphase labels of a 2D plaquette field and their (rounded) sum.
pub(crate) fn labels_2d(plaquettes: &PlaquetteField) -> (Vec<f64>, i64) {
    let n = plaquettes.n();
    let labels: Vec<f64> = plaquettes
        .as_slice()
        .chunks_exact(n * n)
        .map(|w| eigenphase_label(w, n))
        .collect();
    let chern = labels.iter().sum::<f64>().round() as i64;
    (labels, chern)
}

impl SampleSource for HaarSource {
    /// Sample `index` of the stream with its plaquettes, labels and Chern number.
    fn sample_at(&self, index: u64) -> Result<LinkSample> {
        self.haar_sample(index)
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
    use lattice_gauge::{GaugeTransform, matrix};
    use rand::SeedableRng;
    use tch::Kind;

    fn source(n: usize, seed: u64, trivial_only: bool, threads: Option<usize>) -> HaarSource {
        HaarSource::new(GeneralConfig {
            extents: vec![5, 4],
            n,
            trivial_only,
            seed,
            threads,
            precision: Precision::Double,
            ..Default::default()
        })
        .unwrap()
    }

    fn identical(a: &Batch, b: &Batch) -> bool {
        a.links().unwrap().equal(b.links().unwrap())
            && a.plaquettes.equal(&b.plaquettes)
            && a.site_labels.equal(&b.site_labels)
            && a.chern.equal(&b.chern)
    }

    #[test]
    fn samples_depend_only_on_seed_and_index() -> Result<()> {
        let whole = source(2, 11, false, Some(1)).sample(6)?;
        let mut split = source(2, 11, false, Some(2));
        let parts = [split.sample(2)?, split.sample(4)?];
        assert!(identical(&whole, &Batch::cat(&parts)?));
        assert_eq!(split.position(), 6);
        let other = source(2, 12, false, None).sample(6)?;
        assert!(!other.links().unwrap().equal(whole.links().unwrap()));
        // Fresh samples on every call.
        let mut s = source(2, 11, false, None);
        let (a, b) = (s.sample(2)?, s.sample(2)?);
        assert!(!a.links().unwrap().equal(b.links().unwrap()));
        s.seek(2);
        assert!(identical(&s.sample(2)?, &b));
        Ok(())
    }

    #[test]
    fn batch_layout_and_labels_agree_with_lattice_gauge() -> Result<()> {
        let mut s = source(3, 5, false, None);
        let batch = s.sample(4)?;
        assert_eq!(batch.links().unwrap().size(), [4, 2, 5, 4, 3, 3]);
        assert_eq!(batch.plaquettes.size(), [4, 1, 5, 4, 3, 3]);
        assert_eq!(batch.site_labels.size(), [4, 5, 4]);
        assert_eq!(batch.site_labels.kind(), Kind::Float);
        assert_eq!(batch.chern.kind(), Kind::Int64);
        let lattice = s.lattice().clone();
        let links = LinkField::batch_from_tensor(batch.links().unwrap(), &lattice)?;
        let plaquettes = PlaquetteField::batch_from_tensor(&batch.plaquettes, &lattice)?;
        for (b, (u, w)) in links.iter().zip(&plaquettes).enumerate() {
            assert!(u.plaquettes().max_abs_diff(w)? < 1e-14);
            let mut total = 0.0;
            for x in lattice.sites() {
                let phases = matrix::eigenphases(w.plaquette(0, x), 3);
                let label = phases.iter().sum::<f64>() / std::f64::consts::TAU;
                let coords: Vec<i64> = lattice.coords(x).iter().map(|&c| c as i64).collect();
                let stored = batch
                    .site_labels
                    .double_value(&[b as i64, coords[0], coords[1]]);
                assert!((stored - label).abs() < 1e-6);
                total += label;
            }
            let chern = batch.chern.int64_value(&[b as i64]);
            assert!((total - chern as f64).abs() < 1e-9, "{total} vs {chern}");
        }
        Ok(())
    }

    #[test]
    fn labels_are_exact_integers_in_sum_and_gauge_invariant() -> Result<()> {
        let s = source(2, 8, false, None);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut nonzero = 0;
        for k in 0..20 {
            let sample = s.sample_at(k)?;
            let sum: f64 = sample.site_labels.iter().sum();
            assert!((sum - sample.chern as f64).abs() < 1e-10);
            nonzero += usize::from(sample.chern != 0);
            let omega = GaugeTransform::random(s.lattice(), 2, &mut rng)?;
            let moved = omega.apply_links(&sample.links)?;
            let (labels, chern) = labels_2d(&moved.plaquettes());
            assert_eq!(chern, sample.chern);
            for (a, b) in labels.iter().zip(&sample.site_labels) {
                assert!((a - b).abs() < 1e-10);
            }
        }
        assert!(nonzero > 5, "Haar samples are mostly non-trivial");
        Ok(())
    }

    #[test]
    fn u1_labels_are_plaquette_angles() -> Result<()> {
        let s = source(1, 2, false, None);
        let sample = s.sample_at(0)?;
        for (w, f) in sample.plaquettes.as_slice().iter().zip(&sample.site_labels) {
            assert!((w.arg() / std::f64::consts::TAU - f).abs() < 1e-14);
        }
        Ok(())
    }

    #[test]
    fn trivial_only_samples_have_chern_zero() -> Result<()> {
        let batch = source(2, 4, true, None).sample(16)?;
        assert_eq!(batch.chern.abs().sum(Kind::Int64).int64_value(&[]), 0);
        let sums = batch
            .site_labels
            .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double);
        assert!(sums.abs().max().double_value(&[]) < 1e-5);
        Ok(())
    }

    #[test]
    fn chern_spread_matches_the_reference_generator() -> Result<()> {
        // Haar-random U(4) links on 5x5: about one sample in five has C = 0.
        let s = HaarSource::new(GeneralConfig {
            extents: vec![5, 5],
            n: 4,
            seed: 99,
            ..Default::default()
        })?;
        let count = 300;
        let zeros = (0..count)
            .map(|k| s.sample_at(k).map(|x| x.chern == 0))
            .collect::<Result<Vec<bool>>>()?
            .into_iter()
            .filter(|&z| z)
            .count();
        let p = zeros as f64 / count as f64;
        assert!((0.13..0.28).contains(&p), "P(C = 0) = {p}");
        Ok(())
    }

    #[test]
    fn four_dimensional_samples_carry_six_planes_and_second_chern_densities() -> Result<()> {
        let mut s = HaarSource::new(GeneralConfig {
            extents: vec![3, 3, 3, 3],
            n: 2,
            seed: 4,
            precision: Precision::Double,
            ..Default::default()
        })?;
        let batch = s.sample(2)?;
        assert_eq!(batch.links().unwrap().size(), [2, 4, 3, 3, 3, 3, 2, 2]);
        assert_eq!(batch.plaquettes.size(), [2, 6, 3, 3, 3, 3, 2, 2]);
        assert_eq!(batch.site_labels.size(), [2, 3, 3, 3, 3]);
        let q = crate::data::second_chern_density(&batch.plaquettes)?;
        let diff = (q.to_kind(Kind::Float) - &batch.site_labels).abs().max();
        assert!(diff.double_value(&[]) < 1e-6);
        let sums = q.sum_dim_intlist([1i64, 2, 3, 4].as_slice(), false, Kind::Double);
        assert!(sums.round().to_kind(Kind::Int64).equal(&batch.chern));
        // The plaquette channels are lattice-gauge's planes of the links.
        let lattice = s.lattice().clone();
        let links = LinkField::batch_from_tensor(batch.links().unwrap(), &lattice)?;
        let w = PlaquetteField::batch_from_tensor(&batch.plaquettes, &lattice)?;
        assert!(links[1].plaquettes().max_abs_diff(&w[1])? < 1e-14);
        Ok(())
    }

    fn mixed(fraction: f64, max_spread: f64, seed: u64) -> HaarSource {
        HaarSource::new(GeneralConfig {
            extents: vec![5, 4],
            n: 3,
            seed,
            precision: Precision::Double,
            near_identity: Some(NearIdentity {
                fraction,
                max_spread,
            }),
            ..Default::default()
        })
        .unwrap()
    }

    /// Largest |eigenphase| over the plaquettes of a sample.
    fn largest_flux(sample: &LinkSample) -> f64 {
        let n = sample.plaquettes.n();
        sample
            .plaquettes
            .as_slice()
            .chunks_exact(n * n)
            .flat_map(|w| matrix::eigenphases(w, n))
            .fold(0.0, |m: f64, t| m.max(t.abs()))
    }

    #[test]
    fn weak_fields_mix_in_at_their_share_with_exact_labels() -> Result<()> {
        // A share of 0 draws nothing extra: the same stream as the plain dataset.
        let plain = source(3, 21, false, None);
        let zero = mixed(0.0, 1.0, 21);
        for k in 0..4 {
            let (a, b) = (plain.sample_at(k)?, zero.sample_at(k)?);
            assert_eq!(a.links.max_abs_diff(&b.links)?, 0.0);
        }
        // All weak with a small spread: every plaquette within a few spreads of the identity,
        // the labels their eigenphase sums, C = 0.
        let weak = mixed(1.0, 0.02, 22);
        for k in 0..10 {
            let sample = weak.sample_at(k)?;
            assert!(largest_flux(&sample) < 0.4, "sample {k}");
            assert_eq!(sample.chern, 0);
            let (labels, chern) = labels_2d(&sample.plaquettes);
            assert_eq!(chern, 0);
            assert_eq!(labels, sample.site_labels);
            assert!(labels.iter().any(|&q| q != 0.0));
        }
        // Half and half: a Haar sample on 5x4 has a plaquette eigenphase beyond 1 rad (20
        // plaquettes of three Haar eigenphases each), a weak one of spread <= 0.05 none.
        let half = mixed(0.5, 0.05, 23);
        let count = 400;
        let weak_count = (0..count)
            .map(|k| half.sample_at(k).map(|x| largest_flux(&x) < 1.0))
            .collect::<Result<Vec<bool>>>()?
            .into_iter()
            .filter(|&w| w)
            .count();
        // Binomial(400, 1/2): standard deviation 10.
        assert!(
            (140..=260).contains(&weak_count),
            "{weak_count} weak of {count}"
        );
        // The mixture is reproducible sample by sample.
        let again = mixed(0.5, 0.05, 23);
        for k in [0, 7, 399] {
            let (a, b) = (half.sample_at(k)?, again.sample_at(k)?);
            assert_eq!(a.links.max_abs_diff(&b.links)?, 0.0);
        }
        Ok(())
    }

    #[test]
    fn a_bad_weak_field_share_or_spread_is_an_error_naming_it() {
        for (fraction, spread, name, value) in [
            (-0.1, 1.0, "near_identity.fraction", "-0.1"),
            (1.5, 1.0, "near_identity.fraction", "1.5"),
            (f64::NAN, 1.0, "near_identity.fraction", "NaN"),
            (0.5, 0.0, "near_identity.max_spread", "0"),
            (0.5, -1.0, "near_identity.max_spread", "-1"),
            (0.5, f64::INFINITY, "near_identity.max_spread", "inf"),
        ] {
            let err = HaarSource::new(GeneralConfig {
                near_identity: Some(NearIdentity {
                    fraction,
                    max_spread: spread,
                }),
                ..Default::default()
            })
            .unwrap_err();
            match err {
                Error::InvalidParameter {
                    name: got,
                    value: v,
                    ..
                } => {
                    assert_eq!((got, v.as_str()), (name, value));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bad_configurations_are_errors() {
        let bad = |c: GeneralConfig| HaarSource::new(c).unwrap_err();
        let base = GeneralConfig::default();
        assert!(matches!(
            bad(GeneralConfig {
                extents: vec![3, 3, 3],
                ..base.clone()
            }),
            Error::InvalidParameter {
                name: "extents",
                ..
            }
        ));
        assert!(matches!(
            bad(GeneralConfig {
                extents: vec![3, 0],
                ..base.clone()
            }),
            Error::Lattice(_)
        ));
        assert!(matches!(
            bad(GeneralConfig {
                n: 0,
                ..base.clone()
            }),
            Error::InvalidParameter { name: "n", .. }
        ));
        assert!(matches!(
            bad(GeneralConfig {
                threads: Some(0),
                ..base.clone()
            }),
            Error::InvalidParameter {
                name: "threads",
                ..
            }
        ));
        // Rejection sampling that cannot succeed in one draw on a large grid reports the sample.
        let mut s = HaarSource::new(GeneralConfig {
            extents: vec![8, 8],
            n: 4,
            trivial_only: true,
            max_attempts: 1,
            seed: 1,
            ..base
        })
        .unwrap();
        let err = (0..50).find_map(|_| s.sample(1).err());
        assert!(matches!(
            err,
            Some(Error::RejectionExhausted { attempts: 1, .. })
        ));
    }
}
