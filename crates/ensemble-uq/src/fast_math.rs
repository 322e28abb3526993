//! Branch-free $e^x$ and $\ln x$ in `f64` that the compiler vectorises, for the pass over the
//! $(M, N, K)$ input (libm's scalar calls were half of its time).
//!
//! Only correctly rounded IEEE operations are used (basic arithmetic and fused multiply-add;
//! no table lookups, no data-dependent branches), so a value is the same bits whether it is
//! computed in a SIMD lane or by scalar code, with or without AVX2/FMA: results never depend on
//! the batching, on the thread count or on the code path. (`mul_add` is one instruction on
//! CPUs with FMA, which the pass selects at run time, and aarch64; elsewhere a slower libm
//! call with the same result.) Accuracy, tested against `std` on dense grids and at the edges
//! (subnormals, underflow, overflow): both stay within 1 ulp of `std`. The public reference
//! functions ([`crate::entr`], [`crate::entropy`]) keep using `std`.

/// $\ln 2$ split as fdlibm does: the high part has 32 significant bits, so `n * LN2_HI` is
/// exact for $|n| < 2^{21}$.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-1
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
/// Adding and subtracting $1.5 \cdot 2^{52}$ rounds to the nearest integer (ties to even).
const ROUND: f64 = 6_755_399_441_055_744.0;
/// $2^{52}$: an integer $j < 2^{52}$ added to it sits in the low mantissa bits.
const TWO_52: f64 = 4_503_599_627_370_496.0;
/// Arguments are clamped to $[-760, 709.79]$: $e^x$ rounds to zero below about $-745.13$ and
/// overflows above about $709.78$, and the clamped values give exactly those results.
const EXP_LOWEST: f64 = -760.0;
const EXP_HIGHEST: f64 = 709.79;

/// $2^k$ for an integral `k` in $[-1022, 1023]$, built from the bits.
#[inline(always)]
fn pow2(k: f64) -> f64 {
    // (k + 1023) + 2^52 holds the biased exponent in its low bits; shifting by 52 moves it into
    // the exponent field and drops the rest.
    f64::from_bits((k + (1023.0 + TWO_52)).to_bits() << 52)
}

/// $e^x$ for any `x` but NaN (which gives an unspecified value).
///
/// $x = n \ln 2 + r$ with $|r| \le \tfrac12 \ln 2$ (Cody–Waite), $e^r$ by its Taylor polynomial
/// of degree 13 (truncation error below $5 \cdot 10^{-18}$ relative), and $2^n$ applied in two
/// exact-or-once-rounded factors so that subnormal results are right too.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    let xc = x.clamp(EXP_LOWEST, EXP_HIGHEST);
    let n = (xc * std::f64::consts::LOG2_E + ROUND) - ROUND;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, xc));
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // 2^n = 2^(n - n1) 2^n1 with both exponents in range; n1 != 0 only near the ends.
    let n1 = if n < -1020.0 {
        -512.0
    } else if n > 1020.0 {
        512.0
    } else {
        0.0
    };
    // Beyond the ends the second factor rounds the result to 0 or to infinity.
    (p * pow2(n - n1)) * pow2(n1)
}

/// fdlibm's minimax coefficients of $R(z)$, $\ln\frac{1+s}{1-s} = 2s + s R(s^2)$, error
/// below $2^{-58.45}$.
const LG: [f64; 7] = [
    f64::from_bits(0x3fe5_5555_5555_5593), // 6.666666666666735130e-1
    f64::from_bits(0x3fd9_9999_9997_fa04), // 3.999999999940941908e-1
    f64::from_bits(0x3fd2_4924_9422_9359), // 2.857142874366239149e-1
    f64::from_bits(0x3fcc_71c5_1d8e_78af), // 2.222219843214978396e-1
    f64::from_bits(0x3fc7_4664_96cb_03de), // 1.818357216161805012e-1
    f64::from_bits(0x3fc3_9a09_d078_c69f), // 1.531383769920937332e-1
    f64::from_bits(0x3fc2_f112_df3e_5244), // 1.479819860511658591e-1
];

