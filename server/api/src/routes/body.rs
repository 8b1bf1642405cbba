//! Request bodies as JSON values, with every failure as an OpenAI error object:
//! invalid JSON → 400, over `--max-body-bytes` → 413 (also for tower-http's limit layer).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::SharedState;

/// A request body parsed as JSON (any shape; the handler validates fields).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError { message: "Request body is too large.".into(), ..ApiError::payload_too_large(0) }
            } else {
                ApiError::bad_request(format!("Cannot read the request body: {rejection}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
    }
}

/// Middleware: turns tower-http's plain-text 413 into the OpenAI error object.
pub async fn json_payload_too_large(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::payload_too_large(state.max_body_bytes).into_response();
    }
    response
}
