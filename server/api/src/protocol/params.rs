//! Generation parameters shared by `/v1/chat/completions` and `/v1/completions`:
//! sampling knobs, stops, streaming options and the reasoning extensions, validated
//! field by field (ranges follow OpenAI and vLLM).

use ponder_engine::{LogprobsMode, SamplingParams, StructuredOutput, ThinkingBudget};
use serde_json::{Map, Value};

use super::fields::{as_token_id, Fields};
use crate::error::ApiError;

/// Most `n` one request may ask for.
pub const MAX_N: i64 = 128;
/// Most stop strings one request may carry (OpenAI's limit).
pub const MAX_STOP_STRINGS: usize = 4;
/// Most `top_logprobs` per token (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: i64 = 20;
/// Most `logit_bias` entries (OpenAI's limit).
pub const MAX_LOGIT_BIAS: usize = 300;
/// Most sequences (prompts × `n`) one request may make.
pub const MAX_SEQS_PER_REQUEST: usize = 1024;
/// Longest stop string, in bytes (the matcher holds back up to this much text).
pub const MAX_STOP_STRING_BYTES: usize = 1024;
/// Largest `response_format` JSON schema, in bytes of compact JSON (grammar compilation
/// grows with it).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Deepest nesting of a `response_format` JSON schema.
pub const MAX_SCHEMA_DEPTH: usize = 32;

/// Server-side defaults for sampling, from the model's `generation_config.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingDefaults {
    pub temperature: f32,
    pub top_p: f32,
    /// `None`: top-k disabled.
    pub top_k: Option<usize>,
    /// `--logprobs-mode`: what `logprobs` describe when a request does not say.
    pub logprobs_mode: LogprobsMode,
}

impl Default for SamplingDefaults {
    /// OpenAI's defaults: temperature 1, no nucleus or top-k truncation.
    fn default() -> Self {
        Self { temperature: 1.0, top_p: 1.0, top_k: None, logprobs_mode: LogprobsMode::RawLogprobs }
    }
}

/// `reasoning_effort`, mapped by the server to a thinking budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
}

/// The reasoning extensions of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasoningOptions {
    /// `include_reasoning` (default true): false generates reasoning but does not return it.
    pub include_reasoning: bool,
    /// `max_reasoning_tokens` (alias `thinking_token_budget`): the thinking budget.
    pub max_reasoning_tokens: Option<usize>,
    pub effort: Option<ReasoningEffort>,
}

/// Validated generation parameters of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    /// Samples per prompt (`n`).
    pub n: usize,
    /// `max_completion_tokens` or `max_tokens`; `None`: the rest of the context window.
    pub max_tokens: Option<usize>,
    /// Which of the two fields set `max_tokens` (errors name it).
    pub max_tokens_field: &'static str,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// `top_k` as sent: `Some(k)` with `k >= 1`, `None` when absent; -1 and 0 disable.
    pub top_k: Option<Option<usize>>,
    pub min_p: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub repetition_penalty: f32,
    pub seed: Option<u64>,
    /// Stop strings (applied on text, outside the engine).
    pub stop: Vec<String>,
    pub stop_token_ids: Vec<u32>,
    pub ignore_eos: bool,
    pub min_tokens: usize,
    pub logit_bias: Vec<(u32, f32)>,
    /// Top log-probabilities per token: `None` no logprobs, `Some(0)` sampled token only.
    pub logprobs: Option<usize>,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    pub skip_special_tokens: bool,
    /// vLLM's `return_token_ids`: `prompt_token_ids` and per-choice `token_ids`.
    pub return_token_ids: bool,
    pub reasoning: ReasoningOptions,
    /// vLLM's `logprobs_mode` (`raw_logprobs` or `processed_logprobs`); `None`: the
    /// server's `--logprobs-mode`.
    pub logprobs_mode: Option<LogprobsMode>,
    /// vLLM's `prompt_logprobs`: return scores of the prompt tokens with this many top
    /// alternatives each.
    pub prompt_logprobs: Option<usize>,
    /// Completions' `echo`: the prompt is returned before the output (its tokens in
    /// the legacy `logprobs` too). Always false for chat.
    pub echo: bool,
    /// `response_format` (`json_object` or `json_schema`); `None` for plain text.
    pub structured_output: Option<StructuredOutput>,
    /// vLLM's `priority` (lower first), for `--scheduling-policy priority`.
    pub priority: i32,
    /// vLLM's `request_id`: the client's id for the request (the response's `id`, the
    /// name `/abort_requests` takes); `None`: the server makes one.
    pub request_id: Option<String>,
}

