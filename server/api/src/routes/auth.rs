//! `--api-key` (several allowed, and `--api-key-file`): the user routes need
//! `Authorization: Bearer <one of them>` (401 otherwise); `--admin-api-key`: the admin
//! routes need that key instead, and it opens nothing else. Keys are compared in
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

async fn check_bearer(keys: &[String], req: Request<Body>, next: Next) -> Response {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Every key is compared (no early exit on the first match).
    let matches = sent.is_some_and(|s| keys.iter().fold(false, |any, k| constant_time_eq(s.as_bytes(), k.as_bytes()) | any));
    if matches {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
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
