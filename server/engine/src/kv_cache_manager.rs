//! `KvCacheManager`: the block tables of sequences, over a `BlockPool`. Follows vLLM
//! v1's `KVCacheManager` (`get_computed_blocks`, `allocate_slots`, `free`); the scheduler
//! asks it per sequence and never touches a block's ref count.
//!
//! Prefix caching (on by default): a sequence's full blocks are entered into the pool's
//! index after the step that computed them (`cache_full_blocks`), so a later sequence
//! with the same prefix, or the same one recomputed after preemption, takes them from
//! the cache (`get_computed_blocks`) instead of recomputing them.

use std::collections::HashMap;

use crate::block_pool::BlockPool;
use crate::ids::{BlockId, SeqId};
use crate::sequence::Sequence;

/// Shape of the KV cache, in blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvCacheConfig {
    /// Number of blocks in the cache.
    pub num_blocks: u32,
    /// Tokens per block (at least 1).
    pub block_size: usize,
    /// Share full blocks between sequences with equal prefixes.
    pub enable_prefix_caching: bool,
}

/// A prefix-cache hit: the cached blocks holding a sequence's leading full blocks.
/// Valid only until the next `&mut` call on the manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputedBlocks {
    /// Blocks for positions `0..num_tokens`, in order.
    pub blocks: Vec<BlockId>,
    /// Tokens they hold: `blocks.len() * block_size`.
    pub num_tokens: usize,
}

/// One sequence's blocks.
#[derive(Debug, Clone, Default)]
struct SeqBlocks {
    /// The block table: block `i` holds positions `i * block_size..(i + 1) * block_size`.
    blocks: Vec<BlockId>,
    /// Leading blocks already in the prefix-cache index (or found there).
    num_cached_blocks: usize,
    /// Set by `reset_prefix_cache` (new weights): some of these blocks hold K/V of the
    /// old weights, so none of them may enter the index any more.
    stale: bool,
}

/// Block tables of all sequences holding KV blocks.
#[derive(Debug, Clone)]
pub struct KvCacheManager {
    pool: BlockPool,
    block_size: usize,
    enable_prefix_caching: bool,
    /// Sequences with at least one block; each holds one reference on each of its blocks.
    tables: HashMap<SeqId, SeqBlocks>,
}

impl KvCacheManager {
    /// An empty cache. `config.block_size` must be at least 1 (the scheduler checks).
    pub fn new(config: KvCacheConfig) -> Self {
        Self {
            pool: BlockPool::new(config.num_blocks),
            block_size: config.block_size.max(1),
            enable_prefix_caching: config.enable_prefix_caching,
            tables: HashMap::new(),
        }
    }

    /// The underlying pool (read-only: ref counts, free queue, usage).
    pub fn pool(&self) -> &BlockPool {
        &self.pool
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Fraction of blocks in use, `0.0..=1.0`.
    pub fn usage(&self) -> f64 {
        self.pool.usage()
    }

    /// The sequence's block table (empty when it holds no blocks).
    pub fn block_table(&self, seq_id: SeqId) -> &[BlockId] {
        self.tables.get(&seq_id).map_or(&[], |t| &t.blocks)
    }

    /// Every sequence's block table.
    pub fn block_tables(&self) -> impl Iterator<Item = (SeqId, &[BlockId])> + '_ {
        self.tables.iter().map(|(id, t)| (*id, t.blocks.as_slice()))
    }

    /// The longest verified run of cached blocks holding `seq`'s leading full blocks
    /// (prompt and, after a preemption, output). Never the whole sequence: at most
    /// `(num_tokens - 1) / block_size` blocks, so at least the last token is computed
    /// and its logits can be sampled. Empty when prefix caching is off.
    pub fn get_computed_blocks(&self, seq: &Sequence) -> ComputedBlocks {
        let mut hit = ComputedBlocks::default();
        if !self.enable_prefix_caching {
            return hit;
        }
        let max_blocks = (seq.num_tokens().saturating_sub(1) / self.block_size).min(seq.block_hashes().len());
        for (i, &hash) in seq.block_hashes()[..max_blocks].iter().enumerate() {
            let tokens = seq.token_ids(i * self.block_size..(i + 1) * self.block_size);
            match self.pool.get_cached_block(hash, &tokens, hit.blocks.last().copied()) {
                Some(block) => hit.blocks.push(block),
                None => break,
            }
        }
        hit.num_tokens = hit.blocks.len() * self.block_size;
        hit
    }

