//! Admin routes for RL trainers, under the peers' names, only with `--admin-api-key`:
//! SGLang's `POST /update_weights_from_disk`; vLLM's `POST /pause`, `POST /resume`,
//! `GET /is_paused`, `POST /abort_requests`, `POST /reset_prefix_cache`; SGLang's
//! aliases `/pause_generation`, `/continue_generation`, `/flush_cache`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::engine::PauseMode;
use crate::error::ApiError;
use crate::protocol::fields::Fields;
use crate::state::SharedState;

fn stopped(_: ponder_core::handle::EngineStopped) -> ApiError {
    ApiError::unavailable("The engine has stopped.")
}

/// An optional JSON object body (admin calls are often sent without one).
fn optional_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// SGLang's `POST /update_weights_from_disk` `{"model_path", "weight_version"?,
/// "abort_all_requests"?}`: loads the checkpoint on the blocking pool while serving goes
/// on, then swaps it in at the next step boundary and resets the prefix cache. A bad
/// checkpoint is a 400 (with SGLang's `success: false`); the old weights keep serving.
pub async fn update_weights_from_disk(State(state): State<SharedState>, body: Bytes) -> Response {
    let started = Instant::now();
    let result = update_weights(&state, body, started).await;
    let current = state.engine.status().weight_version;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => {
            let mut body = e.to_json();
            body["success"] = json!(false);
            body["message"] = json!(e.message);
            body["weight_version"] = json!(current);
            (e.status, Json(body)).into_response()
        }
    }
}