/// $\ln x$ for finite $x > 0$, subnormals included (other inputs give unspecified values).
///
/// fdlibm's `log` without its branches: $x = 2^e m$ with $m \in [\sqrt{1/2}, \sqrt 2)$,
/// $f = m - 1$ (exact), $s = f/(2 + f)$ and
/// $\ln x = e \ln 2 + f - \bigl(\tfrac{f^2}{2} - s(\tfrac{f^2}{2} + R(s^2))\bigr)$.
#[inline(always)]
pub(crate) fn ln(x: f64) -> f64 {
    let subnormal = x < f64::MIN_POSITIVE;
    let xs = if subnormal {
        x * 18_014_398_509_481_984.0 // 2^54
    } else {
        x
    };
    let bits = xs.to_bits();
    // Biased exponent as a float: 2^52 + field, minus 2^52.
    let field = f64::from_bits((bits >> 52) | TWO_52.to_bits()) - TWO_52;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = field - if subnormal { 1023.0 + 54.0 } else { 1023.0 } + if big { 1.0 } else { 0.0 };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let mut r = LG[6];
    r = r.mul_add(z, LG[5]);
    r = r.mul_add(z, LG[4]);
    r = r.mul_add(z, LG[3]);
    r = r.mul_add(z, LG[2]);
    r = r.mul_add(z, LG[1]);
    r = r.mul_add(z, LG[0]);
    r *= z;
    let hfsq = 0.5 * f * f;
    e * LN2_HI - ((hfsq - (s * (hfsq + r) + e * LN2_LO)) - f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place (of the larger magnitude).
    fn ulps(a: f64, b: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        let scale = a.abs().max(b.abs());
        let ulp = if scale < f64::MIN_POSITIVE {
            f64::from_bits(1) // subnormal spacing
        } else {
            f64::EPSILON * 2f64.powi(scale.log2().floor() as i32)
        };
        (a - b).abs() / ulp
    }

    #[test]
    fn constants_are_fdlibms() {
        let decimal = [
            "6.666666666666735130e-1",
            "3.999999999940941908e-1",
            "2.857142874366239149e-1",
            "2.222219843214978396e-1",
            "1.818357216161805012e-1",
            "1.531383769920937332e-1",
            "1.479819860511658591e-1",
        ];
        for (c, d) in LG.iter().zip(decimal) {
            assert_eq!(*c, d.parse::<f64>().unwrap());
        }
        assert_eq!(LN2_HI, "6.93147180369123816490e-1".parse::<f64>().unwrap());
        assert_eq!(LN2_LO, "1.90821492927058770002e-10".parse::<f64>().unwrap());
        // The split: at most 32 significant bits in hi, and hi + lo rounds to ln 2.
        assert!(LN2_HI.to_bits().trailing_zeros() >= 21);
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
    }

    #[test]
    fn exp_within_one_ulp_of_std() {
        let mut worst: f64 = 0.0;
        // Dense over the range the softmax uses (x <= 0) and beyond.
        let steps = 400_000;
        for i in 0..=steps {
            let x = -746.0 + 1456.0 * i as f64 / steps as f64;
            let (a, b) = (exp(x), x.exp());
            worst = worst.max(ulps(a, b));
        }
        // Fine grid near 0 where the softmax maximum sits.
        for i in -20_000..=20_000 {
            let x = i as f64 * 1e-5;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
        // Edges: exact one, subnormals, underflow, overflow.
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(1e300), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        // Around the underflow and overflow thresholds, as std.
        for x in [-745.2, -745.13, -745.1, -745.0, 709.78, 709.7827, 709.783] {
            assert!(
                ulps(exp(x), x.exp()) <= 1.0,
                "exp({x}) = {} vs {}",
                exp(x),
                x.exp()
            );
        }
        for x in [-708.5, -720.0, -740.0, -744.9, 709.7, 1e-300, -1e-300] {
            let (a, b) = (exp(x), x.exp());
            assert!(ulps(a, b) <= 2.0, "exp({x}) = {a} vs {b}");
        }
    }

    #[test]
    fn ln_within_one_ulp_of_std() {
        let mut worst: f64 = 0.0;
        // Probabilities (0, 1] on a log grid, and softmax denominators [1, K].
        for i in 0..=300_000 {
            let x = 10f64.powf(-300.0 + 300.0 * i as f64 / 300_000.0);
            worst = worst.max(ulps(ln(x), x.ln()));
        }
        for i in 0..=200_000 {
            let x = 1.0 + i as f64 * 5e-5;
            worst = worst.max(ulps(ln(x), x.ln()));
            let y = 1.0 - i as f64 * 2.5e-6;
            worst = worst.max(ulps(ln(y), y.ln()));
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
        for x in [
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::from_bits(12345),
            1e-310,
            f64::MAX,
            std::f64::consts::SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
            0.5,
            2.0,
            1.0 - f64::EPSILON,
            1.0 + f64::EPSILON,
        ] {
            let (a, b) = (ln(x), x.ln());
            assert!(ulps(a, b) <= 2.0, "ln({x:e}) = {a} vs {b}");
        }
    }
}
