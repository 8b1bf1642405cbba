//! Test support: serves a mock OpenAI-compatible `Router` on a free loopback port.

/// Spawns `app` on `127.0.0.1:0`; returns its `/v1` base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}
