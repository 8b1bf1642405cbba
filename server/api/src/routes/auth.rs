//! `--api-key` (several allowed, and `--api-key-file`): the user routes need
//! `Authorization: Bearer <one of them>` (401 otherwise); `--admin-api-key`: the admin
//! routes need that key instead, and it opens nothing else; `--metrics-api-key`: the
//! same for `/metrics`, `/health`, `/ready`, `/version` (open without it). With user
//! keys, an unknown route is a 401 to a caller without a key. Keys are compared in
//! constant time and never logged.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SharedState;

/// Middleware: passes the request on when no key is configured or the bearer token matches.
pub async fn require_api_key(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    if state.api_keys.is_empty() {
        return next.run(req).await;
    }
    check_bearer(&state.api_keys, req, next).await
}

/// Middleware of the user routes while a shutdown drains: a 503, before any work.
pub async fn refuse_while_draining(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return ApiError::unavailable("The server is shutting down; retry on another replica.").into_response();
    }
    next.run(req).await
}

/// Middleware of the admin routes (which exist only with `--admin-api-key`).
pub async fn require_admin_key(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    match state.admin_api_key.as_deref() {
        Some(key) => check_bearer(std::slice::from_ref(&key.to_owned()), req, next).await,
        None => ApiError::route_not_found(req.uri().path()).into_response(),
    }
}

/// Middleware of `/metrics`, `/health`, `/ready` and `/version`: open unless
/// `--metrics-api-key` is set.
pub async fn require_metrics_key(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    match state.metrics_api_key.as_deref() {
        Some(key) => check_bearer(std::slice::from_ref(&key.to_owned()), req, next).await,
        None => next.run(req).await,
    }
}

/// An unknown route: 401 when user keys are configured and the request carries none of
/// the server's keys (so a scan learns nothing of the routes), else 404.
pub async fn unknown_route(State(state): State<SharedState>, req: Request<Body>) -> Response {
    let all_keys: Vec<String> =
        state.api_keys.iter().chain(&state.admin_api_key).chain(&state.metrics_api_key).cloned().collect();
    if !state.api_keys.is_empty() && !bearer_matches(req.headers(), &all_keys) {
        return ApiError::unauthorized().into_response();
    }
    ApiError::route_not_found(req.uri().path()).into_response()
}

async fn check_bearer(keys: &[String], req: Request<Body>, next: Next) -> Response {
    if bearer_matches(req.headers(), keys) {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Whether `Authorization: Bearer <token>` names one of `keys`. Every key is compared
/// (no early exit on the first match).
fn bearer_matches(headers: &axum::http::HeaderMap, keys: &[String]) -> bool {
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    sent.is_some_and(|s| keys.iter().fold(false, |any, k| constant_time_eq(s.as_bytes(), k.as_bytes()) | any))
}

/// Compares without an early exit: every byte up to the longer length is visited, so
/// the time says nothing of where they differ or of the key's length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let diff = (0..n).fold(0u8, |acc, i| acc | (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)));
    diff == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn keys_match_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"secret\0", b"secret"), "a zero byte past the end is still a difference");
        assert!(!constant_time_eq(b"", b"x"));
    }
}
