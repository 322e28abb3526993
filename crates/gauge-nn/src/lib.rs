//! Gauge-equivariant networks that learn Chern numbers from Wilson loops (GENet, on libtorch).
//!
//! The input is the plaquette field $W(x)$ of $U(n)$ links, which transforms as
//! $W(x)\to\Omega(x)W(x)\Omega(x)^\dagger$. The [`layers`] (GEBL, GEConv, GEReLU, TrNorm, the trace
//! readout, the L-CNN fused layer) commute with that transformation, so the per-site outputs $f(x)$
//! of a [`GaugeNet`] are gauge invariant and $\sum_x f(x)$ predicts the Chern number. [`data`] draws
//! training samples, [`train`] runs training with checkpoints, [`eval`] measures accuracy and fits
//! the output scale of models trained on trivial samples only, [`sweep`] trains and evaluates one
//! network per number of filled bands on several grids, [`reproduce`] runs the paper's tables as
//! resumable, shardable rows, and `plot` (feature `plots`) draws the
//! figures. [`lora_net`] puts a LoRA ensemble (crate `lora-ensemble`) on a frozen network so that
//! $M$ members evaluate in one batched pass, and [`chern_distribution`] turns real outputs into
//! distributions over integer Chern numbers and the ensemble's uncertainty metrics
//! (crate `ensemble-uq`). [`ensemble`] fine-tunes such a LoRA ensemble around a trained
//! checkpoint (or trains the explicit ensemble of $M$ networks), reads ensembles back, and
//! evaluates them against the single model's baselines and on out-of-distribution sets.
//!
//! # The method, as this crate implements it
//!
//! - **Links and plaquettes.** On a periodic lattice each link $U_\mu(x)\in U(n)$ connects $x$ to
//!   $x+\hat\mu$; the plaquette $W_{\mu\nu}(x)=U_\mu(x)U_\nu(x+\hat\mu)U_\mu(x+\hat\nu)^\dagger
//!   U_\nu(x)^\dagger$ is the network input (one plane in 2D, six in 4D). For Bloch bands the links
//!   are the unitary parts of the overlaps of the occupied eigenvectors at neighbouring k-points.
//! - **Labels.** The label of a plaquette is its Berry flux over $2\pi$: the sum of the principal
//!   eigenphases $\theta_i\in(-\pi,\pi]$ of $W(x)$, $\ell(x)=\frac1{2\pi}\sum_i\theta_i$
//!   ([`data::eigenphase_label`]). On a torus their sum is an exact integer, the Chern number
//!   $C=\sum_x\ell(x)$ (Fukui–Hatsugai–Suzuki). In 4D the label is the gauge-invariant
//!   second-Chern density from $F_{\mu\nu}=-i\log W_{\mu\nu}$ ([`data::second_chern_density_of`]),
//!   whose sum approaches the second Chern number as the grid is refined.
//! - **Samples.** The "general dataset" draws every link Haar-random; trivial-only training redraws
//!   a sample until $C=0$. Diagonal plaquettes with prescribed fluxes cover every gauge orbit
//!   (every unitary is diagonalisable and the network acts per site); Hamiltonian samples take the
//!   links of gapped Bloch models. Every sample is a function of a seed and its index
//!   ([`data::SampleSource`]).
//! - **Network.** GEBL forms bilinear combinations $\sum_{vw}\alpha_{uvw}X_vX_w$ of the channels
//!   $X=[W_1..W_C,W_1^\dagger..W_C^\dagger,\mathbb 1]$, GEReLU scales by
//!   $\mathrm{ReLU}(\mathrm{Re}\,\mathrm{Tr}\,W)$, TrNorm divides by the mean trace over channels
//!   (without it, training fails from four bands up), and the readout maps the traces to one real
//!   $f(x)$ per site; GEConv also transports neighbours with the links. All commute with gauge
//!   transformations, so $f(x)$ is gauge invariant.
//! - **Losses** ([`loss`]): the local L1 loss on the labels, or, trained on $C=0$ samples only, a
//!   global loss on $\sum_x f(x)$ that must also keep the outputs from collapsing to zero. A model
//!   trained on trivial samples is fixed only up to a scale $k$, fitted by least squares on a
//!   separate labelled calibration set ([`eval`]); the prediction is
//!   $\operatorname{round}(k\sum_xf(x))$.
//!
//! # Global state and features
//!
//! The trainer seeds libtorch's global generator with the run's seed before drawing the initial
//! weights (libtorch has no per-model generator) and never changes libtorch's thread count (call
//! `tch::set_num_threads`). Features, both on by default: `plots` ([`plot`], SVG figures) and
//! `progress` (progress bars).
//!
//! [`NetConfig::conjugation_odd`] makes the outputs exactly odd under complex conjugation of the
//! links (which negates the Chern number). It is off by default (the published architecture) but
//! recommended for training on trivial samples only: on $5\times5$ it took $n=4$ from 50% to 95%
//! accuracy in less than half the training time, and the $n=1$ model from 32% to 100% on QWZ
//! insulators on a $12\times12$ k-grid (`benches/compare/genet/RESULTS.md`).
//!
//! ```
//! use gauge_nn::data::{GeneralConfig, HaarSource, SampleSource};
//! use gauge_nn::{NetConfig, gauge_net, model::parameter_count};
//!
//! # fn main() -> gauge_nn::Result<()> {
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let net = gauge_net(vs.root(), 2, &NetConfig::default())?; // GEBLNet 32, 16, 8
//! assert_eq!(parameter_count(&vs), 153_217);
//! let mut source = HaarSource::new(GeneralConfig { extents: vec![5, 5], n: 2, ..Default::default() })?;
//! let batch = source.sample(4)?;
//! let f = net.forward_checked(&batch.plaquettes, None)?; // local outputs f(x)
//! assert_eq!(f.size(), [4, 5, 5]);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod allocator;
pub mod chern_distribution;
pub mod convert;
pub mod data;
pub mod demo;
pub mod ensemble;
mod error;
pub mod eval;
pub mod layers;
pub mod lora_net;
pub mod loss;
pub mod model;
#[cfg(feature = "plots")]
pub mod plot;
mod progress;
pub mod reproduce;
pub mod sweep;
mod tensor_file;
mod torch_failure;
pub mod train;

pub use error::{Error, Result};
pub use eval::EvalReport;
pub use loss::LossConfig;
pub use model::{Architecture, GaugeNet, NetConfig, gauge_net};
pub use sweep::{BandSweepConfig, BandSweepReport, run_band_sweep};
pub use train::{TrainConfig, Trainer};
