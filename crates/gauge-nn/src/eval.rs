//! Evaluation: predicted Chern numbers $F=k\sum_x f(x)$, the accuracy of $\operatorname{round}(F)$, its
//! distribution by $C$, and the output scale $k$ of trivial-only models.
//!
//! A model trained on $C=0$ only is determined up to the scale (and sign) of its output. The scale is
//! fitted by least squares on a separate labelled calibration set,
//! $$k=\frac{\sum_b C_bF_b}{\sum_b F_b^2},$$
//! which weights samples by $F_b^2$ and so ignores near-zero outputs instead of being thrown off by
//! them (as a mean of ratios $C_b/F_b$ is). The calibration set must not be the test set.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::data::{Batch, SampleSource};
use crate::error::{Error, Result};
use crate::model::GaugeNet;

/// Accuracy for one true Chern number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChernBucket {
    /// The true Chern number.
    pub chern: i64,
    /// Samples with that $C$.
    pub samples: usize,
    /// Of which predicted exactly.
    pub correct: usize,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Samples evaluated.
    pub samples: usize,
    /// Fraction of samples with $\operatorname{round}(kF)=C$.
    pub accuracy: f64,
    /// The same on the samples with $C\ne0$ (`None` if there are none).
    pub accuracy_nontrivial: Option<f64>,
    /// Mean $|kF-C|$.
    pub mean_abs_error: f64,
    /// The output scale $k$ used.
    pub rescale: f64,
    /// Accuracy by true Chern number, in increasing $C$.
    pub by_chern: Vec<ChernBucket>,
    /// `(C, kF)` of every sample, in order.
    pub predictions: Vec<(i64, f64)>,
}

/// Unscaled predictions $F_b=\sum_x f_b(x)$ of every sample, computed in chunks of `batch` without
/// gradients.
///
/// A NaN or infinite output is an [`Error::NonFiniteOutput`] naming the sample: a damaged network
/// gives no accuracy rather than a wrong one. Where libtorch runs out of memory on a chunk (on the
/// GPU or the CPU), the chunk is halved and tried again, down to one sample per pass; a failure
/// beyond that, or any other libtorch failure, is an [`Error::Libtorch`] naming the device, the
/// grid and the samples per pass, never a panic. The predictions do not depend on the chunks.
pub fn predict(net: &GaugeNet, data: &Batch, batch: usize) -> Result<Vec<f64>> {
    let mut pass = batch.max(1);
    predict_in_passes(net, data, &mut pass, batch.max(1))
}

/// [`predict`] with `pass` samples per network pass, halved in place after an out-of-memory
/// error (so that the caller's next chunks start from the size that fits); `asked` is the size
/// first asked for, for the error message.
fn predict_in_passes(
    net: &GaugeNet,
    data: &Batch,
    pass: &mut usize,
    asked: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(data.len());
    let device = net.device();
    in_passes("evaluation", data, device, pass, asked, |start, end| {
        let chunk = data.slice(start, end).to_device(device);
        let links = match net.needs_links() {
            true => Some(chunk.links()?),
            false => None,
        };
        let f = net.forward_checked(&chunk.plaquettes, links)?;
        let sums = f
            .flatten(1, -1)
            .sum_dim_intlist(1, false, Kind::Double)
            .to_device(tch::Device::Cpu);
        let sums = Vec::<f64>::try_from(&sums)?;
        if let Some((i, &value)) = sums.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteOutput {
                sample: start + i,
                value,
            });
        }
        out.extend(sums);
        Ok(())
    })?;
    Ok(out)
}

