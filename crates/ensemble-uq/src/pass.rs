//! The pass over the member predictions: blocks of consecutive samples reduced to $\bar p$,
//! $H(\bar p)$, $\mathbb E_m H(p_m)$, the confidence and the prediction.
//!
//! Each step is an element-wise loop over a whole block (all its samples and classes), so the
//! compiler vectorises $e^x$ and $\ln x$ ([`crate::fast_math`]); on x86-64 CPUs with AVX2 and
//! FMA the block is compiled a second time for them and chosen at run time. Every per-sample value is
//! computed by the same sequence of IEEE operations whatever the block boundaries or the code
//! path, so results do not depend on batching or thread count.

use crate::entropy::EntropyConvention;
use crate::fast_math;
use crate::input::{Logits, Probabilities, Real};

/// Either kind of validated member predictions, [`Logits`] or [`Probabilities`]: what the
/// ensemble functions accept.
///
/// Implemented by those two types only (sealed): the pass reads their values without checking
/// them again.
pub trait MemberPredictions: Sync + source::BlockSource {
    /// $(M, N, K)$.
    fn shape(&self) -> (usize, usize, usize) {
        self.values().1
    }
}

impl<T: Real> MemberPredictions for Logits<T> {}

impl<T: Real> MemberPredictions for Probabilities<T> {}

pub(crate) mod source {
    //! How a block of samples of each kind of member predictions enters the pass (sealed).
    //! The two kinds differ only in how one member's rows become probabilities and entropies
    //! ([`BlockSource::add_rows`], [`BlockSource::member_row`]); the walk over members and
    //! samples is written once, in the provided methods.

    use super::{
        BlockScratch, EntropyConvention, accumulate_by_sample, add_members, add_probability_rows,
        add_softmax_rows,
    };
    use crate::input::{Logits, Probabilities, Real};

    /// One kind of member predictions: its values and its two per-row kernels.
    pub trait BlockSource {
        /// The stored element type.
        type Value: Real;

        /// The values, row-major $(M, N, K)$, and that shape.
        fn values(&self) -> (&[Self::Value], (usize, usize, usize));

        /// Adds one member's rows `rows` (`len` samples) to `s.mean` as probabilities and their
        /// entropies (exact convention) to `s.expected`.
        fn add_rows(rows: &[Self::Value], len: usize, s: &mut BlockScratch);

        /// Writes the probabilities of one member's row `row` of a sample into `out` and returns
        /// their entropy under `convention`.
        fn member_row(row: &[Self::Value], convention: EntropyConvention, out: &mut [f64]) -> f64;

        /// Writes the $M \times K$ member probabilities of sample `i` into `probs` (row-major)
        /// and the $M$ member entropies into `entropies`, under `convention`.
        #[inline]
        fn member_sample(
            &self,
            i: usize,
            convention: EntropyConvention,
            probs: &mut [f64],
            entropies: &mut [f64],
        ) {
            let (data, (m_count, n, k)) = self.values();
            for m in 0..m_count {
                let row = &data[(m * n + i) * k..(m * n + i + 1) * k];
                entropies[m] = Self::member_row(row, convention, &mut probs[m * k..(m + 1) * k]);
            }
        }

        /// Adds $\sum_m p_m$ of samples `first .. first + len` to `s.mean` and
        /// $\sum_m H(p_m)$ to `s.expected` (members in order).
        #[inline(always)]
        fn accumulate_members(
            &self,
            first: usize,
            len: usize,
            convention: EntropyConvention,
            s: &mut BlockScratch,
        ) {
            if convention == EntropyConvention::Exact {
                let (data, shape) = self.values();
                add_members(data, shape, first, len, s, Self::add_rows);
            } else {
                accumulate_by_sample(self, first, len, convention, s);
            }
        }
    }

    impl<T: Real> BlockSource for Logits<T> {
        type Value = T;

        #[inline(always)]
        fn values(&self) -> (&[T], (usize, usize, usize)) {
            (self.data(), self.shape())
        }

        #[inline(always)]
        fn add_rows(rows: &[T], len: usize, s: &mut BlockScratch) {
            add_softmax_rows(rows, len, s);
        }

