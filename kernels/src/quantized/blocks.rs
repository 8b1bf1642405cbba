//! GGML block formats (the byte layout of llama.cpp's `ggml-common.h`) and the
//! quantization of activation rows to the 8-bit dot-product formats.
//!
//! Each block covers [`QK`] = 32 consecutive values of one weight row:
//! - `Q4_0`: `d: f16`, 16 bytes of nibbles; value `j` is `d * (nibble_j - 8)`.
//! - `Q4_1`: `d: f16, m: f16`, 16 bytes of nibbles; value `j` is `d * nibble_j + m`.
//! - `Q8_0`: `d: f16`, 32 `i8`; value `j` is `d * q_j`.
//! - `Q8_1` (activations only): `d: f32`, `s = d * sum(q)`, 32 `i8`.
//!
//! Nibble `j < 16` is the low half of byte `j`, nibble `j >= 16` the high half of byte
//! `j - 16`.

use half::f16;

/// Values per block.
pub const QK: usize = 32;

/// `Q4_0`: 18 bytes per 32 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ4_0 {
    pub d: f32,
    pub qs: [u8; QK / 2],
}

/// `Q4_1`: 20 bytes per 32 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ4_1 {
    pub d: f32,
    pub m: f32,
    pub qs: [u8; QK / 2],
}

/// `Q8_0`: 34 bytes per 32 values (weights, and activations for `Q4_0`/`Q8_0` weights).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ8_0 {
    pub d: f32,
    pub qs: [i8; QK],
}

/// `Q8_1`: activations for `Q4_1` weights; `s = d * sum(qs)` carries the offset term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ8_1 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; QK],
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

impl BlockQ4_0 {
    /// Bytes per block in a GGUF file.
    pub const BYTES: usize = 2 + QK / 2;

    /// Parses one block from its GGUF bytes (`bytes.len() == BYTES`).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { d: f16_at(bytes, 0), qs: bytes[2..Self::BYTES].try_into().expect("block length") }
    }

    /// The 32 values of the block.
    pub fn dequantize(&self) -> [f32; QK] {
        std::array::from_fn(|j| self.d * (nibble(&self.qs, j) as f32 - 8.0))
    }
}

impl BlockQ4_1 {
    /// Bytes per block in a GGUF file.
    pub const BYTES: usize = 4 + QK / 2;

    /// Parses one block from its GGUF bytes (`bytes.len() == BYTES`).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { d: f16_at(bytes, 0), m: f16_at(bytes, 2), qs: bytes[4..Self::BYTES].try_into().expect("block length") }
    }

    /// The 32 values of the block.
    pub fn dequantize(&self) -> [f32; QK] {
        std::array::from_fn(|j| self.d * nibble(&self.qs, j) as f32 + self.m)
    }
}

impl BlockQ8_0 {
    /// Bytes per block in a GGUF file.
    pub const BYTES: usize = 2 + QK;

    /// Parses one block from its GGUF bytes (`bytes.len() == BYTES`).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { d: f16_at(bytes, 0), qs: std::array::from_fn(|j| bytes[2 + j] as i8) }
    }

    /// The 32 values of the block.
    pub fn dequantize(&self) -> [f32; QK] {
        std::array::from_fn(|j| self.d * self.qs[j] as f32)
    }

    /// Quantizes 32 activations (llama.cpp's `quantize_row_q8_0`, scale kept in f32).
    pub fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        Self { d, qs }
    }
}

impl BlockQ8_1 {
    /// Quantizes 32 activations (llama.cpp's `quantize_row_q8_1`, scale kept in f32).
    pub fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        Self { d, s: d * sum as f32, qs }
    }
}

/// Symmetric 8-bit quantization of 32 values: `d = max|x| / 127`, `q = x / d` rounded
/// to nearest, ties to even, as ggml's AVX2 `quantize_row_q8_0` does (`vcvtps2dq` in
/// the default rounding mode, then packed to bytes); a portable loop computes the same
/// values elsewhere. Scalar code (`f32::round`, saturating `as i8`) made this a
/// twentieth of a decode step.
fn quantize_q8(x: &[f32]) -> (f32, [i8; QK]) {
    let x: &[f32; QK] = x.try_into().expect("one block");
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    // SAFETY: the cfg guarantees AVX2; the loads read the 32 values of `x`.
    unsafe {
        avx2::quantize_q8(x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
    {
        let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        (d, std::array::from_fn(|j| (x[j] * inv).round_ties_even() as i8))
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
mod avx2 {
    use std::arch::x86_64::*;

    use super::QK;

    pub unsafe fn quantize_q8(x: &[f32; QK]) -> (f32, [i8; QK]) {
        let v: [__m256; 4] = std::array::from_fn(|k| _mm256_loadu_ps(x.as_ptr().add(8 * k)));
        let sign = _mm256_set1_ps(-0.0);
        let abs = v.map(|v| _mm256_andnot_ps(sign, v));
        let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let d = amax / 127.0;
        let inv = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
        let q = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, inv)));
        // i32 -> i16 -> i8 packs interleave 128-bit lanes; the permutation restores order.
        let bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let mut out = [0i8; QK];
        _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, bytes);
        (d, out)
    }
}

/// Nibble `j` (0..32) of a 4-bit block.
#[inline]
pub(crate) fn nibble(qs: &[u8; QK / 2], j: usize) -> u8 {
    if j < QK / 2 {
        qs[j] & 0x0F
    } else {
        qs[j - QK / 2] >> 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_quantization_round_trips_within_half_a_step() {
        let x: Vec<f32> = (0..QK).map(|i| ((i as f32) * 0.7).sin() * 3.0).collect();
        let b = BlockQ8_0::quantize(&x);
        let y = b.dequantize();
        for (a, b2) in x.iter().zip(y) {
            assert!((a - b2).abs() <= b.d / 2.0 + 1e-6, "{a} vs {b2}");
        }
        let b1 = BlockQ8_1::quantize(&x);
        let sum: f32 = b1.qs.iter().map(|&q| q as f32).sum::<f32>() * b1.d;
        assert!((b1.s - sum).abs() < 1e-4);
    }

    /// The AVX2 quantization equals the portable rule (round half to even), ties included.
    #[test]
    fn quantization_rounds_to_nearest_with_ties_to_even() {
        // max|x| = 127 makes d = 1: x / d is x itself, with exact ties at .5.
        let mut x: Vec<f32> = (0..QK).map(|i| i as f32 * 3.5 - 50.25).collect();
        x[0] = -127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        x[3] = 0.5;
        let (d, q) = quantize_q8(&x);
        assert_eq!(d, 1.0);
        for (j, (&v, &q)) in x.iter().zip(&q).enumerate() {
            assert_eq!(q as f32, v.round_ties_even(), "value {j}: {v}");
        }
        assert_eq!(&q[..4], &[-127, 2, -4, 0]);
        assert_eq!(quantize_q8(&[0.0; QK]), (0.0, [0; QK]));
    }

    #[test]
    fn nibbles_follow_the_ggml_order() {
        let mut bytes = vec![0u8; BlockQ4_1::BYTES];
        bytes[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        bytes[2..4].copy_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        bytes[4] = 0x3A; // value 0 = 0xA, value 16 = 0x3
        let b = BlockQ4_1::from_bytes(&bytes);
        let v = b.dequantize();
        assert_eq!(v[0], 0.5 * 10.0 - 1.0);
        assert_eq!(v[16], 0.5 * 3.0 - 1.0);
        assert_eq!(v[1], -1.0);
    }
}
