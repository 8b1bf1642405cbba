//! Text side of generation, per sequence: token ids → text deltas → stop strings →
//! reasoning / answer split. Depends on std only; the tokenizer is reached through
//! [`Vocabulary`].
//!
//! - [`IncrementalDetokenizer`]: byte-level, UTF-8 safe, never stalls.
//! - [`StopStrings`]: the `stop` field, across chunk boundaries.
//! - [`reasoning`]: [`ReasoningParser`] and [`ThinkTagParser`] (API.md "Reasoning output").
//! - [`TextPipeline`]: the three composed, what the HTTP handler uses per choice.

pub mod detokenizer;
pub mod pipeline;
pub mod reasoning;
pub mod stop_strings;
pub mod vocab;

pub use detokenizer::IncrementalDetokenizer;
pub use pipeline::{Deltas, TextPipeline, TextPipelineConfig};
pub use reasoning::{
    prompt_closes_reasoning, prompt_ids_open_reasoning, prompt_opens_reasoning, PassThrough, ReasoningConfig,
    ReasoningDelta, ReasoningParser, ThinkTagParser, ThinkTokenIds,
};
pub use stop_strings::{StopDelta, StopStrings};
pub use vocab::Vocabulary;
