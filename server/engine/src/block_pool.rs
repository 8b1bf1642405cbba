//! `BlockPool`: ref counts, the LRU free queue and the prefix-cache index of the KV
//! cache's blocks. Follows vLLM v1's `BlockPool` (and mistral.rs' port of it): a flat
//! arena of blocks indexed by `BlockId`, no `Rc`/`RefCell`/locks.
//!
//! A block is *in use* while its ref count is above 0 (one per block table holding it)
//! and *free* otherwise; free blocks wait in the LRU free queue. A full block may carry
//! a cached content (hash, token ids, parent); it keeps it when freed, so a later prompt
//! with the same prefix can take it back (`touch`), and loses it only when the block is
//! handed out as a new block (eviction).
//!
//! Complexity: `get_new_blocks(n)` O(n); `free_blocks` O(1) per block; `touch` O(1);
//! `cache_full_block` O(block_size); `get_cached_block` O(block_size) per candidate of
//! the hash (almost always one).
//!
//! Collision safety: hashes are 64-bit xxh3, so a hit is verified, never trusted. A
//! cached block stores its token ids and a link to its parent block together with the
//! parent's *generation* (a counter bumped whenever that block's cached content is
//! evicted). A hit requires equal token ids and that the candidate's parent link is the
//! block the caller matched for the previous position, at its current generation. By
//! induction from the first block, a served block holds K/V computed from exactly the
//! caller's prefix, so a collision can cost a cache hit but can never serve wrong K/V.
//! (vLLM trusts the hash alone, with sha256 for stronger guarantees.)

use std::collections::HashMap;

use crate::block_hash::BlockHash;
use crate::free_queue::FreeQueue;
use crate::ids::BlockId;

/// The parent a cached block was computed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParentLink {
    block: BlockId,
    /// The parent's `generation` when the child was cached.
    generation: u64,
}

/// What a cached full block holds.
#[derive(Debug, Clone)]
struct CachedContent {
    hash: BlockHash,
    /// `None` for a sequence's first block.
    parent: Option<ParentLink>,
    /// The block's token ids (`block_size` of them).
    tokens: Box<[u32]>,
}

/// Bookkeeping of one block.
#[derive(Debug, Clone, Default)]
struct BlockMeta {
    /// Number of block tables holding the block; 0 exactly when it is in the free queue.
    ref_cnt: u32,
    /// Incremented every time `cached` is evicted, so stale parent links never match.
    generation: u64,
    /// Present while the block is in the prefix-cache index under `cached.hash`.
    cached: Option<CachedContent>,
}

/// All KV blocks of one cache: ref counts, free queue, prefix-cache index.
#[derive(Debug, Clone)]
pub struct BlockPool {
    /// Per-block state, indexed by `BlockId`.
    blocks: Vec<BlockMeta>,
    /// Blocks with `ref_cnt == 0`, LRU first; each exactly once.
    free: FreeQueue,
    /// Prefix-cache index: `b ∈ cached[h]` exactly when `blocks[b].cached.hash == h`.
    /// Several blocks may share a hash (the same prefix computed twice, or a collision).
    cached: HashMap<BlockHash, Vec<BlockId>>,
}

impl BlockPool {
    /// A pool of `num_blocks` free, uncached blocks (ids `0..num_blocks`).
    pub fn new(num_blocks: u32) -> Self {
        Self {
            blocks: vec![BlockMeta::default(); num_blocks as usize],
            free: FreeQueue::new(num_blocks),
            cached: HashMap::new(),
        }
    }

    /// Total number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Number of free blocks (ref count 0), cached or not: all can be handed out.
    pub fn num_free_blocks(&self) -> usize {
        self.free.len()
    }

    /// Fraction of blocks in use (ref count above 0), in `0.0..=1.0`.
    pub fn usage(&self) -> f64 {
        if self.blocks.is_empty() {
            return 0.0;
        }
        (self.num_blocks() - self.num_free_blocks()) as f64 / self.num_blocks() as f64
    }

    /// The block's ref count (`None` for an id outside the pool).
    pub fn ref_cnt(&self, block: BlockId) -> Option<u32> {
        self.blocks.get(block.index()).map(|b| b.ref_cnt)
    }