/// The network's response to weak fields: the least-squares slope $k \sum_x f(x) q(x) / \sum_x
/// q(x)^2$ of its scaled local outputs $k f(x)$ against the exact labels $q(x) = \sum_j
/// \theta_j(x) / 2\pi$ on plaquettes near the identity, where $q = \operatorname{Tr}F/2\pi$ for
/// $W = e^{iF}$. The exact answer is 1.
///
/// On a fine grid of a smooth Bloch bundle every plaquette is near the identity and the labels
/// sum to $C$, so a network with slope $s$ predicts about $sC$ there and is wrong wherever
/// $|s - 1|\,|C| > 1/2$. Haar-random training samples almost never have such plaquettes, so
/// nothing in them pins the slope down (see [`crate::data::NearIdentity`]).
///
/// Measured on 64 two-dimensional 5x5 samples of [`LinkField::random_near_identity`] with link
/// eigenphase spreads up to 0.001 (plaquette eigenphases of a few thousandths, where the response
/// of trained and untrained networks alike is linear to 1%), drawn from `seed`; `bands` must be
/// the network's band count.
///
/// [`LinkField::random_near_identity`]: lattice_gauge::LinkField::random_near_identity
pub fn small_flux_slope(net: &GaugeNet, bands: usize, rescale: f64, seed: u64) -> Result<f64> {
    if net.dim() != 2 {
        return Err(Error::InvalidParameter {
            name: "grid",
            value: format!("{} dimensions", net.dim()),
            reason: "the small-flux slope is defined for Chern networks (two dimensions); the \
                     second-Chern density has no linear response"
                .into(),
        });
    }
    let mut source = crate::data::HaarSource::new(crate::data::GeneralConfig {
        extents: vec![5, 5],
        n: bands,
        seed,
        precision: crate::convert::Precision::Double,
        threads: Some(1),
        near_identity: Some(crate::data::NearIdentity {
            fraction: 1.0,
            max_spread: 1e-3,
        }),
        ..Default::default()
    })?;
    let data = source.sample(64)?;
    let device = net.device();
    let (mut fq, mut qq) = (0.0, 0.0);
    let mut pass = data.len();
    let asked = pass;
    in_passes(
        "small-flux slope",
        &data,
        device,
        &mut pass,
        asked,
        |start, end| {
            let chunk = data.slice(start, end).to_device(device);
            let links = match net.needs_links() {
                true => Some(chunk.links()?),
                false => None,
            };
            let f = net
                .forward_checked(&chunk.plaquettes, links)?
                .to_kind(Kind::Double);
            let q = chunk.site_labels.to_kind(Kind::Double);
            // Per sample, so that a NaN or infinite output is reported with its sample.
            let per_sample = |t: Tensor| -> Result<Vec<f64>> {
                let sums = t.flatten(1, -1).sum_dim_intlist(1, false, Kind::Double);
                Ok(Vec::<f64>::try_from(&sums.to_device(tch::Device::Cpu))?)
            };
            let (fq_b, qq_b) = (per_sample(&f * &q)?, per_sample(&q * &q)?);
            if let Some((i, &value)) = fq_b.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFiniteOutput {
                    sample: start + i,
                    value,
                });
            }
            fq += fq_b.iter().sum::<f64>();
            qq += qq_b.iter().sum::<f64>();
            Ok(())
        },
    )?;
    Ok(rescale * fq / qq)
}

/// Runs the network passes `run(start, end)` over the samples of `data` in order, `pass` at a
/// time, each without gradients and under [`crate::torch_failure::catch_libtorch`]: after an
/// out-of-memory error in libtorch the pass is halved in place (for good: the caller's next
/// chunks start from the size that fits) and tried again, down to one sample; a failure beyond
/// that, or any other libtorch failure, is an [`Error::Libtorch`] of `what` on `device` naming
/// the grid and the samples per pass (`asked`: the size first asked for). `run` must leave no
/// trace of a pass that fails (extend its outputs only at its end).
pub(crate) fn in_passes(
    what: &'static str,
    data: &Batch,
    device: tch::Device,
    pass: &mut usize,
    asked: usize,
    mut run: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    let mut start = 0;
    while start < data.len() {
        let end = (start + *pass).min(data.len());
        match crate::torch_failure::catch_libtorch(false, || run(start, end)) {
            Ok(outcome) => outcome?,
            Err(failure) if failure.out_of_memory() && end - start > 1 => {
                *pass = (end - start) / 2;
                continue;
            }
            Err(failure) => {
                let extents = data.plaquettes.size();
                let grid: Vec<usize> = extents[2..extents.len() - 2]
                    .iter()
                    .map(|&l| l as usize)
                    .collect();
                let hint = match (failure.out_of_memory(), device.is_cuda()) {
                    (true, false) => {
                        "even one sample per pass does not fit in the device's memory: evaluate \
                         a smaller grid, or on a device with more memory"
                    }
                    (true, true) => {
                        "even one sample per pass does not fit in the device's memory: evaluate \
                         a smaller grid, or on a device with more memory (on a shared or \
                         fragmented GPU, PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True may \
                         help)"
                    }
                    (false, _) => {
                        "not an out-of-memory error: check the device and the libtorch installation"
                    }
                };
                return Err(Error::Libtorch {
                    what,
                    device,
                    grid: crate::data::grid_name(&grid),
                    batch: end - start,
                    // Halved only where out-of-memory errors made the passes smaller (a last
                    // chunk is smaller by itself).
                    first_batch: if *pass < asked { asked } else { end - start },
                    message: failure.message,
                    hint,
                });
            }
        }
        start = end;
    }
    Ok(())
}