impl GenerationParams {
    /// Reads and validates every shared field. `logprobs` and `echo` are
    /// endpoint-specific and left `None` / false.
    pub fn parse(f: &Fields) -> Result<Self, ApiError> {
        Self::parse_with(f, 1)
    }

    /// [`Self::parse`] with the smallest `max_tokens` allowed (0 for completions' `echo`,
    /// which scores a prompt without generating).
    pub fn parse_with(f: &Fields, min_max_tokens: usize) -> Result<Self, ApiError> {
        let (max_tokens, max_tokens_field) = match f.count("max_completion_tokens", min_max_tokens)? {
            Some(n) => (Some(n), "max_completion_tokens"),
            None => (f.count("max_tokens", min_max_tokens)?, "max_tokens"),
        };
        let min_tokens = f.count("min_tokens", 0)?.unwrap_or(0);
        if let Some(max) = max_tokens {
            if min_tokens > max {
                return Err(ApiError::invalid("min_tokens", format!("`min_tokens` ({min_tokens}) must not exceed `max_tokens` ({max}).")));
            }
        }
        let stream = f.bool("stream")?.unwrap_or(false);
        let include_usage = match f.object("stream_options")? {
            Some(opts) => parse_include_usage(opts)?,
            None => false,
        };
        Ok(Self {
            n: f.int_in("n", 1, MAX_N)?.unwrap_or(1) as usize,
            max_tokens,
            max_tokens_field,
            temperature: f.number_in("temperature", 0.0, 2.0)?.map(|x| x as f32),
            top_p: f.unit_interval_open_below("top_p")?.map(|x| x as f32),
            top_k: f.int_in("top_k", -1, i64::MAX)?.map(|k| (k > 0).then_some(k as usize)),
            min_p: f.number_in("min_p", 0.0, 1.0)?.unwrap_or(0.0) as f32,
            presence_penalty: f.number_in("presence_penalty", -2.0, 2.0)?.unwrap_or(0.0) as f32,
            frequency_penalty: f.number_in("frequency_penalty", -2.0, 2.0)?.unwrap_or(0.0) as f32,
            repetition_penalty: f.number_above("repetition_penalty", 0.0)?.unwrap_or(1.0) as f32,
            seed: f.int_in("seed", i64::MIN, i64::MAX)?.map(|s| s as u64),
            stop: parse_stop(f)?,
            stop_token_ids: f.token_ids("stop_token_ids")?.unwrap_or_default(),
            ignore_eos: f.bool("ignore_eos")?.unwrap_or(false),
            min_tokens,
            logit_bias: parse_logit_bias(f)?,
            logprobs: None,
            stream,
            include_usage,
            skip_special_tokens: f.bool("skip_special_tokens")?.unwrap_or(true),
            return_token_ids: f.bool("return_token_ids")?.unwrap_or(false),
            reasoning: parse_reasoning(f)?,
            logprobs_mode: parse_logprobs_mode(f)?,
            prompt_logprobs: f.int_in("prompt_logprobs", 0, MAX_TOP_LOGPROBS)?.map(|k| k as usize),
            echo: false,
            structured_output: parse_response_format(f)?,
            priority: f.int_in("priority", i32::MIN as i64, i32::MAX as i64)?.unwrap_or(0) as i32,
            request_id: match f.str("request_id")? {
                Some(id) => {
                    crate::routes::check_request_id(id, "request_id")?;
                    Some(id.to_owned())
                }
                None => None,
            },
        })
        .and_then(reject_eos_conflicts)
        .and_then(|p| validate_known_extras(f).map(|()| p))
    }

