//! Per-step attention metadata: where each sequence's tokens are and where its K/V live.

/// Host-side description of one forward pass's sequences, shared by all layers.
/// Built once per step by the runner from a `ScheduledBatch`.
///
/// ```text
/// new tokens (rows of q):  | seq 0 chunk | seq 1 (1 decode token) | seq 2 chunk ... |
///                          ^query_start_loc[0]=0  ^[1]            ^[2]            ^[num_seqs]
/// seq i context: positions 0..seq_lens[i]; its new tokens are the last
///                query_start_loc[i+1]-query_start_loc[i] of them.
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttentionMetadata {
    /// Tokens per KV block.
    pub block_size: usize,
    /// Cache slot of every new token, `len == num_tokens`.
    pub slot_mapping: Vec<u32>,
    /// Row offsets of each sequence's new tokens in q, `len == num_seqs + 1`, starting at 0.
    pub query_start_loc: Vec<u32>,
    /// Context length of each sequence after this step (cached + new), `len == num_seqs`.
    pub seq_lens: Vec<u32>,
    /// Block table of each sequence, covering at least `seq_lens[i]` positions.
    pub block_tables: Vec<Vec<u32>>,
}

impl AttentionMetadata {
    /// Number of sequences in the step.
    pub fn num_seqs(&self) -> usize {
        self.seq_lens.len()
    }

    /// Number of new tokens (rows of q) in the step.
    pub fn num_tokens(&self) -> usize {
        self.slot_mapping.len()
    }
}
