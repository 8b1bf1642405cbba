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

/// The tiny reasoner's model folder (in the repository).
pub fn tiny_reasoner() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner")
}

/// POSTs `path` with the admin key and checks it answered 200.
pub async fn admin_ok(client: &reqwest::Client, base: &str, key: &str, path: &str) {
    let r = client.post(format!("{base}{path}")).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
}

/// Polls `/metrics` every 10 ms, at most `tries` times, until nothing runs and no KV
/// block is used; panics with the KV usage otherwise.
pub async fn wait_idle(client: &reqwest::Client, base: &str, tries: usize) {
    for _ in 0..tries {
        if gauge(client, base, "ponder:kv_cache_usage_perc").await == 0.0 && gauge(client, base, "ponder:num_requests_running").await == 0.0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("KV blocks still in use: usage {}", gauge(client, base, "ponder:kv_cache_usage_perc").await);
}

/// The real `ponder` binary serving on a free loopback port; killed and reaped on drop.
pub struct BinaryServer {
    pub child: std::process::Child,
    pub base: String,
}

impl BinaryServer {
    /// Starts `ponder serve <tiny reasoner> --port P --kv-cache-memory 16MiB` plus `flags`
    /// (stdout to `stdout`, stderr dropped) and waits (at most 30 s) until `/health` is 200.
    pub async fn start(flags: &[&str], stdout: std::process::Stdio) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ponder"))
            .arg("serve")
            .arg(tiny_reasoner())
            .args(["--port", &port.to_string(), "--kv-cache-memory", "16MiB"])
            .args(flags)
            .stdout(stdout)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so Drop kills and reaps the child on every path.
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        for _ in 0..600 {
            if reqwest::get(format!("{}/health", server.base)).await.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server did not start");
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
