//! Over real HTTP, on the tiny reasoner: the token-exact API an RL framework uses —
//! completions' legacy `logprobs` and `echo` scoring, vLLM's `prompt_logprobs`,
//! `stop_reason`, `return_token_ids` while streaming, `/tokenize` and `/detokenize`,
//! and SGLang's `/generate` (written against SGLang's documented schema).

mod http_support;

use std::path::PathBuf;

use serde_json::{json, Value};

const PROMPT: &str = "<｜begin▁of▁sentence｜><｜User｜>What is 347 + 589?<｜Assistant｜><think>\n";

fn tiny_reasoner() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner")
}

async fn start() -> String {
    http_support::start_server_with(tiny_reasoner().to_str().unwrap(), &["--kv-cache-memory", "16MiB"]).await
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// SSE `data:` payloads until `[DONE]`.
async fn sse(client: &reqwest::Client, url: String, body: Value) -> Vec<Value> {
    let response = client.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut out = Vec::new();
    http_support::read_stream(response, |chunk| out.push(chunk.clone())).await;
    out
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_logprobs_echo_scoring_and_prompt_logprobs_agree_bit_for_bit() {
    let base = start().await;
    let client = reqwest::Client::new();
    // A sampled continuation with its logprobs, in the legacy format.
    let body = json!({"prompt": PROMPT, "max_tokens": 12, "temperature": 1.0, "seed": 7, "logprobs": 2, "return_token_ids": true});
    let (status, gen) = post(&client, format!("{base}/v1/completions"), body).await;
    assert_eq!(status, 200, "{gen}");
    let choice = &gen["choices"][0];
    let ids: Vec<u32> = choice["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let lp = &choice["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), ids.len());
    let sampled = f32s(&lp["token_logprobs"]);
    assert!(sampled.iter().all(|l| l.is_finite() && *l <= 0.0), "{lp}");
    let offsets: Vec<u64> = lp["text_offset"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(offsets[0], 0);
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    for (i, top) in lp["top_logprobs"].as_array().unwrap().iter().enumerate() {
        let top = top.as_object().unwrap();
        assert!(top.len() <= 3 && top.contains_key(lp["tokens"][i].as_str().unwrap()), "{top:?}");
    }

    // Scoring prompt + continuation (echo, max_tokens 0) gives the same f32 values.
    let prompt_ids: Vec<u32> = gen["prompt_token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let full: Vec<u32> = prompt_ids.iter().chain(&ids).copied().collect();
    let body = json!({"prompt": full, "max_tokens": 0, "echo": true, "logprobs": 0});
    let (status, scored) = post(&client, format!("{base}/v1/completions"), body).await;
    assert_eq!(status, 200, "{scored}");
    let c = &scored["choices"][0];
    assert_eq!(c["finish_reason"], "length");
    assert_eq!(scored["usage"]["completion_tokens"], 0);
    let token_logprobs = c["logprobs"]["token_logprobs"].as_array().unwrap();
    assert_eq!(token_logprobs.len(), full.len());
    assert!(token_logprobs[0].is_null(), "the first token has no score");
    let tail = f32s(&Value::Array(token_logprobs[prompt_ids.len()..].to_vec()));
    assert_eq!(tail, sampled, "teacher-forced scores equal the sampled tokens' logprobs");
    // The echoed text is the prompt's decoding.
    let (_, detok) = post(&client, format!("{base}/detokenize"), json!({"tokens": full})).await;
    assert_eq!(c["text"], detok["prompt"]);

    // vLLM's prompt_logprobs on chat: a leading null, the prompt token in each dict with its rank.
    let body = json!({"messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 1, "prompt_logprobs": 2, "return_token_ids": true});
    let (status, chat) = post(&client, format!("{base}/v1/chat/completions"), body).await;
    assert_eq!(status, 200, "{chat}");
    let positions = chat["prompt_logprobs"].as_array().unwrap();
    let chat_prompt = chat["prompt_token_ids"].as_array().unwrap();
    assert_eq!(positions.len(), chat_prompt.len());
    assert!(positions[0].is_null());
    for (pos, id) in positions.iter().zip(chat_prompt).skip(1) {
        let entry = &pos[id.as_u64().unwrap().to_string()];
        assert!(entry["logprob"].as_f64().unwrap() <= 0.0 && entry["rank"].as_u64().unwrap() >= 1, "{pos}");
        assert!(pos.as_object().unwrap().len() <= 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reason_streamed_token_ids_and_tokenize() {
    let base = start().await;
    let client = reqwest::Client::new();
    let greedy = json!({"prompt": PROMPT, "max_tokens": 30, "temperature": 0, "return_token_ids": true});
    let (_, whole) = post(&client, format!("{base}/v1/completions"), greedy.clone()).await;
    let ids = whole["choices"][0]["token_ids"].as_array().unwrap().clone();
    assert_eq!(whole["choices"][0]["stop_reason"], Value::Null);

    // Streaming: the first chunk carries the prompt ids; the chunks' ids add up.
    let mut body = greedy.clone();
    body["stream"] = json!(true);
    let chunks = sse(&client, format!("{base}/v1/completions"), body).await;
    assert_eq!(chunks[0]["choices"][0]["prompt_token_ids"], whole["prompt_token_ids"]);
    let streamed: Vec<Value> = chunks.iter().flat_map(|c| c["choices"][0]["token_ids"].as_array().cloned().unwrap_or_default()).collect();
    assert_eq!(streamed, ids);

    // A stop token id, then a stop string, is the stop_reason.
    let stop_id = ids[5].as_u64().unwrap();
    let mut body = greedy.clone();
    body["stop_token_ids"] = json!([stop_id]);
    let (_, out) = post(&client, format!("{base}/v1/completions"), body).await;
    assert_eq!((&out["choices"][0]["finish_reason"], &out["choices"][0]["stop_reason"]), (&json!("stop"), &json!(stop_id)));
    let mut body = greedy.clone();
    body["stop"] = json!(["+"]);
    let (_, out) = post(&client, format!("{base}/v1/completions"), body).await;
    assert_eq!(out["choices"][0]["stop_reason"], "+", "{out}");

    // /tokenize of the chat messages gives the ids chat completions uses.
    let messages = json!([{"role": "user", "content": "What is 2 + 3?"}]);
    let (_, chat) = post(&client, format!("{base}/v1/chat/completions"), json!({"messages": messages, "max_tokens": 1, "return_token_ids": true})).await;
    let (status, tok) = post(&client, format!("{base}/tokenize"), json!({"messages": messages, "return_token_strs": true})).await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["tokens"], chat["prompt_token_ids"]);
    assert_eq!(tok["count"], json!(tok["tokens"].as_array().unwrap().len()));
    assert_eq!(tok["token_strs"].as_array().unwrap().len(), tok["tokens"].as_array().unwrap().len());
    let (_, tok) = post(&client, format!("{base}/tokenize"), json!({"prompt": PROMPT, "add_special_tokens": false})).await;
    assert_eq!(tok["tokens"], whole["prompt_token_ids"]);
    let (_, detok) = post(&client, format!("{base}/detokenize"), json!({"tokens": tok["tokens"]})).await;
    assert_eq!(detok["prompt"], PROMPT);
    for (path, body, param) in [
        ("/tokenize", json!({}), "prompt"),
        ("/tokenize", json!({"prompt": 5}), "prompt"),
        ("/detokenize", json!({"tokens": [1, 99999]}), "tokens"),
        ("/detokenize", json!({"tokens": "a"}), "tokens"),
    ] {
        let (status, err) = post(&client, format!("{base}{path}"), body).await;
        assert_eq!((status, &err["error"]["param"]), (400, &json!(param)), "{path}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sglang_generate_matches_completions_and_streams_cumulatively() {
    let base = start().await;
    let client = reqwest::Client::new();
    // An SGLang client's request, as SGLang documents it.
    let body = json!({
        "text": PROMPT,
        "sampling_params": {"max_new_tokens": 16, "temperature": 0.8, "top_p": 0.95, "sampling_seed": 11, "skip_special_tokens": true},
        "return_logprob": true, "top_logprobs_num": 2,
    });
    let (status, out) = post(&client, format!("{base}/generate"), body.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert!(out.get("index").is_none(), "one prompt, one sample: SGLang's bare object");
    let meta = &out["meta_info"];
    let output_ids = out["output_ids"].as_array().unwrap();
    assert_eq!(meta["completion_tokens"], json!(output_ids.len()));
    assert!(meta["prompt_tokens"].as_u64().unwrap() > 5);
    assert_eq!(meta["finish_reason"]["type"], "length");
    assert!(meta["weight_version"].is_string() && meta["id"].is_string());
    let triples = meta["output_token_logprobs"].as_array().unwrap();
    assert_eq!(triples.len(), output_ids.len());
    for (t, id) in triples.iter().zip(output_ids) {
        assert_eq!(&t[1], id);
    }
    // The same seeded sample through /v1/completions: same ids, same f32 logprobs.
    let cmpl = json!({"prompt": PROMPT, "max_tokens": 16, "temperature": 0.8, "top_p": 0.95, "seed": 11, "logprobs": 0, "return_token_ids": true});
    let (_, c) = post(&client, format!("{base}/v1/completions"), cmpl).await;
    assert_eq!(&c["choices"][0]["token_ids"], &out["output_ids"]);
    assert_eq!(&c["choices"][0]["text"], &out["text"]);
    let lp: Vec<Value> = triples.iter().map(|t| t[0].clone()).collect();
    assert_eq!(f32s(&c["choices"][0]["logprobs"]["token_logprobs"]), f32s(&Value::Array(lp)));

    // A batch of id prompts with n = 2: a list of 4, prompt-major; input logprobs from 0.
    let (_, tok) = post(&client, format!("{base}/tokenize"), json!({"prompt": PROMPT, "add_special_tokens": false})).await;
    let ids = tok["tokens"].clone();
    let batch = json!({"input_ids": [ids, ids], "sampling_params": {"max_new_tokens": 4, "n": 2, "temperature": 0}, "return_logprob": true, "logprob_start_len": 0});
    let (status, list) = post(&client, format!("{base}/generate"), batch).await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert!(list.iter().all(|o| o["output_ids"] == list[0]["output_ids"]), "greedy samples agree");
    let input = list[0]["meta_info"]["input_token_logprobs"].as_array().unwrap();
    assert_eq!(input.len(), ids.as_array().unwrap().len());
    assert!(input[0][0].is_null() && input[1][0].as_f64().unwrap() <= 0.0);

    // Streaming: cumulative text and ids, the finish reason on the last chunk.
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let chunks = sse(&client, format!("{base}/generate"), stream_body).await;
    let last = chunks.last().unwrap();
    assert_eq!(&last["text"], &out["text"]);
    assert_eq!(&last["output_ids"], &out["output_ids"]);
    assert_eq!(last["meta_info"]["finish_reason"]["type"], "length");
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["meta_info"]["finish_reason"].is_null()));
    assert!(chunks.windows(2).all(|w| w[1]["text"].as_str().unwrap().starts_with(w[0]["text"].as_str().unwrap())));

    for (body, param) in [
        (json!({"text": PROMPT, "sampling_params": {"max_new_tokens": -1}}), "sampling_params.max_new_tokens"),
        (json!({"text": PROMPT, "sampling_params": {"frequency_penalty": 9}}), "sampling_params.frequency_penalty"),
        (json!({"text": PROMPT, "sampling_params": {"lora_path": "x"}}), "sampling_params.lora_path"),
        (json!({"input_ids": [1, 999999]}), "input_ids"),
        (json!({"text": PROMPT, "sampling_params": {"max_new_tokens": 100000}}), "sampling_params.max_new_tokens"),
    ] {
        let (status, err) = post(&client, format!("{base}/generate"), body.clone()).await;
        assert_eq!((status, &err["error"]["param"]), (400, &json!(param)), "{body}: {err}");
    }
}

/// 64 requests at once, 16 of them seeded targets: each target's ids and f32 logprobs
/// are bit-identical to the same request sent alone; choice 3 of `n = 8` equals a lone
/// request with `seed + 3`. (With `--no-batch-invariance` the first target differs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_requests_are_bit_identical_alone_and_among_64_concurrent_ones() {
    let base = start().await;
    let client = reqwest::Client::new();
    let questions = ["What is 347 + 589?", "Compute 812 - 275.", "What is 9 × 66?", "Subtract 15 from 75."];
    let target = |i: usize| {
        let prompt = format!("<｜begin▁of▁sentence｜><｜User｜>{}<｜Assistant｜><think>\n", questions[i % 4]);
        json!({"prompt": prompt, "max_tokens": 24, "temperature": 1.0, "top_p": 0.95, "seed": 1000 + i, "logprobs": 1, "return_token_ids": true, "ignore_eos": true})
    };
    let key = |v: &Value| (v["choices"][0]["token_ids"].clone(), v["choices"][0]["logprobs"]["token_logprobs"].clone());
    let mut alone = Vec::new();
    for i in 0..16 {
        let (status, v) = post(&client, format!("{base}/v1/completions"), target(i)).await;
        assert_eq!(status, 200, "{v}");
        alone.push(key(&v));
    }
    let mut tasks = Vec::new();
    for i in 0..64 {
        let body = if i % 4 == 0 {
            target(i / 4)
        } else {
            // Others: other prompts, lengths and sampling settings.
            let words = "one two three four five six seven eight nine ten ".repeat(1 + i % 7);
            json!({"prompt": words, "max_tokens": 8 + i % 29, "temperature": 0.7, "seed": i, "ignore_eos": true})
        };
        let (client, url) = (client.clone(), format!("{base}/v1/completions"));
        tasks.push(tokio::spawn(async move { post(&client, url, body).await }));
    }
    let mut together = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
        if i % 4 == 0 {
            together.push(key(&v));
        }
    }
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a, b, "target {i} changed beside 63 other requests");
    }

    let mut group = target(0);
    group["n"] = json!(8);
    let (_, g) = post(&client, format!("{base}/v1/completions"), group).await;
    let mut lone = target(0);
    lone["seed"] = json!(1003);
    let (_, l) = post(&client, format!("{base}/v1/completions"), lone).await;
    let choice3 = g["choices"].as_array().unwrap().iter().find(|c| c["index"] == 3).unwrap();
    assert_eq!((&choice3["token_ids"], &choice3["logprobs"]["token_logprobs"]), (&l["choices"][0]["token_ids"], &l["choices"][0]["logprobs"]["token_logprobs"]));
}

/// Oversize inputs are refused before the expensive work, each naming its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_inputs_are_refused_before_tokenizing() {
    let base = start().await;
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/completions");
    // 3 MB of text cannot fit 512 tokens of the tiny reasoner's vocabulary.
    let (status, err) = post(&client, url.clone(), json!({"prompt": "7".repeat(3_000_000), "max_tokens": 1})).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("prompt")), "{err}");
    let messages = json!([{"role": "user", "content": "7".repeat(3_000_000)}]);
    let (status, err) = post(&client, format!("{base}/v1/chat/completions"), json!({"messages": messages})).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("messages")), "{err}");
    let (status, err) = post(&client, url, json!({"prompt": vec!["hi"; 1000], "n": 128})).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("n")), "{err}");
    // Over the 4 MiB default: the server answers 413 from Content-Length, before the
    // body. Sent by hand, since a client still writing 5 MiB may see its pipe closed
    // before it reads that answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let head = format!("POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{", 5 << 20);
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut reply)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}
