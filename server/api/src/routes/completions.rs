//! `POST /v1/completions`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::body::JsonBody;
use super::collect::collect;
use super::sse::{sse_response, ChunkKind};
use super::submit::{submit, Prompt};
use crate::error::ApiError;
use crate::generation::ChoiceConfig;
use crate::protocol::response::completion;
use crate::protocol::{CompletionRequest, GenerationParams, PromptInput};
use crate::state::SharedState;
use crate::text::{ReasoningConfig, TextPipelineConfig};

/// The handler: validate, tokenize text prompts off the async threads, submit, then
/// stream or collect. The text is returned as generated (no reasoning split).
pub async fn completions(State(state): State<SharedState>, JsonBody(body): JsonBody) -> Response {
    match handle(state, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: SharedState, body: Value) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req = CompletionRequest::parse(&body)?;
    state.check_model(req.model.as_deref())?;
    req.params.check_vocab(state.vocab_size)?;
    req.params.check_num_seqs(req.prompts.len())?;
    state.check_structured_output(req.params.structured_output.as_ref())?;
    let tokenized = tokenize(&state, req.prompts, req.params.echo).await?;
    let prompts = raw_prompts(&state, tokenized, &req.params, "prompt", req.params.max_tokens_field)?;
    // The reasoning section is always followed (usage counts its tokens); the text is
    // returned whole, or without the reasoning when `include_reasoning` is false.
    let reasoning = ReasoningConfig {
        think_token_ids: state.tokenizer.think_token_ids().map(Into::into),
        starts_in_reasoning: false, // per prompt, set by `submit`
    };
    let include_reasoning = req.params.reasoning.include_reasoning;
    let choice = ChoiceConfig {
        pipeline: TextPipelineConfig {
            skip_special_tokens: req.params.skip_special_tokens,
            stop: req.params.stop.clone(),
            reasoning: Some(reasoning),
        },
        split_reasoning: !include_reasoning,
        include_reasoning: false,
        logprobs: req.params.logprobs.is_some(),
        return_token_ids: req.params.return_token_ids,
        legacy_logprobs: true,
        prompt_logprobs: req.params.prompt_logprobs.is_some(),
        prompt_ids: None,
        echo: None,
        discard_output: false,
    };
    let generation = submit(&state, &prompts, &req.params, &choice, started, "cmpl", req.params.request_id.as_deref()).await?;
    if req.params.stream {
        return Ok(sse_response(generation, ChunkKind::Completion, req.params.include_usage));
    }
    let (choices, generation) = collect(generation, req.params.return_token_ids).await?;
    let meta = generation.meta().clone();
    // vLLM returns one prompt's ids; with several prompts, the first one's.
    let prompt_ids = req.params.return_token_ids.then(|| prompts[0].ids.clone());
    Ok(Json(completion(&meta, &choices, &generation.usage(), prompt_ids.as_deref())).into_response())
}

/// Raw (template-free) prompts with their budgets: `max_tokens` against the context
/// window (errors name `param` for the prompt and `max_tokens_field` for the budget),
/// the thinking budget, and the echo text when `params.echo`.
pub(super) fn raw_prompts(
    state: &SharedState,
    tokenized: Vec<(Vec<u32>, String)>,
    params: &GenerationParams,
    param: &str,
    max_tokens_field: &str,
) -> Result<Vec<Prompt>, ApiError> {
    let track = params.structured_output.is_some();
    tokenized
        .into_iter()
        .map(|(ids, text)| {
            let max_tokens = state.max_tokens_for(ids.len(), params.max_tokens, params.min_tokens, param, max_tokens_field)?;
            let starts_in_reasoning = prompt_opens_reasoning(state, &ids);
            let thinking_budget = state.thinking.resolve(&params.reasoning, starts_in_reasoning, track);
            let echo = params.echo.then(|| text.into());
            Ok(Prompt { ids: ids.into(), max_tokens, thinking_budget, starts_in_reasoning, echo })
        })
        .collect()
}

/// Text prompts are tokenized with special tokens (BOS) added; id prompts are checked
/// against the vocabulary. Returns each prompt's ids and text (an id prompt's text is
/// its decoding when `decode_ids`, else empty).
pub async fn tokenize(state: &SharedState, prompts: Vec<PromptInput>, decode_ids: bool) -> Result<Vec<(Vec<u32>, String)>, ApiError> {
    for p in &prompts {
        if let PromptInput::Text(text) = p {
            state.check_text_fits(text.len(), "prompt")?;
        }
    }
    let tokenizer = Arc::clone(&state.tokenizer);
    let vocab_size = state.vocab_size;
    tokio::task::spawn_blocking(move || {
        prompts
            .into_iter()
            .map(|p| match p {
                PromptInput::Text(text) => tokenizer
                    .encode(&text, true)
                    .map(|ids| (ids, text))
                    .map_err(|e| ApiError::invalid("prompt", format!("Cannot tokenize the prompt: {e}"))),
                PromptInput::Tokens(ids) => match ids.iter().find(|&&id| id as usize >= vocab_size) {
                    Some(id) => Err(ApiError::invalid("prompt", format!("Token id {id} is outside the vocabulary (size {vocab_size})."))),
                    None => {
                        let text = if decode_ids { tokenizer.decode(&ids, false).unwrap_or_default() } else { String::new() };
                        Ok((ids, text))
                    }
                },
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(format!("tokenization task failed: {e}")))?
}

/// Whether a raw prompt ends inside an open think block (by id when the tokenizer has
/// single-token tags, else on the decoded text).
fn prompt_opens_reasoning(state: &SharedState, ids: &[u32]) -> bool {
    match state.tokenizer.think_token_ids() {
        Some(ids_pair) => crate::text::prompt_ids_open_reasoning(ids, ids_pair.into()),
        None => state.tokenizer.decode(ids, false).is_ok_and(|text| crate::text::prompt_opens_reasoning(&text)),
    }
}
