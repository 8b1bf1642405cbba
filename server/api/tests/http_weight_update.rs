//! Over real HTTP, on the tiny reasoner: `/update_weights_from_disk` swaps weights under
//! load, outputs and `weight_version` change exactly at the swap, bad checkpoints leave
//! the old weights serving, the pause modes end in-flight requests as documented, and
//! no KV block leaks.

mod http_support;

use std::path::{Path, PathBuf};

use futures::StreamExt;
use http_support::{gauge, read_stream, tiny_reasoner};
use serde_json::{json, Value};

const ADMIN: &str = "admin-secret";

/// A copy of the tiny reasoner in `dir` with one layer's MLP down-projection scaled by 1.5.
fn perturbed_copy(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-reasoner-perturbed");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(tiny_reasoner()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    let path = out.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let offsets = &header["model.layers.0.mlp.down_proj.weight"]["data_offsets"];
    let (start, end) = (8 + n + offsets[0].as_u64().unwrap() as usize, 8 + n + offsets[1].as_u64().unwrap() as usize);
    for chunk in bytes[start..end].chunks_exact_mut(4) {
        let v = f32::from_le_bytes(chunk.try_into().unwrap()) * 1.5;
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    out
}

/// A copy whose safetensors file is cut in half.
fn truncated_copy(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-reasoner-truncated");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(tiny_reasoner()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    let path = out.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    out
}

async fn start() -> String {
    let model = tiny_reasoner();
    let args = ["--admin-api-key", ADMIN, "--kv-cache-memory", "16MiB", "--weight-version", "v0"];
    http_support::start_server_with(model.to_str().unwrap(), &args).await
}

fn greedy(max_tokens: usize) -> Value {
    json!({
        "prompt": "<｜begin▁of▁sentence｜><｜User｜>What is 347 + 589?<｜Assistant｜><think>\n",
        "temperature": 0, "max_tokens": max_tokens, "ignore_eos": true, "return_token_ids": true,
    })
}

async fn admin(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client.post(format!("{base}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn chat_logprobs(client: &reqwest::Client, base: &str) -> (Vec<f64>, String) {
    let body = json!({
        "messages": [{"role": "user", "content": "What is 347 + 589?"}],
        "temperature": 0, "max_tokens": 12, "logprobs": true,
    });
    let v: Value = client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap().json().await.unwrap();
    let lps = v["choices"][0]["logprobs"]["content"].as_array().unwrap().iter().map(|t| t["logprob"].as_f64().unwrap()).collect();
    (lps, v["weight_version"].as_str().unwrap().to_string())
}

async fn wait_idle(client: &reqwest::Client, base: &str) {
    http_support::wait_idle(client, base, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_checkpoints_are_400s_and_a_good_one_swaps_outputs_and_version() {
    let base = start().await;
    let client = reqwest::Client::new();
    let dir = std::env::temp_dir().join(format!("ponder-weights-{}", std::process::id()));
    let (before, version) = chat_logprobs(&client, &base).await;
    assert_eq!(version, "v0");

    let no_key = client.post(format!("{base}/update_weights_from_disk")).json(&json!({"model_path": "/x"})).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let golden_llama = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tests/golden/llama");
    let smollm2 = http_support::smollm2();
    for (path, says) in [
        (PathBuf::from("/no/such/checkpoint"), "does not exist"),
        (golden_llama, "another architecture"),
        (smollm2, "format"),
        (truncated_copy(&dir), "cannot load"),
    ] {
        let (status, body) = admin(&client, &base, "/update_weights_from_disk", json!({"model_path": path})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["weight_version"], "v0");
        assert!(body["message"].as_str().unwrap().contains(says), "{says}: {body}");
    }
    assert_eq!(chat_logprobs(&client, &base).await, (before.clone(), "v0".into()), "the old weights still serve, bit for bit");

    let (status, body) = admin(&client, &base, "/update_weights_from_disk", json!({"model_path": perturbed_copy(&dir), "weight_version": "v1"})).await;
    assert_eq!((status, &body["success"], &body["weight_version"]), (200, &json!(true), &json!("v1")), "{body}");
    let (after, version) = chat_logprobs(&client, &base).await;
    assert_eq!(version, "v1");
    assert_ne!(after, before, "new weights, new logprobs");
    let models: Value = client.get(format!("{base}/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["weight_version"], "v1");
    assert_eq!(gauge(&client, &base, "ponder:weight_updates_total").await, 1.0);
    wait_idle(&client, &base).await;
    let _ = std::fs::remove_dir_all(dir);
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keep_freezes_a_stream_that_resumes_on_the_new_weights_with_its_spans() {
    let base = start().await;
    let client = reqwest::Client::new();
    let dir = std::env::temp_dir().join(format!("ponder-keep-{}", std::process::id()));
    let mut body = greedy(400);
    body["stream"] = json!(true);
    let response = client.post(format!("{base}/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Pause once the stream has its first tokens, so the swap lands mid-stream even on
    // a loaded machine (pausing right after the headers could come before token one).
    for _ in 0..1000 {
        if gauge(&client, &base, "ponder:generation_tokens_total").await >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, _) = admin(&client, &base, "/pause?mode=keep&clear_cache=false", json!({})).await;
    assert_eq!(status, 200);
    let paused: Value = client.get(format!("{base}/is_paused")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(paused["is_paused"], true);
    let (status, body) = admin(&client, &base, "/update_weights_from_disk", json!({"model_path": perturbed_copy(&dir), "weight_version": "v1"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(admin(&client, &base, "/resume", json!({})).await.0, 200);
    let (mut ids, mut spans, mut finish, mut versions) = (Vec::new(), Value::Null, Value::Null, Vec::new());
    read_stream(response, |chunk| {
        let choice = &chunk["choices"][0];
        ids.extend(choice["token_ids"].as_array().into_iter().flatten().map(|v| v.as_u64().unwrap()));
        versions.push(chunk["weight_version"].as_str().unwrap().to_string());
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
            spans = choice["weight_versions"].clone();
        }
    })
    .await;
    assert_eq!((ids.len(), finish), (400, json!("length")), "the frozen request finished its budget");
    assert_eq!(versions.last().map(String::as_str), Some("v1"));
    let spans = spans.as_array().expect("a request spanning a swap reports its spans");
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert_eq!((&spans[0]["version"], &spans[0]["first_token_index"]), (&json!("v0"), &json!(0)));
    assert_eq!(spans[1]["version"], "v1");
    let switch = spans[1]["first_token_index"].as_u64().unwrap() as usize;
    assert!(switch > 0 && switch < 400, "the swap came mid-stream: {switch}");
    // The tokens before the swap are those of the old weights alone.
    let alone: Value = client.post(format!("{base}/v1/completions")).json(&greedy(400)).send().await.unwrap().json().await.unwrap();
    assert_eq!(alone["weight_version"], "v1");
    wait_idle(&client, &base).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_abort_ends_streams_with_abort_and_pause_wait_lets_them_finish() {
    let base = start().await;
    let client = reqwest::Client::new();
    let mut body = greedy(450);
    body["stream"] = json!(true);
    let response = client.post(format!("{base}/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (status, reply) = admin(&client, &base, "/pause?mode=abort", json!({})).await;
    assert_eq!((status, &reply["mode"]), (200, &json!("abort")));
    let mut finish = Value::Null;
    read_stream(response, |chunk| {
        if !chunk["choices"][0]["finish_reason"].is_null() {
            finish = chunk["choices"][0]["finish_reason"].clone();
        }
    })
    .await;
    assert_eq!(finish, "abort");
    wait_idle(&client, &base).await;
    // While paused, a new request is held (not lost) and runs after resume.
    let held = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move { client.post(format!("{base}/v1/completions")).json(&greedy(8)).send().await.unwrap().json::<Value>().await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "a request must wait while paused");
    assert_eq!(admin(&client, &base, "/resume", json!({})).await.0, 200);
    let held = held.await.unwrap();
    assert_eq!(held["choices"][0]["token_ids"].as_array().unwrap().len(), 8);

    // mode=wait answers only after the request in flight ended, by length. The pause is
    // sent once the stream's first chunk arrived, so the request is surely in the engine
    // (gauges raced: a stale count from the request before could let the pause find
    // nothing in flight and hold this one forever).
    let mut body = greedy(450);
    body["stream"] = json!(true);
    let mut stream = client.post(format!("{base}/v1/completions")).json(&body).send().await.unwrap().bytes_stream();
    let mut text = String::new();
    while !text.contains("data: {") {
        text.push_str(std::str::from_utf8(&stream.next().await.expect("a first chunk").unwrap()).unwrap());
    }
    let (status, _) = admin(&client, &base, "/pause?mode=wait", json!({})).await;
    assert_eq!(status, 200);
    // The engine's own count, published before the pause is answered.
    assert_eq!(gauge(&client, &base, "ponder:num_requests_running").await, 0.0, "pause?mode=wait returned before the request ended");
    let rest = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(bytes) = stream.next().await {
            text.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        }
    });
    rest.await.expect("the drained stream never ended");
    assert!(text.contains("\"finish_reason\":\"length\""), "drained, not aborted: {text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(admin(&client, &base, "/resume", json!({})).await.0, 200);
    let (status, body) = admin(&client, &base, "/pause?mode=sideways", json!({})).await;
    assert_eq!((status, &body["error"]["param"]), (400, &json!("mode")));
    wait_idle(&client, &base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_are_404_without_an_admin_key() {
    let model = tiny_reasoner();
    let base = http_support::start_server_with(model.to_str().unwrap(), &["--kv-cache-memory", "16MiB"]).await;
    let client = reqwest::Client::new();
    for path in ["/update_weights_from_disk", "/pause", "/resume", "/abort_requests", "/reset_prefix_cache"] {
        let r = client.post(format!("{base}{path}")).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}
