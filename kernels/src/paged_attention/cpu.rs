//! The CPU driver: runs the work items of a [`Schedule`] on rayon's thread pool.

use std::ops::Range;

use rayon::prelude::*;

use super::online_softmax::{attend, merge_parts, CacheView, GroupState, QueryTile, Scratch};
use super::plan::{choose_schedule, query_tiles, split_items, token_contexts, Schedule, SplitItems, TokenCtx, Q_TILE};
use super::shapes::AttnDims;
use crate::elem::CacheElem;
use crate::AttentionMetadata;

/// Everything a work item reads.
struct Inputs<'a, T> {
    /// `[num_tokens, num_heads, head_dim]`, contiguous f32.
    q: &'a [f32],
    cache: CacheView<'a, T>,
    meta: &'a AttentionMetadata,
    tokens: Vec<TokenCtx>,
    dims: AttnDims,
    softmax_scale: f32,
}

impl<T: CacheElem> Inputs<'_, T> {
    /// Loads the query rows of tokens `tokens` (consecutive, one sequence) for
    /// `kv_head`'s group and folds `positions` of their contexts into `state`
    /// (`tokens.len() * group` rows).
    fn attend_item(
        &self,
        tokens: Range<usize>,
        kv_head: usize,
        positions: Range<usize>,
        state: &mut GroupState,
        scratch: &mut Scratch,
    ) {
        let (g, d) = (self.dims.group(), self.dims.head_dim);
        for (i, token) in tokens.clone().enumerate() {
            let q_start = (token * self.dims.num_heads + kv_head * g) * d;
            scratch.load_q(i * g, &self.q[q_start..q_start + g * d], self.softmax_scale);
        }
        state.reset();
        let first = self.tokens[tokens.start];
        let table = &self.meta.block_tables[first.seq];
        let tile = QueryTile { group: g, ctx_first: first.ctx_len };
        attend(&self.cache, table, kv_head, positions, tile, state, scratch);
    }
}

/// Attention output `[num_tokens, num_heads, head_dim]` (f32) of a validated call.
/// With `batch_invariant`, each token's output depends on its own query and context
/// only (see [`Schedule`]).
pub(crate) fn run<T: CacheElem>(
    q: &[f32],
    cache: CacheView<'_, T>,
    meta: &AttentionMetadata,
    dims: AttnDims,
    softmax_scale: f32,
    batch_invariant: bool,
) -> Vec<f32> {
    let tokens = token_contexts(meta);
    let schedule = choose_schedule(&tokens, &dims, rayon::current_num_threads(), batch_invariant);
    let inputs = Inputs { q, cache, meta, tokens, dims, softmax_scale };
    let mut out = vec![0f32; dims.num_tokens * dims.num_heads * dims.head_dim];
    match schedule {
        Schedule::Direct { partition_len } => run_direct(&inputs, partition_len, &mut out),
        Schedule::Split { partition_len } => run_split(&inputs, partition_len, &mut out),
    }
    out
}

/// One item per (query tile, KV head): up to [`Q_TILE`] consecutive tokens of one
/// sequence share every K/V row they read. Each item returns its `[tokens, group,
/// head_dim]` output, scattered into `out` afterwards. With `partition_len`, the
/// context is folded one partition at a time and merged as [`run_split`] merges.
fn run_direct<T: CacheElem>(inputs: &Inputs<'_, T>, partition_len: Option<usize>, out: &mut [f32]) {
    let (g, d, kvh) = (inputs.dims.group(), inputs.dims.head_dim, inputs.dims.num_kv_heads);
    let tiles = query_tiles(&inputs.tokens, Q_TILE);
    let parts: Vec<Vec<f32>> = (0..tiles.len() * kvh)
        .into_par_iter()
        .map_init(
            || Scratch::new(Q_TILE * g, d),
            |scratch, item| {
                let (tile, kv_head) = (&tiles[item / kvh], item % kvh);
                let ctx_end = inputs.tokens[tile.end - 1].ctx_len;
                let mut part = vec![0f32; tile.len() * g * d];
                match partition_len {
                    Some(len) if ctx_end > len => {
                        let states: Vec<GroupState> = (0..ctx_end)
                            .step_by(len)
                            .map(|start| {
                                let mut state = GroupState::new(tile.len() * g, d);
                                let positions = start..(start + len).min(ctx_end);
                                inputs.attend_item(tile.clone(), kv_head, positions, &mut state, scratch);
                                state
                            })
                            .collect();
                        merge_rows(&states, d, &mut part);
                    }
                    _ => {
                        let mut state = GroupState::new(tile.len() * g, d);
                        inputs.attend_item(tile.clone(), kv_head, 0..ctx_end, &mut state, scratch);
                        state.write_normalized(&mut part);
                    }
                }
                part
            },
        )
        .collect();
    let row = inputs.dims.num_heads * d;
    for (item, part) in parts.iter().enumerate() {
        let (tile, kv_head) = (&tiles[item / kvh], item % kvh);
        for (token, src) in tile.clone().zip(part.chunks_exact(g * d)) {
            let at = token * row + kv_head * g * d;
            out[at..at + g * d].copy_from_slice(src);
        }
    }
}

/// Partial states per (token, KV head, partition), then one merge per token.
fn run_split<T: CacheElem>(inputs: &Inputs<'_, T>, partition_len: usize, out: &mut [f32]) {
    let (g, d) = (inputs.dims.group(), inputs.dims.head_dim);
    let SplitItems { items, first } = split_items(&inputs.tokens, inputs.dims.num_kv_heads, partition_len);
    let partials: Vec<GroupState> = items
        .par_iter()
        .map_init(
            || Scratch::new(g, d),
            |scratch, item| {
                let mut state = GroupState::new(g, d);
                inputs.attend_item(item.token..item.token + 1, item.kv_head, item.positions.clone(), &mut state, scratch);
                state
            },
        )
        .collect();
    let row = inputs.dims.num_heads * d;
    out.par_chunks_mut(row).enumerate().for_each(|(token, out)| {
        let token_parts = &partials[first[token]..first[token + 1]];
        let per_kv_head = token_parts.len() / inputs.dims.num_kv_heads;
        for (kv_head, out) in out.chunks_exact_mut(g * d).enumerate() {
            let parts = &token_parts[kv_head * per_kv_head..(kv_head + 1) * per_kv_head];
            merge_rows(parts, d, out);
        }
    });
}

/// Merges, row by row, the states of consecutive partitions of the same rows into
/// `out` (`[rows, head_dim]`); rows that saw nothing of a partition (max `-inf`) skip
/// it, so a row merges exactly the parts a split schedule gives its token.
fn merge_rows(parts: &[GroupState], d: usize, out: &mut [f32]) {
    for (qi, out) in out.chunks_exact_mut(d).enumerate() {
        let iter = parts.iter().map(|p| (p.m[qi], p.l[qi], &p.acc[qi * d..(qi + 1) * d]));
        merge_parts(iter, out);
    }
}
