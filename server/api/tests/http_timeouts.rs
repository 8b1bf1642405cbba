//! Request deadlines over HTTP: `--request-timeout` and the client's
//! `X-Stainless-Timeout` abort a request in the engine (its blocks freed) and answer
//! 408, or end a stream with an error event and `[DONE]`. Requests are held past their
//! deadline by `/pause?mode=keep`, so the timing is deterministic.

mod http_support;


use serde_json::{json, Value};

const ADMIN: &str = "admin-secret";

async fn start(extra: &[&str]) -> String {
    let model = http_support::tiny_reasoner();
    let mut flags = vec!["--admin-api-key", ADMIN, "--kv-cache-memory", "16MiB"];
    flags.extend_from_slice(extra);
    http_support::start_server_with(model.to_str().unwrap(), &flags).await
}

fn body(stream: bool) -> Value {
    json!({"prompt": "<｜begin▁of▁sentence｜><｜User｜>What is 1 + 2?<｜Assistant｜><think>\n",
        "max_tokens": 300, "temperature": 0, "ignore_eos": true, "stream": stream})
}

async fn admin(client: &reqwest::Client, base: &str, path: &str) {
    http_support::admin_ok(client, base, ADMIN, path).await;
}

async fn idle(client: &reqwest::Client, base: &str) {
    http_support::wait_idle(client, base, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_timeout_aborts_a_stalled_request_with_a_408_and_a_stream_with_an_error_event() {
    let base = start(&["--request-timeout", "0.4"]).await;
    let client = reqwest::Client::new();
    admin(&client, &base, "/pause?mode=keep").await;
    let r = client.post(format!("{base}/v1/completions")).json(&body(false)).send().await.unwrap();
    assert_eq!(r.status(), 408);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "request_timeout");
    let text = client.post(format!("{base}/v1/completions")).json(&body(true)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("request_timeout"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    admin(&client, &base, "/resume").await;
    idle(&client, &base).await;
    // A request that finishes in time is untouched.
    let ok: Value = client.post(format!("{base}/v1/completions")).json(&json!({"prompt": "hi", "max_tokens": 4})).send().await.unwrap().json().await.unwrap();
    assert_eq!(ok["choices"][0]["finish_reason"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_timeout_header_is_honoured() {
    let base = start(&[]).await;
    let client = reqwest::Client::new();
    admin(&client, &base, "/pause?mode=keep").await;
    let r = client.post(format!("{base}/v1/completions")).header("X-Stainless-Timeout", "0.3").json(&body(false)).send().await.unwrap();
    assert_eq!(r.status(), 408);
    admin(&client, &base, "/resume").await;
    idle(&client, &base).await;
}
