//! OpenAI-style error responses: `{"error": {"message", "type", "param", "code"}}`.
//!
//! Every failure a client can cause maps to an `ApiError` with a 4xx status; a request
//! never panics the server and never gets a 500 for bad input.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error returned to the client as OpenAI's error object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: StatusCode,
    /// Human-readable description.
    pub message: String,
    /// OpenAI's `type` (e.g. `invalid_request_error`).
    pub kind: &'static str,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// OpenAI's machine-readable `code` (e.g. `model_not_found`).
    pub code: Option<&'static str>,
}

impl ApiError {
    /// 400: a known field has a wrong type or value (`param` names the field).
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param.into()),
            code: Some("invalid_value"),
        }
    }

    /// 400 without a single field at fault (e.g. the body is not JSON).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// 404 for a `model` other than the served one.
    pub fn model_not_found(model: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{model}` does not exist."),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
        }
    }

    /// 404 for an unknown route.
    pub fn route_not_found(path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("Unknown route: {path}"),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_found"),
        }
    }

    /// 405 for a known route called with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("Method {method} is not allowed on {path}"),
            kind: "invalid_request_error",
            param: None,
            code: Some("method_not_allowed"),
        }
    }

    /// 401 for a missing or wrong API key.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "Invalid or missing API key (send `Authorization: Bearer <key>`).".into(),
            kind: "authentication_error",
            param: None,
            code: Some("invalid_api_key"),
        }
    }

    /// 413 for a body over `--max-body-bytes`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("Request body is larger than the limit of {limit} bytes."),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
        }
    }

    /// 503 when the engine is gone or cannot take requests.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("service_unavailable"),
        }
    }

    /// 429 when the waiting queue is full (`--max-waiting-requests`); retry later.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: message.into(),
            kind: "rate_limit_error",
            param: None,
            code: Some("queue_full"),
        }
    }

    /// 503 when a request waited `--max-queue-time` without being scheduled; retry later.
    pub fn queue_timeout(message: impl Into<String>) -> Self {
        Self { code: Some("queue_timeout"), ..Self::unavailable(message) }
    }

    /// 408 when a streaming client left `--stream-buffer-tokens` unread for
    /// `--stream-stall-timeout` (the request was aborted in the engine).
    pub fn stream_stalled(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::REQUEST_TIMEOUT,
            message: message.into(),
            kind: "timeout_error",
            param: None,
            code: Some("stream_stalled"),
        }
    }

    /// 408 when a request ran past its deadline (`--request-timeout` or the client's
    /// `X-Stainless-Timeout`); it was aborted in the engine.
    pub fn timeout(after: std::time::Duration) -> Self {
        Self {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("The request did not finish within its {:.1} s deadline and was aborted.", after.as_secs_f64()),
            kind: "timeout_error",
            param: None,
            code: Some("request_timeout"),
        }
    }

    /// 500 for a failure inside the server (a model step failed, a task panicked).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("internal_error"),
        }
    }

    /// The label this error is counted under in `ponder:request_rejected_total`.
    pub fn reason(&self) -> &'static str {
        self.code.unwrap_or(self.kind)
    }

    /// The error object as JSON (also used inside SSE streams).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

/// Set on every error response, for the middleware that counts errors by reason.
#[derive(Debug, Clone, Copy)]
pub struct ErrorReason(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.to_json())).into_response();
        response.extensions_mut().insert(ErrorReason(self.reason()));
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_field_error_names_the_field_in_openai_shape() {
        let v = ApiError::invalid("temperature", "must be a number").to_json();
        assert_eq!(v["error"]["param"], "temperature");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "must be a number");
        assert!(v["error"].get("code").is_some());
    }

    #[test]
    fn unknown_model_is_a_404_with_code_model_not_found() {
        let e = ApiError::model_not_found("gpt-4");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.to_json()["error"]["code"], "model_not_found");
    }
}
