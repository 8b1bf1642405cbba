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
    /// Which distribution `logprobs` describe (vLLM's `logprobs_mode`).
    #[serde(default)]
    pub logprobs_mode: LogprobsMode,
    /// vLLM's `prompt_logprobs`: score every prompt token after the first under the
    /// model (raw log-softmax of the logits at the position before it), with this many
    /// top alternatives per position (`Some(0)`: the prompt token's alone). Such a
    /// sequence computes its whole prompt: the prefix cache never serves positions whose
    /// logits are still needed.
    #[serde(default)]
    pub prompt_logprobs: Option<usize>,
    /// Thinking budget (`max_reasoning_tokens`): the engine closes the reasoning
    /// section itself once it is spent. `None`: unlimited.
    pub thinking_budget: Option<ThinkingBudget>,
    /// Structured output (`response_format`): the answer must match this grammar. It
    /// applies outside the reasoning section only (from the first token when the
    /// output does not start in reasoning, else after `</think>`), which needs
    /// `thinking_budget` set to track the section (an unlimited one when no budget).
    pub structured_output: Option<StructuredOutput>,
}

/// Which log-probabilities a sampled token reports (vLLM's `logprobs_mode` values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogprobsMode {
    /// `raw_logprobs`: log-softmax of the model's logits, before any processing.
    #[default]
    RawLogprobs,
    /// `processed_logprobs`: log-softmax of the logits the token was drawn from, after
    /// logit bias, penalties, the grammar mask, temperature and top-k / top-p / min-p
    /// (tokens they remove get `-inf`; the drawn token is always finite). Greedy rows
    /// skip temperature and truncation, as vLLM's do.
    ProcessedLogprobs,
}

/// A sampling parameter outside its range (caught once, when the request is admitted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sampling parameter `{name}`: {reason}")]
pub struct InvalidSamplingParam {
    /// The field, as `SamplingParams` names it.
    pub name: &'static str,
    pub reason: String,
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
            logprobs_mode: LogprobsMode::RawLogprobs,
            prompt_logprobs: None,
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

    /// Checks every range the sampler relies on. Run once per sequence when it is
    /// admitted (`Scheduler::add_request`), never per token.
    ///
    /// # Errors
    /// The first field out of range: `temperature` not finite or negative, `top_p`
    /// outside `(0, 1]`, `top_k == Some(0)`, `min_p` outside `[0, 1]`,
    /// `repetition_penalty` not finite and positive, a non-finite presence or frequency
    /// penalty or logit bias.
    pub fn validate(&self) -> Result<(), InvalidSamplingParam> {
        let invalid = |name: &'static str, reason: String| Err(InvalidSamplingParam { name, reason });
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return invalid("temperature", format!("{} is not a finite value >= 0", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return invalid("top_p", format!("{} is not in (0, 1]", self.top_p));
        }
        if self.top_k == Some(0) {
            return invalid("top_k", "0 would keep no token; use None to disable".into());
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return invalid("min_p", format!("{} is not in [0, 1]", self.min_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return invalid("repetition_penalty", format!("{} is not a finite value > 0", self.repetition_penalty));
        }
        if !(self.presence_penalty.is_finite() && self.frequency_penalty.is_finite()) {
            return invalid("presence_penalty/frequency_penalty", "must be finite".into());
        }
        if let Some((id, b)) = self.logit_bias.iter().find(|(_, b)| !b.is_finite()) {
            return invalid("logit_bias", format!("the bias {b} of token {id} is not finite"));
        }
        Ok(())
    }
}
