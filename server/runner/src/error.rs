//! Errors of the sampler and of the runner's batch preparation.

use ponder_engine::SeqId;

/// Why a logits row could not be sampled. Every variant is a bad input (from the
/// model or from unvalidated parameters); the sampler never panics on one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplerError {
    #[error("the logits row is empty (vocabulary size 0)")]
    EmptyLogits,
    #[error("the logit of token {token_id} is NaN")]
    NanLogit { token_id: u32 },
    #[error("token {token_id} is outside the vocabulary of {vocab_size} tokens")]
    TokenOutOfVocab { token_id: u32, vocab_size: usize },
    #[error("penalties are set but the SampleSpec carries no token history")]
    MissingHistory,
    #[error("every token has probability zero after logit processing")]
    NoCandidates,
}

/// Why a `ScheduledBatch` could not be turned into a forward pass.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerError {
    #[error("runner config: {0}")]
    InvalidConfig(String),
    #[error("batch block size {batch} differs from the KV cache's {cache}")]
    BlockSizeMismatch { batch: usize, cache: usize },
    #[error("sequence {seq_id:?} was scheduled with no tokens")]
    NoTokens { seq_id: SeqId },
    #[error("sequence {seq_id:?}: position {position} is not covered by its block table of {num_blocks} blocks")]
    BlockTableTooShort { seq_id: SeqId, position: usize, num_blocks: usize },
    #[error("sequence {seq_id:?}: block {block} is outside the KV cache of {num_blocks} blocks")]
    BlockOutOfRange { seq_id: SeqId, block: u32, num_blocks: usize },
    #[error("sequence {seq_id:?}: context length {len} exceeds the u32 range of the kernels")]
    ContextTooLong { seq_id: SeqId, len: usize },
    #[error("sequence {seq_id:?}: slot {slot} exceeds the u32 range of the kernels")]
    SlotOverflow { seq_id: SeqId, slot: usize },
    #[error("sequence {seq_id:?}: {rows} prompt-logprob rows do not fit its chunk of {tokens} tokens beside its sampled row")]
    PromptLogprobRows { seq_id: SeqId, rows: usize, tokens: usize },
    #[error("the model returned logits of shape {got:?}, expected [{rows}, {vocab}]")]
    LogitsShape { got: Vec<usize>, rows: usize, vocab: usize },
    #[error("sampling sequence {seq_id:?}: {source}")]
    Sampling { seq_id: SeqId, source: SamplerError },
    #[error("structured output of sequence {seq_id:?}: {message}")]
    Grammar { seq_id: SeqId, message: String },
    #[error("the new weights do not fit the served model: {detail}")]
    ModelMismatch { detail: String },
}
