//! ponder-engine: the bookkeeping half of continuous batching.
//!
//! Pure data structures, unit-testable in microseconds: no tensors, no async, no I/O.
//! See `docs/architecture.md` for how a request flows through it.
//!
//! Layers, after vLLM v1: `Scheduler` (who runs, how many tokens) → `KvCacheManager`
//! (per sequence: block tables, prefix-cache lookup) → `BlockPool` (per block: ref
//! counts, LRU free queue, cached hashes).

pub mod batch;
pub mod block_hash;
pub mod block_pool;
pub mod error;
pub mod finish;
mod free_queue;
pub mod ids;
pub mod kv_cache_manager;
pub mod request;
pub mod sampling;
pub mod scheduler;
pub mod sequence;
pub mod thinking_budget;

#[cfg(test)]
mod testing;

pub use batch::{
    PromptLogprob, PromptLogprobsChunk, PromptLogprobsRequest, SampleSpec, SampledToken, ScheduledBatch, ScheduledSeq, SeqFailure,
    StepOutput, TokenHistory,
};
pub use block_hash::{hash_block_tokens, BlockHash};
pub use block_pool::BlockPool;
pub use error::{AddRequestError, ConfigError};
pub use finish::FinishReason;
pub use ids::{BlockId, RequestId, SeqId};
pub use kv_cache_manager::{ComputedBlocks, KvCacheConfig, KvCacheManager};
pub use request::{Request, SeqSpec};
pub use sampling::{InvalidSamplingParam, LogprobsMode, SamplingParams, StructuredOutput};
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats, SchedulingPolicy, SeqUpdate};
pub use sequence::{SeqStatus, Sequence};
pub use thinking_budget::{ReasoningPhase, ThinkingBudget};
