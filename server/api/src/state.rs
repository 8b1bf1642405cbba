//! What every request handler shares: the served model's facts, the tokenizer, the
//! engine handle, metrics and server settings. Read-only after startup.

use std::sync::Arc;

use ponder_models::tokenizer::TextTokenizer;

use crate::cli::ReasoningParser;
use crate::engine::EngineHandle;
use ponder_engine::StructuredOutput;
use ponder_runner::GrammarCompiler;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::protocol::{ReasoningField, SamplingDefaults};
use crate::thinking::BudgetSettings;

/// Shared, immutable server state (behind an `Arc` in axum's state).
pub struct AppState {
    /// The name `/v1/models` lists and requests may send as `model`.
    pub model_name: String,
    pub tokenizer: Arc<TextTokenizer>,
    pub engine: EngineHandle,
    pub metrics: Metrics,
    /// Context window in tokens (prompt + generated).
    pub max_model_len: usize,
    /// Tokens the KV cache holds (blocks × block size).
    pub kv_cache_tokens: usize,
    /// Rows of the logits; token ids must be below it.
    pub vocab_size: usize,
    /// Sampling defaults from `generation_config.json`.
    pub defaults: SamplingDefaults,
    pub reasoning_field: ReasoningField,
    /// `--seed`: used for requests without `seed` (else a random one per request).
    pub default_seed: Option<u64>,
    /// `--api-key`: when set, `/v1` routes need `Authorization: Bearer <key>`.
    pub api_keys: Vec<String>,
    /// `--admin-api-key`: when set, the admin routes exist and need this bearer key.
    pub admin_api_key: Option<String>,
    /// `--metrics-api-key`: when set, `/metrics`, `/health`, `/ready` and `/version`
    /// need this bearer key.
    pub metrics_api_key: Option<String>,
    /// `--header-read-timeout`: how long a connection may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// What `/update_weights_from_disk` needs to load and check a new checkpoint.
    pub checkpoint: CheckpointTarget,
    /// Held while a checkpoint loads and swaps: one weight update at a time.
    pub weight_update_lock: tokio::sync::Mutex<()>,
    /// `--max-body-bytes`.
    pub max_body_bytes: usize,
    /// Bytes of the vocabulary's longest token: a text of `n` bytes is at least
    /// `n / max_token_bytes` tokens, so a longer text than the context window can hold
    /// is refused before it is tokenized.
    pub max_token_bytes: usize,
    /// Set once a shutdown began: new requests get a 503 and `/ready` is 503.
    pub draining: std::sync::atomic::AtomicBool,
    /// `--allowed-origins` (CORS); empty: no CORS headers at all.
    pub allowed_origins: Vec<String>,
    /// `--request-timeout`: the longest a request may take.
    pub request_timeout: Option<std::time::Duration>,
    /// `--shutdown-timeout`: how long a shutdown lets running requests finish.
    pub shutdown_timeout: std::time::Duration,
    /// Unix seconds at startup (`created` of the model object).
    pub created: u64,
    /// Thinking budgets: effort levels, the forced message and the tag ids.
    pub thinking: BudgetSettings,
    /// `--reasoning-parser`.
    pub reasoning_parser: ReasoningParser,
    /// `--default-chat-template-kwargs` (a request's `chat_template_kwargs` override them).
    pub default_template_kwargs: serde_json::Map<String, serde_json::Value>,
    /// `--scheduling-policy`.
    pub scheduling_policy: ponder_engine::SchedulingPolicy,
    /// Compiles `response_format` grammars (shared with the runner, which runs them).
    pub grammar: Option<Arc<GrammarCompiler>>,
}

/// The served model's format, shape and device: a new checkpoint must match them.
pub struct CheckpointTarget {
    pub format: ponder_models::ModelFormat,
    pub config: ponder_models::ModelConfig,
    pub device: candle_core::Device,
}

