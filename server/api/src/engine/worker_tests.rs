use std::sync::Arc;
use std::time::{Duration, Instant};

use ponder_engine::{FinishReason, Request, SampledToken, SamplingParams, SchedulerConfig, SeqSpec};

use super::*;
use crate::engine::RequestGuard;

/// Samples token 7 for every sequence that asks for a sample; optionally slow or failing.
struct FakeRunner {
    delay: Duration,
    fail: bool,
}

impl Executor for FakeRunner {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        std::thread::sleep(self.delay);
        if self.fail {
            anyhow::bail!("boom");
        }
        let sampled = batch
            .seqs
            .iter()
            .filter(|s| s.sample.is_some())
            .map(|s| SampledToken { seq_id: s.seq_id, token_id: 7, logprob: -0.5, top_logprobs: Vec::new() })
            .collect();
        Ok(StepOutput { sampled, failed: Vec::new() })
    }
}

fn start(delay: Duration, fail: bool) -> (EngineHandle, Metrics) {
    start_with(Box::new(FakeRunner { delay, fail }))
}

/// The engine thread over a small scheduler and `executor`.
fn start_with(executor: Box<dyn Executor>) -> (EngineHandle, Metrics) {
    let scheduler = Scheduler::new(SchedulerConfig {
        policy: ponder_engine::SchedulingPolicy::Fcfs,
        max_num_seqs: 8,
        max_num_batched_tokens: 64,
        block_size: 4,
        num_blocks: 64,
        max_model_len: 128,
        eos_token_ids: vec![2],
        enable_prefix_caching: true,
        enable_chunked_prefill: true,
    })
    .unwrap();
    let metrics = Metrics::new().unwrap();
    let (handle, _thread) = spawn_engine(scheduler, executor, metrics.clone()).unwrap();
    (handle, metrics)
}

fn request(handle: &EngineHandle, n: usize, max_tokens: usize) -> Request {
    let params = Arc::new(SamplingParams { max_tokens, ..SamplingParams::default() });
    let prompt: Arc<[u32]> = vec![1, 3, 4, 5, 6].into();
    let seqs = (0..n)
        .map(|_| SeqSpec { seq_id: handle.next_seq_id(), prompt_token_ids: prompt.clone(), params: params.clone() })
        .collect();
    Request { id: handle.next_request_id(), seqs, priority: 0 }
}

/// Polls until the engine is idle with an empty KV cache, or panics after 2 s.
fn wait_until_idle(metrics: &Metrics) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if metrics.num_requests_running.get() == 0 && metrics.kv_cache_usage_perc.get() == 0.0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "engine not idle: running {}, kv usage {}",
        metrics.num_requests_running.get(),
        metrics.kv_cache_usage_perc.get()
    );
}

fn finished(mut guard: RequestGuard) {
    guard.finished();
}