    /// The engine's parameters for one sample, `seed` already derived for it.
    ///
    /// `max_tokens` is the resolved budget (already checked against the context window);
    /// `thinking_budget` the prompt's resolved one (it depends on whether the prompt
    /// opened a think block). Everything is resolved here, once per sample.
    pub fn sampling_params(&self, defaults: &SamplingDefaults, max_tokens: usize, seed: u64, thinking_budget: Option<ThinkingBudget>) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.unwrap_or(defaults.top_p),
            top_k: self.top_k.unwrap_or(defaults.top_k),
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            logit_bias: self.logit_bias.clone(),
            seed,
            max_tokens,
            min_tokens: self.min_tokens,
            stop_token_ids: self.stop_token_ids.clone(),
            ignore_eos: self.ignore_eos,
            logprobs: self.logprobs,
            logprobs_mode: self.logprobs_mode.unwrap_or(defaults.logprobs_mode),
            prompt_logprobs: self.engine_prompt_logprobs(),
            thinking_budget,
            structured_output: self.structured_output.clone(),
        }
    }

    /// Refuses `num_prompts × n` over [`MAX_SEQS_PER_REQUEST`] (checked before any
    /// prompt is tokenized), naming `n`.
    pub fn check_num_seqs(&self, num_prompts: usize) -> Result<(), ApiError> {
        let seqs = num_prompts.saturating_mul(self.n);
        if seqs > MAX_SEQS_PER_REQUEST {
            return Err(ApiError::invalid(
                "n",
                format!("{num_prompts} prompts × n = {} make {seqs} sequences; one request may make at most {MAX_SEQS_PER_REQUEST}.", self.n),
            ));
        }
        Ok(())
    }

    /// What the engine scores of the prompt: `prompt_logprobs`, widened to `logprobs`
    /// when `echo` returns the prompt's tokens with their logprobs.
    pub fn engine_prompt_logprobs(&self) -> Option<usize> {
        let echoed = self.logprobs.filter(|_| self.echo);
        self.prompt_logprobs.max(echoed)
    }

    /// Checks token ids against the vocabulary (an out-of-range id is a 400, not a crash).
    pub fn check_vocab(&self, vocab_size: usize) -> Result<(), ApiError> {
        if let Some(id) = self.stop_token_ids.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(ApiError::invalid("stop_token_ids", format!("Token id {id} is outside the vocabulary (size {vocab_size}).")));
        }
        if let Some((id, _)) = self.logit_bias.iter().find(|(id, _)| *id as usize >= vocab_size) {
            return Err(ApiError::invalid("logit_bias", format!("Token id {id} is outside the vocabulary (size {vocab_size}).")));
        }
        Ok(())
    }
}

fn parse_include_usage(opts: &Map<String, Value>) -> Result<bool, ApiError> {
    match opts.get("include_usage") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid("stream_options.include_usage", "`stream_options.include_usage` must be a boolean.")),
    }
}

/// `stop`: a string or a list of at most four non-empty strings.
fn parse_stop(f: &Fields) -> Result<Vec<String>, ApiError> {
    let bad = |msg: &str| ApiError::invalid("stop", msg.to_string());
    let stops = match f.get("stop") {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad("`stop` must be a string or a list of strings.")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(bad("`stop` must be a string or a list of strings.")),
    };
    if stops.len() > MAX_STOP_STRINGS {
        return Err(bad("`stop` may hold at most 4 strings."));
    }
    if stops.iter().any(String::is_empty) {
        return Err(bad("`stop` strings must not be empty."));
    }
    if stops.iter().any(|s| s.len() > MAX_STOP_STRING_BYTES) {
        return Err(bad(&format!("`stop` strings may be at most {MAX_STOP_STRING_BYTES} bytes long.")));
    }
    Ok(stops)
}

/// `logit_bias`: `{"<token id>": bias}` with bias in `[-100, 100]`.
fn parse_logit_bias(f: &Fields) -> Result<Vec<(u32, f32)>, ApiError> {
    let Some(map) = f.object("logit_bias")? else { return Ok(Vec::new()) };
    if map.len() > MAX_LOGIT_BIAS {
        return Err(ApiError::invalid("logit_bias", format!("`logit_bias` may hold at most {MAX_LOGIT_BIAS} entries, got {}.", map.len())));
    }
    let mut bias = Vec::with_capacity(map.len());
    for (key, value) in map {
        let id: u32 = key
            .parse()
            .map_err(|_| ApiError::invalid("logit_bias", format!("`logit_bias` keys must be token ids, got {key:?}.")))?;
        let b = value
            .as_f64()
            .filter(|b| (-100.0..=100.0).contains(b))
            .ok_or_else(|| ApiError::invalid("logit_bias", format!("`logit_bias` values must be numbers in [-100, 100] (token {key}).")))?;
        bias.push((id, b as f32));
    }
    bias.sort_by_key(|(id, _)| *id);
    Ok(bias)
}

/// A finished grammar allows only EOS: `min_tokens` or `ignore_eos` would then fill the
/// output with hidden EOS tokens, so the combination is refused.
fn reject_eos_conflicts(p: GenerationParams) -> Result<GenerationParams, ApiError> {
    if p.structured_output.is_some() && (p.min_tokens > 0 || p.ignore_eos) {
        let field = if p.ignore_eos { "ignore_eos" } else { "min_tokens" };
        return Err(ApiError::invalid(field, format!("`{field}` cannot be combined with `response_format`: the grammar decides when the answer ends.")));
    }
    Ok(p)
}

