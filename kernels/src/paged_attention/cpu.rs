//! The CPU driver: runs the work items of a [`Schedule`] on rayon's thread pool.

use rayon::prelude::*;

use super::online_softmax::{attend, merge_parts, CacheView, GroupState, Scratch};
use super::plan::{choose_schedule, split_items, token_contexts, Schedule, SplitItems, TokenCtx};
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
    /// Loads token `token`'s query rows for `kv_head`'s group and folds `positions`
    /// of its context into `state`.
    fn attend_item(
        &self,
        token: usize,
        kv_head: usize,
        positions: std::ops::Range<usize>,
        state: &mut GroupState,
        scratch: &mut Scratch,
    ) {
        let (g, d) = (self.dims.group(), self.dims.head_dim);
        let q_start = (token * self.dims.num_heads + kv_head * g) * d;
        scratch.load_q(&self.q[q_start..q_start + g * d], self.softmax_scale);
        state.reset();
        let table = &self.meta.block_tables[self.tokens[token].seq];
        attend(&self.cache, table, kv_head, positions, state, scratch);
    }
}

/// Attention output `[num_tokens, num_heads, head_dim]` (f32) of a validated call.
pub(crate) fn run<T: CacheElem>(
    q: &[f32],
    cache: CacheView<'_, T>,
    meta: &AttentionMetadata,
    dims: AttnDims,
    softmax_scale: f32,
) -> Vec<f32> {
    let tokens = token_contexts(meta);
    let schedule = choose_schedule(&tokens, &dims, rayon::current_num_threads());
    let inputs = Inputs { q, cache, meta, tokens, dims, softmax_scale };
    let mut out = vec![0f32; dims.num_tokens * dims.num_heads * dims.head_dim];
    match schedule {
        Schedule::Direct => run_direct(&inputs, &mut out),
        Schedule::Split { partition_len } => run_split(&inputs, partition_len, &mut out),
    }
    out
}

/// One item per (token, KV head); its `group` output heads are contiguous in `out`.
fn run_direct<T: CacheElem>(inputs: &Inputs<'_, T>, out: &mut [f32]) {
    let (g, d, kvh) = (inputs.dims.group(), inputs.dims.head_dim, inputs.dims.num_kv_heads);
    out.par_chunks_mut(g * d).enumerate().for_each_init(
        || (GroupState::new(g, d), Scratch::new(g, d)),
        |(state, scratch), (item, out)| {
            let (token, kv_head) = (item / kvh, item % kvh);
            let ctx_len = inputs.tokens[token].ctx_len;
            inputs.attend_item(token, kv_head, 0..ctx_len, state, scratch);
            state.write_normalized(out);
        },
    );
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
                inputs.attend_item(item.token, item.kv_head, item.positions.clone(), &mut state, scratch);
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
            for (qi, out) in out.chunks_exact_mut(d).enumerate() {
                let iter = parts.iter().map(|p| (p.m[qi], p.l[qi], &p.acc[qi * d..(qi + 1) * d]));
                merge_parts(iter, out);
            }
        }
    });
}
