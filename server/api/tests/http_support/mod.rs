//! Shared by the HTTP tests: serve the real SmolLM2 Q4_1 GGUF (scripts/fetch-assets)
//! in-process on a free loopback port, and read gauges from `/metrics`.

#![allow(dead_code)]

use std::path::PathBuf;

use clap::Parser;
use ponder::cli::{Cli, Command};

pub fn smollm2() -> PathBuf {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ponder")))
        .expect("PONDER_CACHE or HOME must be set");
    let path = cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-assets", path.display());
    path
}

/// Loads SmolLM2 and serves it on a free loopback port; returns the base URL.
pub async fn start_server() -> String {
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
pub async fn gauge(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Loads `model` with extra `ponder serve` flags and serves it on a free loopback port;
/// returns the base URL.
pub async fn start_server_with(model: &str, flags: &[&str]) -> String {
    let argv: Vec<&str> = ["ponder", "serve", model].into_iter().chain(flags.iter().copied()).collect();
    let Cli { command: Command::Serve(args) } = Cli::parse_from(argv);
    let server = tokio::task::spawn_blocking(move || ponder::load(&args)).await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ponder::serve(server, listener, std::future::pending()));
    base
}

/// Reads SSE `data:` payloads until `[DONE]`.
pub async fn read_stream(response: reqwest::Response, mut on_chunk: impl FnMut(&serde_json::Value)) {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(bytes) = stream.next().await {
        buffer.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data = event.trim().strip_prefix("data: ").unwrap_or_default().to_string();
            if data == "[DONE]" {
                return;
            }
            on_chunk(&serde_json::from_str(&data).unwrap());
        }
    }
    panic!("stream ended without [DONE]");
}
