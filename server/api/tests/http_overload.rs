//! Overload and hostile clients over HTTP: the waiting queue's bound (429) and deadline
//! (503), a streaming client that stops reading (aborted after the stall timeout, its
//! blocks freed while its socket stays open), a client that never finishes its headers
//! (closed after the header-read timeout), `--metrics-api-key`, and the counts of every
//! refusal in `ponder:request_rejected_total`.

mod http_support;

use std::time::{Duration, Instant};

use http_support::gauge;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "admin-secret";

async fn start(extra: &[&str]) -> String {
    let model = http_support::tiny_reasoner();
    let mut flags = vec!["--admin-api-key", ADMIN, "--kv-cache-memory", "64MiB"];
    flags.extend_from_slice(extra);
    http_support::start_server_with(model.to_str().unwrap(), &flags).await
}

fn prompt(stream: bool, n: usize, max_tokens: usize) -> Value {
    json!({"prompt": "<｜begin▁of▁sentence｜><｜User｜>What is 1 + 2?<｜Assistant｜><think>\n",
        "max_tokens": max_tokens, "n": n, "temperature": 1.0, "ignore_eos": true, "stream": stream})
}

async fn admin(client: &reqwest::Client, base: &str, path: &str) {
    http_support::admin_ok(client, base, ADMIN, path).await;
}

async fn idle(client: &reqwest::Client, base: &str) {
    http_support::wait_idle(client, base, 500).await;
}

