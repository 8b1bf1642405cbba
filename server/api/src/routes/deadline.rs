//! Request deadlines: `--request-timeout`, shortened by the client's own timeout when it
//! sends one (`X-Stainless-Timeout`, in seconds, as the OpenAI SDKs do). The middleware
//! sets the deadline for the handler's task; `submit` hands it to the `Generation`,
//! which aborts the request in the engine once it passes.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use crate::state::SharedState;

tokio::task_local! {
    static DEADLINE: Option<(Instant, Duration)>;
}

/// Header a client's own timeout is read from (seconds).
pub const CLIENT_TIMEOUT_HEADER: &str = "x-stainless-timeout";

/// Middleware of the generation routes: runs the handler with its deadline set.
pub async fn with_deadline(State(state): State<SharedState>, req: Request<Body>, next: Next) -> Response {
    let client = req
        .headers()
        .get(CLIENT_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64);
    let limit = match (state.request_timeout, client) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let deadline = limit.map(|d| (Instant::now() + d, d));
    DEADLINE.scope(deadline, next.run(req)).await
}

/// The current request's deadline and its length (`None` outside the middleware or
/// without a limit).
pub fn current() -> Option<(Instant, Duration)> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}
