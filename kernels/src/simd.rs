//! Vectorizable f32 loops for the attention inner loops and the dense matmul.
//!
//! Rust does not reassociate float additions, so a reduction written as one running
//! sum stays scalar. The reductions keep independent partial sums (`LANES` for the
//! dense matmul, eight for attention scores) so LLVM emits packed multiply-adds;
//! element-wise loops (`axpy`, `scale`, `exp_shifted`) vectorize as written. With
//! `-C target-cpu=x86-64-v3` (set in the repo's `.cargo/config.toml`) they compile to
//! AVX2 code; without it to SSE2 code, still correct.

/// Independent partial sums in a reduction: 2 x 8 f32 lanes.
pub(crate) const LANES: usize = 16;

/// Positions whose attention scores [`scores8`] computes together.
pub(crate) const SCORES: usize = 8;

/// An attention score `q · k` (equally long slices): eight partial sums (lane `i` takes
/// elements `i, i + 8, ...`, one fused multiply-add each), reduced by the pairwise tree
/// `((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`, then the `len % 8` tail
/// elements in order. [`scores8`] gives each of its eight scores these bits.
#[inline]
pub(crate) fn score(q: &[f32], k: &[f32]) -> f32 {
    debug_assert_eq!(q.len(), k.len());
    let body = q.len() / SCORES * SCORES;
    let mut acc = [0f32; SCORES];
    for (x, y) in q[..body].chunks_exact(SCORES).zip(k[..body].chunks_exact(SCORES)) {
        for i in 0..SCORES {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    score_tail(sum, &q[body..], &k[body..])
}

#[inline(always)]
fn score_tail(mut sum: f32, q: &[f32], k: &[f32]) -> f32 {
    for (x, y) in q.iter().zip(k) {
        sum += x * y;
    }
    sum
}

/// [`score`] of `q` with eight K rows (each `q.len()` long) at once. With AVX2 the
/// eight reductions share six horizontal adds (`vhaddps`) and one cross-lane add,
/// instead of a horizontal sum per score: decode attention computes one score per
/// position and query head, so this was a visible share of a decode step.
#[inline]
pub(crate) fn scores8(q: &[f32], k: [&[f32]; SCORES]) -> [f32; SCORES] {
    debug_assert!(k.iter().all(|k| k.len() == q.len()));
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA; every load reads 8 floats below
    // `body <= len` of `q` and of each K row.
    unsafe {
        use std::arch::x86_64::*;
        let body = q.len() / SCORES * SCORES;
        let mut acc = [_mm256_setzero_ps(); SCORES];
        for j in (0..body).step_by(SCORES) {
            let qv = _mm256_loadu_ps(q.as_ptr().add(j));
            for (acc, k) in acc.iter_mut().zip(k) {
                *acc = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k.as_ptr().add(j)), *acc);
            }
        }
        // Lanes 0..4 of `a` hold s0 + s1 + s2 + s3 ... of positions 0..4 as
        // (s0 + s1) + (s2 + s3), lanes 4..8 their (s4 + s5) + (s6 + s7); `b` the same
        // for positions 4..8.
        let a = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
        let b = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
        let sums = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
        let mut out = [0f32; SCORES];
        _mm256_storeu_ps(out.as_mut_ptr(), sums);
        if body < q.len() {
            for (out, k) in out.iter_mut().zip(k) {
                *out = score_tail(*out, &q[body..], &k[body..]);
            }
        }
        out
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    k.map(|k| score(q, k))
}

/// The sum of the 16 partial sums in a fixed pairwise tree (lane `i` with `i + 8`,
/// then `i + 4`, `i + 2`, `i + 1`): four vector additions instead of 15 dependent
/// scalar ones, and the same order however the caller is compiled or batched.
#[inline(always)]
pub(crate) fn hsum(acc: [f32; LANES]) -> f32 {
    let s8: [f32; 8] = std::array::from_fn(|i| acc[i] + acc[i + 8]);
    let s4: [f32; 4] = std::array::from_fn(|i| s8[i] + s8[i + 4]);
    let s2: [f32; 2] = std::array::from_fn(|i| s4[i] + s4[i + 2]);
    s2[0] + s2[1]
}

/// `y += alpha * x`, one fused multiply-add per element (the same rounding as the
/// register-blocked PV product of the attention kernel, so a row's output does not
/// depend on which of the two computed it).
#[inline]
pub(crate) fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    debug_assert_eq!(y.len(), x.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y = alpha.mul_add(*x, *y);
    }
}

/// `y *= alpha`.
#[inline]
pub(crate) fn scale(y: &mut [f32], alpha: f32) {
    for y in y.iter_mut() {
        *y *= alpha;
    }
}

