//! `Q4_1` and `Q8_0` weights repacked eight rows at a time, and the matmul kernels over
//! them.
//!
//! The layout follows llama.cpp's `block_q4_0x8` (ggml-cpu `repack.cpp`): one
//! [`BlockQ4_1x8`] holds block `b` of eight consecutive weight rows, their nibbles
//! interleaved four bytes at a time, so that one 256-bit load gives four values of each
//! of the eight rows. A `vpdpbusd` (or AVX2 `maddubs` + `madd`) of that vector with four
//! activation bytes broadcast to every lane adds each row's four products into its own
//! `i32` lane: the eight rows' dot products build up side by side and need no
//! horizontal sum, and the per-block scales multiply eight rows in one instruction.
//! Per block and activation row that is about 1.5 vector instructions per weight row,
//! against about nine for the one-row-at-a-time block dot product.
//!
//! `Q8_0` weights are signed: the unsigned operand is the weight's magnitude and the
//! weight's sign moves onto the activation byte (`vpsignb`), as in ggml's
//! `mul_sum_i8_pairs_float`.
//!
//! Arithmetic, per weight row (one lane) and activation row: for each block `b`, the
//! exact integer sum `s_b` of its 32 products, then `acc = fma(d_w * d_x, s_b, acc)`
//! (and, for `Q4_1`, `acc = fma(m_w, s_x, acc)`) in block order.
//! Each activation row has its own accumulators, so a row's result has the same bits
//! whichever rows share the call (batch invariance).