async fn update_weights(state: &SharedState, body: Bytes, started: Instant) -> Result<Value, ApiError> {
    let body = optional_body(&body)?;
    let f = Fields::new(&body)?;
    let model_path = f.str("model_path")?.ok_or_else(|| ApiError::invalid("model_path", "`model_path` is required."))?;
    let path = PathBuf::from(model_path);
    let version = match f.str("weight_version")? {
        Some(v) if v.trim().is_empty() => return Err(ApiError::invalid("weight_version", "`weight_version` must not be empty.")),
        Some(v) => v.to_string(),
        None => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| model_path.to_string()),
    };
    let abort_all = f.bool("abort_all_requests")?.unwrap_or(false);
    // One update at a time: two checkpoints in memory beside the served one is enough.
    let _one_at_a_time = state.weight_update_lock.lock().await;
    let st = state.clone();
    let weights = tokio::task::spawn_blocking(move || {
        let target = &st.checkpoint;
        ponder_core::load_checkpoint(&path, target.format, &target.config, &target.device)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the loading task failed: {e}")))?
    .map_err(|e| ApiError::invalid("model_path", e.to_string()))?;
    let loaded = started.elapsed();
    let update = state
        .engine
        .update_weights(weights, version, abort_all)
        .await
        .map_err(stopped)?
        .map_err(|message| ApiError::invalid("model_path", message))?;
    let total = started.elapsed();
    state.metrics.weight_update_seconds.observe(total.as_secs_f64());
    tracing::info!(
        weight_version = %update.weight_version,
        load_s = loaded.as_secs_f64(),
        swap_s = update.swap_time.as_secs_f64(),
        num_aborted = update.num_aborted,
        "update_weights_from_disk"
    );
    Ok(json!({
        "success": true,
        "message": format!("Succeeded to update model weights to {}.", update.weight_version),
        "weight_version": update.weight_version,
        "num_paused_requests": 0,
        "num_aborted_requests": update.num_aborted,
        "load_seconds": loaded.as_secs_f64(),
        "swap_seconds": update.swap_time.as_secs_f64(),
    }))
}

/// vLLM's `POST /pause?mode=abort|wait|keep&clear_cache=true|false` (defaults `abort`,
/// `true`); answers once paused (`wait`: once the requests in flight ended).
pub async fn pause(State(state): State<SharedState>, Query(query): Query<HashMap<String, String>>) -> Response {
    respond(pause_with(&state, query.get("mode").map(String::as_str), query.get("clear_cache").map(String::as_str)).await)
}

/// SGLang's `POST /pause_generation` `{"mode": "abort"|"in_place"}` (`in_place` is
/// vLLM's `keep`); vLLM's mode names are accepted too.
pub async fn pause_generation(State(state): State<SharedState>, body: Bytes) -> Response {
    let run = async {
        let body = optional_body(&body)?;
        let f = Fields::new(&body)?;
        let mode = f.enumeration("mode", &["abort", "in_place", "wait", "keep", "retract"])?;
        if mode == Some("retract") {
            return Err(ApiError::invalid("mode", "`mode: retract` is not supported by this server; use `in_place` or `abort`."));
        }
        let clear_cache = f.bool("clear_cache")?.map(|b| if b { "true" } else { "false" });
        pause_with(&state, mode.map(|m| if m == "in_place" { "keep" } else { m }), clear_cache).await
    };
    respond(run.await)
}

async fn pause_with(state: &SharedState, mode: Option<&str>, clear_cache: Option<&str>) -> Result<Value, ApiError> {
    let mode = match mode.unwrap_or("abort") {
        "abort" => PauseMode::Abort,
        "wait" => PauseMode::Wait,
        "keep" => PauseMode::Keep,
        other => return Err(ApiError::invalid("mode", format!("`mode` must be abort, wait or keep, not {other:?}."))),
    };
    let clear_cache = match clear_cache.unwrap_or("true") {
        "true" | "True" | "1" => true,
        "false" | "False" | "0" => false,
        other => return Err(ApiError::invalid("clear_cache", format!("`clear_cache` must be true or false, not {other:?}."))),
    };
    state.engine.pause(mode, clear_cache).await.map_err(stopped)?;
    Ok(json!({"success": true, "status": "paused", "mode": mode.as_str()}))
}

/// vLLM's `POST /resume` (SGLang's `/continue_generation`).
pub async fn resume(State(state): State<SharedState>) -> Response {
    let run = async {
        let was_paused = state.engine.resume().await.map_err(stopped)?;
        Ok(json!({"success": true, "status": "resumed", "was_paused": was_paused}))
    };
    respond(run.await)
}

/// vLLM's `GET /is_paused`.
pub async fn is_paused(State(state): State<SharedState>) -> Response {
    let status = state.engine.status();
    Json(json!({"is_paused": status.paused.is_some(), "mode": status.paused.map(PauseMode::as_str)})).into_response()
}

/// `POST /abort_requests` `{"request_ids": [...]}` (response ids, e.g. `chatcmpl-…`,
/// or the ids clients sent); SGLang's `{"rid": "..."}` (one id or a list) likewise;
/// without ids, or with `abort_all: true`, every request. Any other field is a 400, so a
/// misspelt id field never aborts everything. Aborted choices end with
/// `finish_reason: "abort"`.
pub async fn abort_requests(State(state): State<SharedState>, body: Bytes) -> Response {
    let run = async {
        let body = optional_body(&body)?;
        let f = Fields::new(&body)?;
        f.deny_unknown(&["request_ids", "rid", "abort_all"])?;
        let all = f.bool("abort_all")?.unwrap_or(false);
        let mut ids = None;
        for name in ["request_ids", "rid"] {
            let bad = || ApiError::invalid(name, format!("`{name}` must be a string or a list of strings."));
            let named = match f.get(name) {
                None => continue,
                Some(Value::String(id)) => vec![id.clone()],
                Some(Value::Array(items)) => {
                    items.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(bad)?
                }
                Some(_) => return Err(bad()),
            };
            ids.get_or_insert_with(Vec::new).extend(named);
        }
        let n = state.engine.abort_requests(if all { None } else { ids }).await.map_err(stopped)?;
        Ok(json!({"success": true, "num_aborted": n}))
    };
    respond(run.await)
}

/// vLLM's `POST /reset_prefix_cache` (SGLang's `/flush_cache`).
pub async fn reset_prefix_cache(State(state): State<SharedState>) -> Response {
    let run = async {
        state.engine.reset_prefix_cache().await.map_err(stopped)?;
        Ok(json!({"success": true}))
    };
    respond(run.await)
}

fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}
