//! Small GET routes: `/health`, `/ready`, `/version`, `/metrics`, `/v1/models`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::SharedState;

/// Liveness: 200 once the listener is open (which is after the model loaded).
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the model is loaded, the engine thread runs and the server is not
/// shutting down (503 otherwise).
pub async fn ready(State(state): State<SharedState>) -> Response {
    if !state.engine.status().alive {
        return ApiError::unavailable("The engine has stopped.").into_response();
    }
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return ApiError::unavailable("The server is shutting down.").into_response();
    }
    Json(json!({"status": "ready", "model": state.model_name})).into_response()
}

/// The server's version.
pub async fn version() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION")}))
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], {
        state.metrics.observe_engine(&state.engine.status());
        state.metrics.render()
    })
}

/// SGLang's `GET /model_info` (and the older `/get_model_info`), which sglang-router
/// reads to learn a worker's model: `model_path` is the served model name (the id
/// requests must name).
pub async fn model_info(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({
        "model_path": state.model_name,
        "tokenizer_path": state.model_name,
        "served_model_name": state.model_name,
        "is_generation": true,
        "weight_version": state.engine.status().weight_version,
        "max_model_len": state.max_model_len,
    }))
}

/// SGLang's `GET /server_info` (and `/get_server_info`): the settings a router or
/// dashboard reads, and the engine's live load (`internal_states`).
pub async fn server_info(State(state): State<SharedState>) -> Json<Value> {
    let s = state.engine.status();
    Json(json!({
        "model_path": state.model_name,
        "tokenizer_path": state.model_name,
        "served_model_name": state.model_name,
        "context_length": state.max_model_len,
        "dp_size": 1,
        "tp_size": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "weight_version": s.weight_version,
        "internal_states": [{
            "num_running_reqs": s.num_running,
            "num_waiting_reqs": s.num_waiting + s.num_held,
            "kv_cache_usage": s.kv_cache_usage,
            "paused": s.paused.is_some(),
        }],
    }))
}

/// SGLang's `GET /get_load` (per data-parallel rank; ponder has one), which
/// sglang-router's load-aware policies poll: sequences running and waiting, and KV
/// tokens in use.
pub async fn get_load(State(state): State<SharedState>) -> Json<Value> {
    let s = state.engine.status();
    let waiting = s.num_waiting + s.num_held;
    Json(json!([{
        "dp_rank": 0,
        "num_reqs": s.num_running + waiting,
        "num_waiting_reqs": waiting,
        "num_tokens": (s.kv_cache_usage * state.kv_cache_tokens as f64).round() as u64,
    }]))
}

/// OpenAI's model list: the one served model.
pub async fn models(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({ "object": "list", "data": [model_card(&state)] }))
}

/// `GET /v1/models/{model}` (OpenAI's retrieve): the served model's card, or a 404
/// `model_not_found` for any other id. The id may contain `/` (`Qwen/Qwen3-0.6B`).
pub async fn model(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    if id != state.model_name {
        return ApiError::model_not_found(&id).into_response();
    }
    Json(model_card(&state)).into_response()
}

fn model_card(state: &SharedState) -> Value {
    json!({
        "id": state.model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "ponder",
        "max_model_len": state.max_model_len,
        "weight_version": state.engine.status().weight_version,
    })
}
