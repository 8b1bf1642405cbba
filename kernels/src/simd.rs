//! Vectorizable f32 loops for the attention inner loops.
//!
//! Rust does not reassociate float additions, so a reduction written as one running
//! sum stays scalar. These loops keep `LANES` independent partial sums (two AVX2
//! registers' worth) so LLVM emits packed multiply-adds; element-wise loops
//! (`axpy`, `scale`, `exp_shifted`) vectorize as written. With
//! `-C target-cpu=x86-64-v3` (set in the repo's `.cargo/config.toml`) they compile to
//! AVX2 code; without it to SSE2 code, still correct.

/// Independent partial sums in a reduction: 2 x 8 f32 lanes.
pub(crate) const LANES: usize = 16;

/// Dot product of two equally long slices.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = 0f32;
    for (x, y) in a_tail.iter().zip(b_tail) {
        sum += x * y;
    }
    sum + hsum(acc)
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
#[inline]
pub(crate) fn exp_shifted(s: &mut [f32], shift: f32) -> f32 {
    for x in s.iter_mut() {
        *x = exp_cephes(*x - shift);
    }
    s.iter().sum()
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
    let p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    let pow2n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    y * pow2n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_sequential_f64_sum_for_every_length_up_to_70() {
        for len in 0..70 {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-5, "len {len}");
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
    fn exp_shifted_underflows_to_a_negligible_weight_for_very_negative_arguments() {
        let mut s = [-1e4f32, f32::NEG_INFINITY, -90.0];
        exp_shifted(&mut s, 0.0);
        assert!(s.iter().all(|x| *x >= 0.0 && *x < 1e-37));
    }
}
