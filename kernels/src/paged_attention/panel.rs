//! The two register-blocked products of a query tile with one chunk of K/V rows:
//! scores from a transposed K panel ([`panel_scores`]) and the weighted V sum
//! ([`pv_rows`]). Both give every element the bits of the one-row code a decode uses
//! ([`score`](crate::simd::score) and [`axpy`](crate::simd::axpy)), so a token's
//! output does not depend on whether it was computed in a prefill tile or alone; they
//! only reuse each loaded K/V vector for several query rows.

/// Positions per transposed K panel (two AVX2 registers of scores per row).
pub(crate) const W: usize = 16;

/// Query rows per register block: 6 rows x 2 registers of accumulators, 2 registers of
/// K or V and one broadcast use 15 of AVX2's 16 registers.
const R: usize = 6;

/// `scores[r * stride + c] = score(q_r, k_c)` for every row `r` of `q` (`[rows, d]`)
/// and the `W` positions of `kt` (K transposed, `[d, W]`), with the bits of
/// [`score`](crate::simd::score): lane `l` of eight sums the products of elements
/// `l, l + 8, ...` in order (one fused multiply-add each), the lanes are added by the
/// tree `((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`, then the `d % 8` tail
/// elements in order.
///
/// Lane `l` of `score` is here a column of `kt` rows `l, l + 8, ...`: one K vector of
/// 8 positions serves [`R`] query rows, and no score needs a horizontal reduction.
///
/// Panics if `kt` is shorter than `d * W` or `scores` than `(rows - 1) * stride + W`.
pub(crate) fn panel_scores(q: &[f32], d: usize, kt: &[f32], scores: &mut [f32], stride: usize) {
    let rows = q.len().checked_div(d).unwrap_or(0);
    if rows == 0 {
        return;
    }
    assert!(kt.len() >= d * W && scores.len() >= (rows - 1) * stride + W, "panel_scores: short kt or scores");
    let mut r = 0;
    while r < rows {
        let block = (rows - r).min(R);
        let q = &q[r * d..(r + block) * d];
        let out = &mut scores[r * stride..];
        match block {
            6 => scores_block::<6>(q, d, kt, out, stride),
            5 => scores_block::<5>(q, d, kt, out, stride),
            4 => scores_block::<4>(q, d, kt, out, stride),
            3 => scores_block::<3>(q, d, kt, out, stride),
            2 => scores_block::<2>(q, d, kt, out, stride),
            _ => scores_block::<1>(q, d, kt, out, stride),
        }
        r += block;
    }
}

