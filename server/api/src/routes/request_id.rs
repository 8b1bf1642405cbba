//! Client request ids: `X-Request-Id` (what routers such as sglang-router forward)
//! becomes the request's id when its body names none (`request_id`, or `/generate`'s
//! `rid`): the response's `id`, the id in the request's log line, and the name
//! `/abort_requests` takes. The header is echoed on the response.

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

tokio::task_local! {
    static REQUEST_ID: Option<String>;
}

/// The header a client's request id is read from (and echoed in).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest accepted request id, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 256;

/// Checks a client's request id: 1 to 256 visible ASCII characters.
///
/// Errors: a 400 naming `param`.
pub fn check(id: &str, param: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_REQUEST_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(param, format!("`{param}` must be 1 to {MAX_REQUEST_ID_BYTES} visible ASCII characters.")));
    }
    Ok(())
}

/// Middleware of the generation routes: runs the handler with the header's id set.
pub async fn with_request_id(req: Request<Body>, next: Next) -> Response {
    let id = match req.headers().get(REQUEST_ID_HEADER).map(|v| v.to_str().map(str::to_owned)) {
        None => None,
        Some(Ok(id)) => match check(&id, "X-Request-Id") {
            Ok(()) => Some(id),
            Err(e) => return e.into_response(),
        },
        Some(Err(_)) => return ApiError::invalid("X-Request-Id", "`X-Request-Id` must be visible ASCII.").into_response(),
    };
    let echo = id.as_deref().and_then(|i| HeaderValue::from_str(i).ok());
    let mut response = REQUEST_ID.scope(id, next.run(req)).await;
    if let Some(v) = echo {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// The current request's `X-Request-Id` (`None` outside the middleware or without one).
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok().flatten()
}
