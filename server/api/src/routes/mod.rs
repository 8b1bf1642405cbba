//! The HTTP surface: OpenAI routes under `/v1`, health and metrics, JSON errors for
//! unknown routes (404), wrong methods (405) and oversized bodies (413).

mod admin;
mod auth;
mod body;
mod chat;
mod collect;
mod completions;
mod deadline;
mod generate;
mod info;
mod request_id;
mod sse;
mod submit;
mod tokenize;

use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use crate::error::ApiError;
use crate::state::SharedState;

pub use request_id::check as check_request_id;
pub use sse::ChunkKind;

/// The complete router over `state`.
pub fn router(state: SharedState) -> Router {
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(info::models))
        .route("/v1/models/{*model}", get(info::model))
        .route("/model_info", get(info::model_info))
        .route("/get_model_info", get(info::model_info))
        .route("/server_info", get(info::server_info))
        .route("/get_server_info", get(info::server_info))
        .route("/get_load", get(info::get_load))
        .route("/generate", post(generate::generate))
        .route("/tokenize", post(tokenize::tokenize))
        .route("/detokenize", post(tokenize::detokenize))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_api_key))
        .route_layer(middleware::from_fn_with_state(state.clone(), deadline::with_deadline))
        .route_layer(middleware::from_fn(request_id::with_request_id))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::refuse_while_draining));
    let mut app = Router::new().merge(v1);
    if state.admin_api_key.is_some() {
        let admin = Router::new()
            .route("/update_weights_from_disk", post(admin::update_weights_from_disk))
            .route("/pause", post(admin::pause))
            .route("/pause_generation", post(admin::pause_generation))
            .route("/resume", post(admin::resume))
            .route("/continue_generation", post(admin::resume))
            .route("/is_paused", get(admin::is_paused))
            .route("/abort_requests", post(admin::abort_requests))
            .route("/reset_prefix_cache", post(admin::reset_prefix_cache))
            .route("/flush_cache", post(admin::reset_prefix_cache).get(admin::reset_prefix_cache))
            .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin_key));
        app = app.merge(admin);
    }
    let probes = Router::new()
        .route("/health", get(info::health))
        .route("/ready", get(info::ready))
        .route("/version", get(info::version))
        .route("/metrics", get(info::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_metrics_key));
    let app = app
        .merge(probes)
        .fallback(auth::unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), body::json_payload_too_large))
        .layer(middleware::from_fn_with_state(state.clone(), count_errors));
    let app = match cors(&state.allowed_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    };
    app.with_state(state)
}

/// CORS for `--allowed-origins` (tower-http's layer): those origins may call with GET
/// and POST, `Authorization` and `Content-Type`; `*` allows any. `None` without origins.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    )
}

/// Counts every error response by its reason (`ponder:request_rejected_total`).
async fn count_errors(axum::extract::State(state): axum::extract::State<SharedState>, req: Request, next: middleware::Next) -> Response {
    let response = next.run(req).await;
    if let Some(reason) = response.extensions().get::<crate::error::ErrorReason>() {
        state.metrics.count_rejection(reason.0);
    }
    response
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}