/// [`panel_scores`] for `B` rows (`q` holds exactly `B` rows).
#[inline(always)]
fn scores_block<const B: usize>(q: &[f32], d: usize, kt: &[f32], out: &mut [f32], stride: usize) {
    let body = d / 8 * 8;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA. `q` holds `B * d` floats and every read
    // is at `i * d + e` with `i < B`, `e < body <= d`; `kt` holds `d * W` (checked by
    // the caller) and every load reads 8 floats at `e * W` or `e * W + 8`; `out` holds
    // `(B - 1) * stride + W` (checked by the caller) and every store writes 8 floats
    // at `i * stride` or `i * stride + 8`.
    unsafe {
        use std::arch::x86_64::*;
        let (q, kt) = (q.as_ptr(), kt.as_ptr());
        let mut lanes = [[[_mm256_setzero_ps(); 2]; B]; 8];
        for (l, lane) in lanes.iter_mut().enumerate() {
            let mut acc = [[_mm256_setzero_ps(); 2]; B];
            let mut e = l;
            while e < body {
                let k0 = _mm256_loadu_ps(kt.add(e * W));
                let k1 = _mm256_loadu_ps(kt.add(e * W + 8));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*q.add(i * d + e));
                    acc[0] = _mm256_fmadd_ps(x, k0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(x, k1, acc[1]);
                }
                e += 8;
            }
            *lane = acc;
        }
        for (i, h) in (0..B).flat_map(|i| [(i, 0), (i, 1)]) {
            let s = |l: usize| lanes[l][i][h];
            let low = _mm256_add_ps(_mm256_add_ps(s(0), s(1)), _mm256_add_ps(s(2), s(3)));
            let high = _mm256_add_ps(_mm256_add_ps(s(4), s(5)), _mm256_add_ps(s(6), s(7)));
            _mm256_storeu_ps(out.as_mut_ptr().add(i * stride + h * 8), _mm256_add_ps(low, high));
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    for i in 0..B {
        for c in 0..W {
            let mut acc = [0f32; 8];
            for e in 0..body {
                acc[e % 8] = q[i * d + e].mul_add(kt[e * W + c], acc[e % 8]);
            }
            out[i * stride + c] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
    }
    for i in 0..B {
        for c in 0..W {
            let mut sum = out[i * stride + c];
            for e in body..d {
                sum += q[i * d + e] * kt[e * W + c];
            }
            out[i * stride + c] = sum;
        }
    }
}

/// `kt[e * W + c] = k[c][e]` for `c < W`, `e < d`: `W` K rows (each at least `d`
/// long) transposed into a panel for [`panel_scores`]. With AVX2, 8 x 8 blocks go
/// through registers (8 loads, 24 shuffles, 8 stores), where an element-wise copy
/// does one strided scalar store per element.
///
/// Panics if `kt` is shorter than `d * W` or a row shorter than `d`.
pub(crate) fn transpose_panel(k: &[&[f32]; W], d: usize, kt: &mut [f32]) {
    assert!(kt.len() >= d * W && k.iter().all(|k| k.len() >= d), "transpose_panel: short kt or K row");
    let body = d / 8 * 8;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    // SAFETY: the cfg guarantees AVX2; every row holds `d >= body` floats (loads of 8
    // at `j0 < body`) and `kt` holds `d * W` (stores of 8 at `(j0 + t) * W + c0`,
    // `c0 + 8 <= W`), both checked above.
    unsafe {
        use std::arch::x86_64::*;
        for c0 in (0..W).step_by(8) {
            for j0 in (0..body).step_by(8) {
                let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(k[c0 + i].as_ptr().add(j0)));
                let t = [
                    _mm256_unpacklo_ps(r[0], r[1]),
                    _mm256_unpackhi_ps(r[0], r[1]),
                    _mm256_unpacklo_ps(r[2], r[3]),
                    _mm256_unpackhi_ps(r[2], r[3]),
                    _mm256_unpacklo_ps(r[4], r[5]),
                    _mm256_unpackhi_ps(r[4], r[5]),
                    _mm256_unpacklo_ps(r[6], r[7]),
                    _mm256_unpackhi_ps(r[6], r[7]),
                ];
                let u = [
                    _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                    _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                    _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                    _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                    _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                    _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                    _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                    _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
                ];
                let dst = kt.as_mut_ptr().add(j0 * W + c0);
                for i in 0..4 {
                    _mm256_storeu_ps(dst.add(i * W), _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]));
                    _mm256_storeu_ps(dst.add((i + 4) * W), _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]));
                }
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
    for (c, k) in k.iter().enumerate() {
        for e in 0..body {
            kt[e * W + c] = k[e];
        }
    }
    for (c, k) in k.iter().enumerate() {
        for e in body..d {
            kt[e * W + c] = k[e];
        }
    }
}

/// `acc_r += Σ_p w[r * stride + p] · v_p` for every row `r` of `acc` (`[rows, d]`,
/// `d % W == 0`) and V rows `v_p = v[p * v_stride..][..d]`, `p < n`: one fused
/// multiply-add per position and element, in position order, as
/// [`axpy`](crate::simd::axpy) per position gives. `W` output columns of [`R`] rows
/// stay in registers across all positions.
///
/// Panics if `d % W != 0`, or `w` or `v` is too short for `rows` and `n`.
pub(crate) fn pv_rows(w: &[f32], stride: usize, n: usize, v: &[f32], v_stride: usize, acc: &mut [f32], d: usize) {
    let rows = acc.len().checked_div(d).unwrap_or(0);
    if rows == 0 || n == 0 {
        return;
    }
    assert!(d.is_multiple_of(W), "pv_rows: head_dim {d} is not a multiple of {W}");
    assert!(w.len() >= (rows - 1) * stride + n && v.len() >= (n - 1) * v_stride + d, "pv_rows: short w or v");
    let mut r = 0;
    while r < rows {
        let block = (rows - r).min(R);
        let (w, acc) = (&w[r * stride..], &mut acc[r * d..(r + block) * d]);
        match block {
            6 => pv_block::<6>(w, stride, n, v, v_stride, acc, d),
            5 => pv_block::<5>(w, stride, n, v, v_stride, acc, d),
            4 => pv_block::<4>(w, stride, n, v, v_stride, acc, d),
            3 => pv_block::<3>(w, stride, n, v, v_stride, acc, d),
            2 => pv_block::<2>(w, stride, n, v, v_stride, acc, d),
            _ => pv_block::<1>(w, stride, n, v, v_stride, acc, d),
        }
        r += block;
    }
}

