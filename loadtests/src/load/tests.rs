//! `ponder-bench load` end to end against an in-process mock that streams with known
//! timings. Every choice gets, after the role chunk: reasoning at 60 ms, reasoning at
//! 90 ms, answer at 120 ms, answer with `finish_reason` at 150 ms, then a usage chunk
//! of 4 tokens per choice (chat). Completions get text at the same four times. Sleeps
//! only lengthen under load, so lower bounds are tight and upper bounds loose. A prompt
//! of more than [`MAX_PROMPT_WORDS`] words is answered with HTTP 400.

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

/// Longer prompts are refused, as over a model's context.
const MAX_PROMPT_WORDS: usize = 1000;

fn prompt_words(body: &Value) -> usize {
    let prompt = body["prompt"].as_str().or_else(|| body["messages"][0]["content"].as_str()).unwrap_or_default();
    prompt.split(' ').count()
}

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
    if prompt_words(&body) > MAX_PROMPT_WORDS {
        return (axum::http::StatusCode::BAD_REQUEST, "prompt too long").into_response();
    }
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

/// Gaps of `samples` (report JSON) overlapping [start_ms, end_ms] for a positive time,
/// counted naively from each sample's absolute token times.
fn gaps_overlapping(samples: &[Value], start_ms: f64, end_ms: f64) -> u64 {
    let mut count = 0;
    for s in samples {
        let mut times = vec![s["sent_at_s"].as_f64().unwrap() * 1000.0 + s["ttft_ms"].as_f64().unwrap()];
        for gap in s["itl_ms"].as_array().unwrap() {
            times.push(times.last().unwrap() + gap.as_f64().unwrap());
        }
        count += times.windows(2).filter(|w| w[0] < end_ms && w[1] > start_ms).count() as u64;
    }
    count
}

