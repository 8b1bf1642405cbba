//! Serving: the axum server over an already-bound listener.

use std::future::Future;

use tokio::net::TcpListener;

use crate::loader::LoadedServer;
use crate::routes::router;

/// Serves `server` on `listener` until `shutdown` completes (in-flight requests finish
/// first). Bind the listener after loading, so that `/health` answers 200 only once
/// the model is ready.
///
/// Errors: an I/O error of the listener.
pub async fn serve(server: LoadedServer, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, model = %server.state.model_name, "listening");
    let app = router(server.state.clone());
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}