/// [`pv_rows`] for `B` rows (`acc` holds exactly `B` rows; `v` starts at `v_0`).
#[inline(always)]
fn pv_block<const B: usize>(w: &[f32], stride: usize, n: usize, v: &[f32], v_stride: usize, acc: &mut [f32], d: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    // SAFETY: the cfg guarantees AVX2 and FMA. `pv_rows` checked that `w` holds
    // `(B - 1) * stride + n` floats (reads at `i * stride + p`, `i < B`, `p < n`) and
    // `v` at least `(n - 1) * v_stride + d` (loads of 8 at `p * v_stride + c0 + h * 8`,
    // `c0 + 16 <= d`); `acc` holds `B * d` (8 at `i * d + c0 + h * 8`).
    unsafe {
        use std::arch::x86_64::*;
        let (w, v, a) = (w.as_ptr(), v.as_ptr(), acc.as_mut_ptr());
        for c0 in (0..d).step_by(W) {
            let mut sums: [[__m256; 2]; B] = std::array::from_fn(|i| {
                [_mm256_loadu_ps(a.add(i * d + c0)), _mm256_loadu_ps(a.add(i * d + c0 + 8))]
            });
            for p in 0..n {
                let row = v.add(p * v_stride + c0);
                let (v0, v1) = (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)));
                for (i, sums) in sums.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*w.add(i * stride + p));
                    sums[0] = _mm256_fmadd_ps(x, v0, sums[0]);
                    sums[1] = _mm256_fmadd_ps(x, v1, sums[1]);
                }
            }
            for (i, sums) in sums.iter().enumerate() {
                _mm256_storeu_ps(a.add(i * d + c0), sums[0]);
                _mm256_storeu_ps(a.add(i * d + c0 + 8), sums[1]);
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    for p in 0..n {
        let v = &v[p * v_stride..p * v_stride + d];
        for i in 0..B {
            crate::simd::axpy(&mut acc[i * d..(i + 1) * d], w[i * stride + p], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{axpy, score};

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A fixed pseudo-random spread of magnitudes and signs (no RNG dependency).
        (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1 << 23) as f32 - 1.0).collect()
    }

    /// Every score of every row count 1..=13 and head size (with and without a tail)
    /// has the bits of `score` on the same query and K row.
    #[test]
    fn panel_scores_give_each_score_the_bits_of_score() {
        for d in [8, 40, 64, 68, 128] {
            for rows in 1..=13 {
                let q = values(rows * d, 7);
                let k = values(W * d, 99); // K rows, [W, d]
                let mut kt = vec![0f32; d * W];
                for c in 0..W {
                    for e in 0..d {
                        kt[e * W + c] = k[c * d + e];
                    }
                }
                let stride = 32;
                let mut scores = vec![f32::NAN; rows * stride];
                panel_scores(&q, d, &kt, &mut scores, stride);
                for r in 0..rows {
                    for c in 0..W {
                        let want = score(&q[r * d..(r + 1) * d], &k[c * d..(c + 1) * d]);
                        assert_eq!(scores[r * stride + c].to_bits(), want.to_bits(), "d {d} rows {rows} r {r} c {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn transpose_panel_puts_row_c_element_e_at_e_w_plus_c() {
        for d in [8, 20, 64] {
            let k = values(W * d, 1);
            let rows: [&[f32]; W] = std::array::from_fn(|c| &k[c * d..(c + 1) * d]);
            let mut kt = vec![f32::NAN; d * W];
            transpose_panel(&rows, d, &mut kt);
            for c in 0..W {
                for e in 0..d {
                    assert_eq!(kt[e * W + c], k[c * d + e], "d {d} c {c} e {e}");
                }
            }
        }
    }

    /// Every row count 1..=13 and position count gives each accumulator the bits of one
    /// `axpy` per position in order, with V rows read at a stride.
    #[test]
    fn pv_rows_give_the_bits_of_one_axpy_per_position() {
        for d in [16, 64, 128] {
            for rows in 1..=13 {
                for n in [1, 7, 16] {
                    let (stride, v_stride, first) = (32, d + 24, 5);
                    let w = values(rows * stride, 3);
                    let v = values(first + n * v_stride, 11);
                    let start = values(rows * d, 5);
                    let mut got = start.clone();
                    pv_rows(&w, stride, n, &v[first..], v_stride, &mut got, d);
                    let mut want = start;
                    for p in 0..n {
                        let v = &v[first + p * v_stride..][..d];
                        for r in 0..rows {
                            axpy(&mut want[r * d..(r + 1) * d], w[r * stride + p], v);
                        }
                    }
                    let bits = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "d {d} rows {rows} n {n}");
                }
            }
        }
    }
}
