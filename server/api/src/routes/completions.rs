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
use crate::protocol::{CompletionRequest, PromptInput};
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
    state.check_structured_output(req.params.structured_output.as_ref())?;
    let track = req.params.structured_output.is_some();
    let prompts = tokenize(&state, req.prompts).await?;
    let prompts = prompts
        .into_iter()
        .map(|ids| {
            let max_tokens = state.max_tokens_for(ids.len(), req.params.max_tokens, "prompt", req.params.max_tokens_field)?;
            let starts_in_reasoning = prompt_opens_reasoning(&state, &ids);
            let thinking_budget = state.thinking.resolve(&req.params.reasoning, starts_in_reasoning, track);
            Ok(Prompt { ids: ids.into(), max_tokens, thinking_budget, starts_in_reasoning })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
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
        logprobs: false,
        return_token_ids: req.params.return_token_ids,
    };
    let generation = submit(&state, &prompts, &req.params, &choice, started, "cmpl").await?;
    if req.params.stream {
        return Ok(sse_response(generation, ChunkKind::Completion, req.params.include_usage));
    }
    let (choices, generation) = collect(generation, req.params.return_token_ids).await?;
    let meta = generation.meta().clone();
    // vLLM returns one prompt's ids; with several prompts, the first one's.
    let prompt_ids = req.params.return_token_ids.then(|| prompts[0].ids.clone());
    Ok(Json(completion(&meta, &choices, &generation.usage(), prompt_ids.as_deref())).into_response())
}

/// Text prompts are tokenized with special tokens (BOS) added; id prompts are checked
/// against the vocabulary.
async fn tokenize(state: &SharedState, prompts: Vec<PromptInput>) -> Result<Vec<Vec<u32>>, ApiError> {
    let tokenizer = Arc::clone(&state.tokenizer);
    let vocab_size = state.vocab_size;
    tokio::task::spawn_blocking(move || {
        prompts
            .into_iter()
            .map(|p| match p {
                PromptInput::Text(text) => tokenizer
                    .encode(&text, true)
                    .map_err(|e| ApiError::invalid("prompt", format!("Cannot tokenize the prompt: {e}"))),
                PromptInput::Tokens(ids) => match ids.iter().find(|&&id| id as usize >= vocab_size) {
                    Some(id) => Err(ApiError::invalid("prompt", format!("Token id {id} is outside the vocabulary (size {vocab_size})."))),
                    None => Ok(ids),
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
