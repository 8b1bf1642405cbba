//! `ponder-bench load` end to end against an in-process mock that streams with known
//! timings. Every choice gets, after the role chunk: reasoning at 60 ms, reasoning at
//! 90 ms, answer at 120 ms, answer with `finish_reason` at 150 ms, then a usage chunk
//! of 4 tokens per choice (chat). Completions get text at the same four times. Sleeps
//! only lengthen under load, so lower bounds are tight and upper bounds loose.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};

use super::*;

type Seen = Arc<Mutex<Vec<Value>>>;

const STEP_MS: [u64; 4] = [60, 30, 30, 30];

/// The chunks sent after step `s` (0..4) for `n` choices.
fn step_chunks(chat: bool, s: usize, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let finish = if s == 3 { json!("stop") } else { Value::Null };
            if !chat {
                return json!({"choices": [{"index": i, "text": format!("t{s}"), "finish_reason": finish}]});
            }
            let delta = if s < 2 { json!({"reasoning_content": "hmm"}) } else { json!({"content": "4"}) };
            json!({"choices": [{"index": i, "delta": delta, "finish_reason": finish}]})
        })
        .collect()
}

async fn mock(chat: bool, seen: Seen, body: Value) -> Response {
    seen.lock().unwrap().push(body.clone());
    let n = body["n"].as_u64().unwrap_or(1) as usize;
    let events = futures::stream::unfold(0usize, move |s| async move {
        let chunks = match s {
            0 if chat => (0..n).map(|i| json!({"choices": [{"index": i, "delta": {"role": "assistant"}}]})).collect(),
            0 => vec![],
            1..=4 => {
                tokio::time::sleep(Duration::from_millis(STEP_MS[s - 1])).await;
                step_chunks(chat, s - 1, n)
            }
            5 => vec![json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4 * n}})],
            6 => return Some((vec![Event::default().data("[DONE]")], 7)),
            _ => return None,
        };
        Some((chunks.iter().map(|c| Event::default().data(c.to_string())).collect::<Vec<_>>(), s + 1))
    });
    let flat = events.flat_map(|v| futures::stream::iter(v.into_iter().map(Ok::<_, Infallible>)));
    Sse::new(flat).into_response()
}

async fn start_mock() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(|State(s): State<Seen>, Json(b): Json<Value>| mock(true, s, b)))
        .route("/v1/completions", post(|State(s): State<Seen>, Json(b): Json<Value>| mock(false, s, b)))
        .with_state(seen.clone());
    (crate::mock_server::serve(app).await, seen)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadArgs,
}

fn parse_args(argv: &[&str]) -> LoadArgs {
    Cli::try_parse_from(std::iter::once("load").chain(argv.iter().copied())).unwrap().args
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ponder-bench-load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn within(value: &Value, lo: f64, hi: f64) {
    let v = value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((lo..=hi).contains(&v), "{v} not in [{lo}, {hi}]");
}

#[tokio::test]
async fn chat_streams_are_timed_per_token_and_answer() {
    let (base_url, seen) = start_mock().await;
    let dir = temp_dir("chat");
    let json_path = dir.join("r.json");
    let argv = [
        "--base-url", &base_url, "--num-prompts", "4", "--input-len", "16", "--output-len", "4",
        "--max-concurrency", "1,4", "--slo", "ttft=10000,tpot=10000",
        "--output-json", json_path.to_str().unwrap(), "--plot-dir", dir.to_str().unwrap(),
    ];
    run(parse_args(&argv)).await.unwrap();
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 8);
    assert!(bodies.iter().all(|b| b["stream_options"]["include_usage"] == json!(true) && b["max_tokens"] == json!(4)));

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["max_concurrency"].as_u64()).collect::<Vec<_>>(), vec![Some(1), Some(4)]);
    for r in runs {
        assert_eq!((r["completed"].as_u64(), r["failed_requests"].as_u64()), (Some(4), Some(0)));
        assert_eq!((r["total_output_tokens"].as_u64(), r["total_input_tokens"].as_u64()), (Some(16), Some(28)));
        // All 4 samples meet the generous SLOs.
        within(&r["request_goodput"], r["request_throughput"].as_f64().unwrap() - 1e-9, f64::MAX);
        for s in r["samples"].as_array().unwrap() {
            within(&s["ttft_ms"], 60.0, 200.0);
            within(&(s["answer_ttft_ms"].as_f64().unwrap() - s["ttft_ms"].as_f64().unwrap()).into(), 55.0, 160.0);
            within(&s["e2e_ms"], 150.0, 350.0);
            let itl = s["itl_ms"].as_array().unwrap();
            assert_eq!(itl.len(), 3);
            itl.iter().for_each(|g| within(g, 25.0, 120.0));
            assert_eq!(s["output_tokens"].as_u64(), Some(4));
            within(&s["tpot_ms"], 28.0, 120.0);
        }
    }
    // Concurrency 1 sends one after another: the run lasts at least 4 × 150 ms.
    within(&runs[0]["duration_s"], 0.6, 3.0);
    within(&runs[1]["duration_s"], 0.15, 0.6);
    for name in ["latency_cdf.png", "throughput_vs_concurrency.png"] {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap()[..4], b"\x89PNG", "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn grpo_choices_are_timed_one_by_one_on_completions_at_a_fixed_rate() {
    let (base_url, seen) = start_mock().await;
    let dir = temp_dir("grpo");
    let json_path = dir.join("r.json");
    let argv = [
        "--base-url", &base_url, "--endpoint", "completions", "--dataset", "grpo", "--grpo-prompts", "3",
        "--grpo-samples", "2", "--request-rate", "10", "--arrival", "fixed", "--output-json", json_path.to_str().unwrap(),
    ];
    run(parse_args(&argv)).await.unwrap();
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b["n"] == json!(2) && b["prompt"].is_string() && b.get("messages").is_none()));

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let run = &report["runs"][0];
    let samples = run["samples"].as_array().unwrap();
    let keys: Vec<(u64, u64)> =
        samples.iter().map(|s| (s["request_index"].as_u64().unwrap(), s["choice_index"].as_u64().unwrap())).collect();
    assert_eq!(keys, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    // Usage counts both choices: 8 per request.
    assert_eq!(run["total_output_tokens"].as_u64(), Some(24));
    for s in samples {
        assert_eq!(s["output_tokens"].as_u64(), Some(4));
        within(&s["ttft_ms"], 60.0, 200.0);
        // Completions carry no reasoning: the answer starts with the first token.
        assert_eq!(s["answer_ttft_ms"], s["ttft_ms"]);
        within(&s["sent_at_s"], 0.1 * s["request_index"].as_f64().unwrap(), 0.1 * s["request_index"].as_f64().unwrap() + 0.1);
    }
    assert!(run["request_goodput"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn defaults_match_the_documented_ones() {
    let args = parse_args(&[]);
    assert_eq!((args.endpoint, args.dataset, args.arrival), (args::Endpoint::Chat, args::DatasetKind::Synthetic, args::Arrival::Poisson));
    assert!(args.request_rate.is_infinite() && args.max_concurrency.is_empty());
    assert_eq!((args.num_prompts, args.input_len, args.output_len, args.burstiness), (8, 256, 128, 1.0));
    assert_eq!(parse_args(&["--max-tokens", "9", "--max-concurrency", "1,8,32"]).max_concurrency, vec![1, 8, 32]);
    assert_eq!(parse_args(&["--max-tokens", "9"]).output_len, 9);
}
