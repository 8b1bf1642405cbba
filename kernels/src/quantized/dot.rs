//! Block dot products: one weight row segment against one quantized activation row
//! segment, as in llama.cpp's `ggml_vec_dot_q4_0_q8_0`, `..._q4_1_q8_1` and
//! `..._q8_0_q8_0` (AVX2 versions after ggml-cpu's `quants.c`).
//!
//! With AVX2 + FMA (the repo builds with `-C target-cpu=x86-64-v3`) each block is one
//! `maddubs` (u8 x i8 pairs -> i16), one `madd` (-> i32) and one fused multiply-add by
//! the product of the two scales; otherwise a scalar loop computes the same sums.
//!
//! Where the CPU has AVX-512 VNNI with VL (Intel since Cascade Lake, AMD since Zen 4),
//! detected at run time, one `vpdpbusd` (u8 x i8 quads -> i32) replaces the
//! `maddubs` + `madd` pair, as in ggml's `mul_sum_us8_pairs_float`. The integer block
//! sums are the same (no pair of products reaches the `i16` saturation of `maddubs`
//! for these formats), so both paths give the same bits. `PONDER_CPU_ISA=avx2` keeps
//! the AVX2 kernels, for side-by-side benchmarks.

use super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

/// `sum_j w_j * x_j` over `w.len()` blocks of a `Q4_0` row and a `Q8_0` activation row.
#[inline]
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), x.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the VNNI
    // kernels; the loads read exactly one block's bytes.
    unsafe {
        if vnni() {
            return vnni::dot_q4_0_q8_0(w, x);
        }
        avx2::dot_q4_0_q8_0(w, x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    scalar::dot_q4_0_q8_0(w, x)
}

/// `sum_j w_j * x_j` over `w.len()` blocks of a `Q4_1` row and a `Q8_1` activation row.
#[inline]
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(w.len(), x.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the VNNI
    // kernels; the loads read exactly one block's bytes.
    unsafe {
        if vnni() {
            return vnni::dot_q4_1_q8_1(w, x);
        }
        avx2::dot_q4_1_q8_1(w, x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    scalar::dot_q4_1_q8_1(w, x)
}

/// `sum_j w_j * x_j` over `w.len()` blocks of a `Q8_0` row and a `Q8_0` activation row.
#[inline]
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), x.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the VNNI
    // kernels; the loads read exactly one block's bytes.
    unsafe {
        if vnni() {
            return vnni::dot_q8_0_q8_0(w, x);
        }
        avx2::dot_q8_0_q8_0(w, x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    scalar::dot_q8_0_q8_0(w, x)
}

/// Four dot products of one `Q4_1` row segment with four `Q8_1` activation segments:
/// the row's nibbles are unpacked once, and the four sums are independent dependency
/// chains (more instruction-level parallelism than four [`dot_q4_1_q8_1`] calls).
/// Each result has the bits of the single [`dot_q4_1_q8_1`] (same order of sums).
#[inline]
pub fn dot4_q4_1_q8_1(w: &[BlockQ4_1], x: [&[BlockQ8_1]; 4]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the VNNI
    // kernels; the loads read exactly one block's bytes.
    unsafe {
        if vnni() {
            return vnni::dot4_q4_1_q8_1(w, x);
        }
        avx2::dot4_q4_1_q8_1(w, x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    x.map(|x| scalar::dot_q4_1_q8_1(w, x))
}

/// Four dot products of one `Q8_0` row segment with four `Q8_0` activation segments,
/// each with the bits of the single [`dot_q8_0_q8_0`].
#[inline]
pub fn dot4_q8_0_q8_0(w: &[BlockQ8_0], x: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the VNNI
    // kernels; the loads read exactly one block's bytes.
    unsafe {
        if vnni() {
            return vnni::dot4_q8_0_q8_0(w, x);
        }
        avx2::dot4_q8_0_q8_0(w, x)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    x.map(|x| scalar::dot_q8_0_q8_0(w, x))
}

/// Four dot products of one `Q4_0` row segment with four `Q8_0` activation segments.
#[inline]
pub fn dot4_q4_0_q8_0(w: &[BlockQ4_0], x: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    x.map(|x| dot_q4_0_q8_0(w, x))
}

/// Whether the VNNI kernels run: AVX-512 VNNI and VL found at run time (checked once),
/// unless the environment sets `PONDER_CPU_ISA=avx2`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
#[inline]
pub fn vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| {
        std::env::var("PONDER_CPU_ISA").map_or(true, |isa| isa != "avx2")
            && std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512vl")
    })
}

/// Portable versions; also the reference the AVX2 versions are tested against.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"), allow(dead_code))]
pub(crate) mod scalar {
    use super::super::blocks::nibble;
    use super::*;

    pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        w.iter()
            .zip(x)
            .map(|(w, x)| {
                let s: i32 = (0..QK).map(|j| (nibble(&w.qs, j) as i32 - 8) * x.qs[j] as i32).sum();
                w.d * x.d * s as f32
            })
            .sum()
    }

    pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
        w.iter()
            .zip(x)
            .map(|(w, x)| {
                let s: i32 = (0..QK).map(|j| nibble(&w.qs, j) as i32 * x.qs[j] as i32).sum();
                w.d * x.d * s as f32 + w.m * x.s
            })
            .sum()
    }

    pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        w.iter()
            .zip(x)
            .map(|(w, x)| {
                let s: i32 = (0..QK).map(|j| w.qs[j] as i32 * x.qs[j] as i32).sum();
                w.d * x.d * s as f32
            })
            .sum()
    }
}

/// 256-bit helpers shared by the AVX2 and the VNNI kernels.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod simd256 {
    pub use std::arch::x86_64::*;

    pub use super::super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

    /// 32 nibbles -> 32 bytes in value order: low halves in lane 0, high halves in lane 1.
    #[inline(always)]
    pub unsafe fn nibbles(qs: &[u8; QK / 2]) -> __m256i {
        let lo = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
        let hi = _mm_srli_epi16(lo, 4);
        _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
    }

    #[inline(always)]
    pub unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    #[inline(always)]
    pub unsafe fn load(qs: &[i8; QK]) -> __m256i {
        _mm256_loadu_si256(qs.as_ptr() as *const __m256i)
    }
}

