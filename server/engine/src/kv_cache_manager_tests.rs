use std::num::NonZeroUsize;
use std::sync::Arc;

use super::*;
use crate::ids::RequestId;
use crate::request::SeqSpec;
use crate::sampling::SamplingParams;

const BS: usize = 4;

fn manager(num_blocks: u32, enable_prefix_caching: bool) -> KvCacheManager {
    KvCacheManager::new(KvCacheConfig { num_blocks, block_size: BS, enable_prefix_caching })
}

fn seq(id: u64, prompt: &[u32]) -> Sequence {
    let spec = SeqSpec { seq_id: SeqId(id), prompt_token_ids: prompt.into(), params: Arc::new(SamplingParams::default()) };
    Sequence::new(RequestId(id), spec, id, 0, NonZeroUsize::new(BS))
}

/// Allocates and "computes" the whole prompt of `s`, then caches its full blocks.
fn prefill(kv: &mut KvCacheManager, s: &mut Sequence) -> ComputedBlocks {
    let hit = kv.get_computed_blocks(s);
    let n = s.num_tokens() - hit.num_tokens;
    kv.allocate_slots(s, n, &hit).expect("blocks");
    s.set_num_computed_tokens(s.num_tokens());
    kv.cache_full_blocks(s);
    hit
}

#[test]
fn allocate_slots_covers_the_new_tokens_with_whole_blocks() {
    let mut kv = manager(8, true);
    let s = seq(1, &[1, 2, 3, 4, 5]);
    assert_eq!(kv.allocate_slots(&s, 5, &ComputedBlocks::default()).unwrap().len(), 2);
    assert_eq!(kv.pool().num_free_blocks(), 6);
}

#[test]
fn allocate_slots_returns_none_and_changes_nothing_when_blocks_run_out() {
    let mut kv = manager(2, true);
    let s = seq(1, &[0; 9]);
    assert!(kv.allocate_slots(&s, 9, &ComputedBlocks::default()).is_none());
    assert!(kv.block_table(SeqId(1)).is_empty());
    assert_eq!(kv.pool().num_free_blocks(), 2);
}

#[test]
fn prefix_cache_reuse_after_free() {
    let mut kv = manager(8, true);
    let prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let mut first = seq(1, &prompt);
    prefill(&mut kv, &mut first);
    let first_table = kv.block_table(SeqId(1)).to_vec();
    kv.free(SeqId(1));
    assert_eq!(kv.usage(), 0.0);

    let mut second = seq(2, &prompt);
    let hit = prefill(&mut kv, &mut second);
    assert_eq!(hit.blocks, first_table[..2]);
    assert_eq!(hit.num_tokens, 8);
    assert_eq!(kv.block_table(SeqId(2))[..2], first_table[..2]);
}

#[test]
fn two_live_sequences_with_one_prefix_share_its_blocks() {
    let mut kv = manager(8, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6]);
    let mut b = seq(2, &[1, 2, 3, 4, 9]);
    prefill(&mut kv, &mut a);
    let hit = prefill(&mut kv, &mut b);
    assert_eq!(hit.blocks.len(), 1);
    let shared = kv.block_table(SeqId(1))[0];
    assert_eq!(kv.block_table(SeqId(2))[0], shared);
    assert_eq!(kv.pool().ref_cnt(shared), Some(2));
    kv.free(SeqId(1));
    assert_eq!(kv.pool().ref_cnt(shared), Some(1));
}

#[test]
fn the_last_token_is_never_served_from_the_cache() {
    let mut kv = manager(8, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6, 7, 8]);
    prefill(&mut kv, &mut a);
    kv.free(SeqId(1));
    let b = seq(2, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(kv.get_computed_blocks(&b).num_tokens, 4);
}

#[test]
fn a_different_token_in_an_earlier_block_ends_the_hit() {
    let mut kv = manager(8, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    prefill(&mut kv, &mut a);
    let b = seq(2, &[1, 2, 3, 0, 5, 6, 7, 8, 9]);
    assert_eq!(kv.get_computed_blocks(&b), ComputedBlocks::default());
}

#[test]
fn disabled_prefix_caching_never_hits() {
    let mut kv = manager(8, false);
    let mut a = seq(1, &[1, 2, 3, 4, 5]);
    prefill(&mut kv, &mut a);
    kv.free(SeqId(1));
    assert_eq!(kv.get_computed_blocks(&seq(2, &[1, 2, 3, 4, 5])), ComputedBlocks::default());
}

#[test]
fn a_hit_on_free_blocks_counts_them_against_the_free_pool() {
    let mut kv = manager(3, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    prefill(&mut kv, &mut a);
    kv.free(SeqId(1));
    // 2 cached free blocks + 1 free; the new sequence needs the 2 hits and 2 new blocks.
    let b = seq(2, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    let hit = kv.get_computed_blocks(&b);
    assert_eq!(hit.blocks.len(), 2);
    assert!(kv.allocate_slots(&b, 5, &hit).is_none());
    assert_eq!(kv.pool().num_free_blocks(), 3);
    assert!(kv.allocate_slots(&b, 1, &hit).is_some());
    assert_eq!(kv.pool().num_free_blocks(), 0);
}

#[test]
fn freeing_puts_the_tail_block_first_in_line_for_eviction() {
    let mut kv = manager(3, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    prefill(&mut kv, &mut a);
    let table = kv.block_table(SeqId(1)).to_vec();
    kv.free(SeqId(1));
    let order: Vec<BlockId> = kv.pool().free_block_ids().collect();
    assert_eq!(order, [table[2], table[1], table[0]]);
}

#[test]
fn reset_prefix_cache_ends_all_hits() {
    let mut kv = manager(4, true);
    let mut a = seq(1, &[1, 2, 3, 4, 5]);
    prefill(&mut kv, &mut a);
    kv.reset_prefix_cache();
    assert_eq!(kv.get_computed_blocks(&seq(2, &[1, 2, 3, 4, 5])), ComputedBlocks::default());
}

#[test]
fn blocks_held_across_a_reset_are_never_cached_later() {
    let mut kv = manager(8, true);
    // Block 0 of a 6-token prompt is computed before the reset, block 1 after it.
    let mut a = seq(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    kv.allocate_slots(&a, 6, &ComputedBlocks::default()).expect("blocks");
    a.set_num_computed_tokens(2);
    kv.cache_full_blocks(&a);
    kv.reset_prefix_cache();
    a.set_num_computed_tokens(9);
    kv.allocate_slots(&a, 3, &ComputedBlocks::default()).expect("blocks");
    kv.cache_full_blocks(&a);
    let table = kv.block_table(SeqId(1)).to_vec();
    assert!(table.iter().all(|&b| !kv.pool().is_cached(b)), "a stale table entered the index");
    assert_eq!(kv.get_computed_blocks(&seq(2, &[1, 2, 3, 4, 5, 6, 7, 8, 9])), ComputedBlocks::default());
    // A sequence that starts after the reset caches as usual.
    kv.free(SeqId(1));
    let mut b = seq(3, &[1, 2, 3, 4, 5]);
    prefill(&mut kv, &mut b);
    assert_eq!(kv.get_computed_blocks(&seq(4, &[1, 2, 3, 4, 5])).num_tokens, 4);
}
