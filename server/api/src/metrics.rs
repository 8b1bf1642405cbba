//! Prometheus metrics, named like vLLM's (`vllm:` → `ponder:`).
//!
//! The engine's gauges and counters are copied from its published `EngineStatus` when
//! `/metrics` is scraped ([`Metrics::observe_engine`]); latency histograms are updated by
//! the request handlers. All are atomics inside `prometheus`: no lock is shared with
//! the engine's scheduling state.

use std::sync::{Arc, Mutex};

use ponder_core::EngineStatus;
use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// All server metrics, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Sequences being computed (`ponder:num_requests_running`).
    pub num_requests_running: IntGauge,
    /// Sequences waiting for KV blocks or a batch slot.
    pub num_requests_waiting: IntGauge,
    /// Fraction of KV blocks in use, 0..=1 (as vLLM's `kv_cache_usage_perc`).
    pub kv_cache_usage_perc: Gauge,
    /// Prompt tokens of admitted requests.
    pub prompt_tokens_total: IntCounter,
    /// Generated tokens.
    pub generation_tokens_total: IntCounter,
    /// Prompt positions whose K/V were computed (prefill work, recomputes included).
    pub prompt_tokens_computed_total: IntCounter,
    /// Tokens looked up in the prefix cache at admission.
    pub prefix_cache_queries_total: IntCounter,
    /// Tokens served from the prefix cache.
    pub prefix_cache_hits_total: IntCounter,
    /// Preemptions by recompute.
    pub num_preemptions_total: IntCounter,
    /// Seconds from request arrival to its first generated token.
    pub time_to_first_token_seconds: Histogram,
    /// Seconds from request arrival to its last token.
    pub e2e_request_latency_seconds: Histogram,
    /// Seconds between two consecutive token events of a request.
    pub inter_token_latency_seconds: Histogram,
    /// Seconds from a request's first token to its last (vLLM's decode time).
    pub request_decode_time_seconds: Histogram,
    /// Seconds from the engine accepting a request to its first scheduled step
    /// (queued, or held while paused).
    pub request_queue_time_seconds: Histogram,
    /// Seconds from a request's first scheduled step to its first token (its prefill,
    /// chunked or not).
    pub request_prefill_time_seconds: Histogram,
    /// Seconds from a request's first scheduled step to its last token (prefill and
    /// decode).
    pub request_inference_time_seconds: Histogram,
    /// Sequences whose thinking budget ran out, so the engine closed their reasoning.
    pub reasoning_budget_exhausted_total: IntCounter,
    /// Seconds from arrival to the first answer (`content`) token, after the reasoning.
    pub time_to_first_answer_token_seconds: Histogram,
    /// Finished choices by `finished_reason` (`stop`, `length`, `abort`).
    pub request_success_total: IntCounterVec,
    /// Reasoning tokens generated (inside `<think>`).
    pub reasoning_tokens_total: IntCounter,
    /// Reasoning tokens per finished choice.
    pub request_reasoning_tokens: Histogram,
    /// Weight swaps done (`/update_weights_from_disk`).
    pub weight_updates_total: IntCounter,
    /// Seconds per weight update, loading included.
    pub weight_update_seconds: Histogram,
    /// 1 while generation is paused.
    pub is_paused: IntGauge,
    /// Requests answered with an error, by its OpenAI `code` (`queue_full`,
    /// `queue_timeout`, `service_unavailable`, `request_timeout`, `stream_stalled`,
    /// `invalid_value`, `invalid_api_key`, `request_too_large`, ...): refusals before any
    /// work, and streams that ended with an error event.
    pub request_rejected_total: IntCounterVec,
    /// Accepted requests the engine ended on its own: `queue_time` (`--max-queue-time`)
    /// or `slow_reader` (`--stream-stall-timeout`; its client may never read the error).
    pub requests_expired_total: IntCounterVec,
    /// Serializes `observe_engine`, so two scrapes never add the same counter delta twice.
    observe: Arc<Mutex<()>>,
}

const ITL_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5];
const LATENCY_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0];

