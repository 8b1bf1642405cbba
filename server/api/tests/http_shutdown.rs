//! SIGTERM on the real binary: new requests get a 503 and `/ready` turns 503 while the
//! running ones finish; past `--shutdown-timeout` they are aborted (finish_reason
//! `abort`); the process exits 0; a second signal exits at once. A request queued behind
//! `/pause?mode=keep` keeps the drain going for as long as the test needs.

mod http_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http_support::BinaryServer as Server;
use serde_json::{json, Value};

const ADMIN: &str = "admin-secret";

async fn start(timeout_s: &str) -> Server {
    Server::start(&["--admin-api-key", ADMIN, "--shutdown-timeout", timeout_s], Stdio::null()).await
}

fn signal(server: &Server, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &server.child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

/// A greedy stream of 400 tokens, accepted while the engine is paused
/// (`/pause?mode=keep`), so it waits in the queue: pausing after it started raced the
/// request, which could finish its 400 tokens before the pause arrived.
async fn frozen_stream(client: &reqwest::Client, base: &str) -> reqwest::Response {
    let paused = client.post(format!("{base}/pause?mode=keep")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(paused.status(), 200);
    let body = json!({"prompt": "<｜begin▁of▁sentence｜><｜User｜>What is 347 + 589?<｜Assistant｜><think>\n",
        "max_tokens": 400, "temperature": 0, "ignore_eos": true, "stream": true});
    let response = client.post(format!("{base}/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// The finish reason of a stream read to its end.
async fn finish_reason(response: reqwest::Response) -> Value {
    let mut stream = response.bytes_stream();
    let (mut text, mut finish) = (String::new(), Value::Null);
    while let Some(bytes) = stream.next().await {
        text.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
    }
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")).filter(|l| *l != "[DONE]") {
        let v: Value = serde_json::from_str(line).unwrap();
        if !v["choices"][0]["finish_reason"].is_null() {
            finish = v["choices"][0]["finish_reason"].clone();
        }
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "the stream ends with [DONE]");
    finish
}

async fn wait_exit(server: &mut Server, within: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(start.elapsed() < within, "the process did not exit within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_running_requests_and_refuses_new_ones() {
    let mut server = start("30").await;
    let client = reqwest::Client::new();
    let stream = frozen_stream(&client, &server.base).await;
    signal(&server, "TERM");
    let mut refused = false;
    for _ in 0..100 {
        let r = client.post(format!("{}/v1/completions", server.base)).json(&json!({"prompt": "hi", "max_tokens": 1})).send().await.unwrap();
        if r.status() == 503 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new requests get a 503 while draining");
    assert_eq!(reqwest::get(format!("{}/ready", server.base)).await.unwrap().status(), 503);
    assert!(server.child.try_wait().unwrap().is_none(), "a running request holds the shutdown");
    // The running request finishes normally once resumed, then the process exits 0.
    let resumed = client.post(format!("{}/resume", server.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resumed.status(), 200);
    assert_eq!(finish_reason(stream).await, "length");
    assert_eq!(wait_exit(&mut server, Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_shutdown_timeout_running_requests_are_aborted_and_the_exit_is_clean() {
    let mut server = start("0.5").await;
    let client = reqwest::Client::new();
    let stream = frozen_stream(&client, &server.base).await;
    signal(&server, "TERM");
    assert_eq!(finish_reason(stream).await, "abort");
    assert_eq!(wait_exit(&mut server, Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut server = start("30").await;
    let client = reqwest::Client::new();
    let _stream = frozen_stream(&client, &server.base).await;
    signal(&server, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none());
    signal(&server, "INT");
    assert_ne!(wait_exit(&mut server, Duration::from_secs(5)).await, 0);
}
