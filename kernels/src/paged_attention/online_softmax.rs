//! The inner loops: online-softmax attention of a tile of query rows (the GQA group
//! of query heads of one KV head, for one or more consecutive tokens of a sequence)
//! over a range of context positions read through a block table (Dao et al. 2022,
//! "FlashAttention", Algorithm 1; query tiles as in FlashAttention-2).
//!
//! Positions are processed in chunks of at most [`CHUNK`] that never cross a cache
//! block. Per chunk and query head: scores `s_p = q·k_p` (q pre-scaled), chunk max,
//! new running max `m' = max(m, max_p s_p)`, rescale the running sum `l` and
//! accumulator `acc` by `exp(m - m')`, then `l += Σ exp(s_p - m')` and
//! `acc += Σ exp(s_p - m') v_p`. The output is `acc / l`. All in f32.

use std::ops::Range;

use crate::elem::CacheElem;
use super::panel::{panel_scores, pv_rows, transpose_panel, W};
use crate::simd::{axpy, exp_shifted, max, scale, score, scores8, SCORES};

/// Positions per chunk: scores for a chunk stay in L1 next to the accumulators.
pub(crate) const CHUNK: usize = 32;

/// A K or V cache as one contiguous `[num_blocks, block_size, num_kv_heads, head_dim]` slice.
pub(crate) struct CacheView<'a, T> {
    pub k: &'a [T],
    pub v: &'a [T],
    pub block_size: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<T> CacheView<'_, T> {
    /// Start of the row of (block, offset, kv_head) in `k` or `v`.
    #[inline]
    fn row_start(&self, block: u32, offset: usize, kv_head: usize) -> usize {
        ((block as usize * self.block_size + offset) * self.num_kv_heads + kv_head) * self.head_dim
    }
}

/// Running softmax state of a tile's query rows: max `m`, sum `l`, unnormalized
/// output `acc` (`[rows, head_dim]`).
#[derive(Debug, Clone)]
pub(crate) struct GroupState {
    pub m: Vec<f32>,
    pub l: Vec<f32>,
    pub acc: Vec<f32>,
}

impl GroupState {
    pub fn new(rows: usize, head_dim: usize) -> Self {
        Self { m: vec![f32::NEG_INFINITY; rows], l: vec![0.0; rows], acc: vec![0.0; rows * head_dim] }
    }

    pub fn reset(&mut self) {
        self.m.fill(f32::NEG_INFINITY);
        self.l.fill(0.0);
        self.acc.fill(0.0);
    }

    /// Writes `acc / l` per head into `out` (`[group, head_dim]`).
    pub fn write_normalized(&self, out: &mut [f32]) {
        let head_dim = self.acc.len() / self.l.len();
        for ((out, acc), &l) in out.chunks_exact_mut(head_dim).zip(self.acc.chunks_exact(head_dim)).zip(&self.l) {
            let inv = if l > 0.0 { 1.0 / l } else { 0.0 };
            for (o, a) in out.iter_mut().zip(acc) {
                *o = a * inv;
            }
        }
    }
}

/// Per-thread buffers reused across work items.
pub(crate) struct Scratch {
    /// The tile's query rows times the softmax scale, `[rows, head_dim]`.
    pub q: Vec<f32>,
    /// Scores then weights of the current chunk, `[rows, CHUNK]`.
    scores: Vec<f32>,
    /// One K or V row converted to f32 (unused for an f32 cache).
    row: Vec<f32>,
    /// A panel of K transposed, `[head_dim, W]` (tiles of many rows); in a decode of
    /// a non-f32 cache, up to eight K rows widened to f32 (`[SCORES, head_dim]`).
    kt: Vec<f32>,
    /// The chunk's K rows, then its V rows, in f32, `[CHUNK, head_dim]` (a cache of
    /// another dtype only).
    vp: Vec<f32>,
}

impl Scratch {
    pub fn new(rows: usize, head_dim: usize) -> Self {
        Self {
            q: vec![0.0; rows * head_dim],
            scores: vec![0.0; rows * CHUNK],
            row: vec![0.0; head_dim],
            kt: vec![0.0; head_dim * W],
            vp: vec![0.0; CHUNK * head_dim],
        }
    }

