//! SGLang's native `POST /generate`, so an SGLang-based RL framework (slime, verl's
//! SGLang rollout) drives ponder unchanged. Returns raw text (no reasoning split),
//! `output_ids` and `meta_info`; a list when the request held a list of prompts or
//! `n > 1` (entry `p * n + j` is sample `j` of prompt `p`). Streaming sends SGLang's
//! cumulative chunks (`text` and `output_ids` so far), then `data: [DONE]`.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream;
use serde_json::{json, Value};

use super::body::JsonBody;
use super::collect::{collect, Acc};
use super::completions::{raw_prompts, tokenize};
use super::submit::{submit, Prompt};
use crate::error::ApiError;
use crate::generation::{ChoiceConfig, Generation};
use crate::protocol::generate::GenerateRequest;
use crate::protocol::{ChoiceOutput, FinishReason, ResponseMeta, StopReason, TokenLogprob};
use crate::state::SharedState;
use crate::text::{ReasoningConfig, TextPipelineConfig};

/// The handler: validate, tokenize, submit, then stream or collect.
pub async fn generate(State(state): State<SharedState>, JsonBody(body): JsonBody) -> Response {
    match handle(state, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: SharedState, body: Value) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req = GenerateRequest::parse(&body)?;
    req.params.check_vocab(state.vocab_size)?;
    req.params.check_num_seqs(req.prompts.len()).map_err(|mut e| {
        e.param = Some("sampling_params.n".into());
        e
    })?;
    state.check_structured_output(req.params.structured_output.as_ref())?;
    let input_param = if matches!(req.prompts[0], crate::protocol::PromptInput::Text(_)) { "text" } else { "input_ids" };
    let tokenized = tokenize(&state, req.prompts, false).await.map_err(|e| rename(e, input_param))?;
    let prompts = raw_prompts(&state, tokenized, &req.params, input_param, "sampling_params.max_new_tokens")?;
    let choice = ChoiceConfig {
        pipeline: TextPipelineConfig {
            skip_special_tokens: req.params.skip_special_tokens,
            stop: req.params.stop.clone(),
            reasoning: Some(ReasoningConfig { think_token_ids: state.tokenizer.think_token_ids().map(Into::into), starts_in_reasoning: false }),
        },
        split_reasoning: false,
        include_reasoning: false,
        logprobs: req.return_logprob,
        return_token_ids: true,
        legacy_logprobs: false,
        prompt_logprobs: req.logprob_start_len.is_some(),
        prompt_ids: None,
        echo: None,
        discard_output: false,
    };
    let generation = submit(&state, &prompts, &req.params, &choice, started, "generate", req.rid.as_deref()).await?;
    let shape = Shape { n: req.params.n, list: req.batch || req.params.n > 1, logprob_start_len: req.logprob_start_len, started };
    if req.params.stream {
        return Ok(stream_response(generation, prompts, shape));
    }
    let (choices, generation) = collect(generation, true).await?;
    let meta = generation.meta().clone();
    let outputs: Vec<Value> = choices.iter().map(|c| output(&meta, c, true, &prompts[c.index / shape.n], &shape)).collect();
    if shape.list {
        return Ok(Json(Value::Array(outputs)).into_response());
    }
    // One prompt, one sample: SGLang's bare object (no `index`).
    let mut one = outputs.into_iter().next().unwrap_or(Value::Null);
    if let Value::Object(m) = &mut one {
        m.remove("index");
    }
    Ok(Json(one).into_response())
}

fn rename(mut e: ApiError, param: &str) -> ApiError {
    if e.param.as_deref() == Some("prompt") {
        e.param = Some(param.to_owned());
    }
    e
}

/// How the answer is laid out.
#[derive(Debug, Clone, Copy)]
struct Shape {
    n: usize,
    /// Answer with a list (a batch of prompts or `n > 1`).
    list: bool,
    logprob_start_len: Option<usize>,
    started: Instant,
}

