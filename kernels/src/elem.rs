//! Element types of the KV cache (f32, f16, bf16): every kernel computes in f32 and
//! converts a cache row to f32 once per read.

use candle_core::WithDType;
use half::{bf16, f16, slice::HalfFloatSliceExt};

/// A dtype the KV cache may hold.
pub(crate) trait CacheElem: WithDType {
    /// `row` as f32: the row itself for f32, otherwise converted into `scratch`
    /// (same length as `row`) with `half`'s SIMD slice conversion.
    fn row_f32<'a>(row: &'a [Self], scratch: &'a mut [f32]) -> &'a [f32];
}

impl CacheElem for f32 {
    #[inline]
    fn row_f32<'a>(row: &'a [f32], _scratch: &'a mut [f32]) -> &'a [f32] {
        row
    }
}

impl CacheElem for f16 {
    #[inline]
    fn row_f32<'a>(row: &'a [f16], scratch: &'a mut [f32]) -> &'a [f32] {
        row.convert_to_f32_slice(scratch);
        scratch
    }
}

impl CacheElem for bf16 {
    #[inline]
    fn row_f32<'a>(row: &'a [bf16], scratch: &'a mut [f32]) -> &'a [f32] {
        row.convert_to_f32_slice(scratch);
        scratch
    }
}