use super::blocks::{nibble, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

/// Weight rows per repacked group.
pub const ROWS: usize = 8;

/// Block `b` of eight consecutive `Q4_1` weight rows (192 bytes: 128 of nibbles, the
/// scales widened to f32).
///
/// `qs[32 k + 4 r + i]` is byte `4 k + i` of row `r`'s block (`k` in 0..4, `i` in
/// 0..4): its low nibble is value `4 k + i`, its high nibble value `16 + 4 k + i`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(32))]
pub struct BlockQ4_1x8 {
    pub qs: [u8; QK / 2 * ROWS],
    pub d: [f32; ROWS],
    pub m: [f32; ROWS],
}

impl BlockQ4_1x8 {
    /// Interleaves block `b` of eight rows (`rows[r]` is row `r`'s block).
    pub fn pack(rows: [&BlockQ4_1; ROWS]) -> Self {
        Self {
            qs: std::array::from_fn(|i| rows[(i % 32) / 4].qs[(i / 32) * 4 + i % 4]),
            d: rows.map(|b| b.d),
            m: rows.map(|b| b.m),
        }
    }

    /// Row `r`'s block, as it was before packing.
    pub fn unpack(&self, r: usize) -> BlockQ4_1 {
        BlockQ4_1 { d: self.d[r], m: self.m[r], qs: std::array::from_fn(|j| self.qs[(j / 4) * 32 + r * 4 + j % 4]) }
    }
}

/// Block `b` of eight consecutive `Q8_0` weight rows (288 bytes).
///
/// `qs[32 k + 4 r + i]` is value `4 k + i` of row `r`'s block (`k` in 0..8).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(32))]
pub struct BlockQ8_0x8 {
    pub qs: [i8; QK * ROWS],
    pub d: [f32; ROWS],
}

impl BlockQ8_0x8 {
    /// Interleaves block `b` of eight rows (`rows[r]` is row `r`'s block).
    pub fn pack(rows: [&BlockQ8_0; ROWS]) -> Self {
        Self { qs: std::array::from_fn(|i| rows[(i % 32) / 4].qs[(i / 32) * 4 + i % 4]), d: rows.map(|b| b.d) }
    }

    /// Row `r`'s block, as it was before packing.
    pub fn unpack(&self, r: usize) -> BlockQ8_0 {
        BlockQ8_0 { d: self.d[r], qs: std::array::from_fn(|j| self.qs[(j / 4) * 32 + r * 4 + j % 4]) }
    }
}

/// Repacks a row-major matrix of `rows` x `kb` blocks (`rows % 8 == 0`) into
/// `rows / 8` groups of `kb` interleaved blocks, group-major; `pack` is
/// [`BlockQ4_1x8::pack`] or [`BlockQ8_0x8::pack`].
pub fn repack<B, P>(blocks: &[B], rows: usize, kb: usize, pack: impl Fn([&B; ROWS]) -> P) -> Vec<P> {
    assert!(rows.is_multiple_of(ROWS) && blocks.len() == rows * kb, "repack needs whole groups of {ROWS} rows");
    (0..rows / ROWS)
        .flat_map(|g| (0..kb).map(move |b| (g, b)))
        .map(|(g, b)| pack(std::array::from_fn(|r| &blocks[(g * ROWS + r) * kb + b])))
        .collect()
}

/// The `kb` blocks of the group that holds weight row `row`, in a matrix from [`repack`].
pub fn group_of<P>(packed: &[P], row: usize, kb: usize) -> &[P] {
    let g = row / ROWS;
    &packed[g * kb..(g + 1) * kb]
}

/// A repacked block format and its kernel over up to four activation rows.
pub trait Interleaved: Sized {
    /// The activation block format it multiplies with.
    type Act;

    /// `[j][r]`: dot products of the group's 8 weight rows with each of the `R` rows.
    fn kernel<const R: usize>(w: &[Self], x: [&[Self::Act]; R]) -> [[f32; ROWS]; R];
}

/// `out[j][r] = dot(weight row 8 g + r, activation row j)` for one group `w` (its `kb`
/// blocks) and the activation rows `x` (each `kb` blocks), written to `out[j]`
/// (`out.len() == x.len()`), four activation rows at a time.
///
/// Panics if an activation row does not have `w.len()` blocks.
#[inline]
pub fn group_times_rows<W: Interleaved>(w: &[W], x: &[&[W::Act]], out: &mut [[f32; ROWS]]) {
    assert!(x.len() == out.len() && x.iter().all(|x| x.len() == w.len()), "activation rows of {} blocks", w.len());
    let mut start = 0;
    while start < x.len() {
        let rows = (x.len() - start).min(4);
        let (x, out) = (&x[start..start + rows], &mut out[start..start + rows]);
        match rows {
            4 => out.copy_from_slice(&W::kernel::<4>(w, x.try_into().unwrap())),
            3 => out.copy_from_slice(&W::kernel::<3>(w, x.try_into().unwrap())),
            2 => out.copy_from_slice(&W::kernel::<2>(w, x.try_into().unwrap())),
            _ => out.copy_from_slice(&W::kernel::<1>(w, x.try_into().unwrap())),
        }
        start += rows;
    }
}

/// Runs the VNNI, AVX2 or portable version of a kernel.
macro_rules! dispatch {
    ($name:ident::<$r:ident>($w:expr, $x:expr)) => {{
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
        // SAFETY: the cfg guarantees AVX2 and FMA, `vnni()` checked the CPU for the
        // VNNI kernel; `group_times_rows` checked the activation rows' lengths.
        unsafe {
            if super::dot::vnni() {
                vnni::$name::<$r>($w, $x)
            } else {
                avx2::$name::<$r>($w, $x)
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
        scalar::$name::<$r>($w, $x)
    }};
}

impl Interleaved for BlockQ4_1x8 {
    type Act = BlockQ8_1;

    #[inline]
    fn kernel<const R: usize>(w: &[Self], x: [&[BlockQ8_1]; R]) -> [[f32; ROWS]; R] {
        dispatch!(q4_1::<R>(w, x))
    }
}

impl Interleaved for BlockQ8_0x8 {
    type Act = BlockQ8_0;

    #[inline]
    fn kernel<const R: usize>(w: &[Self], x: [&[BlockQ8_0]; R]) -> [[f32; ROWS]; R] {
        dispatch!(q8_0::<R>(w, x))
    }
}

/// The portable kernel (same arithmetic per lane); also the tests' reference.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"), allow(dead_code))]
pub(crate) mod scalar {
    use super::*;

    pub fn q4_1<const R: usize>(w: &[BlockQ4_1x8], x: [&[BlockQ8_1]; R]) -> [[f32; ROWS]; R] {
        std::array::from_fn(|j| {
            std::array::from_fn(|r| {
                let mut acc = 0f32;
                for (b, blk) in w.iter().enumerate() {
                    let (wb, xb) = (blk.unpack(r), &x[j][b]);
                    let s: i32 = (0..QK).map(|v| nibble(&wb.qs, v) as i32 * xb.qs[v] as i32).sum();
                    acc = (wb.d * xb.d).mul_add(s as f32, acc);
                    acc = wb.m.mul_add(xb.s, acc);
                }
                acc
            })
        })
    }

    pub fn q8_0<const R: usize>(w: &[BlockQ8_0x8], x: [&[BlockQ8_0]; R]) -> [[f32; ROWS]; R] {
        std::array::from_fn(|j| {
            std::array::from_fn(|r| {
                let mut acc = 0f32;
                for (b, blk) in w.iter().enumerate() {
                    let (wb, xb) = (blk.unpack(r), &x[j][b]);
                    let s: i32 = (0..QK).map(|v| wb.qs[v] as i32 * xb.qs[v] as i32).sum();
                    acc = (wb.d * xb.d).mul_add(s as f32, acc);
                }
                acc
            })
        })
    }
}

/// The kernels, written once over `quad_sums(acc, a: u8 x 32, b: i8 x 32)` (adds the
/// sum of each lane's four products to `acc`), which the module defines.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
macro_rules! interleaved_kernel {
    ($(#[$feature:meta])?) => {
        $(#[$feature])?
        pub unsafe fn q4_1<const R: usize>(w: &[BlockQ4_1x8], x: [&[BlockQ8_1]; R]) -> [[f32; ROWS]; R] {
            let low = _mm256_set1_epi8(0x0F);
            let mut acc = [_mm256_setzero_ps(); R];
            for (b, blk) in w.iter().enumerate() {
                // Low- and high-nibble sums in two chains (integer sums: exact in any order).
                let mut lo = [_mm256_setzero_si256(); R];
                let mut hi = [_mm256_setzero_si256(); R];
                for k in 0..4 {
                    let v = _mm256_load_si256(blk.qs.as_ptr().add(32 * k) as *const __m256i);
                    let vlo = _mm256_and_si256(v, low);
                    let vhi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                    for j in 0..R {
                        let q = x[j].get_unchecked(b).qs.as_ptr();
                        let xlo = _mm256_set1_epi32((q.add(4 * k) as *const i32).read_unaligned());
                        let xhi = _mm256_set1_epi32((q.add(16 + 4 * k) as *const i32).read_unaligned());
                        lo[j] = quad_sums(lo[j], vlo, xlo);
                        hi[j] = quad_sums(hi[j], vhi, xhi);
                    }
                }
                let d = _mm256_load_ps(blk.d.as_ptr());
                let m = _mm256_load_ps(blk.m.as_ptr());
                for j in 0..R {
                    let xb = x[j].get_unchecked(b);
                    let s = _mm256_cvtepi32_ps(_mm256_add_epi32(lo[j], hi[j]));
                    acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(xb.d)), s, acc[j]);
                    acc[j] = _mm256_fmadd_ps(m, _mm256_set1_ps(xb.s), acc[j]);
                }
            }
            lanes(acc)
        }

        $(#[$feature])?
        pub unsafe fn q8_0<const R: usize>(w: &[BlockQ8_0x8], x: [&[BlockQ8_0]; R]) -> [[f32; ROWS]; R] {
            let mut acc = [_mm256_setzero_ps(); R];
            for (b, blk) in w.iter().enumerate() {
                // Even and odd quads in two chains (integer sums: exact in any order).
                let mut sums = [[_mm256_setzero_si256(); R]; 2];
                for k in 0..8 {
                    let v = _mm256_load_si256(blk.qs.as_ptr().add(32 * k) as *const __m256i);
                    let magnitude = _mm256_sign_epi8(v, v);
                    for j in 0..R {
                        let q = x[j].get_unchecked(b).qs.as_ptr();
                        let xq = _mm256_set1_epi32((q.add(4 * k) as *const i32).read_unaligned());
                        sums[k & 1][j] = quad_sums(sums[k & 1][j], magnitude, _mm256_sign_epi8(xq, v));
                    }
                }
                let d = _mm256_load_ps(blk.d.as_ptr());
                for j in 0..R {
                    let s = _mm256_cvtepi32_ps(_mm256_add_epi32(sums[0][j], sums[1][j]));
                    acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[j].get_unchecked(b).d)), s, acc[j]);
                }
            }
            lanes(acc)
        }

        #[inline(always)]
        unsafe fn lanes<const R: usize>(acc: [__m256; R]) -> [[f32; ROWS]; R] {
            std::array::from_fn(|j| {
                let mut lanes = [0f32; ROWS];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[j]);
                lanes
            })
        }
    };
}