#[tokio::test]
async fn a_long_prompt_per_run_is_measured_apart_from_the_samples() {
    let (base_url, seen) = start_mock().await;
    let dir = temp_dir("long-prompt");
    let json_path = dir.join("r.json");
    let argv = [
        "--base-url", &base_url, "--num-prompts", "4", "--input-len", "16", "--output-len", "4",
        "--max-concurrency", "2,4", "--long-prompt-len", "500", "--long-prompt-at", "0.1",
        "--output-json", json_path.to_str().unwrap(),
    ];
    run(parse_args(&argv)).await.unwrap();
    let bodies = seen.lock().unwrap().clone();
    // 4 requests and one long prompt per run, sent outside the concurrency limit.
    assert_eq!(bodies.len(), 10);
    let long: Vec<&Value> = bodies.iter().filter(|b| prompt_words(b) == 500).collect();
    assert_eq!(long.len(), 2);
    for b in &long {
        assert_eq!((&b["max_tokens"], &b["stream"], &b["stream_options"]["include_usage"]), (&json!(8), &json!(true), &json!(true)));
    }
    assert_ne!(long[0]["messages"], long[1]["messages"], "each run gets a fresh long prompt");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for r in report["runs"].as_array().unwrap() {
        // The long prompt counts in no sample, token total or request count.
        assert_eq!((r["requests"].as_u64(), r["completed"].as_u64(), r["failed_requests"].as_u64()), (Some(4), Some(4), Some(0)));
        assert_eq!((r["total_output_tokens"].as_u64(), r["total_input_tokens"].as_u64()), (Some(16), Some(28)));
        let samples = r["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 4);
        assert!(samples.iter().all(|s| s["output_tokens"].as_u64() == Some(4)));

        let lp = &r["long_prompt"];
        assert_eq!((lp["len"].as_u64(), lp["prompt_tokens"].as_u64()), (Some(500), Some(7)));
        assert!(lp["error"].is_null());
        within(&lp["sent_at_s"], 0.1, 0.3);
        within(&lp["ttft_ms"], 60.0, 200.0);
        let (during, otherwise) = (&lp["itl_during_prefill_ms"], &lp["itl_otherwise_ms"]);
        // The 4 samples × 3 gaps are split between the two sides.
        assert_eq!(during["count"].as_u64().unwrap() + otherwise["count"].as_u64().unwrap(), 12);
        // The first two streams decode from 60 to 150 ms, across the long prompt's send.
        assert!(during["count"].as_u64().unwrap() >= 1, "{lp}");
        let start_ms = lp["sent_at_s"].as_f64().unwrap() * 1000.0;
        let end_ms = start_ms + lp["ttft_ms"].as_f64().unwrap();
        assert_eq!(during["count"].as_u64(), Some(gaps_overlapping(samples, start_ms, end_ms)));
        for side in [during, otherwise] {
            within(&side["mean"], 25.0, 120.0);
            within(&side["max"], side["p99"].as_f64().unwrap(), 120.0);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_long_prompt_is_reported_without_failing_the_run() {
    let (base_url, seen) = start_mock().await;
    let dir = temp_dir("long-prompt-fails");
    let json_path = dir.join("r.json");
    let argv = [
        "--base-url", &base_url, "--endpoint", "completions", "--num-prompts", "2", "--input-len", "16",
        "--long-prompt-len", "2000", "--long-prompt-at", "0.05", "--output-json", json_path.to_str().unwrap(),
    ];
    run(parse_args(&argv)).await.unwrap();
    assert_eq!(seen.lock().unwrap().iter().filter(|b| prompt_words(b) == 2000).count(), 1);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let r = &report["runs"][0];
    assert_eq!((r["completed"].as_u64(), r["failed_requests"].as_u64()), (Some(2), Some(0)));
    let lp = &r["long_prompt"];
    let error = lp["error"].as_str().unwrap();
    assert!(error.contains("400") && error.contains("prompt too long"), "{error}");
    assert!(lp["ttft_ms"].is_null() && lp["itl_during_prefill_ms"].is_null() && lp["itl_otherwise_ms"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_long_prompt_due_after_the_load_ended_is_not_sent_and_not_waited_for() {
    let (base_url, seen) = start_mock().await;
    let dir = temp_dir("long-prompt-late");
    let json_path = dir.join("r.json");
    let argv = [
        "--base-url", &base_url, "--endpoint", "completions", "--num-prompts", "2", "--input-len", "16",
        "--long-prompt-len", "50", "--long-prompt-at", "3600", "--output-json", json_path.to_str().unwrap(),
    ];
    // Waiting for the send time would take an hour: the timeout turns that into a failure.
    tokio::time::timeout(Duration::from_secs(60), run(parse_args(&argv))).await.expect("did not wait").unwrap();
    assert_eq!(seen.lock().unwrap().iter().filter(|b| prompt_words(b) == 50).count(), 0);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let lp = &report["runs"][0]["long_prompt"];
    let error = lp["error"].as_str().unwrap();
    assert!(error.starts_with("not sent: the load ended at") && error.contains("--long-prompt-at 3600.00 s"), "{error}");
    assert!(lp["ttft_ms"].is_null() && lp["itl_during_prefill_ms"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn long_prompt_flags_are_validated() {
    let lp = |argv: &[&str]| interference::LongPrompt::from_args(&parse_args(argv));
    assert_eq!(lp(&[]).unwrap(), None);
    let given = lp(&["--long-prompt-len", "4000"]).unwrap().unwrap();
    assert_eq!((given.len, given.max_tokens, given.at_s), (4000, 8, 5.0));
    let message = |argv: &[&str]| lp(argv).unwrap_err().to_string();
    assert_eq!(message(&["--long-prompt-len", "0"]), "--long-prompt-len must be at least 1");
    assert_eq!(message(&["--long-prompt-len", "9", "--long-prompt-max-tokens", "0"]), "--long-prompt-max-tokens must be at least 1");
    for bad in [
        &["--long-prompt-len", "0"][..],
        &["--long-prompt-len", "9", "--long-prompt-max-tokens", "0"],
        &["--long-prompt-len", "9", "--long-prompt-at=-1"],
        &["--long-prompt-len", "9", "--long-prompt-at", "inf"],
    ] {
        assert!(lp(bad).is_err(), "{bad:?}");
    }
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