/// OpenAI's `response_format`: `{"type": "text"}`, `{"type": "json_object"}` or
/// `{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`.
fn parse_response_format(f: &Fields) -> Result<Option<StructuredOutput>, ApiError> {
    const P: &str = "response_format";
    let Some(format) = f.object(P)? else { return Ok(None) };
    let invalid = |msg: &str| ApiError::invalid(P, msg.to_string());
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(StructuredOutput::JsonObject)),
        Some("json_schema") => {
            let schema = format
                .get("json_schema")
                .and_then(Value::as_object)
                .and_then(|js| js.get("schema"))
                .ok_or_else(|| invalid("`response_format.json_schema.schema` is required for type `json_schema`."))?;
            if !schema.is_object() && !schema.is_boolean() {
                return Err(invalid("`response_format.json_schema.schema` must be a JSON Schema object."));
            }
            if json_depth(schema) > MAX_SCHEMA_DEPTH {
                return Err(invalid(&format!("`response_format.json_schema.schema` nests deeper than {MAX_SCHEMA_DEPTH} levels.")));
            }
            let text = schema.to_string();
            if text.len() > MAX_SCHEMA_BYTES {
                return Err(invalid(&format!("`response_format.json_schema.schema` is {} bytes; the limit is {MAX_SCHEMA_BYTES}.", text.len())));
            }
            Ok(Some(StructuredOutput::JsonSchema(text)))
        }
        Some(other) => Err(invalid(&format!("`response_format.type` must be one of \"text\", \"json_object\", \"json_schema\", got {other:?}."))),
        None => Err(invalid("`response_format.type` is required.")),
    }
}

/// Nesting depth of `v`: 1 for a scalar, one more per array or object level. (serde_json
/// refuses to parse beyond 128 levels, so the recursion is bounded.)
fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 1,
    }
}

fn parse_reasoning(f: &Fields) -> Result<ReasoningOptions, ApiError> {
    let budget = match f.count("max_reasoning_tokens", 0)? {
        Some(n) => Some(n),
        None => f.count("thinking_token_budget", 0)?,
    };
    let effort = f.enumeration("reasoning_effort", &["low", "medium", "high"])?.map(|e| match e {
        "low" => ReasoningEffort::Low,
        "medium" => ReasoningEffort::Medium,
        _ => ReasoningEffort::High,
    });
    Ok(ReasoningOptions {
        include_reasoning: f.bool("include_reasoning")?.unwrap_or(true),
        max_reasoning_tokens: budget,
        effort,
    })
}

/// vLLM's `logprobs_mode`: `raw_logprobs` (default) or `processed_logprobs`.
fn parse_logprobs_mode(f: &Fields) -> Result<Option<LogprobsMode>, ApiError> {
    Ok(f.enumeration("logprobs_mode", &["raw_logprobs", "processed_logprobs"])?.map(|mode| match mode {
        "processed_logprobs" => LogprobsMode::ProcessedLogprobs,
        _ => LogprobsMode::RawLogprobs,
    }))
}

/// Known fields that only need their type checked here (used elsewhere or reserved),
/// and the peers' fields ponder does not implement: those are a 400 naming the field
/// when set to anything but their default, never silently ignored.
fn validate_known_extras(f: &Fields) -> Result<(), ApiError> {
    f.str("user")?;
    f.object("chat_template_kwargs")?;
    for &name in UNSUPPORTED {
        if let Some(value) = f.get(name).filter(|v| !is_default(name, v)) {
            return Err(ApiError::invalid(name, format!("`{name}` is not supported by this server (got {value}).")));
        }
    }
    Ok(())
}

/// OpenAI and vLLM request fields ponder does not implement.
const UNSUPPORTED: &[&str] = &[
    "best_of",
    "use_beam_search",
    "length_penalty",
    "include_stop_str_in_output",
    "truncate_prompt_tokens",
    "bad_words",
    "allowed_token_ids",
    "guided_json",
    "guided_regex",
    "guided_choice",
    "guided_grammar",
    "structured_outputs",
    "prompt_embeds",
    "logits_processors",
    "return_tokens_as_token_ids",
    "spaces_between_special_tokens",
    "audio",
    "prediction",
];

/// Whether `value` asks for nothing beyond what ponder does anyway.
fn is_default(name: &str, value: &Value) -> bool {
    match (name, value) {
        ("best_of", v) => super::fields::as_integer(v) == Some(1),
        ("length_penalty", v) => v.as_f64() == Some(1.0),
        ("spaces_between_special_tokens", Value::Bool(b)) => *b,
        (_, Value::Bool(b)) => !b,
        (_, Value::Array(a)) => a.is_empty(),
        (_, Value::Object(o)) => o.is_empty(),
        (_, Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// A token id list from a JSON array, `None` if any element is not a token id.
pub fn token_id_list(items: &[Value]) -> Option<Vec<u32>> {
    items.iter().map(as_token_id).collect()
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
