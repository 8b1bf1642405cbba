//! CORS is off unless `--allowed-origins` lists origins; then only those get the headers.

mod http_support;

use std::path::PathBuf;

fn tiny_reasoner() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner").to_str().unwrap().to_owned()
}

async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/chat/completions"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_listed_origins_get_cors_headers() {
    let base = http_support::start_server_with(&tiny_reasoner(), &["--kv-cache-memory", "16MiB", "--allowed-origins", "https://ui.example"]).await;
    let ok = preflight(&base, "https://ui.example").await;
    assert_eq!(ok.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://ui.example"));
    let methods = ok.headers().get("access-control-allow-methods").unwrap().to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight(&base, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_there_is_no_cors() {
    let base = http_support::start_server_with(&tiny_reasoner(), &["--kv-cache-memory", "16MiB"]).await;
    let r = reqwest::Client::new().get(format!("{base}/v1/models")).header("Origin", "https://ui.example").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(preflight(&base, "https://ui.example").await.headers().get("access-control-allow-origin").is_none());
}
