//! `POST /v1/chat/completions`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::body::JsonBody;
use super::collect::collect;
use super::sse::{sse_response, ChunkKind};
use super::submit::{submit, Prompt};
use crate::cli::ReasoningParser;
use crate::error::ApiError;
use crate::generation::ChoiceConfig;
use crate::protocol::response::chat_completion;
use crate::protocol::ChatRequest;
use crate::state::SharedState;
use crate::text::{
    prompt_closes_reasoning, prompt_ids_open_reasoning, prompt_opens_reasoning, ReasoningConfig, TextPipelineConfig, ThinkTokenIds,
};

/// The handler: validate, render + tokenize off the async threads, submit, then stream
/// or collect.
pub async fn chat_completions(State(state): State<SharedState>, JsonBody(body): JsonBody) -> Response {
    match handle(state, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: SharedState, body: Value) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req = ChatRequest::parse(&body)?;
    state.check_model(req.model.as_deref())?;
    req.params.check_vocab(state.vocab_size)?;
    let mut kwargs = state.default_template_kwargs.clone();
    kwargs.extend(req.template_kwargs);
    let (prompt_text, prompt_ids) = render(&state, req.messages, kwargs).await?;
    let max_tokens = state.max_tokens_for(prompt_ids.len(), req.params.max_tokens, req.params.min_tokens, "messages", req.params.max_tokens_field)?;
    let think_ids: Option<ThinkTokenIds> = state.tokenizer.think_token_ids().map(Into::into);
    let starts_in_reasoning = match (state.reasoning_parser, think_ids) {
        (ReasoningParser::DeepseekR1, _) => true,
        (_, Some(ids)) => prompt_ids_open_reasoning(&prompt_ids, ids),
        (_, None) => prompt_opens_reasoning(&prompt_text),
    };
    let choice = ChoiceConfig {
        pipeline: TextPipelineConfig {
            skip_special_tokens: req.params.skip_special_tokens,
            stop: req.params.stop.clone(),
            reasoning: Some(ReasoningConfig { think_token_ids: think_ids, starts_in_reasoning }),
        },
        split_reasoning: state.reasoning_parser != ReasoningParser::None,
        include_reasoning: req.params.reasoning.include_reasoning,
        logprobs: req.params.logprobs.is_some(),
        return_token_ids: req.params.return_token_ids,
        legacy_logprobs: false,
        prompt_logprobs: req.params.prompt_logprobs.is_some(),
        prompt_ids: None,
        echo: None,
        discard_output: false,
    };
    state.check_structured_output(req.params.structured_output.as_ref())?;
    let track = req.params.structured_output.is_some();
    let mut thinking_budget = state.thinking.resolve(&req.params.reasoning, starts_in_reasoning, track);
    if let Some(budget) = thinking_budget.as_mut().filter(|_| prompt_closes_reasoning(&prompt_text, &prompt_ids, think_ids)) {
        // Thinking is disabled by the template (Qwen3's `enable_thinking: false` writes an
        // empty, closed block): no new block may open, so a grammar holds from token one.
        budget.start_ids.clear();
    }
    let prompt = Prompt { ids: prompt_ids.into(), max_tokens, thinking_budget, starts_in_reasoning, echo: None };
    let generation = submit(&state, std::slice::from_ref(&prompt), &req.params, &choice, started, "chatcmpl", req.params.request_id.as_deref()).await?;
    if req.params.stream {
        return Ok(sse_response(generation, ChunkKind::Chat(state.reasoning_field), req.params.include_usage));
    }
    let (choices, generation) = collect(generation, req.params.return_token_ids).await?;
    let meta = generation.meta().clone();
    let prompt_ids = req.params.return_token_ids.then_some(&prompt.ids[..]);
    let body = chat_completion(&meta, &choices, &generation.usage(), state.reasoning_field, prompt_ids);
    Ok(Json(body).into_response())
}

/// Renders the chat template and tokenizes it (no special tokens added: the template
/// writes BOS) on tokio's blocking pool.
async fn render(state: &SharedState, messages: Vec<Value>, kwargs: Map<String, Value>) -> Result<(String, Vec<u32>), ApiError> {
    // The rendered prompt holds at least the messages' text: refuse what cannot fit first.
    state.check_text_fits(messages.iter().map(content_bytes).sum(), "messages")?;
    let tokenizer = Arc::clone(&state.tokenizer);
    tokio::task::spawn_blocking(move || {
        let text = tokenizer
            .apply_chat_template(&messages, true, &kwargs)
            .map_err(|e| ApiError::invalid("messages", format!("Cannot render the chat template: {e}")))?;
        let ids = tokenizer
            .encode(&text, false)
            .map_err(|e| ApiError::invalid("messages", format!("Cannot tokenize the prompt: {e}")))?;
        Ok((text, ids))
    })
    .await
    .map_err(|e| ApiError::internal(format!("tokenization task failed: {e}")))?
}


/// A lower bound of the bytes a message puts in the prompt: its `content` string, or
/// half its JSON (escapes at most double a text) for content given as parts.
fn content_bytes(message: &Value) -> usize {
    match &message["content"] {
        Value::String(s) => s.len(),
        Value::Null => 0,
        other => other.to_string().len() / 2,
    }
}
