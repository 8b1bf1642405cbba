//! Prometheus metrics, named like vLLM's (`vllm:` → `ponder:`).
//!
//! Gauges are set by the engine thread after every step; counters and histograms are
//! updated by the engine (tokens) and the request handlers (latencies). All are atomics
//! inside `prometheus`: no lock is shared with the engine's scheduling state.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Gauge, Registry, TextEncoder};

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
}

const LATENCY_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0];

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
            time_to_first_token_seconds: Histogram::with_opts(
                HistogramOpts::new("ponder:time_to_first_token_seconds", "Time to first token.").buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            e2e_request_latency_seconds: Histogram::with_opts(
                HistogramOpts::new("ponder:e2e_request_latency_seconds", "End-to-end request latency.").buckets(LATENCY_BUCKETS.to_vec()),
            )?,
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
        Ok(m)
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
}
