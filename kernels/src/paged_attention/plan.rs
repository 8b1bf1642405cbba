//! How one `paged_attention` call is cut into parallel work items.
//!
//! The unit of work is a query tile and one KV head: up to [`Q_TILE`] consecutive new
//! tokens of one sequence times the `group` query heads that share that KV head, so
//! each K/V row is read (and converted from f16/bf16) once per tile instead of once
//! per query head and token. A prefill chunk gives plenty of items. A decode batch
//! (tiles of one token) may have fewer items than threads (one sequence, 2 KV heads:
//! 2 items), so then each token's context is also split into partitions of whole
//! blocks, each computed separately and merged afterwards (the split-K of
//! flash-decoding, Dao et al. 2023).
//!
//! Batch-invariant calls (the default) cut every token's context into the same fixed
//! partitions of [`invariant_partition_len`] positions, whichever schedule runs them:
//! a direct item folds each partition into its own state and merges them in order,
//! exactly as a split schedule does, so a token's output has the same bits in a
//! prefill chunk, in a decode, alone or among many (Thinking Machines, "Defeating
//! Nondeterminism in LLM Inference", 2025: fixed split sizes, not a fixed number of
//! splits).

use std::ops::Range;

use super::shapes::AttnDims;
use crate::AttentionMetadata;

/// Work items wanted per thread, so uneven items still balance.
const ITEMS_PER_THREAD: usize = 4;
/// Shortest partition worth its merge and scheduling overhead, in positions.
const MIN_PARTITION_LEN: usize = 128;

/// One new token: its sequence, and how many context positions it attends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenCtx {
    pub seq: usize,
    /// Positions `0..ctx_len` (its own position is `ctx_len - 1`).
    pub ctx_len: usize,
}

/// Every new token's context. New token `j` of a sequence with `q_len` new tokens and
/// `seq_len` context sits at position `seq_len - q_len + j`.
///
/// ```text
/// seq i:  | cached: 0 .. seq_len-q_len | new: j = 0 .. q_len |
///                                        token j attends to 0 ..= seq_len-q_len+j
/// ```
pub(crate) fn token_contexts(meta: &AttentionMetadata) -> Vec<TokenCtx> {
    let mut tokens = Vec::with_capacity(meta.num_tokens());
    for (seq, &seq_len) in meta.seq_lens.iter().enumerate() {
        let q_len = (meta.query_start_loc[seq + 1] - meta.query_start_loc[seq]) as usize;
        let first = seq_len as usize - q_len;
        tokens.extend((0..q_len).map(|j| TokenCtx { seq, ctx_len: first + j + 1 }));
    }
    tokens
}

/// Most consecutive tokens of one sequence in one query tile: with a GQA group of up
/// to 8 heads and head_dim 128, a tile's queries, accumulators and scores stay
/// within 256 KiB (L2); at SmolLM2's shape (group 3, head_dim 64) within 48 KiB (L1
/// of a Sapphire Rapids core). 16 rather than 8 halves the K transposes and K/V loads
/// per query row of a prefill (512-token prefill at SmolLM2's shape: 8.3 to 6.5 ms).
pub(crate) const Q_TILE: usize = 16;

/// Cuts the tokens into runs of at most `max` consecutive tokens of one sequence.
/// Decode tokens are tiles of one; a prefill chunk of `n` tokens gives `n / max` tiles
/// and a remainder.
pub(crate) fn query_tiles(tokens: &[TokenCtx], max: usize) -> Vec<Range<usize>> {
    let mut tiles = Vec::new();
    let mut start = 0;
    for i in 1..=tokens.len() {
        if i == tokens.len() || tokens[i].seq != tokens[start].seq || i - start == max {
            tiles.push(start..i);
            start = i;
        }
    }
    tiles
}

/// How the call is parallelized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// One item per (query tile, KV head). With `partition_len`, each item still folds
    /// its context partition by partition and merges them (batch-invariant calls);
    /// without, in one pass.
    Direct { partition_len: Option<usize> },
    /// Contexts cut into partitions of `partition_len` positions (a multiple of the
    /// block size), merged per (token, head) afterwards.
    Split { partition_len: usize },
}

/// Context positions per partition in a batch-invariant call: the multiple of the
/// block size nearest above 256, whatever the batch holds.
pub(crate) fn invariant_partition_len(block_size: usize) -> usize {
    INVARIANT_PARTITION_MIN.div_ceil(block_size) * block_size
}

/// Shortest partition of a batch-invariant call, in positions (two of
/// `MIN_PARTITION_LEN`: the merge of a 4k-context token is 16 parts of `head_dim`).
const INVARIANT_PARTITION_MIN: usize = 256;

/// Picks [`Schedule::Split`] only when there are fewer (token, KV head) items than
/// `ITEMS_PER_THREAD * threads` and some context is long enough to cut. With
/// `batch_invariant` the partitions are [`invariant_partition_len`] long in both
/// schedules (the choice between them then only moves work between threads).
pub(crate) fn choose_schedule(tokens: &[TokenCtx], dims: &AttnDims, threads: usize, batch_invariant: bool) -> Schedule {
    let items = tokens.len() * dims.num_kv_heads;
    let wanted = ITEMS_PER_THREAD * threads.max(1);
    let max_ctx = tokens.iter().map(|t| t.ctx_len).max().unwrap_or(0);
    if batch_invariant {
        let partition_len = invariant_partition_len(dims.block_size);
        if items == 0 || items >= wanted || max_ctx <= partition_len {
            return Schedule::Direct { partition_len: Some(partition_len) };
        }
        return Schedule::Split { partition_len };
    }
    if items == 0 || items >= wanted {
        return Schedule::Direct { partition_len: None };
    }
    let parts = wanted.div_ceil(items);
    let len = max_ctx.div_ceil(parts).max(MIN_PARTITION_LEN);
    let partition_len = len.div_ceil(dims.block_size) * dims.block_size;
    if partition_len >= max_ctx {
        Schedule::Direct { partition_len: None }
    } else {
        Schedule::Split { partition_len }
    }
}

