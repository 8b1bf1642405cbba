//! Over real HTTP, on the real SmolLM2 Q4_1 GGUF (scripts/fetch-assets): a client that
//! drops a stream mid-way aborts its request, and the KV cache empties within 2 s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use ponder::cli::{Cli, Command};

fn smollm2() -> PathBuf {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ponder")))
        .expect("PONDER_CACHE or HOME must be set");
    let path = cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-assets", path.display());
    path
}

/// Loads SmolLM2 and serves it on a free loopback port; returns the base URL.
async fn start_server() -> String {
    let model = smollm2();
    let Cli { command: Command::Serve(args) } =
        Cli::parse_from(["ponder", "serve", model.to_str().unwrap(), "--served-model-name", "smollm2", "--kv-cache-memory", "64MiB", "--max-model-len", "1024"]);
    let server = tokio::task::spawn_blocking(move || ponder::load(&args)).await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ponder::serve(server, listener, std::future::pending()));
    base
}

/// The value of an unlabelled gauge in the Prometheus text at `/metrics`.
async fn gauge(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

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