/// The block kernels, written once over `quad_sums(a: u8 x 32, b: i8 x 32) -> i32 x 8`
/// (each lane the sum of four adjacent products), which the module defines; the
/// optional attribute is the module's `#[target_feature]`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
macro_rules! block_kernels {
    ($(#[$feature:meta])?) => {
        /// Sum of `a_j * b_j` of two signed byte vectors, as 8 f32 partial sums.
        $(#[$feature])?
        #[inline]
        unsafe fn mul_sum_i8(a: __m256i, b: __m256i) -> __m256 {
            // The unsigned operand must be unsigned: move a's sign onto b.
            _mm256_cvtepi32_ps(quad_sums(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)))
        }

        $(#[$feature])?
        pub unsafe fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
            let mut acc = _mm256_setzero_ps();
            for (w, x) in w.iter().zip(x) {
                let qw = _mm256_sub_epi8(nibbles(&w.qs), _mm256_set1_epi8(8));
                acc = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), mul_sum_i8(qw, load(&x.qs)), acc);
            }
            hsum(acc)
        }

        $(#[$feature])?
        pub unsafe fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
            // Two accumulators (even and odd blocks): two independent FMA chains.
            let mut acc = [_mm256_setzero_ps(); 2];
            let mut offsets = 0f32;
            for (i, (w, x)) in w.iter().zip(x).enumerate() {
                offsets += w.m * x.s;
                // Nibbles are unsigned (0..15): they go in as they are.
                let sums = _mm256_cvtepi32_ps(quad_sums(nibbles(&w.qs), load(&x.qs)));
                acc[i & 1] = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), sums, acc[i & 1]);
            }
            hsum(_mm256_add_ps(acc[0], acc[1])) + offsets
        }

        /// Each row sums exactly as [`dot_q4_1_q8_1`] does (even and odd blocks in two
        /// accumulators, offsets apart), so its result has the same bits.
        $(#[$feature])?
        pub unsafe fn dot4_q4_1_q8_1(w: &[BlockQ4_1], x: [&[BlockQ8_1]; 4]) -> [f32; 4] {
            let mut acc = [[_mm256_setzero_ps(); 4]; 2];
            let mut offsets = [0f32; 4];
            for (b, w) in w.iter().enumerate() {
                let qw = nibbles(&w.qs);
                let acc = &mut acc[b & 1];
                for r in 0..4 {
                    let x = &x[r][b];
                    offsets[r] += w.m * x.s;
                    let sums = _mm256_cvtepi32_ps(quad_sums(qw, load(&x.qs)));
                    acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), sums, acc[r]);
                }
            }
            std::array::from_fn(|r| hsum(_mm256_add_ps(acc[0][r], acc[1][r])) + offsets[r])
        }

        /// Each row sums exactly as [`dot_q8_0_q8_0`] does.
        $(#[$feature])?
        pub unsafe fn dot4_q8_0_q8_0(w: &[BlockQ8_0], x: [&[BlockQ8_0]; 4]) -> [f32; 4] {
            let mut acc = [[_mm256_setzero_ps(); 4]; 2];
            for (b, w) in w.iter().enumerate() {
                let qw = load(&w.qs);
                let aw = _mm256_sign_epi8(qw, qw);
                let acc = &mut acc[b & 1];
                for r in 0..4 {
                    let x = &x[r][b];
                    let sums = _mm256_cvtepi32_ps(quad_sums(aw, _mm256_sign_epi8(load(&x.qs), qw)));
                    acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), sums, acc[r]);
                }
            }
            std::array::from_fn(|r| hsum(_mm256_add_ps(acc[0][r], acc[1][r])))
        }

        $(#[$feature])?
        pub unsafe fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
            let mut acc = [_mm256_setzero_ps(); 2];
            for (i, (w, x)) in w.iter().zip(x).enumerate() {
                acc[i & 1] = _mm256_fmadd_ps(_mm256_set1_ps(w.d * x.d), mul_sum_i8(load(&w.qs), load(&x.qs)), acc[i & 1]);
            }
            hsum(_mm256_add_ps(acc[0], acc[1]))
        }
    };
}