        #[inline]
        fn member_row(row: &[T], convention: EntropyConvention, out: &mut [f64]) -> f64 {
            let zmax = row
                .iter()
                .map(|z| z.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let mut s = 0.0;
            for (o, z) in out.iter_mut().zip(row) {
                let e = (z.to_f64() - zmax).exp();
                *o = e;
                s += e;
            }
            let inv = 1.0 / s;
            let ln_s = s.ln();
            let mut weighted_shift = 0.0;
            for (o, z) in out.iter_mut().zip(row) {
                *o *= inv;
                weighted_shift += *o * (z.to_f64() - zmax);
            }
            match convention {
                // ln p_k = (z_k - zmax) - ln s, so H = ln s - sum_k p_k (z_k - zmax): one log
                // per row, and an underflowed p_k = 0 contributes 0 * finite = 0 (0 ln 0 = 0).
                EntropyConvention::Exact => ln_s - weighted_shift,
                EntropyConvention::PaperEpsilon(eps) => crate::entropy::entropy_paper(out, eps),
            }
        }
    }

    impl<T: Real> BlockSource for Probabilities<T> {
        type Value = T;

        #[inline(always)]
        fn values(&self) -> (&[T], (usize, usize, usize)) {
            (self.data(), self.shape())
        }

        #[inline(always)]
        fn add_rows(rows: &[T], len: usize, s: &mut BlockScratch) {
            add_probability_rows(rows, len, s);
        }

