//! One streaming request: its body, the reading of each SSE chunk, and the arrival
//! time of every chunk per choice.
//!
//! A chunk carries a token for a choice when its text is non-empty: `delta.content`,
//! `delta.reasoning_content` or `delta.reasoning` (chat), `text` (completions).
//! Role-only and finish-only chunks carry none (ponder sends the role chunk before
//! prefill, so counting it would make TTFT meaningless). The *answer* starts at the
//! first non-empty `content` (chat) or `text` (completions, which have no reasoning).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};

use super::args::Endpoint;
use super::dataset::RequestSpec;
use crate::sse::SseReader;

/// Settings shared by every request of a run.
#[derive(Debug, Clone)]
pub struct BodySettings {
    pub endpoint: Endpoint,
    pub model: Option<String>,
    pub temperature: f32,
    pub ignore_eos: bool,
}

/// The streaming request body for `spec`, asking for the usage chunk.
pub fn request_body(settings: &BodySettings, spec: &RequestSpec) -> Value {
    let mut body = json!({
        "max_tokens": spec.max_tokens,
        "temperature": settings.temperature,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    match settings.endpoint {
        Endpoint::Chat => body["messages"] = json!([{"role": "user", "content": spec.prompt}]),
        Endpoint::Completions => body["prompt"] = json!(spec.prompt),
    }
    if spec.n > 1 {
        body["n"] = json!(spec.n);
    }
    if let Some(model) = &settings.model {
        body["model"] = json!(model);
    }
    if settings.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    body
}

/// What one choice of a chunk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChoiceDelta {
    pub index: usize,
    /// Non-empty reasoning text.
    pub reasoning: bool,
    /// Non-empty answer text (`content`, or `text` for completions).
    pub answer: bool,
    /// `finish_reason` is set.
    pub finished: bool,
}

impl ChoiceDelta {
    /// Whether the chunk carries a token for this choice.
    pub fn has_token(&self) -> bool {
        self.reasoning || self.answer
    }
}

/// `usage` of the final chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: u64,
}

/// Reads the choices, usage and error of one chunk object.
pub fn parse_chunk(chunk: &Value) -> anyhow::Result<(Vec<ChoiceDelta>, Option<Usage>)> {
    if !chunk["error"].is_null() {
        bail!("error in stream: {}", chunk["error"]);
    }
    let nonempty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let choices = chunk["choices"].as_array().map(Vec::as_slice).unwrap_or_default();
    let deltas = choices
        .iter()
        .map(|c| {
            let d = &c["delta"];
            ChoiceDelta {
                index: c["index"].as_u64().unwrap_or(0) as usize,
                reasoning: nonempty(&d["reasoning_content"]) || nonempty(&d["reasoning"]),
                answer: nonempty(&d["content"]) || nonempty(&c["text"]),
                finished: !c["finish_reason"].is_null(),
            }
        })
        .collect();
    let usage = chunk["usage"]["completion_tokens"].as_u64().map(|completion_tokens| Usage {
        prompt_tokens: chunk["usage"]["prompt_tokens"].as_u64(),
        completion_tokens,
    });
    Ok((deltas, usage))
}

/// Arrival times of one choice's chunks, in ms since the request was sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChoiceTimeline {
    /// Arrival of every token-bearing chunk, in order.
    pub token_ms: Vec<f64>,
    /// Arrival of the first chunk with answer text.
    pub first_answer_ms: Option<f64>,
    /// Arrival of the last chunk naming this choice (token or finish).
    pub last_ms: f64,
}

/// Everything measured on one response stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamTimeline {
    /// Per choice index.
    pub choices: BTreeMap<usize, ChoiceTimeline>,
    pub usage: Option<Usage>,
}

impl StreamTimeline {
    /// Records the chunk `deltas` that arrived `at_ms` after the request was sent.
    pub fn observe(&mut self, at_ms: f64, deltas: &[ChoiceDelta]) {
        for d in deltas.iter().filter(|d| d.has_token() || d.finished) {
            let c = self.choices.entry(d.index).or_default();
            if d.has_token() {
                c.token_ms.push(at_ms);
            }
            if d.answer && c.first_answer_ms.is_none() {
                c.first_answer_ms = Some(at_ms);
            }
            c.last_ms = at_ms;
        }
    }
}