/// AVX2: `maddubs` (u8 x i8 pairs -> saturating i16) then `madd` with ones (-> i32).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2 {
    use super::simd256::*;

    #[inline(always)]
    unsafe fn quad_sums(a: __m256i, b: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
    }

    block_kernels!();
}

/// AVX-512 VNNI on 256-bit vectors: one `vpdpbusd` (u8 x i8 quads -> i32).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod vnni {
    use super::simd256::*;

    #[target_feature(enable = "avx512vnni,avx512vl")]
    #[inline]
    unsafe fn quad_sums(a: __m256i, b: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)
    }

    block_kernels!(#[target_feature(enable = "avx512vnni,avx512vl")]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.37).sin() * 2.0 + ((i as f32) * 0.011).cos()).collect()
    }

    fn q4_0_bytes(seed: u8, blocks: usize) -> Vec<BlockQ4_0> {
        (0..blocks)
            .map(|b| {
                let mut bytes = vec![0u8; BlockQ4_0::BYTES];
                bytes[0..2].copy_from_slice(&half::f16::from_f32(0.01 * (b as f32 + 1.0)).to_le_bytes());
                for (j, byte) in bytes[2..].iter_mut().enumerate() {
                    *byte = (j as u8).wrapping_mul(37).wrapping_add(seed).wrapping_add(b as u8 * 11);
                }
                BlockQ4_0::from_bytes(&bytes)
            })
            .collect()
    }

    /// The dispatching dot product (AVX2 in this build) equals the portable one and
    /// the f64 dot product of the dequantized blocks.
    #[test]
    fn block_dots_match_the_dequantized_dot_product() {
        let blocks = 18;
        let x = values(blocks * QK, 3.0);
        let x8_0: Vec<BlockQ8_0> = x.chunks(QK).map(BlockQ8_0::quantize).collect();
        let x8_1: Vec<BlockQ8_1> = x.chunks(QK).map(BlockQ8_1::quantize).collect();
        let xs: Vec<f64> = x8_0.iter().flat_map(|b| b.dequantize()).map(f64::from).collect();

        let w4_0 = q4_0_bytes(5, blocks);
        let w4_1: Vec<BlockQ4_1> = w4_0.iter().enumerate().map(|(i, b)| BlockQ4_1 { d: b.d, m: -0.3 + 0.05 * i as f32, qs: b.qs }).collect();
        let w8_0: Vec<BlockQ8_0> = values(blocks * QK, 9.0).chunks(QK).map(BlockQ8_0::quantize).collect();

        let reference = |w: Vec<f32>, x: &[f64]| -> f64 { w.iter().zip(x).map(|(a, b)| *a as f64 * b).sum() };
        let close = |got: f32, want: f64| (got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0);

        let want = reference(w4_0.iter().flat_map(|b| b.dequantize()).collect(), &xs);
        assert!(close(dot_q4_0_q8_0(&w4_0, &x8_0), want));
        assert!(close(scalar::dot_q4_0_q8_0(&w4_0, &x8_0), want));

        let xs1: Vec<f64> = x8_1.iter().flat_map(|b| b.qs.map(|q| q as f32 * b.d)).map(f64::from).collect();
        let want = reference(w4_1.iter().flat_map(|b| b.dequantize()).collect(), &xs1);
        assert!(close(dot_q4_1_q8_1(&w4_1, &x8_1), want), "{} vs {want}", dot_q4_1_q8_1(&w4_1, &x8_1));
        assert!(close(scalar::dot_q4_1_q8_1(&w4_1, &x8_1), want));

        let want = reference(w8_0.iter().flat_map(|b| b.dequantize()).collect(), &xs);
        assert!(close(dot_q8_0_q8_0(&w8_0, &x8_0), want));
        assert!(close(scalar::dot_q8_0_q8_0(&w8_0, &x8_0), want));
    }

    /// The VNNI kernels give the AVX2 kernels' bits (same integer block sums, same
    /// float order), on pseudo-random blocks with every nibble and extreme bytes.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    #[test]
    fn vnni_kernels_give_the_avx2_bits() {
        if !(std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("avx512vl")) {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let blocks = 23;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut byte = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        };
        let w4_0: Vec<BlockQ4_0> = (0..blocks).map(|b| BlockQ4_0 { d: 0.01 + b as f32 * 1e-3, qs: std::array::from_fn(|_| byte()) }).collect();
        let w4_1: Vec<BlockQ4_1> = w4_0.iter().map(|b| BlockQ4_1 { d: b.d, m: -0.2, qs: b.qs }).collect();
        // Weight bytes over -127..=127 (ggml's Q8_0 range); activation rows quantized
        // from values, the last block saturated at +-127.
        let w8_0: Vec<BlockQ8_0> = (0..blocks).map(|b| BlockQ8_0 { d: 0.02 + b as f32 * 1e-3, qs: std::array::from_fn(|_| (byte() as i8).max(-127)) }).collect();
        let rows: Vec<Vec<f32>> = (0..4)
            .map(|r| {
                let mut x = values(blocks * QK, r as f32 * 3.0 + 1.0);
                x[(blocks - 1) * QK..].iter_mut().enumerate().for_each(|(j, v)| *v = if j % 2 == 0 { 9.0 } else { -9.0 });
                x
            })
            .collect();
        let x8_0: Vec<Vec<BlockQ8_0>> = rows.iter().map(|x| x.chunks(QK).map(BlockQ8_0::quantize).collect()).collect();
        let x8_1: Vec<Vec<BlockQ8_1>> = rows.iter().map(|x| x.chunks(QK).map(BlockQ8_1::quantize).collect()).collect();
        let bits = |v: f32| v.to_bits();
        // SAFETY: AVX2/FMA by the cfg, AVX-512 VNNI/VL checked above.
        unsafe {
            for r in 0..4 {
                assert_eq!(bits(vnni::dot_q4_0_q8_0(&w4_0, &x8_0[r])), bits(avx2::dot_q4_0_q8_0(&w4_0, &x8_0[r])), "q4_0 row {r}");
                assert_eq!(bits(vnni::dot_q4_1_q8_1(&w4_1, &x8_1[r])), bits(avx2::dot_q4_1_q8_1(&w4_1, &x8_1[r])), "q4_1 row {r}");
                assert_eq!(bits(vnni::dot_q8_0_q8_0(&w8_0, &x8_0[r])), bits(avx2::dot_q8_0_q8_0(&w8_0, &x8_0[r])), "q8_0 row {r}");
            }
            let quad_1: [&[BlockQ8_1]; 4] = std::array::from_fn(|r| x8_1[r].as_slice());
            let quad_0: [&[BlockQ8_0]; 4] = std::array::from_fn(|r| x8_0[r].as_slice());
            assert_eq!(vnni::dot4_q4_1_q8_1(&w4_1, quad_1).map(bits), avx2::dot4_q4_1_q8_1(&w4_1, quad_1).map(bits));
            assert_eq!(vnni::dot4_q8_0_q8_0(&w8_0, quad_0).map(bits), avx2::dot4_q8_0_q8_0(&w8_0, quad_0).map(bits));
            // And both agree with the portable reference to rounding.
            let want = scalar::dot_q8_0_q8_0(&w8_0, &x8_0[0]);
            assert!((vnni::dot_q8_0_q8_0(&w8_0, &x8_0[0]) - want).abs() <= 1e-4 * want.abs().max(1.0));
        }
    }

    /// The four-row versions equal four single dot products, bit for bit (a row's
    /// result must not depend on whether it was computed in a group of four).
    #[test]
    fn four_row_dots_equal_single_dots() {
        let blocks = 7;
        let rows: Vec<Vec<f32>> = (0..4).map(|r| values(blocks * QK, r as f32 * 5.0)).collect();
        let x8_0: Vec<Vec<BlockQ8_0>> = rows.iter().map(|x| x.chunks(QK).map(BlockQ8_0::quantize).collect()).collect();
        let x8_1: Vec<Vec<BlockQ8_1>> = rows.iter().map(|x| x.chunks(QK).map(BlockQ8_1::quantize).collect()).collect();
        let w4_0 = q4_0_bytes(3, blocks);
        let w4_1: Vec<BlockQ4_1> = w4_0.iter().map(|b| BlockQ4_1 { d: b.d, m: 0.125, qs: b.qs }).collect();
        let w8_0: Vec<BlockQ8_0> = values(blocks * QK, 1.5).chunks(QK).map(BlockQ8_0::quantize).collect();
        let close = |a: f32, b: f32| a.to_bits() == b.to_bits();
        let got = dot4_q4_1_q8_1(&w4_1, std::array::from_fn(|r| x8_1[r].as_slice()));
        let got0 = dot4_q4_0_q8_0(&w4_0, std::array::from_fn(|r| x8_0[r].as_slice()));
        let got8 = dot4_q8_0_q8_0(&w8_0, std::array::from_fn(|r| x8_0[r].as_slice()));
        for r in 0..4 {
            assert!(close(got[r], dot_q4_1_q8_1(&w4_1, &x8_1[r])), "q4_1 row {r}");
            assert!(close(got0[r], dot_q4_0_q8_0(&w4_0, &x8_0[r])), "q4_0 row {r}");
            assert!(close(got8[r], dot_q8_0_q8_0(&w8_0, &x8_0[r])), "q8_0 row {r}");
        }
    }
}
