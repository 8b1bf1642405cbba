//! The raw SSE bytes of streamed responses, on the real SmolLM2 Q4_1 GGUF: every event
//! is one `data: ` line followed by a blank line, the stream ends with `data: [DONE]`,
//! no delta is empty, the role comes only in each choice's first chunk, each choice has
//! exactly one finish reason, and usage (when asked) comes last with no choices.

mod http_support;

use std::collections::HashMap;

use http_support::start_server;
use serde_json::{json, Value};

/// POSTs `body` and returns the raw response body, checking the SSE content type.
async fn raw_stream(base: &str, path: &str, body: Value) -> String {
    let response = reqwest::Client::new().post(format!("{base}{path}")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    response.text().await.unwrap()
}

/// Splits the body into events, asserting the framing; returns the JSON events.
fn events(raw: &str) -> Vec<Value> {
    assert!(raw.ends_with("data: [DONE]\n\n"), "the stream must end with [DONE]: {raw:?}");
    let blocks: Vec<&str> = raw.strip_suffix("\n\n").unwrap().split("\n\n").collect();
    assert_eq!(blocks.last(), Some(&"data: [DONE]"));
    blocks[..blocks.len() - 1]
        .iter()
        .map(|block| {
            assert!(!block.contains('\n'), "one data line per event: {block:?}");
            let payload = block.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {block:?}"));
            serde_json::from_str(payload).unwrap_or_else(|e| panic!("bad JSON {payload:?}: {e}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_are_framed_as_openai_does() {
    let base = start_server().await;
    let body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "What is the capital of Japan?"}],
        "stream": true,
        "stream_options": {"include_usage": true},
        "n": 2,
        "temperature": 0.8,
        "seed": 3,
        "max_tokens": 24,
    });
    let events = events(&raw_stream(&base, "/v1/chat/completions", body).await);
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.starts_with("chatcmpl-")));
    let (usage, chunks) = events.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let mut seen_role: HashMap<u64, bool> = HashMap::new();
    let mut finishes: HashMap<u64, usize> = HashMap::new();
    let mut text: HashMap<u64, String> = HashMap::new();
    for chunk in chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert!(chunk.get("usage").is_none_or(Value::is_null), "usage only in the last chunk");
        for choice in chunk["choices"].as_array().unwrap() {
            let index = choice["index"].as_u64().unwrap();
            let delta = choice["delta"].as_object().unwrap();
            let first = !seen_role.contains_key(&index);
            assert_eq!(delta.contains_key("role"), first, "role only in choice {index}'s first chunk: {chunk}");
            seen_role.insert(index, true);
            for field in ["content", "reasoning_content"] {
                if let Some(v) = delta.get(field).filter(|v| !v.is_null()) {
                    assert!(!v.as_str().unwrap().is_empty(), "empty {field} delta: {chunk}");
                    text.entry(index).or_default().push_str(v.as_str().unwrap());
                }
            }
            let has_text = delta.keys().any(|k| k == "content" || k == "reasoning_content");
            let finish = !choice["finish_reason"].is_null();
            assert!(first || has_text || finish, "a chunk that says nothing: {chunk}");
            *finishes.entry(index).or_default() += usize::from(finish);
        }
    }
    assert_eq!(finishes, HashMap::from([(0, 1), (1, 1)]), "one finish reason per choice");
    assert!(text.values().all(|t| !t.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_streams_are_framed_and_end_with_done() {
    let base = start_server().await;
    let body = json!({"model": "smollm2", "prompt": "The capital of Japan is", "stream": true, "max_tokens": 8, "temperature": 0});
    let events = events(&raw_stream(&base, "/v1/completions", body).await);
    assert!(!events.is_empty());
    let mut finishes = 0;
    for event in &events {
        assert_eq!(event["object"], "text_completion");
        let choice = &event["choices"][0];
        finishes += usize::from(!choice["finish_reason"].is_null());
        assert!(!choice["text"].as_str().unwrap().is_empty() || !choice["finish_reason"].is_null(), "empty text: {event}");
    }
    assert_eq!(finishes, 1);
    assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "length");
}
