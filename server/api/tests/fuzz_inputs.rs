//! Property-based fuzzing (proptest, fixed seed) of what a client controls:
//! - the request parsers and validators of `/v1/chat/completions`, `/v1/completions`
//!   and `/generate`, on arbitrary JSON and on valid bodies with fields replaced by
//!   arbitrary JSON: never a panic, every refusal a 4xx naming a reason;
//! - the same bodies over HTTP against the tiny reasoner: never a 5xx;
//! - the incremental detokenizer, the stop-string matcher and the reasoning split
//!   (through `TextPipeline`): never a panic, and where the text is cut (bytes into
//!   tokens, text into deltas) never changes the output.
//!
//! Case counts: `PONDER_FUZZ_CASES` scales them (default 1; CI runs the default).

mod http_support;
mod text_support;

use std::cell::Cell;
use std::path::PathBuf;

use ponder::protocol::generate::GenerateRequest;
use ponder::protocol::{ChatRequest, CompletionRequest};
use ponder::text::{IncrementalDetokenizer, ReasoningConfig, StopStrings, TextPipeline, TextPipelineConfig, ThinkTokenIds};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{json, Map, Value};
use text_support::{reference_split, FakeVocab, CLOSE, OPEN};

/// Field names the parsers know (and a few they do not), so arbitrary objects hit them.
const FIELDS: &[&str] = &[
    "model", "messages", "prompt", "max_tokens", "max_completion_tokens", "n", "temperature", "top_p", "top_k",
    "min_p", "stop", "stream", "stream_options", "include_usage", "logprobs", "top_logprobs", "seed", "logit_bias",
    "response_format", "json_schema", "schema", "reasoning_effort", "thinking_budget", "echo", "role", "content",
    "text", "input_ids", "sampling_params", "max_new_tokens", "ignore_eos", "presence_penalty", "frequency_penalty",
    "repetition_penalty", "priority", "prompt_logprobs", "logprobs_mode", "chat_template_kwargs", "tools",
    "tool_choice", "stop_token_ids", "skip_special_tokens", "rid", "return_logprob", "type", "best_of", "user",
    "reasoning", "reasoning_content", "add_generation_prompt", "continue_final_message", "suffix",
];

fn cases(base: u32) -> u32 {
    let scale = std::env::var("PONDER_FUZZ_CASES").ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(1);
    base.saturating_mul(scale.max(1))
}

fn runner(base_cases: u32) -> TestRunner {
    TestRunner::new(Config { cases: cases(base_cases), rng_seed: RngSeed::Fixed(0xF022), failure_persistence: None, ..Config::default() })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(FIELDS).prop_map(str::to_owned), 1 => "[a-z_]{0,10}"]
}

/// Arbitrary JSON: extreme and ordinary numbers, odd strings, nesting to depth 3.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3i64..600).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("a JSON number is finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        (-2.0f64..3.0).prop_map(Value::from),
        "[a-z<>/ {}\"]{0,12}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop::sample::select(&["user", "assistant", "system", "tool", "json_object", "json_schema", "text", "low", "high", "<think>", "</think>"][..])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn valid_chat() -> Value {
    json!({"messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 8})
}

fn valid_completion() -> Value {
    json!({"prompt": "What is 2 + 3?", "max_tokens": 8})
}

fn valid_generate() -> Value {
    json!({"text": "What is 2 + 3?", "sampling_params": {"max_new_tokens": 8}})
}

/// A valid body with 1–3 edits: a field set to arbitrary JSON, or removed.
fn mutated(base: fn() -> Value) -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), prop::option::weighted(0.85, json_value())), 1..4).prop_map(move |edits| {
        let mut body = base();
        let object = body.as_object_mut().unwrap();
        for (k, v) in edits {
            match v {
                Some(v) => object.insert(k, v),
                None => object.remove(&k),
            };
        }
        body
    })
}

