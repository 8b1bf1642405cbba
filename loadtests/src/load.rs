//! `ponder-bench load`: N streaming chat requests at a fixed concurrency.
//!
//! Definitions follow vLLM's `vllm bench serve`:
//! - TTFT: request sent → first chunk carrying text (reasoning or answer).
//! - TPOT: (e2e latency − TTFT) / (output tokens − 1), per request.
//! - ITL: gaps between successive text-carrying chunks.
//! - Output throughput: all output tokens / wall time of the whole run.
//!   Output tokens come from the final `usage` chunk (`stream_options.include_usage`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};

use crate::sse::SseReader;
use crate::stats::Summary;

/// Arguments of `ponder-bench load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    base_url: String,
    /// Model name sent in requests (omitted when not given).
    #[arg(long)]
    model: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1)]
    max_concurrency: usize,
    /// Total number of requests.
    #[arg(long, default_value_t = 8)]
    num_prompts: usize,
    /// `max_tokens` of each request.
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    /// Send `ignore_eos: true` so every request generates exactly `max_tokens`.
    #[arg(long)]
    ignore_eos: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Write the report as JSON to this file.
    #[arg(long)]
    output_json: Option<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

const PROMPTS: &[&str] = &[
    "What is the capital of Japan?",
    "What is 2 + 2?",
    "How many days are in a week?",
    "What is the opposite of hot?",
    "Write a short story about a robot who learns to paint.",
    "Explain why the sky is blue.",
    "List three fruits and their colors.",
    "What is the largest planet in the solar system?",
];

/// Measurements of one request.
#[derive(Debug, Clone, Serialize)]
struct RequestRecord {
    ttft_ms: f64,
    e2e_ms: f64,
    output_tokens: u64,
    itl_ms: Vec<f64>,
}

/// The whole run's report.
#[derive(Debug, Serialize)]
struct Report {
    base_url: String,
    max_concurrency: usize,
    num_prompts: usize,
    completed: usize,
    failed: usize,
    duration_s: f64,
    total_output_tokens: u64,
    output_throughput_tok_s: f64,
    request_throughput_req_s: f64,
    per_stream_decode_tok_s: Summary,
    ttft_ms: Summary,
    tpot_ms: Summary,
    itl_ms: Summary,
    e2e_ms: Summary,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.max_concurrency == 0 || args.num_prompts == 0 {
        bail!("--max-concurrency and --num-prompts must be at least 1");
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout_s)).build()?;
    let url = format!("{}/chat/completions", args.base_url.trim_end_matches('/'));
    let start = Instant::now();
    let results: Vec<anyhow::Result<RequestRecord>> = futures::stream::iter(0..args.num_prompts)
        .map(|i| {
            let body = request_body(&args, PROMPTS[i % PROMPTS.len()]);
            let (client, url) = (client.clone(), url.clone());
            async move { one_request(&client, &url, &body).await }
        })
        .buffer_unordered(args.max_concurrency)
        .collect()
        .await;
    let duration = start.elapsed().as_secs_f64();
    let mut records = Vec::new();
    let mut failed = 0;
    for r in results {
        match r {
            Ok(rec) => records.push(rec),
            Err(e) => {
                failed += 1;
                eprintln!("request failed: {e:#}");
            }
        }
    }
    let report = summarize(&args, records, failed, duration);
    print_report(&report);
    if let Some(path) = &args.output_json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.completed == 0 {
        bail!("no request completed");
    }
    Ok(())
}

fn request_body(args: &LoadArgs, prompt: &str) -> Value {
    let mut body = json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(model) = &args.model {
        body["model"] = json!(model);
    }
    if args.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    body
}

