//! `--api-key`: `/v1` routes need `Authorization: Bearer <key>` (401 otherwise);
//! `--admin-api-key`: the admin routes need that key instead.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SharedState;

/// Middleware: passes the request on when no key is configured or the bearer token matches.
pub async fn require_api_key(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    let Some(key) = state.api_key.as_deref() else { return next.run(req).await };
    check_bearer(key, req, next).await
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
        Some(key) => check_bearer(key, req, next).await,
        None => ApiError::route_not_found(req.uri().path()).into_response(),
    }
}

async fn check_bearer(key: &str, req: Request<Body>, next: Next) -> Response {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if sent.is_some_and(|s| constant_time_eq(s.as_bytes(), key.as_bytes())) {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn keys_match_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