/// Sends `body` to `url` and times its stream. Errors on transport failures,
/// non-2xx statuses (with the body), malformed chunks and in-stream errors.
pub async fn stream(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<StreamTimeline> {
    let sent = Instant::now();
    let resp = client.post(url).json(body).send().await?;
    let status = resp.status();
    if !status.is_success() {
        bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    let mut bytes_stream = resp.bytes_stream();
    let mut reader = SseReader::default();
    let mut timeline = StreamTimeline::default();
    while let Some(bytes) = bytes_stream.next().await {
        let bytes = bytes?;
        let at_ms = sent.elapsed().as_secs_f64() * 1000.0;
        for data in reader.push(&bytes) {
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(&data).with_context(|| format!("bad chunk {data}"))?;
            let (deltas, usage) = parse_chunk(&chunk)?;
            timeline.observe(at_ms, &deltas);
            timeline.usage = usage.or(timeline.usage);
        }
    }
    Ok(timeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_chunks_separate_reasoning_from_answer() {
        let chunk = json!({"choices": [
            {"index": 0, "delta": {"reasoning_content": "hmm"}, "finish_reason": null},
            {"index": 1, "delta": {"content": "4"}, "finish_reason": null},
            {"index": 2, "delta": {"reasoning": "so", "content": ""}, "finish_reason": null},
            {"index": 3, "delta": {"role": "assistant", "content": ""}, "finish_reason": null},
            {"index": 4, "delta": {}, "finish_reason": "stop"}]});
        let (d, usage) = parse_chunk(&chunk).unwrap();
        let flags: Vec<(usize, bool, bool, bool)> = d.iter().map(|c| (c.index, c.reasoning, c.answer, c.finished)).collect();
        assert_eq!(
            flags,
            vec![(0, true, false, false), (1, false, true, false), (2, true, false, false), (3, false, false, false), (4, false, false, true)]
        );
        assert_eq!(usage, None);
    }

    #[test]
    fn completion_chunks_and_the_usage_chunk_are_read() {
        let (d, _) = parse_chunk(&json!({"choices": [{"index": 1, "text": " the", "finish_reason": null}]})).unwrap();
        assert_eq!(d, vec![ChoiceDelta { index: 1, answer: true, ..Default::default() }]);
        let (d, u) =
            parse_chunk(&json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}))
                .unwrap();
        assert!(d.is_empty());
        assert_eq!(u, Some(Usage { prompt_tokens: Some(9), completion_tokens: 12 }));
        assert!(parse_chunk(&json!({"error": {"message": "boom"}})).is_err());
    }

    #[test]
    fn the_timeline_keeps_token_times_per_choice_and_the_first_answer() {
        let reasoning = |index| ChoiceDelta { index, reasoning: true, ..Default::default() };
        let answer = |index| ChoiceDelta { index, answer: true, ..Default::default() };
        let finish = |index| ChoiceDelta { index, finished: true, ..Default::default() };
        let role = ChoiceDelta::default();
        let mut t = StreamTimeline::default();
        t.observe(1.0, &[role]);
        t.observe(10.0, &[reasoning(0), reasoning(1)]);
        t.observe(20.0, &[answer(1)]);
        t.observe(30.0, &[answer(0), finish(1)]);
        t.observe(35.0, &[answer(0)]);
        t.observe(40.0, &[finish(0)]);
        let c0 = &t.choices[&0];
        assert_eq!((c0.token_ms.as_slice(), c0.first_answer_ms, c0.last_ms), (&[10.0, 30.0, 35.0][..], Some(30.0), 40.0));
        let c1 = &t.choices[&1];
        assert_eq!((c1.token_ms.as_slice(), c1.first_answer_ms, c1.last_ms), (&[10.0, 20.0][..], Some(20.0), 30.0));
    }

    #[test]
    fn bodies_differ_by_endpoint_and_carry_n_only_above_one() {
        let settings = BodySettings { endpoint: Endpoint::Completions, model: None, temperature: 0.0, ignore_eos: true };
        let spec = RequestSpec { prompt_index: 0, prompt: "hi".into(), max_tokens: 5, n: 1 };
        let body = request_body(&settings, &spec);
        assert_eq!(body["prompt"], json!("hi"));
        assert!(body.get("messages").is_none() && body.get("n").is_none() && body.get("model").is_none());
        assert_eq!((&body["stream_options"]["include_usage"], &body["ignore_eos"]), (&json!(true), &json!(true)));
        let chat = BodySettings { endpoint: Endpoint::Chat, model: Some("m".into()), ..settings };
        let body = request_body(&chat, &RequestSpec { n: 4, ..spec });
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!((&body["n"], &body["model"], &body["max_tokens"]), (&json!(4), &json!("m"), &json!(5)));
    }
}
