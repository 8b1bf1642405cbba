//! vLLM's `POST /tokenize` and `POST /detokenize`: the server's own tokenizer and chat
//! template, so a client (an RL trainer) sees exactly the ids the engine would.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::body::JsonBody;
use crate::error::ApiError;
use crate::protocol::chat::parse_messages;
use crate::protocol::fields::Fields;
use crate::state::SharedState;
use crate::text::Vocabulary;

/// `{"prompt": text, "add_special_tokens"?: true}` or `{"messages": [...],
/// "add_generation_prompt"?: true, "chat_template_kwargs"?: {}}` (the template writes
/// BOS, so `add_special_tokens` defaults to false there), plus `return_token_strs`.
/// Answers `{"count", "max_model_len", "tokens", "token_strs"}`.
pub async fn tokenize(State(state): State<SharedState>, JsonBody(body): JsonBody) -> Response {
    match handle_tokenize(&state, &body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle_tokenize(state: &SharedState, body: &Value) -> Result<Value, ApiError> {
    let f = Fields::new(body)?;
    state.check_model(f.str("model")?)?;
    let return_token_strs = f.bool("return_token_strs")?.unwrap_or(false);
    let input = match (f.str("prompt")?, f.get("messages")) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("messages", "Send either `prompt` or `messages`, not both.")),
        (Some(prompt), None) => Input::Prompt { text: prompt.to_owned(), add_special_tokens: f.bool("add_special_tokens")?.unwrap_or(true) },
        (None, Some(_)) => {
            let mut kwargs = state.default_template_kwargs.clone();
            kwargs.extend(f.object("chat_template_kwargs")?.cloned().unwrap_or_default());
            Input::Chat {
                messages: parse_messages(&f)?,
                add_generation_prompt: f.bool("add_generation_prompt")?.unwrap_or(true),
                add_special_tokens: f.bool("add_special_tokens")?.unwrap_or(false),
                kwargs,
            }
        }
        (None, None) => return Err(ApiError::invalid("prompt", "`prompt` (a string) or `messages` is required.")),
    };
    let tokenizer = Arc::clone(&state.tokenizer);
    let ids = tokio::task::spawn_blocking(move || input.encode(&tokenizer))
        .await
        .map_err(|e| ApiError::internal(format!("tokenization task failed: {e}")))??;
    let token_strs = return_token_strs.then(|| ids.iter().map(|&id| state.tokenizer.token_text(id)).collect::<Vec<_>>());
    Ok(json!({"count": ids.len(), "max_model_len": state.max_model_len, "tokens": ids, "token_strs": token_strs}))
}

enum Input {
    Prompt { text: String, add_special_tokens: bool },
    Chat { messages: Vec<Value>, add_generation_prompt: bool, add_special_tokens: bool, kwargs: Map<String, Value> },
}

impl Input {
    fn encode(self, tokenizer: &ponder_models::tokenizer::TextTokenizer) -> Result<Vec<u32>, ApiError> {
        match self {
            Self::Prompt { text, add_special_tokens } => tokenizer
                .encode(&text, add_special_tokens)
                .map_err(|e| ApiError::invalid("prompt", format!("Cannot tokenize the prompt: {e}"))),
            Self::Chat { messages, add_generation_prompt, add_special_tokens, kwargs } => {
                let text = tokenizer
                    .apply_chat_template(&messages, add_generation_prompt, &kwargs)
                    .map_err(|e| ApiError::invalid("messages", format!("Cannot render the chat template: {e}")))?;
                tokenizer
                    .encode(&text, add_special_tokens)
                    .map_err(|e| ApiError::invalid("messages", format!("Cannot tokenize the prompt: {e}")))
            }
        }
    }
}

/// `{"tokens": [ids]}` → `{"prompt": text}` (special tokens kept, as vLLM decodes).
pub async fn detokenize(State(state): State<SharedState>, JsonBody(body): JsonBody) -> Response {
    let result = (|| {
        let f = Fields::new(&body)?;
        state.check_model(f.str("model")?)?;
        let ids = f.token_ids("tokens")?.ok_or_else(|| ApiError::invalid("tokens", "`tokens` (a list of token ids) is required."))?;
        if let Some(id) = ids.iter().find(|&&id| id as usize >= state.vocab_size) {
            return Err(ApiError::invalid("tokens", format!("Token id {id} is outside the vocabulary (size {}).", state.vocab_size)));
        }
        let text = state.tokenizer.decode(&ids, false).map_err(|e| ApiError::invalid("tokens", format!("Cannot decode: {e}")))?;
        Ok(json!({"prompt": text}))
    })();
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
