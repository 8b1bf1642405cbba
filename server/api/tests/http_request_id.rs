//! Client request ids end to end, on the real binary with `--log-format json`:
//! `X-Request-Id` (what sglang-router forwards) or the body's `request_id` / `rid`
//! becomes the response's `id`, is echoed in the header, names the request for
//! `/abort_requests`, and appears in the request's one JSON log line, which holds
//! counts and timings but never the prompt text or a key.

mod http_support;

use std::io::Read;
use std::process::{Command, Stdio};

use http_support::BinaryServer as Server;
use serde_json::{json, Value};

const ADMIN: &str = "admin-secret";
const SECRET_PROMPT: &str = "What is 347 + 589? zebra-marker";

async fn start() -> Server {
    let flags = ["--admin-api-key", ADMIN, "--api-key", "user-key", "--log-format", "json"];
    Server::start(&flags, Stdio::piped()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_request_id_is_the_response_id_the_abort_name_and_the_log_key() {
    let mut server = start().await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let chat = json!({"messages": [{"role": "user", "content": SECRET_PROMPT}], "max_tokens": 8});

    // The header: response id and echo.
    let r = client.post(format!("{base}/v1/chat/completions")).bearer_auth("user-key").header("X-Request-Id", "trace-abc-1").json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-abc-1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], "trace-abc-1");

    // The body's `request_id` wins over the header.
    let mut with_id = chat.clone();
    with_id["request_id"] = json!("body-id-2");
    let r = client.post(format!("{base}/v1/chat/completions")).bearer_auth("user-key").header("X-Request-Id", "hdr").json(&with_id).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "body-id-2");

    // A bad id is a 400 naming where it came from.
    let r = client.post(format!("{base}/v1/completions")).bearer_auth("user-key").header("X-Request-Id", "has space").json(&json!({"prompt": "hi"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "X-Request-Id");
    let r = client.post(format!("{base}/v1/completions")).bearer_auth("user-key").json(&json!({"prompt": "hi", "request_id": ""})).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "request_id");

    // `/abort_requests` by the client's id ends its stream.
    let long = json!({"prompt": "hi", "max_tokens": 400, "ignore_eos": true, "stream": true});
    let stream = client.post(format!("{base}/v1/completions")).bearer_auth("user-key").header("X-Request-Id", "to-abort-3").json(&long).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let aborted: Value = client
        .post(format!("{base}/abort_requests"))
        .bearer_auth(ADMIN)
        .json(&json!({"request_ids": ["to-abort-3"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(aborted["num_aborted"], 1, "{aborted}");
    let text = stream.text().await.unwrap();
    assert!(text.contains("\"finish_reason\":\"abort\""), "{text}");

    // SGLang's `rid` names one request too; a misspelt or mistyped id field is a 400
    // naming it, never an abort of everything.
    let stream = client.post(format!("{base}/v1/completions")).bearer_auth("user-key").header("X-Request-Id", "to-abort-4").json(&long).send().await.unwrap();
    let abort = |body: Value| client.post(format!("{base}/abort_requests")).bearer_auth(ADMIN).json(&body).send();
    for (body, param) in [(json!({"request_id": "to-abort-4"}), "request_id"), (json!({"rid": 5}), "rid")] {
        let r = abort(body).await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], param);
    }
    let aborted: Value = abort(json!({"rid": "to-abort-4"})).await.unwrap().json().await.unwrap();
    assert_eq!(aborted["num_aborted"], 1, "{aborted}");
    let text = stream.text().await.unwrap();
    assert!(text.contains("\"finish_reason\":\"abort\""), "{text}");

    // The log: one JSON line per request with its id, counts and timings; no prompt, no key.
    Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    let mut out = String::new();
    server.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let finished: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request finished")
        .collect();
    let line = finished.iter().find(|v| v["request_id"] == "trace-abc-1").unwrap_or_else(|| panic!("no log line for trace-abc-1:\n{out}"));
    assert_eq!(line["status"], "ok");
    assert_eq!(line["completion_tokens"], 8);
    assert!(line["prompt_tokens"].as_u64().unwrap() > 5);
    assert!(line["duration_s"].as_f64().unwrap() > 0.0);
    assert!(line["ttft_s"].as_f64().is_some());
    let aborted_line = finished.iter().find(|v| v["request_id"] == "to-abort-3").expect("a line for the aborted request");
    assert_eq!(aborted_line["status"], "aborted");
    assert!(!out.contains("zebra-marker"), "the prompt leaked into the log");
    assert!(!out.contains("user-key") && !out.contains(ADMIN), "a key leaked into the log");
}