#[test]
fn every_sequence_streams_its_tokens_and_ends_with_length() {
    let (handle, metrics) = start(Duration::ZERO, false);
    let (guard, mut rx) = handle.submit(request(&handle, 2, 5)).unwrap();
    let mut tokens = 0;
    let mut finishes = Vec::new();
    while finishes.len() < 2 {
        match rx.blocking_recv().expect("engine hung up early") {
            EngineEvent::Token(u) => {
                tokens += 1;
                assert_eq!(u.token.token_id, 7);
                finishes.extend(u.finish);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    finished(guard);
    assert_eq!(tokens, 10);
    assert_eq!(finishes, vec![FinishReason::Length, FinishReason::Length]);
    wait_until_idle(&metrics);
    assert_eq!(metrics.generation_tokens_total.get(), 10);
    assert_eq!(metrics.prompt_tokens_total.get(), 10);
}

#[test]
fn dropping_the_guard_aborts_the_request_and_frees_its_blocks() {
    let (handle, metrics) = start(Duration::from_millis(2), false);
    let (guard, mut rx) = handle.submit(request(&handle, 1, 100)).unwrap();
    for _ in 0..3 {
        assert!(matches!(rx.blocking_recv(), Some(EngineEvent::Token(_))));
    }
    assert!(metrics.kv_cache_usage_perc.get() > 0.0);
    drop(guard);
    drop(rx);
    wait_until_idle(&metrics);
}

#[test]
fn a_closed_event_channel_alone_aborts_the_request() {
    let (handle, metrics) = start(Duration::from_millis(2), false);
    let (guard, rx) = handle.submit(request(&handle, 1, 100)).unwrap();
    finished(guard);
    drop(rx);
    wait_until_idle(&metrics);
}

#[test]
fn a_request_the_scheduler_refuses_gets_a_rejection() {
    let (handle, _metrics) = start(Duration::ZERO, false);
    let mut req = request(&handle, 1, 5);
    req.seqs.clear();
    let (guard, mut rx) = handle.submit(req).unwrap();
    finished(guard);
    assert!(matches!(rx.blocking_recv(), Some(EngineEvent::Rejected(_))));
}

#[test]
fn a_failed_model_step_fails_the_request_and_frees_its_blocks() {
    let (handle, metrics) = start(Duration::ZERO, true);
    let (guard, mut rx) = handle.submit(request(&handle, 1, 5)).unwrap();
    finished(guard);
    match rx.blocking_recv() {
        Some(EngineEvent::Failed(msg)) => assert!(msg.contains("boom"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    wait_until_idle(&metrics);
}

#[test]
fn eight_samples_prefill_their_prompt_once_by_the_prometheus_counters() {
    // Block size 4, prompt of 5 tokens: one full block shared, the rest per sample.
    let (handle, metrics) = start(Duration::ZERO, false);
    let (guard, mut rx) = handle.submit(request(&handle, 8, 3)).unwrap();
    let mut finishes = 0;
    while finishes < 8 {
        if let Some(EngineEvent::Token(u)) = rx.blocking_recv() {
            finishes += usize::from(u.finish.is_some());
        }
    }
    finished(guard);
    wait_until_idle(&metrics);
    let computed = metrics.prompt_tokens_computed_total.get();
    assert!(computed <= 5 + 8 * 4, "prefilled {computed} prompt tokens for 8 samples of 5");
    assert_eq!(computed, 8 * 5 - metrics.prefix_cache_hits_total.get());
    assert_eq!(metrics.prefix_cache_hits_total.get(), 7 * 4);
    assert_eq!(metrics.prefix_cache_queries_total.get(), 8 * 5);
    let text = metrics.render();
    assert!(text.contains("ponder:prompt_tokens_computed_total 12"), "{text}");
}

/// Fails sampling for sequences whose id is odd; samples token 7 for the others.
struct OddSeqsFail;

impl Executor for OddSeqsFail {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        let mut out = StepOutput::default();
        for s in batch.seqs.iter().filter(|s| s.sample.is_some()) {
            if s.seq_id.0 % 2 == 1 {
                out.failed.push(ponder_engine::SeqFailure { seq_id: s.seq_id, message: "bad top_p".into() });
            } else {
                out.sampled.push(SampledToken { seq_id: s.seq_id, token_id: 7, logprob: -0.5, top_logprobs: Vec::new() });
            }
        }
        Ok(out)
    }
}

#[test]
fn a_sequence_that_cannot_be_sampled_fails_its_request_alone() {
    let (handle, metrics) = start_with(Box::new(OddSeqsFail));
    // Build the requests by hand to pick the sequence ids' parities.
    let params = Arc::new(SamplingParams { max_tokens: 5, ..SamplingParams::default() });
    let prompt: Arc<[u32]> = vec![1, 3, 4].into();
    let spec = |id: u64| SeqSpec { seq_id: ponder_engine::SeqId(id), prompt_token_ids: prompt.clone(), params: params.clone() };
    let good = Request { id: ponder_engine::RequestId(100), seqs: vec![spec(1000)], priority: 0 };
    let bad = Request { id: ponder_engine::RequestId(101), seqs: vec![spec(1001)], priority: 0 };
    let (good_guard, mut good_rx) = handle.submit(good).unwrap();
    let (_bad_guard, mut bad_rx) = handle.submit(bad).unwrap();
    match bad_rx.blocking_recv() {
        Some(EngineEvent::Failed(msg)) => assert!(msg.contains("bad top_p"), "{msg}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let mut tokens = 0;
    loop {
        match good_rx.blocking_recv().expect("the good request goes on") {
            EngineEvent::Token(u) => {
                tokens += 1;
                if u.finish.is_some() {
                    break;
                }
            }
            other => panic!("the good request must not fail: {other:?}"),
        }
    }
    finished(good_guard);
    assert_eq!(tokens, 5);
    wait_until_idle(&metrics);
}