/// The Chern numbers of a batch as integers.
pub fn chern_numbers(data: &Batch) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(
        &data.chern.to_kind(Kind::Int64).to_device(tch::Device::Cpu),
    )?)
}

/// Least-squares output scale $k=\sum CF/\sum F^2$ on a labelled calibration batch.
pub fn calibrate_rescale(net: &GaugeNet, calibration: &Batch, batch: usize) -> Result<f64> {
    let f = predict(net, calibration, batch)?;
    let c = chern_numbers(calibration)?;
    rescale_from(&f, &c)
}

/// $k=\sum CF/\sum F^2$ from predictions and labels; an error when the outputs vanish or are not finite.
pub fn rescale_from(f: &[f64], c: &[i64]) -> Result<f64> {
    let num: f64 = f.iter().zip(c).map(|(f, &c)| f * c as f64).sum();
    let den: f64 = f.iter().map(|f| f * f).sum();
    let k = num / den;
    if den.is_nan() || den <= f64::MIN_POSITIVE || !k.is_finite() {
        return Err(Error::Calibration {
            samples: f.len(),
            sum_of_squares: den,
        });
    }
    Ok(k)
}

/// Accuracy report of predictions `f` (unscaled) against Chern numbers `c` with scale `rescale`.
pub fn report(f: &[f64], c: &[i64], rescale: f64) -> EvalReport {
    let mut buckets = std::collections::BTreeMap::<i64, (usize, usize)>::new();
    let mut correct = 0;
    let (mut nt, mut nt_correct) = (0usize, 0usize);
    let mut abs_err = 0.0;
    let mut predictions = Vec::with_capacity(f.len());
    for (&fb, &cb) in f.iter().zip(c) {
        let p = rescale * fb;
        let ok = p.round() == cb as f64;
        correct += usize::from(ok);
        if cb != 0 {
            nt += 1;
            nt_correct += usize::from(ok);
        }
        abs_err += (p - cb as f64).abs();
        let e = buckets.entry(cb).or_default();
        e.0 += 1;
        e.1 += usize::from(ok);
        predictions.push((cb, p));
    }
    let n = f.len().max(1) as f64;
    EvalReport {
        samples: f.len(),
        accuracy: correct as f64 / n,
        accuracy_nontrivial: (nt > 0).then(|| nt_correct as f64 / nt as f64),
        mean_abs_error: abs_err / n,
        rescale,
        by_chern: buckets
            .into_iter()
            .map(|(chern, (samples, correct))| ChernBucket {
                chern,
                samples,
                correct,
            })
            .collect(),
        predictions,
    }
}

/// Evaluates `net` on a fixed batch with output scale `rescale`.
///
/// Errors on an empty batch, a non-finite `rescale` and non-finite outputs.
pub fn evaluate_batch(
    net: &GaugeNet,
    data: &Batch,
    batch: usize,
    rescale: f64,
) -> Result<EvalReport> {
    check_evaluation(data.len(), rescale)?;
    let f = predict(net, data, batch)?;
    let c = chern_numbers(data)?;
    Ok(report(&f, &c, rescale))
}

/// Evaluates `net` on `samples` fresh samples of `source`, drawn `batch` at a time (the source is
/// told to build links only if the network reads them).
///
/// Errors on `samples = 0`, a non-finite `rescale`, a source whose lattice dimension or matrix
/// size differs from the network's inputs, and non-finite outputs.
pub fn evaluate_source(
    net: &GaugeNet,
    source: &mut dyn SampleSource,
    samples: usize,
    batch: usize,
    rescale: f64,
) -> Result<EvalReport> {
    evaluate_source_with_progress(net, source, samples, batch, rescale, false)
}