        #[inline]
        fn member_row(row: &[T], convention: EntropyConvention, out: &mut [f64]) -> f64 {
            for (o, p) in out.iter_mut().zip(row) {
                *o = p.to_f64();
            }
            convention.entropy(out)
        }
    }
}

/// Samples times classes per block: the work buffers stay in the L1/L2 caches.
const BLOCK_ELEMENTS: usize = 2048;

/// Outputs and work buffers of [`reduce_block`], allocated once per task (public only to the
/// sealed input trait).
pub struct BlockScratch {
    pub(crate) members: usize,
    pub(crate) classes: usize,
    /// Samples per block.
    pub(crate) capacity: usize,
    /// $\sum_m p_m$ while members are added, then $\bar p$ (row-major, `capacity` x K).
    pub(crate) mean: Vec<f64>,
    /// $H(\bar p)$ per sample.
    pub(crate) predictive: Vec<f64>,
    /// $\sum_m H(p_m)$ while members are added, then $\mathbb E_m H(p_m)$.
    pub(crate) expected: Vec<f64>,
    /// $\max_k \bar p_k$.
    pub(crate) confidence: Vec<f64>,
    /// First $\arg\max_k \bar p_k$.
    pub(crate) prediction: Vec<usize>,
    /// Work: shifted logits of one member (`capacity` x K).
    pub(crate) shifted: Vec<f64>,
    /// Work: their exponentials, or $-\bar p \ln \bar p$ (`capacity` x K).
    pub(crate) work: Vec<f64>,
    /// Work: per-sample softmax denominators.
    pub(crate) row_sum: Vec<f64>,
    /// Work: per-sample $\sum_k e^{z_k - z_{\max}} (z_k - z_{\max})$.
    pub(crate) row_dot: Vec<f64>,
    /// Work for the per-sample path: one sample's $M \times K$ probabilities.
    pub(crate) probs: Vec<f64>,
    /// Work for the per-sample path: one sample's $M$ entropies.
    pub(crate) entropies: Vec<f64>,
    /// Work for class-wise calibration bins of the block.
    pub(crate) bins: Vec<u32>,
}

impl BlockScratch {
    pub(crate) fn new(members: usize, classes: usize) -> Self {
        let capacity = (BLOCK_ELEMENTS / classes.max(1)).clamp(1, 256);
        let kb = capacity * classes;
        Self {
            members,
            classes,
            capacity,
            mean: vec![0.0; kb],
            predictive: vec![0.0; capacity],
            expected: vec![0.0; capacity],
            confidence: vec![0.0; capacity],
            prediction: vec![0; capacity],
            shifted: vec![0.0; kb],
            work: vec![0.0; kb],
            row_sum: vec![0.0; capacity],
            row_dot: vec![0.0; capacity],
            probs: vec![0.0; members * classes],
            entropies: vec![0.0; members],
            bins: Vec::new(),
        }
    }
}

/// Reduces samples `first .. first + count` of `src` block by block (at most `s.capacity`
/// samples each) into `s`, and hands each block to `f(s, offset, len)`: its samples are
/// `first + offset .. first + offset + len`.
#[inline(always)]
pub(crate) fn for_each_block<P: MemberPredictions + ?Sized>(
    src: &P,
    first: usize,
    count: usize,
    convention: EntropyConvention,
    s: &mut BlockScratch,
    mut f: impl FnMut(&mut BlockScratch, usize, usize),
) {
    let mut offset = 0;
    while offset < count {
        let len = s.capacity.min(count - offset);
        reduce_block(src, first + offset, len, convention, s);
        f(s, offset, len);
        offset += len;
    }
}

/// Reduces samples `first .. first + len` (`len <= s.capacity`) of `src` into `s`.
pub(crate) fn reduce_block<P: MemberPredictions + ?Sized>(
    src: &P,
    first: usize,
    len: usize,
    convention: EntropyConvention,
    s: &mut BlockScratch,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { reduce_block_avx2(src, first, len, convention, s) };
        return;
    }
    reduce_block_impl(src, first, len, convention, s);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn reduce_block_avx2<P: MemberPredictions + ?Sized>(
    src: &P,
    first: usize,
    len: usize,
    convention: EntropyConvention,
    s: &mut BlockScratch,
) {
    reduce_block_impl(src, first, len, convention, s);
}

#[inline(always)]
fn reduce_block_impl<P: MemberPredictions + ?Sized>(
    src: &P,
    first: usize,
    len: usize,
    convention: EntropyConvention,
    s: &mut BlockScratch,
) {
    let (m, k) = (s.members as f64, s.classes);
    s.mean[..len * k].fill(0.0);
    s.expected[..len].fill(0.0);
    src.accumulate_members(first, len, convention, s);
    for a in &mut s.mean[..len * k] {
        *a /= m;
    }
    for e in &mut s.expected[..len] {
        *e /= m;
    }
    let mean = &s.mean[..len * k];
    match convention {
        EntropyConvention::Exact => {
            // 0 ln 0 = 0; ln is evaluated for every lane and discarded where p = 0.
            for (o, &p) in s.work[..len * k].iter_mut().zip(mean) {
                let t = -p * fast_math::ln(p);
                *o = if p > 0.0 { t } else { 0.0 };
            }
            for (h, row) in s.predictive[..len].iter_mut().zip(s.work.chunks_exact(k)) {
                *h = row.iter().sum();
            }
        }
        c => {
            for (h, row) in s.predictive[..len].iter_mut().zip(mean.chunks_exact(k)) {
                *h = c.entropy(row);
            }
        }
    }
    for ((conf, pred), row) in s.confidence[..len]
        .iter_mut()
        .zip(&mut s.prediction[..len])
        .zip(mean.chunks_exact(k))
    {
        // First maximum, as numpy's argmax.
        let (mut best, mut at) = (row[0], 0);
        for (j, &p) in row.iter().enumerate().skip(1) {
            if p > best {
                best = p;
                at = j;
            }
        }
        *conf = best;
        *pred = at;
    }
}

/// Adds every member's rows of samples `first .. first + len` of `data` (an $(M, N, K)$ array
/// in C order) to `s` with `add_rows`, members in order.
#[inline(always)]
fn add_members<T: Real>(
    data: &[T],
    (members, n, k): (usize, usize, usize),
    first: usize,
    len: usize,
    s: &mut BlockScratch,
    add_rows: impl Fn(&[T], usize, &mut BlockScratch),
) {
    for m in 0..members {
        let start = (m * n + first) * k;
        add_rows(&data[start..start + len * k], len, s);
    }
}

/// Adds member `member`'s softmax of logit rows `rows` (`len` samples) to `s.mean` and its
/// entropies $H(p_m) = \ln S - \sum_k p_k (z_k - z_{\max})$, $S = \sum_k e^{z_k - z_{\max}}$,
/// to `s.expected` (one logarithm per row; an underflowed $p_k = 0$ contributes
/// $0 \cdot \text{finite} = 0$, so $0 \ln 0 = 0$).
#[inline(always)]
fn add_softmax_rows<T: Real>(rows: &[T], len: usize, s: &mut BlockScratch) {
    let k = s.classes;
    let x = &mut s.shifted[..len * k];
    for (xr, zr) in x.chunks_exact_mut(k).zip(rows.chunks_exact(k)) {
        let mut zmax = f64::NEG_INFINITY;
        for z in zr {
            let v = z.to_f64();
            zmax = if v > zmax { v } else { zmax };
        }
        for (o, z) in xr.iter_mut().zip(zr) {
            *o = z.to_f64() - zmax;
        }
    }
    let e = &mut s.work[..len * k];
    for (o, &v) in e.iter_mut().zip(x.iter()) {
        *o = fast_math::exp(v);
    }
    for ((sum, dot), (er, xr)) in s.row_sum[..len]
        .iter_mut()
        .zip(&mut s.row_dot[..len])
        .zip(e.chunks_exact(k).zip(x.chunks_exact(k)))
    {
        let (mut a, mut b) = (0.0, 0.0);
        for (&ev, &xv) in er.iter().zip(xr) {
            a += ev;
            b += ev * xv;
        }
        *sum = a;
        *dot = b;
    }
    // Turn the sums into reciprocals once the entropies are formed.
    for ((h, sum), &dot) in s.expected[..len]
        .iter_mut()
        .zip(&mut s.row_sum[..len])
        .zip(&s.row_dot[..len])
    {
        let inv = 1.0 / *sum;
        *h += fast_math::ln(*sum) - dot * inv;
        *sum = inv;
    }
    for ((mr, er), &inv) in s.mean[..len * k]
        .chunks_exact_mut(k)
        .zip(e.chunks_exact(k))
        .zip(&s.row_sum[..len])
    {
        for (a, &ev) in mr.iter_mut().zip(er) {
            *a += ev * inv;
        }
    }
}

/// Adds one member's probability rows `rows` (`len` samples) to `s.mean` and their entropies
/// $-\sum_k p_k \ln p_k$ ($0 \ln 0 = 0$) to `s.expected`.
#[inline(always)]
fn add_probability_rows<T: Real>(rows: &[T], len: usize, s: &mut BlockScratch) {
    let k = s.classes;
    let x = &mut s.shifted[..len * k];
    for (o, v) in x.iter_mut().zip(rows) {
        *o = v.to_f64();
    }
    let w = &mut s.work[..len * k];
    for (o, &p) in w.iter_mut().zip(x.iter()) {
        let t = -p * fast_math::ln(p);
        *o = if p > 0.0 { t } else { 0.0 };
    }
    for (h, row) in s.expected[..len].iter_mut().zip(w.chunks_exact(k)) {
        *h += row.iter().sum::<f64>();
    }
    for (a, &p) in s.mean[..len * k].iter_mut().zip(x.iter()) {
        *a += p;
    }
}

/// The per-sample path of [`source::BlockSource::accumulate_members`]: sample by sample through
/// [`source::BlockSource::member_sample`].
#[inline(always)]
fn accumulate_by_sample<P: source::BlockSource + ?Sized>(
    src: &P,
    first: usize,
    len: usize,
    convention: EntropyConvention,
    s: &mut BlockScratch,
) {
    let k = s.classes;
    for j in 0..len {
        src.member_sample(first + j, convention, &mut s.probs, &mut s.entropies);
        let mean = &mut s.mean[j * k..(j + 1) * k];
        for row in s.probs.chunks_exact(k) {
            for (a, &p) in mean.iter_mut().zip(row) {
                *a += p;
            }
        }
        s.expected[j] += s.entropies.iter().sum::<f64>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::entropy;
    use ndarray::Array3;

    fn outputs(s: &BlockScratch, len: usize) -> Vec<u64> {
        let k = s.classes;
        s.mean[..len * k]
            .iter()
            .chain(&s.predictive[..len])
            .chain(&s.expected[..len])
            .chain(&s.confidence[..len])
            .map(|v| v.to_bits())
            .chain(s.prediction[..len].iter().map(|&p| p as u64))
            .collect()
    }

    /// The dispatched (AVX2 where available) and the portable code give the same bits, and
    /// both agree with the per-sample definition computed with `std`'s exp and ln.
    #[test]
    fn vectorised_and_portable_blocks_agree_bitwise_and_with_std() {
        let (m, n, k) = (3, 300, 7);
        // A scrambled but deterministic fill in [0, 1).
        let u = |mm: usize, i: usize, c: usize| {
            ((mm * 31 + i * 7919 + c * 104_729) % 1000) as f64 / 1000.0
        };
        let z = Array3::from_shape_fn((m, n, k), |(mm, i, c)| {
            // Some extreme rows: huge spreads underflow to p = 0, equal logits tie.
            match i % 5 {
                0 => 1600.0 * u(mm, i, c) - 800.0,
                1 => 1.5,
                _ => 12.0 * u(mm, i, c) - 6.0 + c as f64,
            }
        });
        let logits = Logits::new(z.mapv(|v: f64| v as f32)).unwrap();
        let logits64 = Logits::new(z.clone()).unwrap();
        let mut w = Array3::from_shape_fn((m, n, k), |(mm, i, c)| {
            if i % 4 == 0 && c > 0 {
                0.0
            } else {
                u(mm, i, c) + 0.01
            }
        });
        for mut row in w.lanes_mut(ndarray::Axis(2)) {
            let s = row.sum();
            row.mapv_inplace(|v| v / s);
        }
        let probs = Probabilities::new(w.clone()).unwrap();
        for convention in [EntropyConvention::Exact, EntropyConvention::PAPER_NOTEBOOK] {
            let mut a = BlockScratch::new(m, k);
            let mut b = BlockScratch::new(m, k);
            let mut first = 0;
            while first < n {
                let len = a.capacity.min(n - first).min(37);
                reduce_block(&logits, first, len, convention, &mut a);
                reduce_block_impl(&logits, first, len, convention, &mut b);
                assert_eq!(outputs(&a, len), outputs(&b, len));
                reduce_block(&logits64, first, len, convention, &mut a);
                reduce_block_impl(&logits64, first, len, convention, &mut b);
                assert_eq!(outputs(&a, len), outputs(&b, len));
                // Against std, sample by sample.
                for r in 0..len {
                    let i = first + r;
                    let mut mean = vec![0.0; k];
                    let mut expected = 0.0;
                    for mm in 0..m {
                        let row: Vec<f64> = (0..k).map(|c| z[[mm, i, c]]).collect();
                        let zmax = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = row.iter().map(|v| (v - zmax).exp()).collect();
                        let s: f64 = e.iter().sum();
                        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
                        expected += convention.entropy(&p);
                        for (a, v) in mean.iter_mut().zip(&p) {
                            *a += v / m as f64;
                        }
                    }
                    let tol = 1e-14;
                    for (c, &want) in mean.iter().enumerate() {
                        assert!((a.mean[r * k + c] - want).abs() < tol);
                    }
                    assert!(
                        (a.expected[r] - expected / m as f64).abs() < tol,
                        "sample {i}"
                    );
                    let h = match convention {
                        EntropyConvention::Exact => entropy(&mean),
                        c => c.entropy(&mean),
                    };
                    assert!((a.predictive[r] - h).abs() < tol, "sample {i}");
                }
                reduce_block(&probs, first, len, convention, &mut a);
                reduce_block_impl(&probs, first, len, convention, &mut b);
                assert_eq!(outputs(&a, len), outputs(&b, len));
                for r in 0..len {
                    let i = first + r;
                    let rows: Vec<Vec<f64>> = (0..m)
                        .map(|mm| (0..k).map(|c| w[[mm, i, c]]).collect())
                        .collect();
                    let expected: f64 =
                        rows.iter().map(|p| convention.entropy(p)).sum::<f64>() / m as f64;
                    let mean: Vec<f64> = (0..k)
                        .map(|c| rows.iter().map(|p| p[c]).sum::<f64>() / m as f64)
                        .collect();
                    assert!((a.expected[r] - expected).abs() < 1e-14, "sample {i}");
                    assert!((a.predictive[r] - convention.entropy(&mean)).abs() < 1e-14);
                }
                first += len;
            }
        }
    }
}
