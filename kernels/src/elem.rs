//! Element types of the KV cache (f32, f16, bf16): every kernel computes in f32 and
//! converts a cache row to f32 once per read.

use candle_core::WithDType;
use half::{bf16, f16, slice::HalfFloatSliceExt};

/// A dtype the KV cache may hold.
pub(crate) trait CacheElem: WithDType {
    /// `row` as f32: the row itself for f32, otherwise converted into `scratch`
    /// (same length as `row`) with `half`'s SIMD slice conversion.
    fn row_f32<'a>(row: &'a [Self], scratch: &'a mut [f32]) -> &'a [f32];

    /// `rows` itself when the cache is f32 (read in place, no copy), else `None`.
    fn as_f32(rows: &[Self]) -> Option<&[f32]>;
}

impl CacheElem for f32 {
    #[inline]
    fn row_f32<'a>(row: &'a [f32], _scratch: &'a mut [f32]) -> &'a [f32] {
        row
    }

    #[inline]
    fn as_f32(rows: &[f32]) -> Option<&[f32]> {
        Some(rows)
    }
}

impl CacheElem for f16 {
    #[inline]
    fn row_f32<'a>(row: &'a [f16], scratch: &'a mut [f32]) -> &'a [f32] {
        f16_to_f32(row, scratch);
        scratch
    }

    #[inline]
    fn as_f32(_rows: &[f16]) -> Option<&[f32]> {
        None
    }
}

impl CacheElem for bf16 {
    #[inline]
    fn row_f32<'a>(row: &'a [bf16], scratch: &'a mut [f32]) -> &'a [f32] {
        row.convert_to_f32_slice(scratch);
        scratch
    }

    #[inline]
    fn as_f32(_rows: &[bf16]) -> Option<&[f32]> {
        None
    }
}

/// `dst[i] = src[i]` widened (exact). With F16C (part of the repo's x86-64-v3 target)
/// eight values per `vcvtph2ps`, inlined into the attention loops; `half`'s slice
/// conversion checks the CPU's features on every call, which costs as much as the
/// conversion itself for one 64-value row.
#[inline]
fn f16_to_f32(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "f16c", target_feature = "avx"))]
    {
        use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
        let (src8, dst8) = (src.chunks_exact(8), dst.chunks_exact_mut(8));
        let split = src8.len() * 8;
        for (s, d) in src8.zip(dst8) {
            // SAFETY: the cfg guarantees F16C and AVX; each load reads the 16 bytes of
            // eight f16 values of `s`, each store writes the eight f32 values of `d`.
            unsafe { _mm256_storeu_ps(d.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(s.as_ptr().cast::<__m128i>()))) }
        }
        src[split..].convert_to_f32_slice(&mut dst[split..]);
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "f16c", target_feature = "avx")))]
    src.convert_to_f32_slice(dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rows_widen_exactly_for_every_length_and_special_value() {
        let specials = [0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6.0e-8, f32::INFINITY, f32::NEG_INFINITY];
        for len in 0..40 {
            let src: Vec<f16> = (0..len).map(|i| f16::from_f32(if i < specials.len() { specials[i] } else { (i as f32 * 0.77).sin() * 300.0 })).collect();
            let mut got = vec![f32::NAN; len];
            f16_to_f32(&src, &mut got);
            let want: Vec<u32> = src.iter().map(|x| x.to_f32().to_bits()).collect();
            assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want, "len {len}");
        }
    }
}
