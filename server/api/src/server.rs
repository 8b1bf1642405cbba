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
    tracing::info!(%addr, model = %server.state.model_name, "listening (requests name the model {:?})", server.state.model_name);
    let stats = tokio::spawn(log_stats(server.state.clone(), STATS_INTERVAL));
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
    stats.abort();
    anyhow::ensure!(!engine_died.load(Ordering::Relaxed), "the engine thread stopped");
    Ok(())
}

/// How often the engine's throughput and queue are logged (as vLLM does).
const STATS_INTERVAL: Duration = Duration::from_secs(10);

/// Logs every `interval`, while anything happened: prompt and generation tokens/s,
/// requests running and waiting, KV-cache usage and the prefix-cache hit rate.
async fn log_stats(state: SharedState, interval: Duration) {
    let mut last = state.engine.status();
    loop {
        tokio::time::sleep(interval).await;
        let now = state.engine.status();
        let busy = now.num_running + now.num_waiting + now.num_held > 0;
        if !busy && now.generation_tokens == last.generation_tokens && now.prompt_tokens == last.prompt_tokens {
            continue;
        }
        let secs = interval.as_secs_f64();
        let queries = now.scheduler.prefix_cache_queries.saturating_sub(last.scheduler.prefix_cache_queries);
        let hits = now.scheduler.prefix_cache_hits.saturating_sub(last.scheduler.prefix_cache_hits);
        tracing::info!(
            prompt_tok_per_s = format!("{:.1}", now.prompt_tokens.saturating_sub(last.prompt_tokens) as f64 / secs),
            generation_tok_per_s = format!("{:.1}", now.generation_tokens.saturating_sub(last.generation_tokens) as f64 / secs),
            running = now.num_running,
            waiting = now.num_waiting + now.num_held,
            kv_cache_usage = format!("{:.1}%", now.kv_cache_usage * 100.0),
            prefix_cache_hit_rate = format!("{:.1}%", if queries == 0 { 0.0 } else { hits as f64 * 100.0 / queries as f64 }),
            "engine stats"
        );
        last = now;
    }
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
