//! A request in flight, seen from its HTTP handler: engine events in, per-choice
//! deltas out. Owns the `RequestGuard`, so dropping a `Generation` (client gone)
//! aborts the request in the engine.

mod choice;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ponder_engine::SeqId;

pub use choice::{Choice, ChoiceConfig};

use crate::engine::{EngineEvent, EventStream, Expiry, Rejection, RequestGuard};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::protocol::{ChunkDelta, ResponseMeta, Usage};

/// A submitted request and the state of each of its choices.
pub struct Generation {
    /// `None` once dropped on purpose (every choice ended here; abort the rest).
    guard: Option<RequestGuard>,
    events: EventStream,
    choices: Vec<Choice>,
    /// Engine sequence → index into `choices`.
    by_seq: HashMap<SeqId, usize>,
    prompt_tokens: usize,
    metrics: Metrics,
    started: Instant,
    /// Seconds from arrival to the first token, once seen.
    ttft: Option<f64>,
    /// When the engine first scheduled the request (prefill and inference time).
    scheduled_at: Option<Instant>,
    /// When the latest token event arrived (inter-token latency).
    last_token_at: Option<Instant>,
    /// Whether the first answer token was seen (time to first answer token).
    answer_seen: bool,
    /// How the request ended, for its log line: `ok`, or the error's reason.
    status: Option<&'static str>,
    /// `id`, `created`, `model` and the latest `weight_version` of the response.
    meta: ResponseMeta,
    /// When the request must have finished, and the limit it came from.
    deadline: Option<(tokio::time::Instant, std::time::Duration)>,
}

impl Generation {
    /// `seqs[i]` is the engine sequence of `choices[i]`; `prompt_tokens` counts each
    /// prompt once. `started` is the request's arrival time (for latency metrics);
    /// `meta` the response's envelope (its `id` is what `/abort_requests` names).
    pub fn new(
        guard: RequestGuard,
        events: EventStream,
        choices: Vec<(SeqId, Choice)>,
        prompt_tokens: usize,
        metrics: Metrics,
        started: Instant,
        meta: ResponseMeta,
    ) -> Self {
        let by_seq = choices.iter().enumerate().map(|(i, (seq, _))| (*seq, i)).collect();
        let choices = choices.into_iter().map(|(_, c)| c).collect();
        Self { guard: Some(guard), events, choices, by_seq, prompt_tokens, metrics, started, ttft: None, scheduled_at: None, last_token_at: None, answer_seen: false, status: None, meta, deadline: None }
    }

    /// Past `deadline` the request is aborted in the engine and answered with a 408.
    pub fn set_deadline(&mut self, deadline: Option<(tokio::time::Instant, std::time::Duration)>) {
        self.deadline = deadline;
    }

    /// The next engine event, or the timeout error once the deadline passed (the
    /// request is then aborted: dropping the guard frees its blocks).
    async fn recv(&mut self) -> Result<Option<EngineEvent>, ApiError> {
        let Some((at, limit)) = self.deadline else { return Ok(self.events.recv().await) };
        match tokio::time::timeout_at(at, self.events.recv()).await {
            Ok(event) => Ok(event),
            Err(_) => {
                drop(self.guard.take());
                self.deadline = None;
                Err(ApiError::timeout(limit))
            }
        }
    }

    /// Waits for the engine to accept the request (its first event).
    ///
    /// Errors: the engine refused it (429 queue full, 400 can never run) or stopped (503).
    pub async fn accepted(&mut self) -> Result<(), ApiError> {
        let result = self.wait_accepted().await;
        if let Err(e) = &result {
            self.status = Some(e.reason());
        }
        result
    }

    async fn wait_accepted(&mut self) -> Result<(), ApiError> {
        match self.recv().await? {
            Some(EngineEvent::Started { weight_version }) => {
                self.set_weight_version(weight_version);
                Ok(())
            }
            Some(event) => {
                let mut out = Vec::new();
                self.apply(event, &mut out)?;
                Err(ApiError::internal("the engine sent an event before accepting the request"))
            }
            None => Err(ApiError::unavailable("The engine has stopped.")),
        }
    }

    /// The server's metrics (to count a stream's error event).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The response envelope, with the weight version of the latest tokens.
    pub fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    /// Whether every choice has its finish reason.
    pub fn is_done(&self) -> bool {
        self.choices.iter().all(|c| c.finish.is_some())
    }

    /// Waits for the next engine event(s) and returns the resulting deltas (some may
    /// be empty: skip those). `None` once every choice finished.
    ///
    /// Errors: the engine rejected the request (400), a model step failed (500), or
    /// the engine stopped (503).
    pub async fn next(&mut self) -> Option<Result<Vec<ChunkDelta>, ApiError>> {
        let result = self.next_deltas().await;
        if let Some(Err(e)) = &result {
            self.status = Some(e.reason());
        }
        result
    }