/// Handler state.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Checks a request's `model`: absent or the served name (in any ASCII case) is
    /// fine; anything else is 404.
    pub fn check_model(&self, model: Option<&str>) -> Result<(), ApiError> {
        match model {
            None => Ok(()),
            Some(m) if m.eq_ignore_ascii_case(&self.model_name) => Ok(()),
            Some(m) => Err(ApiError::model_not_found(m)),
        }
    }

    /// Refuses, before tokenizing, a text that cannot fit the context window whatever
    /// its tokenization (more bytes than `max_model_len` of the longest tokens).
    pub fn check_text_fits(&self, text_bytes: usize, param: &str) -> Result<(), ApiError> {
        let most = self.max_model_len.saturating_mul(self.max_token_bytes.max(1));
        if text_bytes > most {
            return Err(ApiError::invalid(
                param,
                format!(
                    "The prompt is {text_bytes} bytes: more than the {} tokens of this model's context window can hold \
                     (at most {most} bytes with its longest tokens). Shorten the prompt.",
                    self.max_model_len
                ),
            ));
        }
        Ok(())
    }

    /// The generation budget for a prompt of `prompt_len` tokens: `requested` (or the
    /// rest of the context window), never below `min_tokens`.
    ///
    /// Errors: 400 giving both numbers when the prompt leaves no room to generate, 400
    /// on `field` (`max_tokens` or `max_completion_tokens`) when prompt + `requested`
    /// exceed the context window, or 400 on `min_tokens` when it exceeds the rest of the
    /// window (vLLM checks `min_tokens <= max_tokens` after defaulting `max_tokens`; a
    /// requested `max_tokens` was already checked against it when parsed).
    pub fn max_tokens_for(
        &self,
        prompt_len: usize,
        requested: Option<usize>,
        min_tokens: usize,
        param: &str,
        field: &str,
    ) -> Result<usize, ApiError> {
        if prompt_len == 0 {
            return Err(ApiError::invalid(param, "The prompt is empty."));
        }
        if prompt_len >= self.max_model_len {
            return Err(ApiError::invalid(
                param,
                format!(
                    "This model's maximum context length is {} tokens, but the prompt has {} tokens \
                     (no room left to generate). Shorten the prompt.",
                    self.max_model_len, prompt_len
                ),
            ));
        }
        let room = self.max_model_len - prompt_len;
        match requested {
            None if min_tokens > room => Err(ApiError::invalid(
                "min_tokens",
                format!(
                    "`min_tokens` ({min_tokens}) exceeds the {room} tokens this model's context window of {} tokens \
                     leaves after the {prompt_len}-token prompt.",
                    self.max_model_len
                ),
            )),
            None => Ok(room),
            Some(r) if r <= room => Ok(r),
            // vLLM and OpenAI refuse rather than silently shorten the budget.
            Some(r) => Err(ApiError::invalid(
                field,
                format!(
                    "This model's maximum context length is {} tokens. However, you requested {} tokens \
                     ({} in the prompt, {} for the completion). Lower `{field}` or shorten the prompt.",
                    self.max_model_len,
                    prompt_len + r,
                    prompt_len,
                    r
                ),
            )),
        }
    }

    /// Compiles `response_format` once to reject a bad schema with a 400 up front.
    pub fn check_structured_output(&self, output: Option<&StructuredOutput>) -> Result<(), ApiError> {
        let Some(output) = output else { return Ok(()) };
        let compiler = self
            .grammar
            .as_ref()
            .ok_or_else(|| ApiError::invalid("response_format", "Structured output is not available for this model."))?;
        compiler
            .check(output)
            .map_err(|e| ApiError::invalid("response_format", format!("Invalid `response_format`: {}", grammar_error(&format!("{e:#}")))))
    }

    /// Seed of sample `i` of a request: `seed + i`, else `--seed + i`, else random.
    pub fn sample_seed(&self, request_seed: Option<u64>, base: u64, i: usize) -> u64 {
        request_seed.or(self.default_seed).unwrap_or(base).wrapping_add(i as u64)
    }
}

/// The part of a grammar compiler's error worth showing a client, on one line.
/// llguidance appends its parser state after the first line, so that line is kept;
/// but a first line ending in `:` only introduces its detail (the `regex` crate's
/// `regex parse error:`, then the pattern, a caret and `error: ...`), so the next
/// few lines are joined to it.
fn grammar_error(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_string();
    if !first.ends_with(':') {
        return first;
    }
    std::iter::once(first).chain(lines.take(3).map(String::from)).collect::<Vec<_>>().join(" ")
}
