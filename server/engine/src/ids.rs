//! Identifier newtypes. "None" is always `Option<Id>`, never a sentinel like -1.

use serde::{Deserialize, Serialize};

/// One client request (one HTTP call, which may hold several prompts or `n` samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// One sequence: a single prompt being continued by a single sample.
/// A request with `n = 4` becomes four sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeqId(pub u64);

/// Index of one fixed-size block of the paged KV cache (`0..num_blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockId(pub u32);

impl BlockId {
    /// The block's index as a `usize`, for slicing.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
