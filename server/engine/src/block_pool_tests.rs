use super::*;
use crate::block_hash::hash_block_tokens;

fn free_ids(pool: &BlockPool) -> Vec<u32> {
    pool.free_block_ids().map(|b| b.0).collect()
}

#[test]
fn new_blocks_come_from_the_lru_end_of_the_free_queue() {
    let mut pool = BlockPool::new(4);
    let first = pool.get_new_blocks(2).unwrap();
    assert_eq!(first, [BlockId(0), BlockId(1)]);
    pool.free_blocks([BlockId(1), BlockId(0)]);
    assert_eq!(free_ids(&pool), [2, 3, 1, 0]);
    assert_eq!(pool.get_new_blocks(3).unwrap(), [BlockId(2), BlockId(3), BlockId(1)]);
}

#[test]
fn get_new_blocks_returns_none_and_changes_nothing_when_short() {
    let mut pool = BlockPool::new(3);
    pool.get_new_blocks(2).unwrap();
    assert_eq!(pool.get_new_blocks(2), None);
    assert_eq!(pool.num_free_blocks(), 1);
}

#[test]
fn usage_is_the_fraction_of_blocks_in_use() {
    let mut pool = BlockPool::new(4);
    assert_eq!(pool.usage(), 0.0);
    let blocks = pool.get_new_blocks(3).unwrap();
    assert_eq!(pool.usage(), 0.75);
    pool.touch(blocks[0]);
    pool.free_blocks(blocks);
    assert_eq!(pool.usage(), 0.25);
    pool.free_blocks([BlockId(0)]);
    assert_eq!(pool.usage(), 0.0);
}

#[test]
fn a_shared_block_is_free_only_after_its_last_reference_is_dropped() {
    let mut pool = BlockPool::new(2);
    let b = pool.get_new_blocks(1).unwrap()[0];
    pool.touch(b);
    pool.free_blocks([b]);
    assert_eq!(pool.ref_cnt(b), Some(1));
    assert_eq!(pool.num_free_blocks(), 1);
    pool.free_blocks([b]);
    assert_eq!(pool.ref_cnt(b), Some(0));
    assert_eq!(free_ids(&pool), [1, 0]);
}

#[test]
fn a_freed_block_keeps_its_hash_and_touch_takes_it_back_from_the_middle() {
    let mut pool = BlockPool::new(3);
    let b = pool.get_new_blocks(1).unwrap()[0];
    let h = hash_block_tokens(None, &[7, 8]);
    assert!(pool.cache_full_block(b, h, &[7, 8], None));
    pool.free_blocks([b]);
    assert_eq!(free_ids(&pool), [1, 2, 0]);
    pool.get_new_blocks(1).unwrap(); // takes block 1, block 0 keeps its content
    let hit = pool.get_cached_block(h, &[7, 8], None).unwrap();
    assert_eq!(hit, b);
    pool.touch(hit);
    assert_eq!(free_ids(&pool), [2]);
    assert_eq!(pool.ref_cnt(b), Some(1));
}

#[test]
fn a_free_cached_block_handed_out_as_new_loses_its_hash() {
    let mut pool = BlockPool::new(1);
    let b = pool.get_new_blocks(1).unwrap()[0];
    let h = hash_block_tokens(None, &[1]);
    pool.cache_full_block(b, h, &[1], None);
    pool.free_blocks([b]);
    assert_eq!(pool.get_new_blocks(1).unwrap(), [b]);
    assert!(!pool.is_cached(b));
    assert_eq!(pool.get_cached_block(h, &[1], None), None);
}

#[test]
fn a_hash_hit_with_different_token_ids_is_a_miss() {
    let mut pool = BlockPool::new(2);
    let b = pool.get_new_blocks(1).unwrap()[0];
    let h = BlockHash(42); // pretend two contents collide on this hash
    pool.cache_full_block(b, h, &[1, 2], None);
    assert_eq!(pool.get_cached_block(h, &[1, 3], None), None);
    assert_eq!(pool.get_cached_block(h, &[1, 2], None), Some(b));
}

#[test]
fn a_block_is_served_only_after_the_parent_it_was_computed_after() {
    let mut pool = BlockPool::new(4);
    let blocks = pool.get_new_blocks(3).unwrap();
    let (p, q, child) = (blocks[0], blocks[1], blocks[2]);
    pool.cache_full_block(p, BlockHash(1), &[1], None);
    pool.cache_full_block(q, BlockHash(2), &[2], None);
    pool.cache_full_block(child, BlockHash(3), &[3], Some(p));
    assert_eq!(pool.get_cached_block(BlockHash(3), &[3], Some(p)), Some(child));
    assert_eq!(pool.get_cached_block(BlockHash(3), &[3], Some(q)), None);
    assert_eq!(pool.get_cached_block(BlockHash(3), &[3], None), None);
}

#[test]
fn a_child_of_an_evicted_and_reused_parent_is_never_served() {
    let mut pool = BlockPool::new(2);
    let blocks = pool.get_new_blocks(2).unwrap();
    let (parent, child) = (blocks[0], blocks[1]);
    pool.cache_full_block(parent, BlockHash(1), &[1], None);
    pool.cache_full_block(child, BlockHash(2), &[2], Some(parent));
    pool.free_blocks([parent]);
    // The parent is evicted and recomputed with the same content under the same id.
    assert_eq!(pool.get_new_blocks(1).unwrap(), [parent]);
    pool.cache_full_block(parent, BlockHash(1), &[1], None);
    assert_eq!(pool.get_cached_block(BlockHash(1), &[1], None), Some(parent));
    assert_eq!(pool.get_cached_block(BlockHash(2), &[2], Some(parent)), None);
}

#[test]
fn caching_an_already_cached_block_changes_nothing() {
    let mut pool = BlockPool::new(1);
    let b = pool.get_new_blocks(1).unwrap()[0];
    assert!(pool.cache_full_block(b, BlockHash(5), &[5], None));
    assert!(!pool.cache_full_block(b, BlockHash(6), &[6], None));
    assert_eq!(pool.get_cached_block(BlockHash(5), &[5], None), Some(b));
    assert_eq!(pool.get_cached_block(BlockHash(6), &[6], None), None);
}

#[test]
fn two_blocks_with_the_same_content_are_both_indexed() {
    let mut pool = BlockPool::new(2);
    let blocks = pool.get_new_blocks(2).unwrap();
    pool.cache_full_block(blocks[0], BlockHash(9), &[9], None);
    pool.cache_full_block(blocks[1], BlockHash(9), &[9], None);
    pool.free_blocks([blocks[0]]);
    pool.get_new_blocks(1).unwrap(); // evicts blocks[0]
    assert_eq!(pool.get_cached_block(BlockHash(9), &[9], None), Some(blocks[1]));
}

#[test]
fn reset_prefix_cache_forgets_every_hash_but_keeps_blocks_in_use() {
    let mut pool = BlockPool::new(2);
    let blocks = pool.get_new_blocks(2).unwrap();
    pool.cache_full_block(blocks[0], BlockHash(1), &[1], None);
    pool.cache_full_block(blocks[1], BlockHash(2), &[2], None);
    pool.free_blocks([blocks[1]]);
    pool.reset_prefix_cache();
    assert_eq!(pool.get_cached_block(BlockHash(1), &[1], None), None);
    assert_eq!(pool.get_cached_block(BlockHash(2), &[2], None), None);
    assert_eq!(pool.ref_cnt(blocks[0]), Some(1));
    assert_eq!(pool.num_free_blocks(), 1);
}