/// A latency histogram over [`LATENCY_BUCKETS`] (seconds).
fn seconds(name: &str, help: &str) -> prometheus::Result<Histogram> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let m = Self {
            num_requests_running: IntGauge::new("ponder:num_requests_running", "Sequences in the running batch.")?,
            num_requests_waiting: IntGauge::new("ponder:num_requests_waiting", "Sequences waiting to be scheduled.")?,
            kv_cache_usage_perc: Gauge::new("ponder:kv_cache_usage_perc", "KV-cache usage: fraction of blocks in use (0..1).")?,
            prompt_tokens_total: IntCounter::new("ponder:prompt_tokens_total", "Prompt tokens of admitted requests.")?,
            generation_tokens_total: IntCounter::new("ponder:generation_tokens_total", "Generated tokens.")?,
            prompt_tokens_computed_total: IntCounter::new(
                "ponder:prompt_tokens_computed_total",
                "Prompt tokens whose K/V were computed (prefill work, recomputes included).",
            )?,
            prefix_cache_queries_total: IntCounter::new("ponder:prefix_cache_queries_total", "Tokens looked up in the prefix cache.")?,
            prefix_cache_hits_total: IntCounter::new("ponder:prefix_cache_hits_total", "Tokens served from the prefix cache.")?,
            num_preemptions_total: IntCounter::new("ponder:num_preemptions_total", "Preemptions by recompute.")?,
            time_to_first_token_seconds: seconds("ponder:time_to_first_token_seconds", "Time to first token.")?,
            e2e_request_latency_seconds: seconds("ponder:e2e_request_latency_seconds", "End-to-end request latency.")?,
            inter_token_latency_seconds: Histogram::with_opts(
                HistogramOpts::new("ponder:inter_token_latency_seconds", "Time between token events of a request.")
                    .buckets(ITL_BUCKETS.to_vec()),
            )?,
            request_decode_time_seconds: seconds("ponder:request_decode_time_seconds", "First to last token of a request.")?,
            request_queue_time_seconds: seconds("ponder:request_queue_time_seconds", "Acceptance to the first scheduled step of a request.")?,
            request_prefill_time_seconds: seconds("ponder:request_prefill_time_seconds", "First scheduled step to the first token of a request.")?,
            request_inference_time_seconds: seconds("ponder:request_inference_time_seconds", "First scheduled step to the last token of a request.")?,
            reasoning_budget_exhausted_total: IntCounter::new(
                "ponder:reasoning_budget_exhausted_total",
                "Sequences whose thinking budget ran out (the engine closed their reasoning).",
            )?,
            time_to_first_answer_token_seconds: seconds("ponder:time_to_first_answer_token_seconds", "Arrival to the first answer token, after the reasoning.")?,
            request_success_total: IntCounterVec::new(
                Opts::new("ponder:request_success_total", "Finished choices by finished_reason."),
                &["finished_reason"],
            )?,
            reasoning_tokens_total: IntCounter::new("ponder:reasoning_tokens_total", "Reasoning tokens generated.")?,
            request_reasoning_tokens: Histogram::with_opts(
                HistogramOpts::new("ponder:request_reasoning_tokens", "Reasoning tokens per finished choice.")
                    .buckets(prometheus::exponential_buckets(16.0, 2.0, 12)?),
            )?,
            weight_updates_total: IntCounter::new("ponder:weight_updates_total", "Weight swaps done.")?,
            weight_update_seconds: seconds("ponder:weight_update_seconds", "Seconds per weight update, loading included.")?,
            is_paused: IntGauge::new("ponder:is_paused", "1 while generation is paused.")?,
            request_rejected_total: IntCounterVec::new(
                Opts::new("ponder:request_rejected_total", "Requests answered with an error, by reason (the error's code)."),
                &["reason"],
            )?,
            requests_expired_total: IntCounterVec::new(
                Opts::new("ponder:requests_expired_total", "Accepted requests the engine ended at a deadline, by reason."),
                &["reason"],
            )?,
            observe: Arc::new(Mutex::new(())),
            registry,
        };
        m.registry.register(Box::new(m.num_requests_running.clone()))?;
        m.registry.register(Box::new(m.num_requests_waiting.clone()))?;
        m.registry.register(Box::new(m.kv_cache_usage_perc.clone()))?;
        m.registry.register(Box::new(m.prompt_tokens_total.clone()))?;
        m.registry.register(Box::new(m.generation_tokens_total.clone()))?;
        m.registry.register(Box::new(m.prompt_tokens_computed_total.clone()))?;
        m.registry.register(Box::new(m.prefix_cache_queries_total.clone()))?;
        m.registry.register(Box::new(m.prefix_cache_hits_total.clone()))?;
        m.registry.register(Box::new(m.num_preemptions_total.clone()))?;
        m.registry.register(Box::new(m.time_to_first_token_seconds.clone()))?;
        m.registry.register(Box::new(m.e2e_request_latency_seconds.clone()))?;
        m.registry.register(Box::new(m.inter_token_latency_seconds.clone()))?;
        m.registry.register(Box::new(m.request_decode_time_seconds.clone()))?;
        m.registry.register(Box::new(m.request_queue_time_seconds.clone()))?;
        m.registry.register(Box::new(m.request_prefill_time_seconds.clone()))?;
        m.registry.register(Box::new(m.request_inference_time_seconds.clone()))?;
        m.registry.register(Box::new(m.reasoning_budget_exhausted_total.clone()))?;
        m.registry.register(Box::new(m.time_to_first_answer_token_seconds.clone()))?;
        m.registry.register(Box::new(m.request_success_total.clone()))?;
        m.registry.register(Box::new(m.reasoning_tokens_total.clone()))?;
        m.registry.register(Box::new(m.request_reasoning_tokens.clone()))?;
        m.registry.register(Box::new(m.weight_updates_total.clone()))?;
        m.registry.register(Box::new(m.weight_update_seconds.clone()))?;
        m.registry.register(Box::new(m.is_paused.clone()))?;
        m.registry.register(Box::new(m.request_rejected_total.clone()))?;
        m.registry.register(Box::new(m.requests_expired_total.clone()))?;
        Ok(m)
    }

    /// Copies the engine's gauges and cumulative counters from `status`.
    pub fn observe_engine(&self, status: &EngineStatus) {
        let _one_at_a_time = self.observe.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let catch_up = |counter: &IntCounter, total: u64| counter.inc_by(total.saturating_sub(counter.get()));
        catch_up(&self.prompt_tokens_total, status.prompt_tokens);
        catch_up(&self.generation_tokens_total, status.generation_tokens);
        catch_up(&self.prompt_tokens_computed_total, status.scheduler.prompt_tokens_computed);
        catch_up(&self.prefix_cache_queries_total, status.scheduler.prefix_cache_queries);
        catch_up(&self.prefix_cache_hits_total, status.scheduler.prefix_cache_hits);
        catch_up(&self.num_preemptions_total, status.scheduler.preemptions);
        catch_up(&self.reasoning_budget_exhausted_total, status.scheduler.reasoning_budget_exhausted);
        catch_up(&self.weight_updates_total, status.weight_updates);
        catch_up(&self.requests_expired_total.with_label_values(&["queue_time"]), status.expired_queue_time);
        catch_up(&self.requests_expired_total.with_label_values(&["slow_reader"]), status.expired_slow_reader);
        self.num_requests_running.set(status.num_running as i64);
        self.num_requests_waiting.set((status.num_waiting + status.num_held) as i64);
        self.kv_cache_usage_perc.set(status.kv_cache_usage);
        self.is_paused.set(i64::from(status.paused.is_some()));
    }

    /// Counts one error answered to a client under `reason`.
    pub fn count_rejection(&self, reason: &str) {
        self.request_rejected_total.with_label_values(&[reason]).inc();
    }

    /// The Prometheus text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_lists_gauges_under_vllm_style_names() {
        let m = Metrics::new().unwrap();
        m.kv_cache_usage_perc.set(0.25);
        m.num_requests_running.set(3);
        m.generation_tokens_total.inc_by(7);
        let text = m.render();
        assert!(text.contains("ponder:kv_cache_usage_perc 0.25"), "{text}");
        assert!(text.contains("ponder:num_requests_running 3"));
        assert!(text.contains("ponder:generation_tokens_total 7"));
        assert!(text.contains("ponder:num_requests_waiting 0"));
    }

    #[test]
    fn engine_counters_catch_up_with_the_status_once_per_change() {
        let m = Metrics::new().unwrap();
        let mut status = EngineStatus::initial("v0".into());
        status.generation_tokens = 10;
        status.scheduler.prefix_cache_hits = 4;
        status.weight_updates = 1;
        status.scheduler.reasoning_budget_exhausted = 2;
        status.paused = Some(ponder_core::PauseMode::Keep);
        m.observe_engine(&status);
        m.observe_engine(&status);
        let text = m.render();
        assert!(text.contains("ponder:generation_tokens_total 10"), "{text}");
        assert!(text.contains("ponder:prefix_cache_hits_total 4"), "{text}");
        assert!(text.contains("ponder:weight_updates_total 1"), "{text}");
        assert!(text.contains("ponder:reasoning_budget_exhausted_total 2"), "{text}");
        assert!(text.contains("ponder:is_paused 1"), "{text}");
    }
}