/// [`evaluate_source`] with a progress bar on the terminal when `progress` is set (feature
/// `progress`): large evaluations can take minutes.
pub fn evaluate_source_with_progress(
    net: &GaugeNet,
    source: &mut dyn SampleSource,
    samples: usize,
    batch: usize,
    rescale: f64,
    progress: bool,
) -> Result<EvalReport> {
    check_evaluation(samples, rescale)?;
    if source.lattice().dim() != net.dim() {
        return Err(Error::InvalidParameter {
            name: "grid",
            value: crate::data::grid_name(source.lattice().extents()),
            reason: format!(
                "the network was built for a {}-dimensional lattice",
                net.dim()
            ),
        });
    }
    source.set_links(net.needs_links());
    let bar = crate::progress::Progress::new(
        samples as u64,
        "{elapsed_precise} [{bar:30}] {pos}/{len} samples evaluated",
        progress,
    );
    let (mut f, mut c) = (Vec::new(), Vec::new());
    let mut left = samples;
    // Samples per network pass: halved for good after an out-of-memory error.
    let mut pass = batch.max(1);
    while left > 0 {
        let b = left.min(batch.max(1));
        let data = source.sample(b)?;
        let done = f.len();
        f.extend(
            predict_in_passes(net, &data, &mut pass, batch.max(1)).map_err(|e| match e {
                // The index within the whole evaluation, not within this chunk.
                Error::NonFiniteOutput { sample, value } => Error::NonFiniteOutput {
                    sample: done + sample,
                    value,
                },
                other => other,
            })?,
        );
        c.extend(chern_numbers(&data)?);
        left -= b;
        bar.inc(b as u64);
    }
    bar.finish_and_clear();
    Ok(report(&f, &c, rescale))
}

/// Errors on an empty evaluation or a non-finite output scale.
fn check_evaluation(samples: usize, rescale: f64) -> Result<()> {
    if samples == 0 {
        return Err(Error::EmptyInput {
            what: "evaluation samples",
        });
    }
    if !rescale.is_finite() {
        return Err(Error::InvalidParameter {
            name: "rescale",
            value: rescale.to_string(),
            reason: "the output scale must be finite".into(),
        });
    }
    Ok(())
}

/// A memory check of the caller: given what is about to run and its estimated bytes, `Err` with
/// a message refuses it (the root crate's `chernet::cli::check_memory` has this signature; the
/// message becomes [`crate::Error::MemoryLimit`]). The one-call entry points
/// ([`crate::train::open_run`], [`crate::train::evaluate_run`], [`crate::ensemble::train_ensemble`],
/// [`crate::ensemble::evaluate_ensemble_dir`]) take one.
pub type MemoryCheck = fn(&str, f64) -> std::result::Result<(), String>;

/// Runs the caller's memory check, if any, on `what` and its estimated `bytes`; a refusal is
/// [`crate::Error::MemoryLimit`].
pub(crate) fn check_memory(check: Option<MemoryCheck>, what: &str, bytes: f64) -> Result<()> {
    match check {
        Some(check) => check(what, bytes).map_err(|message| crate::Error::MemoryLimit { message }),
        None => Ok(()),
    }
}