    /// Loads query rows times `scale` at row `first` (`q_rows` holds whole rows).
    pub fn load_q(&mut self, first: usize, q_rows: &[f32], softmax_scale: f32) {
        let d = self.row.len();
        for (dst, src) in self.q[first * d..].iter_mut().zip(q_rows) {
            *dst = src * softmax_scale;
        }
    }
}

/// The query rows of one work item: `tokens` consecutive new tokens of one sequence
/// times the `group` query heads of one KV head, token-major (row `r` is token
/// `r / group`). Token `i` attends to positions `0..ctx_first + i` (causal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryTile {
    pub group: usize,
    /// Context length of the tile's first token.
    pub ctx_first: usize,
}

impl QueryTile {
    /// First row that attends to position `pos` (rows from there on all do).
    #[inline]
    fn first_row_seeing(&self, pos: usize, rows: usize) -> usize {
        ((pos + 1).saturating_sub(self.ctx_first) * self.group).min(rows)
    }
}

/// Folds positions `positions` of a sequence (block table `table`) for KV head
/// `kv_head` into `state`, for the tile's query rows in `scratch.q`. Each K/V row is
/// read once for all rows of the tile (query tiling as in FlashAttention-2, Dao 2023),
/// so a prefill streams the context once per tile instead of once per token.
pub(crate) fn attend<T: CacheElem>(
    cache: &CacheView<'_, T>,
    table: &[u32],
    kv_head: usize,
    positions: Range<usize>,
    tile: QueryTile,
    state: &mut GroupState,
    scratch: &mut Scratch,
) {
    let bs = cache.block_size;
    let rows = state.m.len();
    // The last row's token sees the most; nothing past its context is read.
    let end = positions.end.min(tile.ctx_first + rows.div_ceil(tile.group).saturating_sub(1));
    let mut pos = positions.start;
    while pos < end {
        let offset = pos % bs;
        let n = (bs - offset).min(CHUNK).min(end - pos);
        let first_row = cache.row_start(table[pos / bs], offset, kv_head);
        attend_chunk(cache, first_row, pos, n, tile, state, scratch);
        pos += n;
    }
}

