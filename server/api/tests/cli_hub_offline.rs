//! `ponder serve <repo id>` with no reachable hub fails fast with an error that names
//! the repo and the endpoint: `HF_ENDPOINT` points at a loopback port nobody listens on.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn an_unreachable_hub_is_a_clear_error_naming_the_repo_and_endpoint() {
    // Bind then drop a listener: the port is free, so connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let hf_home = std::env::temp_dir().join(format!("ponder-hf-home-{}", std::process::id()));
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ponder"))
        .args(["serve", "ponder-test/no-such-model", "--port", "0"])
        .env("HF_ENDPOINT", &endpoint)
        .env("HF_HOME", &hf_home)
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&hf_home);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "ponder serve succeeded without a hub: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(stderr.contains("ponder-test/no-such-model"), "error does not name the repo: {stderr}");
    assert!(stderr.contains(&endpoint), "error does not name the endpoint: {stderr}");
    assert!(!stderr.contains("panicked"), "ponder panicked: {stderr}");
}

#[test]
fn a_missing_local_path_is_a_clear_error_not_a_hub_lookup() {
    let output = Command::new(env!("CARGO_BIN_EXE_ponder"))
        .args(["serve", "/no/such/dir/model.gguf", "--port", "0"])
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/no/such/dir/model.gguf"), "error does not name the path: {stderr}");
    assert!(!stderr.contains("panicked"), "ponder panicked: {stderr}");
}
