//! Over real HTTP, on the real SmolLM2 Q4_1 GGUF (scripts/fetch-assets): a client that
//! drops a stream mid-way aborts its request, and the KV cache empties within 2 s.

mod http_support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use http_support::{gauge, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_after_three_chunks_frees_the_kv_cache_within_two_seconds() {
    let base = start_server().await;
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
        "stream": true,
        "max_tokens": 900,
        "ignore_eos": true,
    });
    let response = client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut events = 0;
    let mut buffer = Vec::new();
    while events < 3 {
        let bytes = stream.next().await.expect("stream ended before 3 chunks").unwrap();
        buffer.extend_from_slice(&bytes);
        events = buffer.windows(2).filter(|w| w == b"\n\n").count();
    }
    assert!(gauge(&client, &base, "ponder:num_requests_running").await >= 1.0);
    assert!(gauge(&client, &base, "ponder:kv_cache_usage_perc").await > 0.0);

    drop(stream);
    let dropped = Instant::now();
    loop {
        let usage = gauge(&client, &base, "ponder:kv_cache_usage_perc").await;
        let running = gauge(&client, &base, "ponder:num_requests_running").await;
        if usage == 0.0 && running == 0.0 {
            break;
        }
        assert!(dropped.elapsed() < Duration::from_secs(2), "after 2 s: kv_cache_usage_perc {usage}, running {running}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