async fn one_request(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<RequestRecord> {
    let sent = Instant::now();
    let resp = client.post(url).json(body).send().await?;
    let status = resp.status();
    if !status.is_success() {
        bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    let mut stream = resp.bytes_stream();
    let mut reader = SseReader::default();
    let mut text_times: Vec<Instant> = Vec::new();
    let mut usage_tokens = None;
    let mut chunks_with_text = 0u64;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes?;
        let now = Instant::now();
        for data in reader.push(&bytes) {
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(&data).with_context(|| format!("bad chunk {data}"))?;
            if let Some(n) = chunk["usage"]["completion_tokens"].as_u64() {
                usage_tokens = Some(n);
            }
            if chunk_has_text(&chunk) {
                chunks_with_text += 1;
                text_times.push(now);
            }
        }
    }
    let end = Instant::now();
    let Some(first) = text_times.first() else { bail!("stream carried no text") };
    let itl_ms = text_times.windows(2).map(|w| ms(w[1] - w[0])).collect();
    Ok(RequestRecord {
        ttft_ms: ms(*first - sent),
        e2e_ms: ms(end - sent),
        output_tokens: usage_tokens.unwrap_or(chunks_with_text),
        itl_ms,
    })
}

fn chunk_has_text(chunk: &Value) -> bool {
    let Some(choices) = chunk["choices"].as_array() else { return false };
    choices.iter().any(|c| {
        let d = &c["delta"];
        ["content", "reasoning_content", "reasoning"].iter().any(|k| d[*k].as_str().is_some_and(|s| !s.is_empty()))
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summarize(args: &LoadArgs, records: Vec<RequestRecord>, failed: usize, duration_s: f64) -> Report {
    let total_output_tokens: u64 = records.iter().map(|r| r.output_tokens).sum();
    let tpot: Vec<f64> = records
        .iter()
        .filter(|r| r.output_tokens > 1)
        .map(|r| (r.e2e_ms - r.ttft_ms) / (r.output_tokens - 1) as f64)
        .collect();
    let per_stream: Vec<f64> = tpot.iter().filter(|t| **t > 0.0).map(|t| 1000.0 / t).collect();
    let itl: Vec<f64> = records.iter().flat_map(|r| r.itl_ms.iter().copied()).collect();
    Report {
        base_url: args.base_url.clone(),
        max_concurrency: args.max_concurrency,
        num_prompts: args.num_prompts,
        completed: records.len(),
        failed,
        duration_s,
        total_output_tokens,
        output_throughput_tok_s: total_output_tokens as f64 / duration_s,
        request_throughput_req_s: records.len() as f64 / duration_s,
        per_stream_decode_tok_s: Summary::of(&per_stream),
        ttft_ms: Summary::of(&records.iter().map(|r| r.ttft_ms).collect::<Vec<_>>()),
        tpot_ms: Summary::of(&tpot),
        itl_ms: Summary::of(&itl),
        e2e_ms: Summary::of(&records.iter().map(|r| r.e2e_ms).collect::<Vec<_>>()),
    }
}

fn print_report(r: &Report) {
    println!("============ ponder-bench load ============");
    println!("{:<36}{}", "endpoint", r.base_url);
    println!("{:<36}{}", "max concurrency", r.max_concurrency);
    println!("{:<36}{} ok, {} failed", "requests", r.completed, r.failed);
    println!("{:<36}{:.2}", "duration (s)", r.duration_s);
    println!("{:<36}{}", "output tokens", r.total_output_tokens);
    println!("{:<36}{:.2}", "output throughput (tok/s)", r.output_throughput_tok_s);
    println!("{:<36}{:.3}", "request throughput (req/s)", r.request_throughput_req_s);
    println!("{:<36}{:.2}", "per-stream decode (tok/s, mean)", r.per_stream_decode_tok_s.mean);
    for (name, s) in [("TTFT", &r.ttft_ms), ("TPOT", &r.tpot_ms), ("ITL", &r.itl_ms), ("E2E", &r.e2e_ms)] {
        println!(
            "{:<36}mean {:.1}  median {:.1}  p90 {:.1}  p99 {:.1}",
            format!("{name} (ms)"),
            s.mean,
            s.median,
            s.p90,
            s.p99
        );
    }
}
