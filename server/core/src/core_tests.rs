use std::sync::Arc;
use std::time::{Duration, Instant};

use ponder_engine::{FinishReason, Request, RequestId, SamplingParams, Scheduler, SchedulerConfig, SeqId, SeqSpec};

use crate::testing::{FakeModel, FakeRunner};
use crate::{spawn_engine, EventStream, Expiry, EngineConfig, EngineCore, EngineEvent, EngineHandle, EngineStatus, Executor, NewWeights, PauseMode, Rejection, RequestGuard};

fn scheduler() -> Scheduler {
    Scheduler::new(SchedulerConfig {
        policy: ponder_engine::SchedulingPolicy::Fcfs,
        max_num_seqs: 8,
        max_num_batched_tokens: 64,
        block_size: 4,
        num_blocks: 64,
        max_model_len: 128,
        eos_token_ids: vec![2],
        enable_prefix_caching: true,
        enable_chunked_prefill: true,
        long_prefill_token_threshold: 0,
        attention_break_even_len: 0,
    })
    .unwrap()
}

fn config(max_waiting_requests: usize) -> EngineConfig {
    EngineConfig::new("v0", max_waiting_requests)
}

fn start(delay: Duration, fail: bool) -> EngineHandle {
    start_with(Box::new(FakeRunner::new(delay, fail)), 64)
}

/// The engine thread over a small scheduler and `executor`.
fn start_with(executor: Box<dyn Executor>, max_waiting_requests: usize) -> EngineHandle {
    start_cfg(executor, config(max_waiting_requests))
}

fn start_cfg(executor: Box<dyn Executor>, cfg: EngineConfig) -> EngineHandle {
    let core = EngineCore::new(scheduler(), executor, cfg);
    spawn_engine(core).unwrap().0
}

fn request(handle: &EngineHandle, n: usize, max_tokens: usize) -> Request {
    let params = Arc::new(SamplingParams { max_tokens, ..SamplingParams::default() });
    let prompt: Arc<[u32]> = vec![1, 3, 4, 5, 6].into();
    let seqs = (0..n)
        .map(|_| SeqSpec { seq_id: handle.next_seq_id(), prompt_token_ids: prompt.clone(), params: params.clone() })
        .collect();
    Request { id: handle.next_request_id(), seqs, priority: 0 }
}

fn submit(handle: &EngineHandle, n: usize, max_tokens: usize, id: &str) -> (RequestGuard, EventStream) {
    handle.submit(request(handle, n, max_tokens), id).unwrap()
}

