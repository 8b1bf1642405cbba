//! The engine thread: the only owner of the `Scheduler` and the `ModelRunner`.
//!
//! Loop: drain commands (blocking while idle) → `schedule()` → `execute()` → `update()`
//! → route each `SeqUpdate` to its request's channel → publish gauges and counters. Requests
//! whose channel closed are aborted at once, so their blocks free in the same step.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use ponder_engine::{Request, RequestId, ScheduledBatch, Scheduler, SchedulerStats, StepOutput};
use ponder_runner::ModelRunner;
use tokio::sync::mpsc::UnboundedSender;

use super::handle::{Command, EngineEvent, EngineHandle};
use crate::metrics::Metrics;

/// Runs one forward pass plus sampling for a batch (the `ModelRunner`; a fake in tests).
pub trait Executor: Send {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput>;
}

impl Executor for ModelRunner {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        ModelRunner::execute(self, batch)
    }
}

/// Starts the engine thread. It stops when every `EngineHandle` is dropped.
pub fn spawn_engine(
    scheduler: Scheduler,
    executor: Box<dyn Executor>,
    metrics: Metrics,
) -> std::io::Result<(EngineHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let worker = Worker { scheduler, executor, rx, requests: HashMap::new(), metrics, published: SchedulerStats::default() };
    let thread = std::thread::Builder::new().name("ponder-engine".into()).spawn(move || worker.run())?;
    Ok((EngineHandle::new(tx), thread))
}

/// A live request: where its events go and how many of its sequences are unfinished.
struct Live {
    events: UnboundedSender<EngineEvent>,
    unfinished: usize,
}

struct Worker {
    scheduler: Scheduler,
    executor: Box<dyn Executor>,
    rx: Receiver<Command>,
    requests: HashMap<RequestId, Live>,
    metrics: Metrics,
    /// Scheduler counters already added to the Prometheus counters.
    published: SchedulerStats,
}

impl Worker {
    fn run(mut self) {
        while self.wait_for_work() {
            self.step();
        }
        tracing::info!("engine thread stopped");
    }

    /// Blocks while idle, then applies every queued command. `false`: all handles gone.
    fn wait_for_work(&mut self) -> bool {
        if !self.scheduler.has_unfinished() {
            self.publish_gauges();
            match self.rx.recv() {
                Ok(cmd) => self.apply(cmd),
                Err(_) => return false,
            }
        }
        loop {
            match self.rx.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return self.scheduler.has_unfinished(),
            }
        }
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Add { request, events } => self.add(request, events),
            Command::Abort(id) => self.abort(id),
        }
    }

    fn add(&mut self, request: Request, events: UnboundedSender<EngineEvent>) {
        let id = request.id;
        let unfinished = request.seqs.len();
        let prompt_tokens: usize = request.seqs.iter().map(|s| s.prompt_token_ids.len()).sum();
        match self.scheduler.add_request(request) {
            Ok(()) => {
                self.metrics.prompt_tokens_total.inc_by(prompt_tokens as u64);
                self.requests.insert(id, Live { events, unfinished });
            }
            Err(e) => {
                let _ = events.send(EngineEvent::Rejected(e.to_string()));
            }
        }
    }

    fn abort(&mut self, id: RequestId) {
        self.requests.remove(&id);
        self.scheduler.abort_request(id);
    }

    /// One engine step over whatever the scheduler picks.
    fn step(&mut self) {
        let batch = self.scheduler.schedule();
        if batch.is_empty() && !batch.finished_seq_ids.is_empty() {
            // No work, but the runner must forget finished sequences' state.
            if let Err(e) = self.executor.execute(&batch) {
                tracing::warn!("releasing finished sequences failed: {e:#}");
            }
        }
        if batch.is_empty() {
            // Unfinished work but nothing schedulable: wait for a command instead of spinning.
            self.publish_gauges();
            match self.rx.recv_timeout(Duration::from_millis(5)) {
                Ok(cmd) => self.apply(cmd),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            return;
        }
        match self.executor.execute(&batch) {
            Ok(output) => {
                self.fail_sequences(&output.failed);
                let updates = self.scheduler.update(&output);
                self.metrics.generation_tokens_total.inc_by(output.sampled.len() as u64);
                for update in updates {
                    self.route(update);
                }
            }
            Err(e) => self.fail_all(&format!("model step failed: {e:#}")),
        }
        self.publish_gauges();
    }

    /// Sends one update to its request; a closed channel aborts the request.
    fn route(&mut self, update: ponder_engine::SeqUpdate) {
        let id = update.request_id;
        let Some(live) = self.requests.get_mut(&id) else { return };
        if update.finish.is_some() {
            live.unfinished = live.unfinished.saturating_sub(1);
        }
        let done = live.unfinished == 0;
        let delivered = live.events.send(EngineEvent::Token(update)).is_ok();
        if done {
            self.requests.remove(&id);
        } else if !delivered {
            self.abort(id);
        }
    }

    /// Sequences the runner could not sample fail their own requests only (the rest of
    /// the batch goes on): each such request is told and aborted before `update`.
    fn fail_sequences(&mut self, failed: &[ponder_engine::SeqFailure]) {
        for failure in failed {
            let Some(id) = self.scheduler.sequence(failure.seq_id).map(|s| s.request_id()) else { continue };
            tracing::warn!(request = id.0, "request failed: {}", failure.message);
            if let Some(live) = self.requests.remove(&id) {
                let _ = live.events.send(EngineEvent::Failed(failure.message.clone()));
            }
            self.scheduler.abort_request(id);
        }
    }

    /// A failed step poisons every running request: tell each and free its blocks.
    fn fail_all(&mut self, message: &str) {
        tracing::error!("{message}");
        for (id, live) in std::mem::take(&mut self.requests) {
            let _ = live.events.send(EngineEvent::Failed(message.to_string()));
            self.scheduler.abort_request(id);
        }
    }

    fn publish_gauges(&mut self) {
        let (now, before) = (self.scheduler.stats(), self.published);
        self.metrics.prompt_tokens_computed_total.inc_by(now.prompt_tokens_computed - before.prompt_tokens_computed);
        self.metrics.prefix_cache_queries_total.inc_by(now.prefix_cache_queries - before.prefix_cache_queries);
        self.metrics.prefix_cache_hits_total.inc_by(now.prefix_cache_hits - before.prefix_cache_hits);
        self.metrics.num_preemptions_total.inc_by(now.preemptions - before.preemptions);
        self.published = now;
        self.metrics.num_requests_running.set(self.scheduler.num_running() as i64);
        self.metrics.num_requests_waiting.set(self.scheduler.num_waiting() as i64);
        self.metrics.kv_cache_usage_perc.set(self.scheduler.kv_cache_usage());
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
