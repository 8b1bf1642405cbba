//! `ponder-bench eval` end to end against an in-process mock of an OpenAI server.
//!
//! The mock answers from the request's seed `s`: HTTP 500 when `s == 21`; an open
//! think block (`finish_reason: "length"`, no content) when `s % 5 == 0`; else the
//! content "The answer is {s % 3}." with reasoning naming the number 2 (never to be
//! read), `completion_tokens = s` and `reasoning_tokens = s − 2`. The expected
//! metrics are recomputed here from that rule with naive code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};

use super::*;

type Seen = Arc<Mutex<Vec<Value>>>;

async fn mock_completion(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.lock().unwrap().push(body.clone());
    let s = body["seed"].as_u64().unwrap();
    if s == 21 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let (content, finish, reasoning_tokens) = if s % 5 == 0 {
        (Value::Null, "length", s)
    } else {
        (json!(format!("The answer is {}.", s % 3)), "stop", s - 2)
    };
    Json(json!({
        "id": "x", "object": "chat.completion", "model": "mock",
        "choices": [{"index": 0, "finish_reason": finish,
            "message": {"role": "assistant", "content": content, "reasoning_content": "maybe 2"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": s, "total_tokens": s + 5,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
    }))
    .into_response()
}

/// Starts the mock; returns its `/v1` base URL and the request bodies it receives.
async fn start_mock() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new().route("/v1/chat/completions", post(mock_completion)).with_state(seen.clone());
    (crate::mock_server::serve(app).await, seen)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: EvalArgs,
}

fn parse_args(argv: &[&str]) -> EvalArgs {
    Cli::try_parse_from(std::iter::once("eval").chain(argv.iter().copied())).unwrap().args
}

/// What the mock's rule gives for seed `s` (None: failed request).
fn mock_answer(s: u64) -> Option<Option<i64>> {
    match s {
        21 => None,
        s if s % 5 == 0 => Some(None),
        s => Some(Some((s % 3) as i64)),
    }
}

#[tokio::test]
async fn a_run_against_a_mock_server_reports_the_expected_metrics() {
    let (base_url, seen) = start_mock().await;
    let dir = std::env::temp_dir().join(format!("ponder-bench-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dataset = dir.join("d.jsonl");
    let answers = [0i64, 1, 2, 0];
    let lines: Vec<String> =
        answers.iter().enumerate().map(|(i, a)| json!({"prompt": format!("p{i}"), "answer": a}).to_string()).collect();
    std::fs::write(&dataset, lines.join("\n")).unwrap();
    let (json_path, png_path) = (dir.join("r.json"), dir.join("r.png"));
    let args = parse_args(&[
        "--base-url",
        &base_url,
        "--dataset",
        dataset.to_str().unwrap(),
        "-k",
        "4",
        "--limit",
        "3",
        "--temperature",
        "0.6",
        "--seed",
        "10",
        "--max-tokens",
        "64",
        "--max-concurrency",
        "3",
        "--output-json",
        json_path.to_str().unwrap(),
        "--plot",
        png_path.to_str().unwrap(),
    ]);
    run(args).await.unwrap();

    // Requests: one per sample, n = 1, seeds 10 + 4i + j, no top_p sent.
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 12);
    let mut seeds: Vec<u64> = bodies.iter().map(|b| b["seed"].as_u64().unwrap()).collect();
    seeds.sort();
    assert_eq!(seeds, (10..22).collect::<Vec<_>>());
    for b in &bodies {
        let i = (b["seed"].as_u64().unwrap() - 10) / 4;
        assert_eq!(b["messages"][0]["content"], json!(format!("p{i}")));
        assert_eq!(
            (&b["n"], &b["temperature"], &b["max_tokens"], &b["stream"]),
            (&json!(1), &json!(0.6), &json!(64), &json!(false))
        );
        assert!(b.get("top_p").is_none() && b.get("model").is_none());
    }

    // Naive reference from the mock's rule.
    let (mut pass_sum, mut consensus, mut responded, mut reasoning_sum, mut answer_sum, mut unclosed) =
        (0.0, 0, 0, 0u64, 0u64, 0);
    for (i, reference) in answers.iter().take(3).enumerate() {
        let mut correct = 0;
        let mut votes: Vec<i64> = Vec::new();
        for j in 0..4 {
            let s = 10 + 4 * i as u64 + j;
            let Some(extracted) = mock_answer(s) else { continue };
            responded += 1;
            match extracted {
                Some(a) => {
                    correct += usize::from(a == *reference);
                    votes.push(a);
                    reasoning_sum += s - 2;
                    answer_sum += 2;
                }
                None => {
                    unclosed += 1;
                    reasoning_sum += s;
                }
            }
        }
        pass_sum += correct as f64 / 4.0;
        let counts: HashMap<i64, usize> = votes.iter().fold(HashMap::new(), |mut m, a| {
            *m.entry(*a).or_default() += 1;
            m
        });
        let winner = votes.iter().find(|a| counts[a] == counts.values().copied().max().unwrap());
        consensus += usize::from(winner == Some(reference));
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let close = |key: &str, want: f64| {
        assert!((report[key].as_f64().unwrap() - want).abs() < 1e-9, "{key}: {} vs {want}", report[key])
    };
    close("pass_at_1", pass_sum / 3.0);
    close("cons_at_k", consensus as f64 / 3.0);
    close("mean_reasoning_tokens", reasoning_sum as f64 / responded as f64);
    close("mean_answer_tokens", answer_sum as f64 / responded as f64);
    close("unclosed_think_fraction", unclosed as f64 / responded as f64);
    assert_eq!((report["requests"].as_u64(), report["failed"].as_u64()), (Some(12), Some(1)));
    assert_eq!(report["total_output_tokens"].as_u64(), Some((10..22).filter(|s| *s != 21).sum::<u64>()));

    // Per-sample records, in order, with the answer taken from the content only.
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 12);
    for (n, rec) in samples.iter().enumerate() {
        let s = 10 + n as u64;
        assert_eq!(
            (rec["prompt_index"].as_u64(), rec["sample_index"].as_u64(), rec["seed"].as_u64()),
            (Some(n as u64 / 4), Some(n as u64 % 4), Some(s))
        );
        let expected = mock_answer(s).flatten();
        assert_eq!(rec["extracted_answer"].as_i64(), expected, "sample {n}");
        assert_eq!(rec["correct"].as_bool(), Some(expected == Some(answers[n / 4])));
        assert_eq!(rec["error"].is_string(), s == 21);
    }
    let bins = report["accuracy_by_reasoning_length"].as_array().unwrap();
    assert_eq!(bins.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), responded as u64);
    assert_eq!(&std::fs::read(&png_path).unwrap()[..4], b"\x89PNG");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn defaults_match_the_documented_ones() {
    let args = parse_args(&["--dataset", "d.jsonl"]);
    assert_eq!(args.base_url, "http://127.0.0.1:8000/v1");
    assert_eq!((args.num_samples, args.max_tokens, args.max_concurrency), (1, 1024, 8));
    assert_eq!((args.temperature, args.top_p, args.seed, args.limit), (None, None, None, None));
}
