//! OpenAI response bodies: `chat.completion`, `chat.completion.chunk`,
//! `text_completion`, and `usage`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

pub use super::logprobs::{prompt_logprobs_json, LegacyLogprobs};

/// Name(s) under which reasoning text is returned (`--reasoning-field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasoningField {
    /// `reasoning_content` (DeepSeek API, SGLang, llama.cpp, mistral.rs).
    #[value(name = "reasoning_content", alias = "reasoning-content")]
    ReasoningContent,
    /// `reasoning` (vLLM since 2025).
    Reasoning,
    /// Both names, same text.
    Both,
}

impl ReasoningField {
    /// The JSON keys to write reasoning text under.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Self::ReasoningContent => &["reasoning_content"],
            Self::Reasoning => &["reasoning"],
            Self::Both => &["reasoning_content", "reasoning"],
        }
    }
}

/// Why a choice ended, as OpenAI spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// EOS, a stop token, a stop string (or an abort).
    Stop,
    /// `max_tokens` or the context window.
    Length,
    /// An operator aborted it (`/abort_requests`, `/pause?mode=abort`), vLLM's `abort`.
    Abort,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::Abort => "abort",
        }
    }
}

/// Token counts of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens, summed over prompts (each prompt once, whatever `n`).
    pub prompt_tokens: usize,
    /// Generated tokens over all choices.
    pub completion_tokens: usize,
    /// Generated tokens that were reasoning (see API.md for the exact count).
    pub reasoning_tokens: usize,
}

impl Usage {
    /// OpenAI's `usage` object, with `completion_tokens_details.reasoning_tokens`.
    pub fn to_json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        })
    }
}

/// One candidate token with its log-probability (chat `logprobs.content[i]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopLogprob {
    /// The token's id (for vLLM's and SGLang's id-keyed formats; not in OpenAI's).
    #[serde(skip)]
    pub token_id: u32,
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// The sampled (or, for prompt logprobs, the prompt) token's log-probability and the
/// top alternatives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    #[serde(skip)]
    pub token_id: u32,
    /// vLLM's 1-based rank of the token in its distribution (prompt logprobs only).
    #[serde(skip)]
    pub rank: Option<usize>,
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

/// Fields shared by every body of one response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMeta {
    /// `chatcmpl-...` or `cmpl-...`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
    /// The weights the latest tokens came from (SGLang's `weight_version`).
    pub weight_version: Arc<str>,
}

impl ResponseMeta {
    fn envelope(&self, object: &str, choices: Vec<Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!(object));
        m.insert("created".into(), json!(self.created));
        m.insert("model".into(), json!(self.model));
        m.insert("choices".into(), Value::Array(choices));
        m.insert("weight_version".into(), json!(self.weight_version));
        m
    }
}

/// vLLM's `stop_reason`: the stop string or stop token id that ended a choice (`null`
/// for EOS, length and aborts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A `stop_token_ids` entry.
    Token(u32),
    /// A `stop` string.
    Text(String),
}

impl StopReason {
    /// A number for a token id, a string for a stop string.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Token(id) => json!(id),
            Self::Text(s) => json!(s),
        }
    }
}

fn stop_reason_json(reason: Option<&StopReason>) -> Value {
    reason.map_or(Value::Null, StopReason::to_json)
}

/// The final text of one choice.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceOutput {
    pub index: usize,
    /// `None` when there was no reasoning section (or `include_reasoning: false`).
    pub reasoning: Option<String>,
    pub content: String,
    pub finish: FinishReason,
    /// Generated token ids, when `return_token_ids`.
    pub token_ids: Option<Vec<u32>>,
    /// Per-token logprobs, when requested.
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// Which weights produced which tokens, when the choice spans a weight swap.
    pub weight_versions: Option<Vec<WeightSpan>>,
    pub stop_reason: Option<StopReason>,
    /// vLLM's `prompt_logprobs`: scores of prompt tokens `1..`, when requested.
    pub prompt_logprobs: Option<Vec<TokenLogprob>>,
    /// Completions' legacy `logprobs` (echoed prompt tokens first), when requested.
    pub legacy_logprobs: Option<LegacyLogprobs>,
    /// Generated tokens that were reasoning.
    pub reasoning_tokens: usize,
}

/// From `first_token_index` on (an index into the choice's generated tokens), tokens
/// came from the weights `version`, until the next span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightSpan {
    pub version: Arc<str>,
    pub first_token_index: usize,
}

/// A non-streaming `chat.completion` body.
pub fn chat_completion(meta: &ResponseMeta, choices_in: &[ChoiceOutput], usage: &Usage, field: ReasoningField, prompt_ids: Option<&[u32]>) -> Value {
    let choices = choices_in
        .iter()
        .map(|c| {
            let mut message = Map::new();
            message.insert("role".into(), json!("assistant"));
            message.insert("content".into(), json!(c.content));
            for name in field.names() {
                message.insert((*name).into(), json!(c.reasoning));
            }
            let mut choice = json!({
                "index": c.index,
                "message": message,
                "logprobs": c.logprobs.as_ref().map(|l| json!({"content": l})),
                "finish_reason": c.finish.as_str(),
                "stop_reason": stop_reason_json(c.stop_reason.as_ref()),
            });
            if let Some(ids) = &c.token_ids {
                choice["token_ids"] = json!(ids);
            }
            if let Some(spans) = &c.weight_versions {
                choice["weight_versions"] = json!(spans);
            }
            choice
        })
        .collect();
    let mut body = meta.envelope("chat.completion", choices);
    // vLLM puts a chat request's prompt logprobs at the top (all choices share the prompt).
    if let Some(scores) = choices_in.first().and_then(|c| c.prompt_logprobs.as_deref()) {
        body.insert("prompt_logprobs".into(), prompt_logprobs_json(scores));
    }
    finish_body(body, usage, prompt_ids)
}

