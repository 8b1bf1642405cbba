//! Serving: the axum server over an already-bound listener.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::loader::LoadedServer;
use crate::routes::router;
use crate::state::SharedState;

/// Serves `server` on `listener` until `shutdown` completes, then drains: new requests
/// get a 503 (and `/ready` a 503) while running ones finish, for up to
/// `--shutdown-timeout`; what is still running then is aborted (streams end with
/// `finish_reason: "abort"`), and the server returns once every connection closed.
/// If the engine thread dies, in-flight requests get their 503 and the server shuts
/// down the same way, then returns an error (so the process exits non-zero and a
/// supervisor restarts it) instead of serving 503s forever. Bind the listener after
/// loading, so that `/health` answers 200 only once the model is ready.
///
/// Errors: an I/O error of the listener; the engine thread stopped.
pub async fn serve(server: LoadedServer, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, model = %server.state.model_name, "listening");
    let state = server.state.clone();
    let app = router(server.state.clone());
    let engine_died = Arc::new(AtomicBool::new(false));
    let died = engine_died.clone();
    let drained = async move {
        tokio::select! {
            () = shutdown => {}
            () = state.engine.stopped() => {
                died.store(true, Ordering::Relaxed);
                tracing::error!("the engine thread stopped: shutting down");
            }
        }
        drain(&state).await;
    };
    crate::listen::serve_http1(listener, app, server.state.header_read_timeout, drained).await;
    anyhow::ensure!(!engine_died.load(Ordering::Relaxed), "the engine thread stopped");
    Ok(())
}

/// Refuses new requests, waits for the engine to run dry (`shutdown_timeout` at most),
/// then aborts whatever is left.
async fn drain(state: &SharedState) {
    state.draining.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + state.shutdown_timeout;
    tracing::info!(timeout_s = state.shutdown_timeout.as_secs_f64(), "shutting down: draining running requests");
    loop {
        let s = state.engine.status();
        if !s.alive || s.num_running + s.num_waiting + s.num_held == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let n = state.engine.abort_requests(None).await.unwrap_or(0);
            tracing::warn!(num_aborted = n, "shutdown timeout: aborted the requests still running");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
