//! Errors of the engine's public API.

use thiserror::Error;

use crate::ids::{RequestId, SeqId};

/// A `SchedulerConfig` that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("num_blocks {0} does not fit in a u32 block id")]
    TooManyBlocks(usize),
    #[error(
        "max_model_len {max_model_len} exceeds the KV cache's capacity of {capacity} tokens \
         (num_blocks * block_size): lower max_model_len or give the cache more blocks"
    )]
    ModelLenExceedsKvCache { max_model_len: usize, capacity: usize },
    #[error(
        "max_num_batched_tokens {max_num_batched_tokens} is below max_model_len {max_model_len}: \
         without chunked prefill a whole prompt must fit in one step"
    )]
    BudgetBelowModelLen { max_num_batched_tokens: usize, max_model_len: usize },
}

/// Why `Scheduler::add_request` rejected a request (nothing of it was admitted).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddRequestError {
    #[error("request {0:?} has no sequences")]
    NoSequences(RequestId),
    #[error("request {0:?} is already in the engine")]
    DuplicateRequest(RequestId),
    #[error("sequence {0:?} is already in the engine")]
    DuplicateSeq(SeqId),
    #[error("sequence {0:?} has an empty prompt")]
    EmptyPrompt(SeqId),
    #[error("sequence {0:?} has max_tokens 0")]
    ZeroMaxTokens(SeqId),
    #[error("prompt of sequence {seq_id:?} has {prompt_len} tokens: with one generated token it exceeds max_model_len {max_model_len}")]
    PromptTooLong { seq_id: SeqId, prompt_len: usize, max_model_len: usize },
    #[error("sequence {seq_id:?}: {source}")]
    InvalidParams { seq_id: SeqId, source: crate::sampling::InvalidSamplingParam },
    #[error("prompt of sequence {seq_id:?} needs {needed} KV blocks but the cache holds {num_blocks}")]
    NotEnoughBlocks { seq_id: SeqId, needed: usize, num_blocks: usize },
}
