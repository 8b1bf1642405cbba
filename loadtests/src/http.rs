//! The HTTP client every subcommand sends its requests with.

use std::time::Duration;

/// A client that gives up on a request after `timeout_s` seconds and opens a fresh
/// connection per request: llama.cpp's server closes idle keep-alive connections, and
/// a pooled one that is already closed fails the next request.
pub fn client(timeout_s: u64) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(timeout_s)).pool_max_idle_per_host(0).build()
}