/// Connects with a 4 KiB receive buffer and sends `request` (never reading the answer).
async fn raw_connect(base: &str) -> tokio::net::TcpStream {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

fn post(path: &str, body: &Value) -> String {
    let body = body.to_string();
    format!("POST {path} HTTP/1.1\r\nHost: ponder\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_queue_bound_a_429_and_past_the_queue_deadline_a_503_both_with_retry_after() {
    let base = start(&["--max-waiting-requests", "1", "--max-queue-time", "0.5"]).await;
    let client = reqwest::Client::new();
    admin(&client, &base, "/pause?mode=keep").await;
    // The first request is held (paused); the second finds the queue full at once.
    let held = tokio::spawn({
        let (client, url) = (client.clone(), format!("{base}/v1/completions"));
        async move { client.post(url).json(&prompt(false, 1, 8)).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t0 = Instant::now();
    let full = client.post(format!("{base}/v1/completions")).json(&prompt(false, 1, 8)).send().await.unwrap();
    assert_eq!(full.status(), 429);
    assert_eq!(full.headers()["retry-after"], "1");
    assert!(t0.elapsed() < Duration::from_millis(300), "refused before any work");
    let err: Value = full.json().await.unwrap();
    assert_eq!(err["error"]["code"], "queue_full");
    // The held one ends at its queue deadline.
    let held = held.await.unwrap();
    assert_eq!(held.status(), 503);
    assert_eq!(held.headers()["retry-after"], "1");
    let err: Value = held.json().await.unwrap();
    assert_eq!(err["error"]["code"], "queue_timeout", "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("paused"), "{err}");
    // A stream held past the deadline ends with the error event.
    let text = client.post(format!("{base}/v1/completions")).json(&prompt(true, 1, 8)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("queue_timeout"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(gauge(&client, &base, "ponder:num_requests_waiting").await, 0.0);
    admin(&client, &base, "/resume").await;
    let ok = client.post(format!("{base}/v1/completions")).json(&prompt(false, 1, 4)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(gauge(&client, &base, r#"ponder:request_rejected_total{reason="queue_full"}"#).await, 1.0);
    assert_eq!(gauge(&client, &base, r#"ponder:request_rejected_total{reason="queue_timeout"}"#).await, 2.0);
    assert_eq!(gauge(&client, &base, r#"ponder:requests_expired_total{reason="queue_time"}"#).await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_stream_is_aborted_and_others_are_served() {
    let base = start(&["--stream-buffer-tokens", "16", "--stream-stall-timeout", "0.3"]).await;
    let client = reqwest::Client::new();
    let (n, max_tokens) = (8, 480);
    // 20 top logprobs make each chunk about 2 kB: far more than the kernel buffers
    // of a socket nobody reads (a few MB on loopback).
    let mut body = prompt(true, n, max_tokens);
    body["logprobs"] = json!(20);
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut conn = raw_connect(&base).await;
        conn.write_all(post("/v1/completions", &body).as_bytes()).await.unwrap();
        stalled.push(conn);
    }
    // The engine drops them while their sockets stay open and unread (once the kernel's
    // socket buffers are full: about 390 tokens per stream; 20 s was too short on a
    // loaded 2-core machine).
    let deadline = Instant::now() + Duration::from_secs(60);
    while gauge(&client, &base, r#"ponder:requests_expired_total{reason="slow_reader"}"#).await < 2.0 {
        if Instant::now() > deadline {
            let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            panic!("stalled streams were never aborted:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    idle(&client, &base).await;
    let generated = gauge(&client, &base, "ponder:generation_tokens_total").await;
    assert!(generated < (2 * n * max_tokens) as f64, "the stalled requests stopped early ({generated} tokens)");
    // A new request is served at once beside the open, unread sockets.
    let t0 = Instant::now();
    let ok: Value = client.post(format!("{base}/v1/completions")).json(&prompt(false, 1, 8)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ok["choices"][0]["finish_reason"], "length");
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_finishes_its_headers_is_closed_after_the_timeout() {
    let base = start(&["--header-read-timeout", "0.5"]).await;
    let mut half = raw_connect(&base).await;
    half.write_all(b"POST /v1/completions HTTP/1.1\r\nHost: ponder\r\n").await.unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), half.read(&mut buf)).await.expect("the server kept the connection open");
    // Closed: end of stream (or a reset), with at most an error status before it.
    let closed_after = t0.elapsed();
    match read {
        Ok(0) | Err(_) => {}
        Ok(k) => assert!(String::from_utf8_lossy(&buf[..k]).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&buf[..k])),
    }
    assert!(closed_after >= Duration::from_millis(400), "closed after {closed_after:?}");
    // A whole request on a fresh connection is served.
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/health")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_key_guards_the_probes_and_unknown_routes_need_a_key() {
    let base = start(&["--api-key", "user", "--metrics-api-key", "prom"]).await;
    let client = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let r = client.get(format!("{base}{path}"));
        let r = match key {
            Some(k) => r.bearer_auth(k),
            None => r,
        };
        async move { r.send().await.unwrap().status().as_u16() }
    };
    for path in ["/metrics", "/health", "/ready", "/version"] {
        assert_eq!(get(path, None).await, 401, "{path}");
        assert_eq!(get(path, Some("user")).await, 401, "a user key does not open {path}");
        assert_eq!(get(path, Some(ADMIN)).await, 401, "the admin key does not open {path}");
        assert_eq!(get(path, Some("prom")).await, 200, "{path}");
    }
    assert_eq!(get("/v1/models", Some("prom")).await, 401, "the metrics key opens nothing else");
    assert_eq!(get("/v1/nope", None).await, 401, "an unknown route says nothing without a key");
    assert_eq!(get("/v1/nope", Some("user")).await, 404);
    let metrics = client.get(format!("{base}/metrics")).bearer_auth("prom").send().await.unwrap().text().await.unwrap();
    let unauthorized = metrics.lines().find_map(|l| l.strip_prefix(r#"ponder:request_rejected_total{reason="invalid_api_key"} "#));
    assert_eq!(unauthorized, Some("14"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reasoning_and_outcome_metrics_match_the_responses() {
    let base = start(&[]).await;
    let client = reqwest::Client::new();
    let chat = json!({"messages": [{"role": "user", "content": "What is 12 + 30?"}], "max_tokens": 200, "n": 2, "temperature": 0});
    let r: Value = client.post(format!("{base}/v1/chat/completions")).json(&chat).send().await.unwrap().json().await.unwrap();
    let reasoning = r["usage"]["completion_tokens_details"]["reasoning_tokens"].as_f64().unwrap();
    assert!(reasoning > 0.0, "{r}");
    assert_eq!(gauge(&client, &base, "ponder:reasoning_tokens_total").await, reasoning);
    assert_eq!(gauge(&client, &base, "ponder:request_reasoning_tokens_count").await, 2.0);
    let stops = r["choices"].as_array().unwrap().iter().filter(|c| c["finish_reason"] == "stop").count() as f64;
    if stops > 0.0 {
        assert_eq!(gauge(&client, &base, r#"ponder:request_success_total{finished_reason="stop"}"#).await, stops);
    }
    assert_eq!(gauge(&client, &base, "ponder:time_to_first_answer_token_seconds_count").await, 1.0);
    assert!(gauge(&client, &base, "ponder:inter_token_latency_seconds_count").await > 10.0);
    assert_eq!(gauge(&client, &base, "ponder:request_decode_time_seconds_count").await, 1.0);
    for phase in ["queue", "prefill", "inference"] {
        assert_eq!(gauge(&client, &base, &format!("ponder:request_{phase}_time_seconds_count")).await, 1.0, "{phase}");
    }
    assert_eq!(gauge(&client, &base, "ponder:reasoning_budget_exhausted_total").await, 0.0);
    // A budget of 2 reasoning tokens runs out in each of the three choices.
    let budget = json!({"messages": [{"role": "user", "content": "What is 12 + 30?"}], "max_tokens": 60, "n": 3, "max_reasoning_tokens": 2});
    let r: Value = client.post(format!("{base}/v1/chat/completions")).json(&budget).send().await.unwrap().json().await.unwrap();
    for choice in r["choices"].as_array().unwrap() {
        assert!(choice["message"]["reasoning_content"].as_str().is_some(), "{r}");
    }
    assert_eq!(gauge(&client, &base, "ponder:reasoning_budget_exhausted_total").await, 3.0);
    assert_eq!(gauge(&client, &base, "ponder:request_queue_time_seconds_count").await, 2.0);
}
