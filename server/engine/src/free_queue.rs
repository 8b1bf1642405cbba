//! The free-block queue: a doubly linked list threaded through a flat array by `u32`
//! indices, as vLLM v1's `FreeKVCacheBlockQueue` and mistral.rs' `block_pool.rs`.
//!
//! Order is LRU for eviction: the front is evicted (handed out) first, freed blocks join
//! at the back. Every operation is O(1), including removing a block from the middle when
//! a prefix-cache hit takes a free block back. No allocation after `new`.

use crate::ids::BlockId;

/// One block's links; meaningful only while `queued`.
#[derive(Debug, Clone, Copy, Default)]
struct Links {
    /// The block before this one (towards the front), `None` at the front.
    prev: Option<u32>,
    /// The block after this one (towards the back), `None` at the back.
    next: Option<u32>,
    /// Whether the block is in the queue.
    queued: bool,
}

/// Queue of free blocks in LRU order (front = least recently freed).
#[derive(Debug, Clone)]
pub(crate) struct FreeQueue {
    /// Links of every block of the pool, indexed by `BlockId`.
    links: Vec<Links>,
    /// First block (evicted next), `None` when empty.
    head: Option<u32>,
    /// Last block (most recently freed), `None` when empty.
    tail: Option<u32>,
    /// Number of queued blocks; equals the length of the chain from `head`.
    len: usize,
}

impl FreeQueue {
    /// A queue holding all blocks `0..num_blocks`, in id order.
    pub(crate) fn new(num_blocks: u32) -> Self {
        let mut queue = Self { links: vec![Links::default(); num_blocks as usize], head: None, tail: None, len: 0 };
        for id in 0..num_blocks {
            queue.push_back(BlockId(id));
        }
        queue
    }

    /// Number of queued blocks.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether `block` is queued.
    pub(crate) fn contains(&self, block: BlockId) -> bool {
        self.links[block.index()].queued
    }

    /// Takes the least recently freed block.
    pub(crate) fn pop_front(&mut self) -> Option<BlockId> {
        let head = BlockId(self.head?);
        self.remove(head);
        Some(head)
    }

    /// Appends `block` at the back (most recently freed). A block already queued is
    /// left where it is.
    pub(crate) fn push_back(&mut self, block: BlockId) {
        if self.contains(block) {
            debug_assert!(false, "block {block:?} is already in the free queue");
            return;
        }
        let id = block.0;
        self.links[block.index()] = Links { prev: self.tail, next: None, queued: true };
        match self.tail {
            Some(tail) => self.links[tail as usize].next = Some(id),
            None => self.head = Some(id),
        }
        self.tail = Some(id);
        self.len += 1;
    }

    /// Unlinks `block` from wherever it is in the queue. A block not queued is ignored.
    pub(crate) fn remove(&mut self, block: BlockId) {
        if !self.contains(block) {
            debug_assert!(false, "block {block:?} is not in the free queue");
            return;
        }
        let Links { prev, next, .. } = self.links[block.index()];
        match prev {
            Some(prev) => self.links[prev as usize].next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.links[next as usize].prev = prev,
            None => self.tail = prev,
        }
        self.links[block.index()] = Links::default();
        self.len -= 1;
    }

    /// The queued blocks from front to back. Stops after `num_blocks` steps, so even a
    /// corrupted (cyclic) chain ends; invariant checks compare the count with `len`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = BlockId> + '_ {
        let mut cursor = self.head;
        std::iter::from_fn(move || {
            let id = cursor?;
            cursor = self.links[id as usize].next;
            Some(BlockId(id))
        })
        .take(self.links.len() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(queue: &FreeQueue) -> Vec<u32> {
        queue.iter().map(|b| b.0).collect()
    }

    #[test]
    fn a_new_queue_holds_every_block_in_id_order() {
        let queue = FreeQueue::new(4);
        assert_eq!(ids(&queue), [0, 1, 2, 3]);
        assert_eq!(queue.len(), 4);
    }

    #[test]
    fn blocks_leave_from_the_front_and_return_at_the_back() {
        let mut queue = FreeQueue::new(3);
        assert_eq!(queue.pop_front(), Some(BlockId(0)));
        queue.push_back(BlockId(0));
        assert_eq!(ids(&queue), [1, 2, 0]);
    }

    #[test]
    fn a_block_is_removed_from_the_middle_front_and_back() {
        let mut queue = FreeQueue::new(5);
        queue.remove(BlockId(2));
        assert_eq!(ids(&queue), [0, 1, 3, 4]);
        queue.remove(BlockId(0));
        queue.remove(BlockId(4));
        assert_eq!(ids(&queue), [1, 3]);
        assert_eq!(queue.len(), 2);
        assert!(!queue.contains(BlockId(2)));
        queue.push_back(BlockId(2));
        assert_eq!(ids(&queue), [1, 3, 2]);
    }

    #[test]
    fn an_emptied_queue_pops_nothing_and_refills() {
        let mut queue = FreeQueue::new(2);
        queue.pop_front();
        queue.pop_front();
        assert_eq!(queue.pop_front(), None);
        assert_eq!(queue.len(), 0);
        queue.push_back(BlockId(1));
        assert_eq!(ids(&queue), [1]);
    }
}