/// AVX2: `maddubs` (u8 x i8 pairs -> i16; `Q4_1`'s nibbles keep it far from saturation,
/// `Q8_0`'s 127 x 127 pairs reach 32,258 < 32,767) then `madd` with ones (-> i32).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2 {
    use std::arch::x86_64::*;

    use super::*;

    #[inline(always)]
    unsafe fn quad_sums(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)))
    }

    interleaved_kernel!();
}

/// AVX-512 VNNI on 256-bit vectors: one `vpdpbusd` per quad sum.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod vnni {
    use std::arch::x86_64::*;

    use super::*;

    #[target_feature(enable = "avx512vnni,avx512vl")]
    #[inline]
    unsafe fn quad_sums(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, a, b)
    }

    interleaved_kernel!(#[target_feature(enable = "avx512vnni,avx512vl")]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_source() -> impl FnMut() -> u8 {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        }
    }

    fn q4_1_blocks(rows: usize, kb: usize) -> Vec<BlockQ4_1> {
        let mut byte = byte_source();
        (0..rows * kb).map(|i| BlockQ4_1 { d: 0.01 + (i % 7) as f32 * 1e-3, m: -0.1 + (i % 5) as f32 * 0.03, qs: std::array::from_fn(|_| byte()) }).collect()
    }

    /// Weight bytes over ggml's `Q8_0` range -127..=127.
    fn q8_0_blocks(rows: usize, kb: usize) -> Vec<BlockQ8_0> {
        let mut byte = byte_source();
        (0..rows * kb).map(|i| BlockQ8_0 { d: 0.01 + (i % 7) as f32 * 1e-3, qs: std::array::from_fn(|_| (byte() as i8).max(-127)) }).collect()
    }

    /// `m` activation rows of `kb` blocks, the last block of each saturated at +-127.
    fn activation_values(m: usize, kb: usize) -> Vec<Vec<f32>> {
        (0..m)
            .map(|j| {
                let mut x: Vec<f32> = (0..kb * QK).map(|i| ((i as f32) * 0.13 + j as f32).sin() * 3.0).collect();
                x[(kb - 1) * QK..].iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 5.0 } else { -5.0 });
                x
            })
            .collect()
    }

    fn dot64(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f64 {
        a.zip(b).map(|(a, b)| a as f64 * b as f64).sum()
    }

    #[test]
    fn packing_round_trips_every_row() {
        let (rows, kb) = (16, 3);
        let (w4, w8) = (q4_1_blocks(rows, kb), q8_0_blocks(rows, kb));
        let (p4, p8) = (repack(&w4, rows, kb, BlockQ4_1x8::pack), repack(&w8, rows, kb, BlockQ8_0x8::pack));
        for r in 0..rows {
            for b in 0..kb {
                assert_eq!(p4[(r / ROWS) * kb + b].unpack(r % ROWS), w4[r * kb + b], "q4_1 row {r} block {b}");
                assert_eq!(p8[(r / ROWS) * kb + b].unpack(r % ROWS), w8[r * kb + b], "q8_0 row {r} block {b}");
            }
        }
    }

    /// `group_times_rows` (VNNI or AVX2 in this build) equals the portable kernel bit for
    /// bit for 1 to 9 activation rows, and the f64 dot product of the dequantized weight
    /// and activation to rounding.
    fn check_kernel<W: Interleaved + Copy>(packed: &[W], x: &[Vec<W::Act>], portable: fn(&[W], [&[W::Act]; 1]) -> [[f32; ROWS]; 1], exact: impl Fn(usize, usize) -> f64) {
        for m in 1..=x.len() {
            let xs: Vec<&[W::Act]> = x[..m].iter().map(Vec::as_slice).collect();
            let mut out = vec![[0f32; ROWS]; m];
            group_times_rows(packed, &xs, &mut out);
            for j in 0..m {
                let want_bits = portable(packed, [xs[j]])[0];
                for r in 0..ROWS {
                    assert_eq!(out[j][r].to_bits(), want_bits[r].to_bits(), "m {m} row {j} lane {r}");
                    let want = exact(r, j);
                    assert!((out[j][r] as f64 - want).abs() <= 1e-4 * want.abs().max(1.0), "{} vs {want}", out[j][r]);
                }
            }
        }
    }

    #[test]
    fn kernels_match_the_portable_kernels_and_the_dequantized_product() {
        let kb = 5;
        let values = activation_values(9, kb);

        let w = q4_1_blocks(ROWS, kb);
        let x: Vec<Vec<BlockQ8_1>> = values.iter().map(|v| v.chunks(QK).map(BlockQ8_1::quantize).collect()).collect();
        let exact = |r: usize, j: usize| {
            dot64((0..kb).flat_map(|b| w[r * kb + b].dequantize()), x[j].iter().flat_map(|b| b.qs.map(|q| q as f32 * b.d)))
        };
        check_kernel(&repack(&w, ROWS, kb, BlockQ4_1x8::pack), &x, scalar::q4_1::<1>, exact);

        let w = q8_0_blocks(ROWS, kb);
        let x: Vec<Vec<BlockQ8_0>> = values.iter().map(|v| v.chunks(QK).map(BlockQ8_0::quantize).collect()).collect();
        let exact = |r: usize, j: usize| dot64((0..kb).flat_map(|b| w[r * kb + b].dequantize()), x[j].iter().flat_map(|b| b.dequantize()));
        check_kernel(&repack(&w, ROWS, kb, BlockQ8_0x8::pack), &x, scalar::q8_0::<1>, exact);
    }

    /// The AVX2 and the VNNI kernels give the same bits.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    #[test]
    fn vnni_and_avx2_kernels_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("avx512vl")) {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let kb = 7;
        let values = activation_values(4, kb);
        let p4 = repack(&q4_1_blocks(ROWS, kb), ROWS, kb, BlockQ4_1x8::pack);
        let p8 = repack(&q8_0_blocks(ROWS, kb), ROWS, kb, BlockQ8_0x8::pack);
        let x1: Vec<Vec<BlockQ8_1>> = values.iter().map(|v| v.chunks(QK).map(BlockQ8_1::quantize).collect()).collect();
        let x0: Vec<Vec<BlockQ8_0>> = values.iter().map(|v| v.chunks(QK).map(BlockQ8_0::quantize).collect()).collect();
        let bits = |a: [[f32; ROWS]; 4]| a.map(|r| r.map(f32::to_bits));
        // SAFETY: AVX2/FMA by the cfg, AVX-512 VNNI/VL checked above; rows of kb blocks.
        unsafe {
            let xs: [&[BlockQ8_1]; 4] = std::array::from_fn(|j| x1[j].as_slice());
            assert_eq!(bits(vnni::q4_1::<4>(&p4, xs)), bits(avx2::q4_1::<4>(&p4, xs)));
            let xs: [&[BlockQ8_0]; 4] = std::array::from_fn(|j| x0[j].as_slice());
            assert_eq!(bits(vnni::q8_0::<4>(&p8, xs)), bits(avx2::q8_0::<4>(&p8, xs)));
        }
    }
}