    /// Makes `seq`'s block table cover `num_new_tokens` more tokens after its computed
    /// ones and the prefix-cache hit `new_computed` (from `get_computed_blocks`, empty
    /// for a sequence that already holds blocks):
    ///
    /// ```text
    /// | computed        | new computed         | new                 | (rest of last block)
    /// |<- own blocks  ->|<- cache hit, touched->|<- new blocks as needed ---------------->|
    /// 0        seq.num_computed_tokens   + new_computed.num_tokens   + num_new_tokens
    /// ```
    ///
    /// Returns the block table, or `None` (and changes nothing) when not enough blocks are
    /// free, counting hit blocks that are themselves free, or when `new_computed` is given
    /// for a sequence that already holds blocks.
    pub fn allocate_slots(&mut self, seq: &Sequence, num_new_tokens: usize, new_computed: &ComputedBlocks) -> Option<&[BlockId]> {
        let held = self.block_table(seq.seq_id()).len();
        if held > 0 && !new_computed.blocks.is_empty() {
            return None;
        }
        let total = seq.num_computed_tokens() + new_computed.num_tokens + num_new_tokens;
        let num_new_blocks = total.div_ceil(self.block_size).saturating_sub(held + new_computed.blocks.len());
        let free_hits = new_computed.blocks.iter().filter(|&&b| self.pool.ref_cnt(b) == Some(0)).count();
        if num_new_blocks + free_hits > self.pool.num_free_blocks() {
            return None;
        }
        for &block in &new_computed.blocks {
            self.pool.touch(block);
        }
        let new_blocks = self.pool.get_new_blocks(num_new_blocks)?;
        let table = self.tables.entry(seq.seq_id()).or_default();
        if held == 0 {
            table.num_cached_blocks = new_computed.blocks.len();
        }
        table.blocks.extend_from_slice(&new_computed.blocks);
        table.blocks.extend(new_blocks);
        Some(&table.blocks)
    }

    /// Enters `seq`'s blocks that its computed tokens filled since the last call into
    /// the prefix-cache index. Call after the step that computed them (their K/V must be
    /// written before another sequence may read them). No-op when prefix caching is off.
    pub fn cache_full_blocks(&mut self, seq: &Sequence) {
        if !self.enable_prefix_caching {
            return;
        }
        let Some(table) = self.tables.get_mut(&seq.seq_id()).filter(|t| !t.stale) else { return };
        let full = (seq.num_computed_tokens() / self.block_size).min(table.blocks.len()).min(seq.block_hashes().len());
        let bs = self.block_size;
        for i in table.num_cached_blocks..full {
            let parent = i.checked_sub(1).map(|p| table.blocks[p]);
            if parent.is_some_and(|p| !self.pool.is_cached(p)) {
                break; // the chain was cut by `reset_prefix_cache`; its tail stays private
            }
            let tokens = seq.token_ids(i * bs..(i + 1) * bs);
            self.pool.cache_full_block(table.blocks[i], seq.block_hashes()[i], &tokens, parent);
        }
        table.num_cached_blocks = table.num_cached_blocks.max(full);
    }

    /// Releases all of the sequence's blocks, last block first (so its tail is evicted
    /// before the more shareable prefix). Cached blocks keep their content.
    pub fn free(&mut self, seq_id: SeqId) {
        if let Some(table) = self.tables.remove(&seq_id) {
            self.pool.free_blocks(table.blocks.into_iter().rev());
        }
    }

    /// Forgets every cached prefix (e.g. after a weight update). The blocks that
    /// sequences hold now are never cached later either: their K/V came (at least in
    /// part) from the old weights.
    pub fn reset_prefix_cache(&mut self) {
        self.pool.reset_prefix_cache();
        for table in self.tables.values_mut() {
            table.stale = true;
        }
    }
}

#[cfg(test)]
#[path = "kv_cache_manager_tests.rs"]
mod tests;