/// Any body, for all three parsers: arbitrary JSON, or a mutated valid body.
fn any_body() -> impl Strategy<Value = Value> {
    prop_oneof![json_value(), mutated(valid_chat), mutated(valid_completion), mutated(valid_generate)]
}

/// The parsers never panic; a refusal is a 4xx with a message.
#[test]
fn request_parsers_refuse_arbitrary_json_with_a_4xx_and_never_panic() {
    let accepted = [Cell::new(0usize), Cell::new(0), Cell::new(0)];
    let refused = Cell::new(0usize);
    runner(6000)
        .run(&any_body(), |body| {
            let results = [
                ChatRequest::parse(&body).err(),
                CompletionRequest::parse(&body).err(),
                GenerateRequest::parse(&body).err(),
            ];
            for (i, err) in results.into_iter().enumerate() {
                match err {
                    None => accepted[i].set(accepted[i].get() + 1),
                    Some(e) => {
                        refused.set(refused.get() + 1);
                        prop_assert!(e.status.is_client_error(), "{e} for {body}");
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches both sides of every parser.
    let accepted = accepted.map(Cell::into_inner);
    assert!(accepted.iter().all(|&a| a > 50), "accepted {accepted:?}");
    assert!(refused.get() > 1000, "refused {}", refused.get());
}

/// Arbitrary bytes as a body: not JSON is a 400 before any parser; JSON goes on.
#[test]
fn arbitrary_bytes_never_panic_the_parsers() {
    runner(4000)
        .run(&prop::collection::vec(any::<u8>(), 0..200), |bytes| {
            if let Ok(body) = serde_json::from_slice::<Value>(&bytes) {
                let _ = ChatRequest::parse(&body);
                let _ = CompletionRequest::parse(&body);
                let _ = GenerateRequest::parse(&body);
            }
            Ok(())
        })
        .unwrap();
}

/// The same kinds of bodies over HTTP, end to end (templates, tokenizing, the engine):
/// a 4xx or a 200, never a 5xx, and the server answers the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_answer_arbitrary_bodies_without_a_5xx() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner");
    let base = http_support::start_server_with(model.to_str().unwrap(), &["--kv-cache-memory", "16MiB", "--max-model-len", "96"]).await;
    let client = reqwest::Client::new();
    let strategy = prop_oneof![
        (Just("/v1/chat/completions"), mutated(valid_chat)),
        (Just("/v1/completions"), mutated(valid_completion)),
        (Just("/generate"), mutated(valid_generate)),
        (prop::sample::select(&["/v1/chat/completions", "/v1/completions", "/generate", "/tokenize", "/detokenize"][..]), json_value()),
    ];
    let mut gen = runner(300);
    let bodies: Vec<(&str, Value)> =
        (0..gen.config().cases).map(|_| strategy.new_tree(&mut gen).unwrap().current()).collect();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (path, body) in &bodies {
        let r = client.post(format!("{base}{path}")).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(status < 500, "{status} for {path} {body}: {text}");
        if status >= 400 {
            let err: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not an error object: {text}"));
            assert!(err["error"]["message"].is_string(), "{text}");
        }
        *by_status.entry(status).or_default() += 1;
    }
    eprintln!("{} bodies over HTTP, by status: {by_status:?}", bodies.len());
    assert!(by_status.get(&200).copied().unwrap_or(0) > 20, "{by_status:?}");
    let ok = client.post(format!("{base}/v1/completions")).json(&valid_completion()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

/// Cut points as fractions of a length, so one strategy serves any text.
fn cuts() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0f64..1.0, 0..8)
}

fn byte_cuts(len: usize, fractions: &[f64]) -> Vec<usize> {
    let mut at: Vec<usize> = fractions.iter().map(|f| (f * len as f64) as usize).collect();
    at.sort_unstable();
    at.dedup();
    at
}

#[test]
fn the_detokenizer_gives_the_same_text_however_the_bytes_are_cut() {
    runner(6000)
        .run(&(prop::collection::vec(any::<u8>(), 0..64), cuts()), |(bytes, fractions)| {
            let mut detok = IncrementalDetokenizer::new();
            let mut out = String::new();
            let mut start = 0;
            for cut in byte_cuts(bytes.len(), &fractions).into_iter().chain([bytes.len()]) {
                out.push_str(&detok.push_bytes(&bytes[start..cut]));
                start = cut;
            }
            out.push_str(&detok.finish());
            prop_assert_eq!(out, String::from_utf8_lossy(&bytes).into_owned());
            Ok(())
        })
        .unwrap();
}

/// Text with stop-string material: tags, brackets, multi-byte chars.
fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&["a", "b", "<", ">", "/", "think", "<think>", "</think>", " ", "\n", "é", "😀", "ab", "END"][..]), 0..max)
        .prop_map(|parts| parts.concat())
}

fn stream_stops(stops: &[String], pieces: &[&str]) -> (String, bool) {
    let mut matcher = StopStrings::new(stops);
    let mut out = String::new();
    for piece in pieces {
        out.push_str(&matcher.push(piece).text);
        if matcher.stopped() {
            return (out, true);
        }
    }
    out.push_str(&matcher.finish());
    (out, matcher.stopped())
}

#[test]
fn stop_strings_match_the_same_however_the_text_is_cut() {
    let stops = prop::collection::vec("[ab<>/é]{1,4}|END|</think>", 0..4);
    runner(6000)
        .run(&(tricky_text(24), stops, cuts()), |(text, stops, fractions)| {
            let whole = stream_stops(&stops, &[&text]);
            let mut at: Vec<usize> = byte_cuts(text.len(), &fractions).into_iter().filter(|&i| text.is_char_boundary(i)).collect();
            at.dedup();
            let pieces = text_support::cut_at(&text, &at);
            prop_assert_eq!(stream_stops(&stops, &pieces), whole.clone());
            // And the matched text is cut at the earliest complete stop string.
            if whole.1 {
                prop_assert!(stops.iter().any(|s| text[whole.0.len()..].starts_with(s.as_str())), "{:?} {:?}", text, stops);
            }
            Ok(())
        })
        .unwrap();
}

/// The reasoning split through the whole pipeline (detokenizer → stops → parser): byte
/// tokens, or greedy tokens with the tags as single ids, give the reference split in
/// text mode; in token mode the greedy ids give it too.
#[test]
fn the_reasoning_split_is_the_same_for_every_tokenization() {
    let vocab = FakeVocab::new();
    runner(3000)
        .run(&(tricky_text(32), any::<bool>()), |(text, starts_in_reasoning)| {
            let expected = reference_split(&text, starts_in_reasoning);
            let byte_ids: Vec<u32> = text.bytes().map(u32::from).collect();
            let greedy = vocab.encode(&text);
            for (ids, token_mode) in [(&byte_ids, false), (&greedy, false), (&greedy, true)] {
                let config = TextPipelineConfig {
                    skip_special_tokens: true,
                    stop: Vec::new(),
                    reasoning: Some(ReasoningConfig {
                        think_token_ids: token_mode.then_some(ThinkTokenIds { open: OPEN, close: CLOSE }),
                        starts_in_reasoning,
                    }),
                };
                let mut pipeline = TextPipeline::new(&vocab, &config);
                let (mut reasoning, mut content) = (String::new(), String::new());
                for &id in ids {
                    let d = pipeline.push(id);
                    reasoning.push_str(&d.reasoning);
                    content.push_str(&d.content);
                }
                let d = pipeline.finish();
                reasoning.push_str(&d.reasoning);
                content.push_str(&d.content);
                let got = (pipeline.has_reasoning().then_some(reasoning), content);
                prop_assert_eq!(&got, &expected, "text {:?}, token mode {}", text, token_mode);
            }
            Ok(())
        })
        .unwrap();
}
