//! Per-sequence sampling parameters, as validated by the API layer.

use serde::{Deserialize, Serialize};

use crate::thinking_budget::ThinkingBudget;

/// How the next token of a sequence is chosen. Field names and semantics follow the
/// OpenAI API and vLLM's `SamplingParams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Softmax temperature; `0.0` means greedy (argmax).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability mass is at
    /// least `top_p` (`1.0` disables).
    pub top_p: f32,
    /// Keep only the `top_k` most likely tokens (`None` disables).
    pub top_k: Option<usize>,
    /// Drop tokens whose probability is below `min_p` times the top token's (`0.0` disables).
    pub min_p: f32,
    /// HF/CTRL repetition penalty over prompt and output tokens (`1.0` disables):
    /// positive logits are divided by it, negative ones multiplied.
    pub repetition_penalty: f32,
    /// OpenAI presence penalty over output tokens: `logit -= presence_penalty` once a
    /// token has appeared (`0.0` disables).
    pub presence_penalty: f32,
    /// OpenAI frequency penalty over output tokens: `logit -= frequency_penalty * count`.
    pub frequency_penalty: f32,
    /// Additive logit bias by token id (OpenAI `logit_bias`).
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed of this sequence's counter-based RNG. The API derives one per sample from
    /// the request's `seed` (or a random one), so output never depends on the batch.
    pub seed: u64,
    /// Maximum number of generated tokens (already clamped to the context window).
    pub max_tokens: usize,
    /// EOS and `stop_token_ids` are ignored until this many tokens were generated.
    pub min_tokens: usize,
    /// Extra token ids that end the sequence (OpenAI-extension `stop_token_ids`).
    pub stop_token_ids: Vec<u32>,
    /// Keep generating past EOS (benchmarks).
    pub ignore_eos: bool,
    /// Number of top log-probabilities to return per generated token (`None`: no
    /// logprobs at all; `Some(0)`: only the sampled token's).
    pub logprobs: Option<usize>,
    /// Thinking budget (`max_reasoning_tokens`): the engine closes the reasoning
    /// section itself once it is spent. `None`: unlimited.
    pub thinking_budget: Option<ThinkingBudget>,
    /// Structured output (`response_format`): the answer must match this grammar. It
    /// applies outside the reasoning section only (from the first token when the
    /// output does not start in reasoning, else after `</think>`), which needs
    /// `thinking_budget` set to track the section (an unlimited one when no budget).
    pub structured_output: Option<StructuredOutput>,
}

/// The grammar of a structured answer (OpenAI's `response_format`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StructuredOutput {
    /// Any JSON object (`{"type": "json_object"}`).
    JsonObject,
    /// A JSON document matching this JSON Schema, as JSON text (`json_schema.schema`).
    JsonSchema(String),
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: 0,
            max_tokens: 16,
            min_tokens: 0,
            stop_token_ids: Vec::new(),
            ignore_eos: false,
            logprobs: None,
            thinking_budget: None,
            structured_output: None,
        }
    }
}

impl SamplingParams {
    /// Whether any penalty needs the sequence's token history.
    pub fn needs_history(&self) -> bool {
        self.repetition_penalty != 1.0 || self.presence_penalty != 0.0 || self.frequency_penalty != 0.0
    }
}