/// Polls the status until `done` holds, or panics after 2 s.
fn wait_for(handle: &EngineHandle, what: &str, done: impl Fn(&EngineStatus) -> bool) -> EngineStatus {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let s = handle.status();
        if done(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{what}: {:?}", handle.status());
}

/// Polls until the engine is idle with an empty KV cache.
fn wait_until_idle(handle: &EngineHandle) -> EngineStatus {
    wait_for(handle, "engine not idle", |s| s.num_running == 0 && s.num_waiting == 0 && s.kv_cache_usage == 0.0)
}

/// Receives the next event, skipping `Started` and `Scheduled`.
fn next_event(rx: &mut EventStream) -> Option<EngineEvent> {
    loop {
        match rx.blocking_recv()? {
            EngineEvent::Started { .. } | EngineEvent::Scheduled { .. } => continue,
            other => return Some(other),
        }
    }
}

/// Every token id of `rx` until all `n` sequences finished, with each weight version seen
/// as `(version, tokens received before it)`.
fn drain(rx: &mut EventStream, n: usize) -> (Vec<u32>, Vec<(String, usize)>) {
    let (mut tokens, mut versions, mut finished) = (Vec::new(), Vec::new(), 0);
    while finished < n {
        match rx.blocking_recv().expect("engine hung up early") {
            EngineEvent::Started { weight_version } | EngineEvent::WeightsUpdated { weight_version } => {
                versions.push((weight_version.to_string(), tokens.len()))
            }
            EngineEvent::Scheduled { .. } => {}
            EngineEvent::Token(u) => {
                tokens.push(u.token.token_id);
                finished += usize::from(u.finish.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (tokens, versions)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn every_sequence_streams_its_tokens_and_ends_with_length() {
    let handle = start(Duration::ZERO, false);
    let (mut guard, mut rx) = submit(&handle, 2, 5, "a");
    assert_eq!(rx.blocking_recv(), Some(EngineEvent::Started { weight_version: "v0".into() }));
    let queued = match rx.blocking_recv() {
        Some(EngineEvent::Scheduled { queued }) => queued,
        other => panic!("expected Scheduled before any token, got {other:?}"),
    };
    assert!(queued < Duration::from_secs(5), "{queued:?}");
    let mut tokens = 0;
    let mut finishes = Vec::new();
    while finishes.len() < 2 {
        match next_event(&mut rx).expect("engine hung up early") {
            EngineEvent::Token(u) => {
                tokens += 1;
                assert_eq!(u.token.token_id, 7);
                finishes.extend(u.finish);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    guard.finished();
    assert_eq!(tokens, 10);
    assert_eq!(finishes, vec![FinishReason::Length, FinishReason::Length]);
    let status = wait_until_idle(&handle);
    assert_eq!((status.generation_tokens, status.prompt_tokens), (10, 10));
}

#[test]
fn dropping_the_guard_aborts_the_request_and_frees_its_blocks() {
    let handle = start(Duration::from_millis(2), false);
    let (guard, mut rx) = submit(&handle, 1, 100, "a");
    for _ in 0..3 {
        assert!(matches!(next_event(&mut rx), Some(EngineEvent::Token(_))));
    }
    assert!(handle.status().kv_cache_usage > 0.0);
    drop(guard);
    drop(rx);
    wait_until_idle(&handle);
}

#[test]
fn a_closed_event_channel_alone_aborts_the_request() {
    let handle = start(Duration::from_millis(2), false);
    let (mut guard, rx) = submit(&handle, 1, 100, "a");
    guard.finished();
    drop(rx);
    wait_until_idle(&handle);
}

#[test]
fn a_request_the_scheduler_refuses_gets_a_rejection() {
    let handle = start(Duration::ZERO, false);
    let mut req = request(&handle, 1, 5);
    req.seqs.clear();
    let (mut guard, mut rx) = handle.submit(req, "a").unwrap();
    guard.finished();
    assert!(matches!(rx.blocking_recv(), Some(EngineEvent::Rejected(Rejection::Invalid(_)))));
}

#[test]
fn a_failed_model_step_fails_the_request_and_frees_its_blocks() {
    let handle = start(Duration::ZERO, true);
    let (mut guard, mut rx) = submit(&handle, 1, 5, "a");
    guard.finished();
    match next_event(&mut rx) {
        Some(EngineEvent::Failed(msg)) => assert!(msg.contains("boom"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    wait_until_idle(&handle);
}

#[test]
fn eight_samples_prefill_their_prompt_once() {
    // Block size 4, prompt of 5 tokens: one full block shared, the rest per sample.
    let handle = start(Duration::ZERO, false);
    let (mut guard, mut rx) = submit(&handle, 8, 3, "a");
    drain(&mut rx, 8);
    guard.finished();
    let s = wait_until_idle(&handle).scheduler;
    assert!(s.prompt_tokens_computed <= 5 + 8 * 4, "prefilled {} prompt tokens for 8 samples of 5", s.prompt_tokens_computed);
    assert_eq!(s.prompt_tokens_computed, 8 * 5 - s.prefix_cache_hits);
    assert_eq!(s.prefix_cache_hits, 7 * 4);
    assert_eq!(s.prefix_cache_queries, 8 * 5);
}

/// Fails sampling for sequences whose id is odd; samples token 7 for the others.
struct OddSeqsFail;

impl Executor for OddSeqsFail {
    fn execute(&mut self, batch: &ponder_engine::ScheduledBatch) -> anyhow::Result<ponder_engine::StepOutput> {
        let mut out = ponder_engine::StepOutput::default();
        for s in batch.seqs.iter().filter(|s| s.sample.is_some()) {
            if s.seq_id.0 % 2 == 1 {
                out.failed.push(ponder_engine::SeqFailure { seq_id: s.seq_id, message: "bad top_p".into() });
            } else {
                out.sampled.push(ponder_engine::SampledToken { seq_id: s.seq_id, token_id: 7, logprob: -0.5, top_logprobs: Vec::new() });
            }
        }
        Ok(out)
    }

    fn swap_weights(&mut self, _: NewWeights) -> anyhow::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sequence_that_cannot_be_sampled_fails_its_request_alone() {
    let handle = start_with(Box::new(OddSeqsFail), 64);
    // Build the requests by hand to pick the sequence ids' parities.
    let params = Arc::new(SamplingParams { max_tokens: 5, ..SamplingParams::default() });
    let prompt: Arc<[u32]> = vec![1, 3, 4].into();
    let spec = |id: u64| SeqSpec { seq_id: SeqId(id), prompt_token_ids: prompt.clone(), params: params.clone() };
    let good = Request { id: RequestId(100), seqs: vec![spec(1000)], priority: 0 };
    let bad = Request { id: RequestId(101), seqs: vec![spec(1001)], priority: 0 };
    let (mut good_guard, mut good_rx) = handle.submit(good, "good").unwrap();
    let (_bad_guard, mut bad_rx) = handle.submit(bad, "bad").unwrap();
    match next_event(&mut bad_rx) {
        Some(EngineEvent::Failed(msg)) => assert!(msg.contains("bad top_p"), "{msg}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let (tokens, _) = drain(&mut good_rx, 1);
    good_guard.finished();
    assert_eq!(tokens.len(), 5);
    wait_until_idle(&handle);
}

#[test]
fn a_request_past_max_waiting_requests_is_refused_as_queue_full() {
    // Paused, nothing runs: every accepted request waits (held).
    let handle = start_with(Box::new(FakeRunner::new(Duration::ZERO, false)), 2);
    block_on(handle.pause(PauseMode::Keep, false)).unwrap();
    let (_g1, _rx1) = submit(&handle, 1, 5, "a");
    let (_g2, _rx2) = submit(&handle, 1, 5, "b");
    let (_g3, mut rx3) = submit(&handle, 1, 5, "c");
    assert_eq!(rx3.blocking_recv(), Some(EngineEvent::Rejected(Rejection::QueueFull { max_waiting_requests: 2 })));
    let status = handle.status();
    assert_eq!((status.num_held, status.rejected_queue_full), (2, 1));
}

#[test]
fn abort_requests_ends_the_named_requests_with_aborted_and_frees_their_blocks() {
    let handle = start(Duration::from_millis(2), false);
    let (_ga, mut a) = submit(&handle, 1, 1000, "keep-me");
    let (_gb, mut b) = submit(&handle, 2, 1000, "abort-me");
    assert!(matches!(next_event(&mut b), Some(EngineEvent::Token(_))));
    assert_eq!(block_on(handle.abort_requests(Some(vec!["abort-me".into(), "unknown".into()]))).unwrap(), 1);
    while let Some(event) = next_event(&mut b) {
        if event == EngineEvent::Aborted {
            break;
        }
        assert!(matches!(event, EngineEvent::Token(_)), "{event:?}");
    }
    assert!(matches!(next_event(&mut a), Some(EngineEvent::Token(_))), "the other request goes on");
    assert_eq!(block_on(handle.abort_requests(None)).unwrap(), 1);
    wait_until_idle(&handle);
}

#[test]
fn pause_keep_freezes_requests_in_place_and_resume_continues_them() {
    let handle = start(Duration::from_millis(1), false);
    let (mut guard, mut rx) = submit(&handle, 1, 40, "a");
    assert!(matches!(next_event(&mut rx), Some(EngineEvent::Token(_))));
    block_on(handle.pause(PauseMode::Keep, false)).unwrap();
    let frozen = handle.status();
    assert_eq!(frozen.paused, Some(PauseMode::Keep));
    assert!(frozen.kv_cache_usage > 0.0, "a frozen request keeps its blocks");
    let before = frozen.generation_tokens;
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(handle.status().generation_tokens, before, "no token while paused");
    // A request arriving while paused is held, not lost.
    let (mut guard2, mut rx2) = submit(&handle, 1, 3, "b");
    assert!(block_on(handle.resume()).unwrap());
    let (tokens, _) = drain(&mut rx, 1);
    assert_eq!(tokens.len() + 1, 40, "the frozen request finished its budget");
    assert_eq!(drain(&mut rx2, 1).0.len(), 3);
    guard.finished();
    guard2.finished();
    wait_until_idle(&handle);
}

#[test]
fn pause_wait_returns_once_the_requests_in_flight_finished() {
    let handle = start(Duration::from_millis(1), false);
    let (mut guard, mut rx) = submit(&handle, 2, 20, "a");
    block_on(handle.pause(PauseMode::Wait, true)).unwrap();
    let status = handle.status();
    assert_eq!(status.paused, Some(PauseMode::Wait));
    assert_eq!((status.num_running, status.kv_cache_usage), (0, 0.0));
    let (tokens, _) = drain(&mut rx, 2);
    assert_eq!(tokens.len(), 40, "every token was generated before the pause took effect");
    guard.finished();
    assert!(block_on(handle.resume()).unwrap());
    assert!(!block_on(handle.resume()).unwrap(), "resume when not paused says so");
}

#[test]
fn pause_abort_aborts_everything_in_flight() {
    let handle = start(Duration::from_millis(1), false);
    let (_guard, mut rx) = submit(&handle, 1, 1000, "a");
    block_on(handle.pause(PauseMode::Abort, false)).unwrap();
    loop {
        match next_event(&mut rx).expect("an abort event") {
            EngineEvent::Aborted => break,
            EngineEvent::Token(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let status = wait_until_idle(&handle);
    assert_eq!(status.paused, Some(PauseMode::Abort));
}

#[test]
fn a_weight_update_changes_tokens_and_version_exactly_at_the_swap() {
    let handle = start(Duration::from_millis(1), false);
    let (mut guard, mut rx) = submit(&handle, 1, 30, "a");
    block_on(handle.pause(PauseMode::Keep, false)).unwrap();
    let produced = handle.status().generation_tokens as usize;
    let weights = NewWeights(Box::new(FakeModel { token: 9, vocab: 100 }));
    let update = block_on(handle.update_weights(weights, "v1", false)).unwrap().unwrap();
    assert_eq!((&*update.weight_version, update.num_aborted), ("v1", 0));
    assert_eq!(handle.status().weight_version.as_ref(), "v1");
    block_on(handle.resume()).unwrap();
    let (tokens, versions) = drain(&mut rx, 1);
    guard.finished();
    assert_eq!(versions, vec![("v0".to_string(), 0), ("v1".to_string(), produced)]);
    assert!(tokens[..produced].iter().all(|&t| t == 7) && tokens[produced..].iter().all(|&t| t == 9), "{tokens:?}");
    // A later request starts on the new weights.
    let (mut guard2, mut rx2) = submit(&handle, 1, 2, "b");
    assert_eq!(drain(&mut rx2, 1), (vec![9, 9], vec![("v1".to_string(), 0)]));
    guard2.finished();
    assert_eq!(wait_until_idle(&handle).weight_updates, 1);
}

#[test]
fn refused_weights_leave_the_old_ones_serving_and_lose_nothing() {
    let handle = start(Duration::from_millis(1), false);
    let (mut guard, mut rx) = submit(&handle, 1, 10, "a");
    let weights = NewWeights(Box::new(FakeModel { token: 9, vocab: 5 }));
    let refused = block_on(handle.update_weights(weights, "v1", false)).unwrap();
    assert!(refused.unwrap_err().contains("does not fit"));
    let (tokens, versions) = drain(&mut rx, 1);
    guard.finished();
    assert_eq!(tokens, vec![7; 10]);
    assert_eq!(versions, vec![("v0".to_string(), 0)]);
    let status = wait_until_idle(&handle);
    assert_eq!((status.weight_version.as_ref(), status.weight_updates), ("v0", 0));
}

#[test]
fn a_weight_update_resets_the_prefix_cache() {
    let handle = start(Duration::ZERO, false);
    let (mut g, mut rx) = submit(&handle, 1, 2, "a");
    drain(&mut rx, 1);
    g.finished();
    let hits = |h: &EngineHandle| h.status().scheduler.prefix_cache_hits;
    let (mut g, mut rx) = submit(&handle, 1, 2, "b");
    drain(&mut rx, 1);
    g.finished();
    let after_repeat = wait_until_idle(&handle);
    assert_eq!(after_repeat.scheduler.prefix_cache_hits, 4, "the repeated prompt hit its first block");
    let weights = NewWeights(Box::new(FakeModel { token: 9, vocab: 100 }));
    block_on(handle.update_weights(weights, "v1", false)).unwrap().unwrap();
    let (mut g, mut rx) = submit(&handle, 1, 2, "c");
    drain(&mut rx, 1);
    g.finished();
    wait_until_idle(&handle);
    assert_eq!(hits(&handle), 4, "no hit on K/V of the old weights");
}

#[test]
fn abort_all_requests_with_a_weight_update_ends_the_requests_in_flight() {
    let handle = start(Duration::from_millis(1), false);
    let (_guard, mut rx) = submit(&handle, 3, 1000, "a");
    assert!(matches!(next_event(&mut rx), Some(EngineEvent::Token(_))));
    let weights = NewWeights(Box::new(FakeModel { token: 9, vocab: 100 }));
    let update = block_on(handle.update_weights(weights, "v1", true)).unwrap().unwrap();
    assert_eq!(update.num_aborted, 1);
    loop {
        match next_event(&mut rx).expect("an abort event") {
            EngineEvent::Aborted => break,
            EngineEvent::Token(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    wait_until_idle(&handle);
}

/// An executor whose step panics: the engine thread dies without publishing.
struct Panics;

impl Executor for Panics {
    fn execute(&mut self, _: &ponder_engine::ScheduledBatch) -> anyhow::Result<ponder_engine::StepOutput> {
        panic!("injected engine failure");
    }

    fn swap_weights(&mut self, _: NewWeights) -> anyhow::Result<()> {
        Ok(())
    }
}

#[test]
fn a_dead_engine_thread_reads_as_not_alive_and_its_requests_hear_it() {
    let handle = start_with(Box::new(Panics), 64);
    assert!(handle.status().alive);
    let (_guard, mut events) = submit(&handle, 1, 4, "doomed");
    wait_for(&handle, "the engine thread died", |s| !s.alive);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), handle.stopped()).await }).expect("stopped() resolves");
    // The request's channel closes: its handler answers 503 instead of hanging.
    let mut closed = false;
    for _ in 0..100 {
        match events.try_recv() {
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                closed = true;
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(closed, "the event channel of an in-flight request closes");
    assert!(handle.submit(request(&handle, 1, 4), "late").is_err(), "nothing is accepted after");
}

#[test]
fn a_request_held_while_paused_expires_at_max_queue_time_and_running_ones_do_not() {
    let limit = Duration::from_millis(60);
    let cfg = EngineConfig { max_queue_time: Some(limit), ..config(8) };
    let handle = start_cfg(Box::new(FakeRunner::new(Duration::from_millis(2), false)), cfg);
    let (mut g_run, mut running) = submit(&handle, 1, 60, "runs");
    assert!(matches!(next_event(&mut running), Some(EngineEvent::Token(_))));
    block_on(handle.pause(PauseMode::Keep, false)).unwrap();
    let t0 = Instant::now();
    let (_g_held, mut held) = submit(&handle, 2, 5, "held");
    assert!(matches!(held.blocking_recv(), Some(EngineEvent::Started { .. })));
    assert_eq!(held.blocking_recv(), Some(EngineEvent::Expired(Expiry::QueueTime { limit, paused: true })));
    let waited = t0.elapsed();
    assert!(waited >= limit && waited < limit * 10, "expired after {waited:?}");
    let status = handle.status();
    assert_eq!((status.num_held, status.expired_queue_time), (0, 1));
    std::thread::sleep(limit * 2);
    block_on(handle.resume()).unwrap();
    let (tokens, _) = drain(&mut running, 1);
    assert!(!tokens.is_empty(), "the request that had started is past the queue deadline's reach");
    g_run.finished();
    wait_until_idle(&handle);
}

#[test]
fn a_request_queued_behind_a_full_batch_expires_and_frees_its_place() {
    let limit = Duration::from_millis(50);
    let cfg = EngineConfig { max_queue_time: Some(limit), ..config(64) };
    let handle = start_cfg(Box::new(FakeRunner::new(Duration::from_millis(1), false)), cfg);
    // max_num_seqs is 8: eight long sequences fill the batch, the ninth waits.
    let (mut g_long, mut long) = submit(&handle, 8, 120, "long");
    assert!(matches!(next_event(&mut long), Some(EngineEvent::Token(_))));
    let (_g, mut queued) = submit(&handle, 1, 5, "queued");
    assert!(matches!(queued.blocking_recv(), Some(EngineEvent::Started { .. })));
    assert_eq!(queued.blocking_recv(), Some(EngineEvent::Expired(Expiry::QueueTime { limit, paused: false })));
    drain(&mut long, 8);
    g_long.finished();
    let status = wait_until_idle(&handle);
    assert_eq!(status.expired_queue_time, 1);
}

#[test]
fn a_reader_that_stops_taking_events_is_aborted_after_the_stall_timeout() {
    let limit = Duration::from_millis(80);
    let cfg = EngineConfig { stream_buffer_events: 10, stream_stall_timeout: limit, ..config(8) };
    let handle = start_cfg(Box::new(FakeRunner::new(Duration::from_millis(1), false)), cfg);
    let (_g_slow, mut slow) = submit(&handle, 2, 500, "slow");
    let (mut g_fast, mut fast) = submit(&handle, 1, 120, "fast");
    let (tokens, _) = drain(&mut fast, 1);
    assert_eq!(tokens.len(), 120, "a reader that keeps up is never cut");
    g_fast.finished();
    let status = wait_until_idle(&handle);
    assert_eq!(status.expired_slow_reader, 1);
    // The slow reader finds its tokens, then why it was cut, then nothing.
    let mut seen = 0;
    let why = loop {
        match slow.blocking_recv().expect("the expiry is the last event") {
            EngineEvent::Token(_) => seen += 1,
            EngineEvent::Started { .. } | EngineEvent::Scheduled { .. } => {}
            other => break other,
        }
    };
    assert!(matches!(why, EngineEvent::Expired(Expiry::SlowReader { unread, .. }) if unread > 10), "{why:?}");
    assert!(seen < 2 * 500, "the stalled request stopped before finishing ({seen} tokens)");
    assert_eq!(slow.blocking_recv(), None);
}
