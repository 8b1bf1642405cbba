//! ponder-engine: the bookkeeping half of continuous batching.
//!
//! Pure data structures, unit-testable in microseconds: no tensors, no async, no I/O.
//! See `docs/architecture.md` for how a request flows through it.

pub mod batch;
pub mod ids;
pub mod sampling;

pub use batch::{SampleSpec, SampledToken, ScheduledBatch, ScheduledSeq, StepOutput, TokenHistory};
pub use ids::{BlockId, RequestId, SeqId};
pub use sampling::SamplingParams;