/// Replaces every `s` by `exp(s - shift)` and returns their sum.
///
/// Callers pass `shift >= max(s)`, so every argument is `<= 0`; arguments below
/// `-87.3` give ~1e-38 instead of 0, which no softmax weight can tell apart.
/// `exp` is the Cephes single-precision algorithm (range reduction by `ln 2`, degree-6
/// polynomial; relative error ~2e-7), written branch-free so the loop vectorizes
/// where `f32::exp` would be one libm call per score.
///
/// The sum runs in eight lanes (element `i` into lane `i % 8`), reduced by the tree of
/// [`score`], then the tail in order: eight independent adds per vector instead of one
/// chain of dependent ones.
#[inline]
pub(crate) fn exp_shifted(s: &mut [f32], shift: f32) -> f32 {
    for x in s.iter_mut() {
        *x = exp_cephes(*x - shift);
    }
    let mut acc = [0f32; SCORES];
    let chunks = s.chunks_exact(SCORES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..SCORES {
            acc[i] += c[i];
        }
    }
    let sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    tail.iter().fold(sum, |a, &x| a + x)
}

/// `max(init, s...)` in eight lanes, then a tree over the lanes (a maximum is exact in
/// any order). A NaN in `s` is skipped, as `f32::max` skips it; the comparison form
/// compiles to plain `vmaxps` where `f32::max` adds a NaN check per element.
#[inline]
pub(crate) fn max(s: &[f32], init: f32) -> f32 {
    #[inline(always)]
    fn larger(a: f32, b: f32) -> f32 {
        if b > a {
            b
        } else {
            a
        }
    }
    let mut m = [init; SCORES];
    let chunks = s.chunks_exact(SCORES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..SCORES {
            m[i] = larger(m[i], c[i]);
        }
    }
    let m4: [f32; 4] = std::array::from_fn(|i| larger(m[i], m[i + 4]));
    let m2: [f32; 2] = std::array::from_fn(|i| larger(m4[i], m4[i + 2]));
    tail.iter().fold(larger(m2[0], m2[1]), |a, &x| larger(a, x))
}

#[inline(always)]
fn exp_cephes(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // 2^n from the bits of 2^23 + 127 + n (exact: n is an integer in [-126, 127]), whose
    // low mantissa bits are the biased exponent: integer SIMD where `n as i32` is a
    // scalar saturating conversion per element.
    let pow2n = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    y * pow2n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scores8` gives each row the bits of `score`, and `score` is within rounding of
    /// the f64 dot product, for head sizes with and without a tail.
    #[test]
    fn scores8_gives_each_row_the_bits_of_score() {
        for len in [0, 5, 8, 64, 67, 128] {
            let q: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let ks: Vec<Vec<f32>> = (0..SCORES).map(|p| (0..len).map(|i| ((i * (p + 2)) as f32 * 0.11).cos()).collect()).collect();
            let got = scores8(&q, std::array::from_fn(|p| ks[p].as_slice()));
            for (p, k) in ks.iter().enumerate() {
                assert_eq!(got[p].to_bits(), score(&q, k).to_bits(), "len {len} position {p}");
                let want: f64 = q.iter().zip(k).map(|(x, y)| *x as f64 * *y as f64).sum();
                assert!((score(&q, k) as f64 - want).abs() < 1e-5, "len {len}");
            }
        }
    }

    #[test]
    fn exp_shifted_matches_std_exp_within_4e_7_relative_and_sums_the_results() {
        let mut s: Vec<f32> = (0..2000).map(|i| -(i as f32) * 0.05).collect();
        // The reference exponentiates the same f32-rounded argument `x - shift`.
        let want: Vec<f64> = s.iter().map(|x| ((*x - 0.25) as f64).exp()).collect();
        let sum = exp_shifted(&mut s, 0.25);
        for (got, want) in s.iter().zip(&want) {
            assert!((*got as f64 - want).abs() <= 4e-7 * want + 1e-37, "{got} vs {want}");
        }
        assert!((sum as f64 - want.iter().sum::<f64>()).abs() < 1e-5);
    }

    #[test]
    fn max_equals_the_sequential_maximum_for_every_length_up_to_20() {
        for len in 0..20 {
            let s: Vec<f32> = (0..len).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
            assert_eq!(max(&s, -1.0), s.iter().fold(-1.0f32, |a, &x| a.max(x)), "len {len}");
            assert_eq!(max(&s, f32::NEG_INFINITY), s.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x)), "len {len}");
        }
    }

    #[test]
    fn exp_shifted_underflows_to_a_negligible_weight_for_very_negative_arguments() {
        let mut s = [-1e4f32, f32::NEG_INFINITY, -90.0];
        exp_shifted(&mut s, 0.0);
        assert!(s.iter().all(|x| *x >= 0.0 && *x < 1e-37));
    }
}