/// A partition of one token's context for one KV head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitItem {
    pub token: usize,
    pub kv_head: usize,
    pub positions: Range<usize>,
}

/// The items of a split schedule, ordered by token, then KV head, then partition;
/// `first[t]..first[t + 1]` are token `t`'s items (`num_kv_heads` runs of equal length).
pub(crate) struct SplitItems {
    pub items: Vec<SplitItem>,
    pub first: Vec<usize>,
}

pub(crate) fn split_items(tokens: &[TokenCtx], num_kv_heads: usize, partition_len: usize) -> SplitItems {
    let mut items = Vec::new();
    let mut first = Vec::with_capacity(tokens.len() + 1);
    for (token, t) in tokens.iter().enumerate() {
        first.push(items.len());
        for kv_head in 0..num_kv_heads {
            for start in (0..t.ctx_len).step_by(partition_len) {
                let positions = start..(start + partition_len).min(t.ctx_len);
                items.push(SplitItem { token, kv_head, positions });
            }
        }
    }
    first.push(items.len());
    SplitItems { items, first }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(num_tokens: usize, num_kv_heads: usize, block_size: usize) -> AttnDims {
        let (num_heads, head_dim, num_blocks) = (num_kv_heads * 2, 64, 1000);
        AttnDims { num_tokens, num_heads, num_kv_heads, head_dim, block_size, num_blocks }
    }

    #[test]
    fn token_contexts_place_new_tokens_after_the_cached_ones() {
        let meta = AttentionMetadata {
            block_size: 4,
            slot_mapping: vec![0; 4],
            query_start_loc: vec![0, 3, 4],
            seq_lens: vec![5, 9],
            block_tables: vec![vec![0, 1], vec![2, 3, 4]],
        };
        let lens: Vec<_> = token_contexts(&meta).iter().map(|t| (t.seq, t.ctx_len)).collect();
        assert_eq!(lens, vec![(0, 3), (0, 4), (0, 5), (1, 9)]);
    }

    #[test]
    fn a_long_prefill_runs_directly_and_a_single_long_decode_is_split() {
        let prefill = vec![TokenCtx { seq: 0, ctx_len: 100 }; 512];
        assert_eq!(choose_schedule(&prefill, &dims(512, 2, 16), 16, false), Schedule::Direct { partition_len: None });
        let decode = [TokenCtx { seq: 0, ctx_len: 4000 }];
        let Schedule::Split { partition_len } = choose_schedule(&decode, &dims(1, 2, 16), 16, false) else {
            panic!("a lone decode over 4000 positions should be split");
        };
        assert_eq!(partition_len % 16, 0);
        assert!((MIN_PARTITION_LEN..4000).contains(&partition_len));
    }

    #[test]
    fn query_tiles_are_runs_of_one_sequence_cut_at_the_maximum() {
        let ctx = |seq, ctx_len| TokenCtx { seq, ctx_len };
        // seq 0: a decode; seq 1: a 5-token prefill chunk; seq 2: a decode.
        let tokens = [ctx(0, 9), ctx(1, 3), ctx(1, 4), ctx(1, 5), ctx(1, 6), ctx(1, 7), ctx(2, 1)];
        assert_eq!(query_tiles(&tokens, 2), vec![0..1, 1..3, 3..5, 5..6, 6..7]);
        assert_eq!(query_tiles(&tokens, 8), vec![0..1, 1..6, 6..7]);
        assert!(query_tiles(&[], 8).is_empty());
    }

    #[test]
    fn a_short_decode_is_not_split() {
        let decode = [TokenCtx { seq: 0, ctx_len: 100 }];
        assert_eq!(choose_schedule(&decode, &dims(1, 2, 16), 16, false), Schedule::Direct { partition_len: None });
    }

    #[test]
    fn batch_invariant_partitions_have_one_length_whatever_the_batch_or_threads() {
        let p = invariant_partition_len(16);
        assert_eq!(p, 256);
        assert_eq!(invariant_partition_len(48), 288);
        let decode = [TokenCtx { seq: 0, ctx_len: 4000 }];
        let prefill = vec![TokenCtx { seq: 0, ctx_len: 4000 }; 512];
        for threads in [1, 2, 16, 64] {
            assert_eq!(choose_schedule(&decode, &dims(1, 2, 16), threads, true), Schedule::Split { partition_len: p });
            let direct = choose_schedule(&prefill, &dims(512, 2, 16), threads, true);
            assert_eq!(direct, Schedule::Direct { partition_len: Some(p) });
        }
    }

    #[test]
    fn split_items_cover_every_position_of_every_token_and_kv_head_once() {
        let tokens = [TokenCtx { seq: 0, ctx_len: 300 }, TokenCtx { seq: 1, ctx_len: 1 }];
        let split = split_items(&tokens, 2, 128);
        assert_eq!(split.first, vec![0, 6, 8]);
        for (t, tok) in tokens.iter().enumerate() {
            for kv_head in 0..2 {
                let mut covered: Vec<usize> = split.items[split.first[t]..split.first[t + 1]]
                    .iter()
                    .filter(|i| i.kv_head == kv_head && i.token == t)
                    .flat_map(|i| i.positions.clone())
                    .collect();
                covered.sort_unstable();
                assert_eq!(covered, (0..tok.ctx_len).collect::<Vec<_>>());
            }
        }
    }
}
