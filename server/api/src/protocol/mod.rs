//! OpenAI wire format: request parsing with per-field validation, and response bodies.

pub mod chat;
pub mod completion;
pub mod fields;
pub mod generate;
pub mod logprobs;
pub mod params;
pub mod response;

pub use chat::ChatRequest;
pub use completion::{CompletionRequest, PromptInput};
pub use params::{GenerationParams, ReasoningEffort, ReasoningOptions, SamplingDefaults};
pub use logprobs::LegacyLogprobs;
pub use response::{ChoiceOutput, ChunkDelta, FinishReason, ReasoningField, ResponseMeta, StopReason, TokenLogprob, TopLogprob, Usage, WeightSpan};
