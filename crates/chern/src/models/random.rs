//! Random smooth multiband Hamiltonians: seeded random Fourier series, for realistic test data.
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use num_complex::Complex64 as C64;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Settings of a [`RandomSmooth`] model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RandomSmoothConfig {
    /// Number of bands $N$.
    pub n_bands: usize,
    /// Dimension of k-space.
    pub dim: usize,
    /// Highest harmonic $K$: Fourier vectors $n$ with $\max_j |n_j| \le K$.
    pub max_harmonic: usize,
    /// Amplitudes fall off as $\mathrm{decay}^{|n|_1}$, which keeps $H(k)$ smooth.
    pub decay: f64,
    /// On-site offsets $\mathrm{spread}\cdot\mathrm{diag}(0, 1, \ldots, N-1)$ that push bands apart.
    pub spread: f64,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

impl Default for RandomSmoothConfig {
    fn default() -> Self {
        Self {
            n_bands: 4,
            dim: 2,
            max_harmonic: 2,
            decay: 0.5,
            spread: 0.0,
            seed: 0,
        }
    }
}

/// $H(k) = A_0 + \sum_{n > 0} \bigl(A_n e^{i n\cdot k} + A_n^\dagger e^{-i n\cdot k}\bigr)$ with
/// complex Gaussian $A_n$ (amplitude $\mathrm{decay}^{|n|_1}$), Hermitian $A_0$, and $n$ over
/// the lexicographically positive half of $\{-K..K\}^d$. Hermitian and periodic by
/// construction; generically gapped in 2D (band touchings have codimension 3).
#[derive(Clone, Debug)]
pub struct RandomSmooth {
    config: RandomSmoothConfig,
    /// Fourier vectors of the positive half.
    vectors: Vec<Vec<i64>>,
    /// One row-major $N\times N$ matrix per vector, then $A_0$ last.
    coefficients: Vec<Vec<C64>>,
}

impl RandomSmooth {
    /// Draws a model; errors on zero bands or dimension, or a non-finite/negative `decay`/`spread`.
    pub fn new(config: RandomSmoothConfig) -> Result<Self> {
        let n = config.n_bands;
        if n == 0 {
            return Err(Error::invalid(
                "n_bands",
                config.n_bands,
                "at least one band",
            ));
        }
        if config.dim == 0 || config.dim > 6 {
            return Err(Error::invalid("dim", config.dim, "dimension must be 1..=6"));
        }
        if !(config.decay.is_finite() && config.decay >= 0.0) {
            return Err(Error::invalid(
                "decay",
                config.decay,
                "decay must be finite and >= 0",
            ));
        }
        if !config.spread.is_finite() {
            return Err(Error::invalid(
                "spread",
                config.spread,
                "spread must be finite",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let k = config.max_harmonic as i64;
        let d = config.dim;
        let side = (2 * k + 1) as usize;
        let mut vectors = Vec::new();
        for idx in 0..side.pow(d as u32) {
            let mut rest = idx;
            let mut v = vec![0i64; d];
            for c in v.iter_mut().rev() {
                *c = (rest % side) as i64 - k;
                rest /= side;
            }
            // Lexicographically positive: first non-zero component > 0.
            if v.iter().find(|&&c| c != 0).is_some_and(|&c| c > 0) {
                vectors.push(v);
            }
        }
        let mut gauss = |scale: f64| {
            let re: f64 = StandardNormal.sample(&mut rng);
            let im: f64 = StandardNormal.sample(&mut rng);
            C64::new(re, im) * (scale / std::f64::consts::SQRT_2)
        };
        let mut coefficients = Vec::with_capacity(vectors.len() + 1);
        for v in &vectors {
            let norm1: i64 = v.iter().map(|c| c.abs()).sum();
            let scale = config.decay.powi(norm1 as i32);
            coefficients.push((0..n * n).map(|_| gauss(scale)).collect::<Vec<_>>());
        }
        let mut a0: Vec<C64> = (0..n * n).map(|_| gauss(1.0)).collect();
        for i in 0..n {
            for j in 0..i {
                let s = (a0[i * n + j] + a0[j * n + i].conj()) * 0.5;
                a0[i * n + j] = s;
                a0[j * n + i] = s.conj();
            }
            a0[i * n + i] = C64::new(a0[i * n + i].re + config.spread * i as f64, 0.0);
        }
        coefficients.push(a0);
        Ok(Self {
            config,
            vectors,
            coefficients,
        })
    }
    /// The settings it was drawn with.
    pub fn config(&self) -> &RandomSmoothConfig {
        &self.config
    }
}

impl BlochHamiltonian for RandomSmooth {
    fn dim(&self) -> usize {
        self.config.dim
    }
    fn n_bands(&self) -> usize {
        self.config.n_bands
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let n = self.config.n_bands;
        let a0 = self.coefficients.last().expect("A_0 is always stored");
        h.copy_from_slice(a0);
        for (v, a) in self.vectors.iter().zip(&self.coefficients) {
            let phase: f64 = v.iter().zip(k).map(|(&c, &kj)| c as f64 * kj).sum();
            let e = C64::from_polar(1.0, phase);
            for i in 0..n {
                for j in 0..n {
                    // A e^{ink} + (A e^{ink})^†
                    let t = a[i * n + j] * e;
                    h[i * n + j] += t;
                    h[j * n + i] += t.conj();
                }
            }
        }
    }
}