/// An upper estimate of the bytes evaluating `samples` samples of $U(n)$ links on `grid` in
/// chunks of `batch` needs: the samples of one chunk (fields and tensors), the network's
/// activations on it, and the predictions kept for the report. For refusing work up front.
pub fn evaluation_memory(
    model: &crate::NetConfig,
    grid: &[usize],
    n: usize,
    batch: usize,
    samples: usize,
    real_bytes: usize,
) -> f64 {
    let volume: f64 = grid.iter().map(|&l| l as f64).product();
    let d = grid.len();
    let planes = d * d.saturating_sub(1) / 2;
    let fields = volume * (n as f64).powi(2) * 16.0 * 2.0 * (d + planes) as f64;
    let chunk = batch.min(samples).max(1);
    let activations = model.memory_estimate(planes, volume, n, chunk, real_bytes);
    chunk as f64 * fields + activations + 48.0 * samples as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For U(1) the label of a plaquette $e^{i\theta}$ is $\theta / 2\pi$, so the slope is
    /// $2\pi f'(0)$: the finite difference of the network at the identity is the oracle. The
    /// output scale multiplies it; a 4D network is refused by name.
    #[test]
    fn small_flux_slope_is_the_derivative_at_the_identity() {
        let _seed = crate::model::seed_libtorch(5);
        let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
        vs.set_kind(Kind::Double);
        let cfg = crate::model::NetConfig {
            channels: vec![6, 5, 4],
            conjugation_odd: true,
            ..Default::default()
        };
        let net = crate::model::gauge_net(vs.root(), 2, &cfg).unwrap();
        let eps = 1e-4;
        let at = |theta: f64| {
            let w = tch::Tensor::from_slice(&[theta.cos(), theta.sin()])
                .reshape([1, 1, 1, 1, 1, 2])
                .view_as_complex()
                .reshape([1, 1, 1, 1, 1, 1]);
            net.forward(&w, None).double_value(&[0, 0, 0])
        };
        let derivative = (at(eps) - at(-eps)) / (2.0 * eps);
        let want = std::f64::consts::TAU * derivative;
        assert!(
            want.abs() > 1e-3,
            "an untrained network with a response: {want}"
        );
        let slope = small_flux_slope(&net, 1, 1.0, 3).unwrap();
        assert!(
            (slope - want).abs() < 1e-2 * want.abs(),
            "slope {slope}, 2 pi f'(0) = {want}"
        );
        let scaled = small_flux_slope(&net, 1, -2.5, 3).unwrap();
        assert!((scaled + 2.5 * slope).abs() < 1e-12 * slope.abs().max(1.0));
        let mut vs4 = tch::nn::VarStore::new(tch::Device::Cpu);
        vs4.set_kind(Kind::Double);
        let net4 =
            crate::model::gauge_net(vs4.root(), 4, &crate::model::NetConfig::default()).unwrap();
        let err = small_flux_slope(&net4, 1, 1.0, 3).unwrap_err();
        assert!(err.to_string().contains("two dimensions"), "{err}");
    }

    #[test]
    fn rescale_is_least_squares_and_ignores_near_zero_outputs() {
        // Outputs are C / 2 exactly, plus one sample with a tiny output and C = 3 (a ratio estimate
        // would be thrown off by C / F = 3e6).
        let c = [1i64, -2, 3, 0, 2, 3];
        let f = [0.5, -1.0, 1.5, 0.0, 1.0, 1e-6];
        let k = rescale_from(&f, &c).unwrap();
        let want = (0.5 + 2.0 + 4.5 + 2.0 + 3e-6) / (0.25 + 1.0 + 2.25 + 1.0 + 1e-12);
        assert!((k - want).abs() < 1e-12);
        assert!((k - 2.0).abs() < 1e-5);
        assert!(matches!(
            rescale_from(&[0.0, 0.0], &[1, 2]),
            Err(Error::Calibration { samples: 2, .. })
        ));
        assert!(rescale_from(&[f64::NAN], &[1]).is_err());
    }

    #[test]
    fn report_counts_by_chern() {
        let c = [0i64, 1, 1, -2, 0];
        let f = [0.1, 0.45, 0.2, -1.1, -0.3];
        let r = report(&f, &c, 2.0); // predictions 0.2, 0.9, 0.4, -2.2, -0.6 -> 0, 1, 0, -2, -1
        assert_eq!(r.samples, 5);
        assert!((r.accuracy - 3.0 / 5.0).abs() < 1e-12);
        assert!((r.accuracy_nontrivial.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let b: Vec<(i64, usize, usize)> = r
            .by_chern
            .iter()
            .map(|b| (b.chern, b.samples, b.correct))
            .collect();
        assert_eq!(b, vec![(-2, 1, 1), (0, 2, 1), (1, 2, 1)]);
        let mae = (0.2 + 0.1 + 0.6 + 0.2 + 0.6) / 5.0;
        assert!((r.mean_abs_error - mae).abs() < 1e-12);
    }
}