/// One SGLang output object for `c` (the full result, or a stream's state so far:
/// `finish_reason` is `null` until `finished`).
fn output(meta: &ResponseMeta, c: &ChoiceOutput, finished: bool, prompt: &Prompt, shape: &Shape) -> Value {
    let ids = c.token_ids.clone().unwrap_or_default();
    let finish_reason = finished.then(|| finish_json(c, &ids));
    let mut meta_info = json!({
        "id": meta.id,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt.ids.len(),
        "completion_tokens": ids.len(),
        "cached_tokens": 0,
        "reasoning_tokens": c.reasoning_tokens,
        "weight_version": meta.weight_version,
        "e2e_latency": shape.started.elapsed().as_secs_f64(),
    });
    if let Some(spans) = &c.weight_versions {
        meta_info["weight_versions"] = json!(spans);
    }
    if let Some(logprobs) = &c.logprobs {
        meta_info["output_token_logprobs"] = Value::Array(logprobs.iter().map(triple).collect());
        meta_info["output_top_logprobs"] =
            Value::Array(logprobs.iter().map(|l| Value::Array(l.top_logprobs.iter().map(|t| json!([t.logprob, t.token_id, t.token])).collect())).collect());
    }
    if let (Some(start), Some(scores)) = (shape.logprob_start_len, &c.prompt_logprobs) {
        // Position 0 has no score; position i is scores[i - 1].
        let entries = (start..prompt.ids.len()).map(|i| match i.checked_sub(1).and_then(|j| scores.get(j)) {
            Some(s) => triple(s),
            None => json!([null, prompt.ids[i], null]),
        });
        meta_info["input_token_logprobs"] = Value::Array(entries.collect());
    }
    json!({"index": c.index, "text": c.content, "output_ids": ids, "meta_info": meta_info})
}

/// SGLang's `[logprob, token_id, text]`.
fn triple(l: &TokenLogprob) -> Value {
    json!([l.logprob, l.token_id, l.token])
}

/// SGLang's `finish_reason`: `{"type": "length", "length": n}`, `{"type": "stop",
/// "matched": <stop string or token id; the EOS id>}` or `{"type": "abort"}`.
fn finish_json(c: &ChoiceOutput, ids: &[u32]) -> Value {
    match c.finish {
        FinishReason::Length => json!({"type": "length", "length": ids.len()}),
        FinishReason::Abort => json!({"type": "abort", "message": "aborted"}),
        FinishReason::Stop => match &c.stop_reason {
            Some(StopReason::Text(s)) => json!({"type": "stop", "matched": s}),
            Some(StopReason::Token(id)) => json!({"type": "stop", "matched": id}),
            None => json!({"type": "stop", "matched": ids.last()}),
        },
    }
}

/// Streams SGLang's cumulative chunks: after every engine event, one chunk per choice
/// that changed, holding its text and ids so far.
fn stream_response(generation: Generation, prompts: Vec<Prompt>, shape: Shape) -> Response {
    let acc = (0..generation.choices().len()).map(|_| Acc::default()).collect();
    let state = StreamState { generation, prompts, shape, acc, queue: Vec::new(), done: false };
    let events = stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.queue.pop() {
                return Some((Ok::<_, Infallible>(event), s));
            }
            if s.done {
                return None;
            }
            s.pull().await;
        }
    });
    Sse::new(events).into_response()
}

struct StreamState {
    generation: Generation,
    prompts: Vec<Prompt>,
    shape: Shape,
    acc: Vec<Acc>,
    /// Events to send, last first.
    queue: Vec<Event>,
    done: bool,
}

impl StreamState {
    async fn pull(&mut self) {
        let mut events = Vec::new();
        match self.generation.next().await {
            Some(Ok(deltas)) => {
                let meta = self.generation.meta().clone();
                for d in deltas {
                    let i = d.index;
                    let (Some(a), Some(choice)) = (self.acc.get_mut(i), self.generation.choices().get(i)) else { continue };
                    if d.content.is_none() && d.finish.is_none() {
                        continue;
                    }
                    a.add(d);
                    let so_far = a.output(choice, true);
                    let prompt = &self.prompts[i / self.shape.n];
                    events.push(Event::default().data(output(&meta, &so_far, choice.finish.is_some(), prompt, &self.shape).to_string()));
                }
            }
            Some(Err(e)) => {
                self.generation.metrics().count_rejection(e.reason());
                events.push(Event::default().data(e.to_json().to_string()));
                events.push(Event::default().data("[DONE]"));
                self.done = true;
            }
            None => {
                events.push(Event::default().data("[DONE]"));
                self.done = true;
            }
        }
        events.reverse();
        self.queue = events;
    }
}