/// One chunk of `n` consecutive slots of one block (positions `pos..pos + n`), whose
/// first K/V row starts at `first_row`; rows of consecutive slots are
/// `num_kv_heads * head_dim` apart. Rows that do not see a position give it weight 0.
fn attend_chunk<T: CacheElem>(
    cache: &CacheView<'_, T>,
    first_row: usize,
    pos: usize,
    n: usize,
    tile: QueryTile,
    state: &mut GroupState,
    scratch: &mut Scratch,
) {
    let d = cache.head_dim;
    let rows = state.m.len();
    let stride = cache.num_kv_heads * d;
    let Scratch { q, scores, row, kt, vp } = scratch;
    if rows >= TILED_MIN_ROWS {
        // Many rows: K^T of W positions at a time, then register-blocked products. An
        // f32 cache is read in place, another widened into `vp` first; positions past
        // the chunk repeat its last row (their scores are never read).
        let k32 = T::as_f32(cache.k);
        if k32.is_none() {
            for p in 0..n {
                let start = first_row + p * stride;
                vp[p * d..(p + 1) * d].copy_from_slice(T::row_f32(&cache.k[start..start + d], row));
            }
        }
        for col0 in (0..n).step_by(W) {
            let k_rows: [&[f32]; W] = std::array::from_fn(|c| {
                let p = (col0 + c).min(n - 1);
                match k32 {
                    Some(k) => &k[first_row + p * stride..][..d],
                    None => &vp[p * d..(p + 1) * d],
                }
            });
            transpose_panel(&k_rows, d, kt);
            panel_scores(&q[..rows * d], d, kt, &mut scores[col0..], CHUNK);
        }
    } else {
        // Eight positions at a time (one horizontal reduction for eight scores), read in
        // place from an f32 cache or widened into `kt`; the rest one by one, alike.
        let k32 = T::as_f32(cache.k);
        let mut p = 0;
        while p < n {
            let count = (n - p).min(SCORES);
            if k32.is_none() {
                for i in 0..count {
                    let start = first_row + (p + i) * stride;
                    kt[i * d..(i + 1) * d].copy_from_slice(T::row_f32(&cache.k[start..start + d], row));
                }
            }
            let kt: &[f32] = kt;
            let k_row = |i: usize| match k32 {
                Some(k) => &k[first_row + (p + i) * stride..][..d],
                None => &kt[i * d..(i + 1) * d],
            };
            if count == SCORES {
                let ks: [&[f32]; SCORES] = std::array::from_fn(k_row);
                // Rows that see none of the eight skip them; a row that sees only some
                // gets scores it never uses (weight 0 below).
                for (qi, q) in q.chunks_exact(d).enumerate().take(rows).skip(tile.first_row_seeing(pos + p, rows)) {
                    scores[qi * CHUNK + p..][..SCORES].copy_from_slice(&scores8(q, ks));
                }
            } else {
                for i in 0..count {
                    let k = k_row(i);
                    for (qi, q) in q.chunks_exact(d).enumerate().take(rows).skip(tile.first_row_seeing(pos + p + i, rows)) {
                        scores[qi * CHUNK + p + i] = score(q, k);
                    }
                }
            }
            p += count;
        }
    }
    // Register-blocked PV for every tile whose head_dim allows it, decode included: it
    // rounds as the per-position axpy does (see `pv_rows`), without loading and storing
    // the accumulators at every position.
    let blocked_pv = d.is_multiple_of(W);
    for (qi, acc) in state.acc.chunks_exact_mut(d).enumerate() {
        let visible = (tile.ctx_first + qi / tile.group).saturating_sub(pos).min(n);
        if blocked_pv {
            // Weight 0 for positions the row does not see (the blocked PV reads them all).
            scores[qi * CHUNK + visible..qi * CHUNK + n].fill(0.0);
        }
        if visible == 0 {
            continue;
        }
        let s = &mut scores[qi * CHUNK..qi * CHUNK + visible];
        let m_new = max(s, state.m[qi]);
        let sum = exp_shifted(s, m_new);
        if state.m[qi] != m_new {
            let correction = (state.m[qi] - m_new).exp();
            state.l[qi] *= correction;
            scale(acc, correction);
            state.m[qi] = m_new;
        }
        state.l[qi] += sum;
    }
    if blocked_pv {
        if let Some(v) = T::as_f32(cache.v) {
            // An f32 cache is read in place.
            pv_rows(scores, CHUNK, n, &v[first_row..], stride, &mut state.acc, d);
        } else {
            for p in 0..n {
                let start = first_row + p * stride;
                vp[p * d..(p + 1) * d].copy_from_slice(T::row_f32(&cache.v[start..start + d], row));
            }
            pv_rows(scores, CHUNK, n, vp, d, &mut state.acc, d);
        }
        return;
    }
    for p in 0..n {
        let from = tile.first_row_seeing(pos + p, rows);
        let start = first_row + p * stride;
        let v = T::row_f32(&cache.v[start..start + d], row);
        for (qi, acc) in state.acc.chunks_exact_mut(d).enumerate().skip(from) {
            axpy(acc, scores[qi * CHUNK + p], v);
        }
    }
}

/// From this many query rows on (a prefill tile), scores come from a transposed K panel
/// ([`panel_scores`]); fewer rows (decode) use [`scores8`] / [`score`]. All three give a
/// score the same bits, so the choice only changes speed.
const TILED_MIN_ROWS: usize = 8;

/// Merges the partial states of one query head over disjoint position ranges into
/// `out` (`head_dim` floats): `out = Σ_p e^{m_p - M} acc_p / Σ_p e^{m_p - M} l_p`
/// with `M = max_p m_p`. Each part is `(m, l, acc)`.
pub(crate) fn merge_parts<'a>(parts: impl Iterator<Item = (f32, f32, &'a [f32])> + Clone, out: &mut [f32]) {
    let m_max = parts.clone().fold(f32::NEG_INFINITY, |m, (pm, _, _)| m.max(pm));
    out.fill(0.0);
    let mut l_total = 0.0;
    for (m, l, acc) in parts {
        if m == f32::NEG_INFINITY {
            continue;
        }
        let w = (m - m_max).exp();
        l_total += w * l;
        axpy(out, w, acc);
    }
    if l_total > 0.0 {
        scale(out, 1.0 / l_total);
    }
}