    async fn next_deltas(&mut self) -> Option<Result<Vec<ChunkDelta>, ApiError>> {
        if self.is_done() {
            return None;
        }
        let first = loop {
            match self.recv().await {
                Ok(Some(EngineEvent::Scheduled { queued })) => self.on_scheduled(queued),
                Ok(Some(event)) => break event,
                Ok(None) => return Some(Err(ApiError::unavailable("The engine stopped while generating."))),
                Err(timeout) => return Some(Err(timeout)),
            }
        };
        let now = Instant::now();
        if let Some(last) = self.last_token_at.replace(now) {
            self.metrics.inter_token_latency_seconds.observe(now.duration_since(last).as_secs_f64());
        }
        let mut out = Vec::new();
        if let Err(e) = self.apply(first, &mut out) {
            return Some(Err(e));
        }
        while let Ok(event) = self.events.try_recv() {
            if let Err(e) = self.apply(event, &mut out) {
                return Some(Err(e));
            }
        }
        self.settle();
        Some(Ok(out))
    }

    /// The engine scheduled the request after `queued` in its queue.
    fn on_scheduled(&mut self, queued: std::time::Duration) {
        self.scheduled_at = Some(Instant::now());
        self.metrics.request_queue_time_seconds.observe(queued.as_secs_f64());
    }

    fn apply(&mut self, event: EngineEvent, out: &mut Vec<ChunkDelta>) -> Result<(), ApiError> {
        match event {
            EngineEvent::Token(update) => {
                if self.ttft.is_none() {
                    let ttft = self.started.elapsed().as_secs_f64();
                    self.ttft = Some(ttft);
                    self.metrics.time_to_first_token_seconds.observe(ttft);
                    if let Some(at) = self.scheduled_at {
                        self.metrics.request_prefill_time_seconds.observe(at.elapsed().as_secs_f64());
                    }
                }
                if let Some(&i) = self.by_seq.get(&update.seq_id) {
                    let delta = self.choices[i].push(&update);
                    if !self.answer_seen && delta.content.as_deref().is_some_and(|c| !c.is_empty()) {
                        self.answer_seen = true;
                        self.metrics.time_to_first_answer_token_seconds.observe(self.started.elapsed().as_secs_f64());
                    }
                    out.push(delta);
                }
                Ok(())
            }
            EngineEvent::Started { weight_version } | EngineEvent::WeightsUpdated { weight_version } => {
                self.set_weight_version(weight_version);
                Ok(())
            }
            EngineEvent::Scheduled { queued } => {
                self.on_scheduled(queued);
                Ok(())
            }
            EngineEvent::Aborted => {
                self.status = Some("aborted");
                out.extend(self.choices.iter_mut().filter_map(Choice::abort));
                Ok(())
            }
            EngineEvent::Rejected(r @ Rejection::QueueFull { .. }) => Err(ApiError::too_many_requests(r.to_string())),
            EngineEvent::Rejected(r) => Err(ApiError::bad_request(r.to_string())),
            EngineEvent::Failed(message) => Err(ApiError::internal(message)),
            EngineEvent::Expired(why @ Expiry::QueueTime { .. }) => Err(ApiError::queue_timeout(why.to_string())),
            EngineEvent::Expired(why @ Expiry::SlowReader { .. }) => Err(ApiError::stream_stalled(why.to_string())),
        }
    }

    fn set_weight_version(&mut self, version: Arc<str>) {
        for choice in &mut self.choices {
            choice.set_weight_version(&version);
        }
        self.meta.weight_version = version;
    }

    /// Once every choice ended: disarm the guard if the engine finished every sequence,
    /// else abort the rest now (a stop string ended them here).
    fn settle(&mut self) {
        if !self.is_done() {
            return;
        }
        if let Some(mut guard) = self.guard.take() {
            if self.choices.iter().all(|c| c.engine_finished) {
                guard.finished();
            }
        }
        let m = &self.metrics;
        m.e2e_request_latency_seconds.observe(self.started.elapsed().as_secs_f64());
        if let Some(ttft) = self.ttft {
            m.request_decode_time_seconds.observe((self.started.elapsed().as_secs_f64() - ttft).max(0.0));
        }
        if let Some(at) = self.scheduled_at {
            m.request_inference_time_seconds.observe(at.elapsed().as_secs_f64());
        }
        for choice in &self.choices {
            if let Some(reason) = choice.finish {
                m.request_success_total.with_label_values(&[reason.as_str()]).inc();
            }
            let reasoning = choice.reasoning_tokens();
            m.reasoning_tokens_total.inc_by(reasoning as u64);
            m.request_reasoning_tokens.observe(reasoning as f64);
        }
        self.status.get_or_insert("ok");
    }

    /// The choices, in index order.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// Token counts so far.
    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.choices.iter().map(|c| c.token_ids.len()).sum(),
            reasoning_tokens: self.choices.iter().map(Choice::reasoning_tokens).sum(),
        }
    }
}

/// One `info` line per request, however it ended: its id, status (`ok`, `aborted`, an
/// error's reason, or `client_gone`), token counts, TTFT and duration. Never the prompt, the
/// output or a key.
impl Drop for Generation {
    fn drop(&mut self) {
        let status = self.status.unwrap_or(if self.is_done() { "ok" } else { "client_gone" });
        let usage = self.usage();
        tracing::info!(
            request_id = %self.meta.id,
            status,
            n = self.choices.len(),
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            reasoning_tokens = usage.reasoning_tokens,
            ttft_s = self.ttft,
            duration_s = self.started.elapsed().as_secs_f64(),
            weight_version = %self.meta.weight_version,
            "request finished"
        );
    }
}