/// A non-streaming `text_completion` body.
pub fn completion(meta: &ResponseMeta, choices: &[ChoiceOutput], usage: &Usage, prompt_ids: Option<&[u32]>) -> Value {
    let choices = choices
        .iter()
        .map(|c| {
            let mut choice = json!({
                "index": c.index,
                "text": c.content,
                "logprobs": c.legacy_logprobs.as_ref().map(LegacyLogprobs::to_json),
                "finish_reason": c.finish.as_str(),
                "stop_reason": stop_reason_json(c.stop_reason.as_ref()),
            });
            if let Some(scores) = &c.prompt_logprobs {
                choice["prompt_logprobs"] = prompt_logprobs_json(scores);
            }
            if let Some(ids) = &c.token_ids {
                choice["token_ids"] = json!(ids);
            }
            if let Some(spans) = &c.weight_versions {
                choice["weight_versions"] = json!(spans);
            }
            choice
        })
        .collect();
    finish_body(meta.envelope("text_completion", choices), usage, prompt_ids)
}

fn finish_body(mut body: Map<String, Value>, usage: &Usage, prompt_ids: Option<&[u32]>) -> Value {
    body.insert("usage".into(), usage.to_json());
    if let Some(ids) = prompt_ids {
        body.insert("prompt_token_ids".into(), json!(ids));
    }
    Value::Object(body)
}

/// What one streamed chunk says about one choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkDelta {
    pub index: usize,
    /// Only in the choice's first chunk.
    pub role: bool,
    /// Never `Some("")`.
    pub reasoning: Option<String>,
    /// Never `Some("")`.
    pub content: Option<String>,
    pub finish: Option<FinishReason>,
    /// Token ids generated since the previous chunk, when `return_token_ids`.
    pub token_ids: Option<Vec<u32>>,
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// On the finishing chunk of a choice that spans a weight swap.
    pub weight_versions: Option<Vec<WeightSpan>>,
    /// On the finishing chunk.
    pub stop_reason: Option<StopReason>,
    /// On the choice's first chunk with a payload, when `return_token_ids`.
    pub prompt_token_ids: Option<std::sync::Arc<[u32]>>,
    /// On the choice's first chunk with a payload, when `prompt_logprobs` was asked for.
    pub prompt_logprobs: Option<Vec<TokenLogprob>>,
    /// Completions' legacy `logprobs` of this chunk's tokens.
    pub legacy_logprobs: Option<LegacyLogprobs>,
}

/// A `chat.completion.chunk` with one choice.
pub fn chat_chunk(meta: &ResponseMeta, d: &ChunkDelta, field: ReasoningField) -> Value {
    let mut delta = Map::new();
    if d.role {
        delta.insert("role".into(), json!("assistant"));
    }
    if let Some(text) = &d.reasoning {
        for name in field.names() {
            delta.insert((*name).into(), json!(text));
        }
    }
    if let Some(text) = &d.content {
        delta.insert("content".into(), json!(text));
    }
    let mut choice = json!({
        "index": d.index,
        "delta": delta,
        "logprobs": d.logprobs.as_ref().map(|l| json!({"content": l})),
        "finish_reason": d.finish.map(FinishReason::as_str),
    });
    if d.finish.is_some() {
        choice["stop_reason"] = stop_reason_json(d.stop_reason.as_ref());
    }
    if let Some(ids) = &d.token_ids {
        choice["token_ids"] = json!(ids);
    }
    if let Some(spans) = &d.weight_versions {
        choice["weight_versions"] = json!(spans);
    }
    let mut body = meta.envelope("chat.completion.chunk", vec![choice]);
    if let Some(ids) = &d.prompt_token_ids {
        body.insert("prompt_token_ids".into(), json!(ids));
    }
    if let Some(scores) = &d.prompt_logprobs {
        body.insert("prompt_logprobs".into(), prompt_logprobs_json(scores));
    }
    Value::Object(body)
}

/// A streamed `text_completion` with one choice.
pub fn completion_chunk(meta: &ResponseMeta, d: &ChunkDelta) -> Value {
    let mut choice = json!({
        "index": d.index,
        "text": d.content.clone().unwrap_or_default(),
        "logprobs": d.legacy_logprobs.as_ref().map(LegacyLogprobs::to_json),
        "finish_reason": d.finish.map(FinishReason::as_str),
    });
    if d.finish.is_some() {
        choice["stop_reason"] = stop_reason_json(d.stop_reason.as_ref());
    }
    if let Some(ids) = &d.prompt_token_ids {
        choice["prompt_token_ids"] = json!(ids);
    }
    if let Some(scores) = &d.prompt_logprobs {
        choice["prompt_logprobs"] = prompt_logprobs_json(scores);
    }
    if let Some(ids) = &d.token_ids {
        choice["token_ids"] = json!(ids);
    }
    if let Some(spans) = &d.weight_versions {
        choice["weight_versions"] = json!(spans);
    }
    Value::Object(meta.envelope("text_completion", vec![choice]))
}

/// The final usage chunk of a stream (`stream_options.include_usage`): no choices.
pub fn usage_chunk(meta: &ResponseMeta, object: &str, usage: &Usage) -> Value {
    let mut body = meta.envelope(object, Vec::new());
    body.insert("usage".into(), usage.to_json());
    Value::Object(body)
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
