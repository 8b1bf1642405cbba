//! Content hashes of full KV blocks, the keys of the prefix cache.
//!
//! As in vLLM v1 (`hash_block_tokens`), a block's hash chains its parent's:
//! `hash(i) = xxh3_64(parent_tag || hash(i - 1) || token ids of block i)`, so equal hashes
//! mean (up to collisions) equal whole prefixes, and a lookup walks the prompt's full
//! blocks from the first. xxh3 (64 bits, from `xxhash-rust`) is fast but not collision
//! resistant, so a hash is only the index of a lookup: `BlockPool::get_cached_block`
//! then verifies the block's token ids and its parent block before serving it.

use xxhash_rust::xxh3::Xxh3;

/// 64-bit xxh3 content hash of one full block and (through its parent's hash) of the
/// whole prefix before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub u64);

/// Hash of one full block of `tokens` that follows the block hashed as `parent`
/// (`None` for a sequence's first block). Tokens are hashed as little-endian `u32`s.
pub fn hash_block_tokens(parent: Option<BlockHash>, tokens: &[u32]) -> BlockHash {
    let mut hasher = Xxh3::new();
    match parent {
        None => hasher.update(&[0]),
        Some(parent) => {
            hasher.update(&[1]);
            hasher.update(&parent.0.to_le_bytes());
        }
    }
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    hasher.update(&bytes);
    BlockHash(hasher.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_blocks_with_equal_parents_hash_equal() {
        let parent = hash_block_tokens(None, &[1, 2]);
        assert_eq!(hash_block_tokens(Some(parent), &[3, 4]), hash_block_tokens(Some(parent), &[3, 4]));
    }

    #[test]
    fn the_same_tokens_after_a_different_parent_hash_differently() {
        let a = hash_block_tokens(None, &[1, 2]);
        let b = hash_block_tokens(None, &[1, 3]);
        assert_ne!(hash_block_tokens(Some(a), &[5, 6]), hash_block_tokens(Some(b), &[5, 6]));
        assert_ne!(hash_block_tokens(None, &[5, 6]), hash_block_tokens(Some(a), &[5, 6]));
    }

    #[test]
    fn token_order_matters() {
        assert_ne!(hash_block_tokens(None, &[1, 2]), hash_block_tokens(None, &[2, 1]));
    }
}