    /// Whether the block is in the prefix-cache index.
    pub fn is_cached(&self, block: BlockId) -> bool {
        self.blocks.get(block.index()).is_some_and(|b| b.cached.is_some())
    }

    /// The free blocks in eviction order (first is handed out next).
    pub fn free_block_ids(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.free.iter()
    }

    /// Takes `n` blocks from the front of the free queue, each with ref count 1, evicting
    /// their cached content. `None` (and no change) when fewer than `n` are free.
    pub fn get_new_blocks(&mut self, n: usize) -> Option<Vec<BlockId>> {
        if n > self.free.len() {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let block = self.free.pop_front()?;
            self.evict(block);
            self.blocks[block.index()].ref_cnt = 1;
            out.push(block);
        }
        Some(out)
    }

    /// Takes one more reference on `block`, e.g. a prefix-cache hit; a free block leaves
    /// the free queue, keeping its cached content.
    ///
    /// # Panics
    /// If `block` is not from this pool.
    pub fn touch(&mut self, block: BlockId) {
        if self.blocks[block.index()].ref_cnt == 0 {
            self.free.remove(block);
        }
        self.blocks[block.index()].ref_cnt += 1;
    }

    /// Drops one reference on each block. A block whose count reaches 0 joins the back of
    /// the free queue, in iteration order, keeping its cached content. Pass a sequence's
    /// blocks last-first so its tail (least shareable) is evicted before its prefix.
    ///
    /// # Panics
    /// If a block is not from this pool.
    pub fn free_blocks(&mut self, blocks: impl IntoIterator<Item = BlockId>) {
        for block in blocks {
            let meta = &mut self.blocks[block.index()];
            debug_assert!(meta.ref_cnt > 0, "freeing free block {block:?}");
            if meta.ref_cnt == 0 {
                continue;
            }
            meta.ref_cnt -= 1;
            if meta.ref_cnt == 0 {
                self.free.push_back(block);
            }
        }
    }

    /// Enters the full `block`, holding `tokens` computed after `parent` (the previous
    /// block of the same block table, `None` for the first), into the prefix-cache index
    /// under `hash`. Returns `false` (and changes nothing) when the block is already cached.
    ///
    /// # Panics
    /// If `block` or `parent` is not from this pool.
    pub fn cache_full_block(&mut self, block: BlockId, hash: BlockHash, tokens: &[u32], parent: Option<BlockId>) -> bool {
        if self.blocks[block.index()].cached.is_some() {
            return false;
        }
        let parent = parent.map(|p| ParentLink { block: p, generation: self.blocks[p.index()].generation });
        self.blocks[block.index()].cached = Some(CachedContent { hash, parent, tokens: tokens.into() });
        self.cached.entry(hash).or_default().push(block);
        true
    }

    /// A cached block holding `tokens` computed after `parent` (the block matched for the
    /// previous position, `None` for the first), looked up by `hash` and verified (see the
    /// module docs). The caller must `touch` it before any other pool call.
    pub fn get_cached_block(&self, hash: BlockHash, tokens: &[u32], parent: Option<BlockId>) -> Option<BlockId> {
        let want_parent = match parent {
            None => None,
            Some(p) => Some(ParentLink { block: p, generation: self.blocks.get(p.index())?.generation }),
        };
        self.cached.get(&hash)?.iter().copied().find(|b| {
            self.blocks[b.index()]
                .cached
                .as_ref()
                .is_some_and(|c| c.parent == want_parent && *c.tokens == *tokens)
        })
    }

    /// Evicts every cached content (e.g. after new weights were loaded); blocks in use
    /// stay in use, only their sharing ends.
    pub fn reset_prefix_cache(&mut self) {
        for id in 0..self.blocks.len() {
            self.evict(BlockId(id as u32));
        }
    }

    /// Removes the block's cached content from the index, if any.
    fn evict(&mut self, block: BlockId) {
        let meta = &mut self.blocks[block.index()];
        let Some(content) = meta.cached.take() else { return };
        meta.generation += 1;
        if let Some(list) = self.cached.get_mut(&content.hash) {
            list.retain(|&b| b != block);
            if list.is_empty() {
                self.cached.remove(&content.hash);
            }
        }
    }
}

#[cfg(test)]
#[path = "block_pool_tests.rs"]
mod tests;
