//! `EngineCore`: the synchronous engine state machine. It owns the `Scheduler`, the
//! `Executor` and the event stream of every live request; [`crate::spawn_engine`]
//! runs it on a thread, tests drive it step by step.
//!
//! One step: `Scheduler::schedule` → `Executor::execute` → `Scheduler::update` →
//! route each `SeqUpdate` to its request. A request whose stream closed (client gone)
//! is aborted at once, so its blocks free in the same step.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ponder_engine::{Request, RequestId, ScheduledBatch, Scheduler, SeqFailure, SeqUpdate};
use tokio::sync::{oneshot, watch};

use crate::command::PauseMode;
use crate::event::{EngineEvent, Rejection};
use crate::executor::Executor;
use crate::status::EngineStatus;
use crate::stream::EventSender;

/// Settings of the engine core (the scheduler has its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The version of the weights loaded at start-up (the model's folder name, or "0").
    pub weight_version: String,
    /// Most requests waiting for their first step (scheduler queue plus those held
    /// while paused); a request past it is refused with `Rejection::QueueFull`.
    pub max_waiting_requests: usize,
    /// Longest a request may wait for its first step (queued, or held while paused);
    /// past it the request ends with `Expiry::QueueTime`. `None`: no limit.
    pub max_queue_time: Option<Duration>,
    /// Events a request's reader may leave untaken before its stall clock starts.
    pub stream_buffer_events: usize,
    /// Longest a request's reader may stay `stream_buffer_events` behind; past it the
    /// request is aborted with `Expiry::SlowReader`.
    pub stream_stall_timeout: Duration,
}

impl EngineConfig {
    /// No queue deadline, a 1,024-event stream buffer and a 30 s stall timeout.
    pub fn new(weight_version: impl Into<String>, max_waiting_requests: usize) -> Self {
        Self {
            weight_version: weight_version.into(),
            max_waiting_requests,
            max_queue_time: None,
            stream_buffer_events: 1024,
            stream_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// A live request: where its events go, its client-facing id, how many of its
/// sequences are unfinished, and the clocks of its deadlines.
pub(crate) struct Live {
    pub(crate) events: EventSender,
    pub(crate) external_id: Arc<str>,
    pub(crate) unfinished: usize,
    /// When the engine accepted it (the queue clock).
    pub(crate) arrived: Instant,
    /// Whether a sequence of it was scheduled (then the queue clock no longer applies).
    pub(crate) scheduled: bool,
    /// Since when its reader is `stream_buffer_events` behind.
    pub(crate) stalled_since: Option<Instant>,
}

impl Live {
    pub(crate) fn new(events: EventSender, external_id: Arc<str>, unfinished: usize) -> Self {
        Self { events, external_id, unfinished, arrived: Instant::now(), scheduled: false, stalled_since: None }
    }
}

/// A request accepted while paused, handed to the scheduler at `/resume`.
pub(crate) struct Held {
    pub(crate) request: Request,
    pub(crate) live: Live,
}

/// The engine core. Every method runs between two steps.
pub struct EngineCore {
    pub(crate) scheduler: Scheduler,
    pub(crate) executor: Box<dyn Executor>,
    pub(crate) cfg: EngineConfig,
    /// Requests in the scheduler.
    pub(crate) requests: HashMap<RequestId, Live>,
    /// Requests accepted while paused, in arrival order.
    pub(crate) held: Vec<Held>,
    /// `Some` once paused; `Wait` pauses only after draining.
    pub(crate) paused: Option<PauseMode>,
    /// `/pause?mode=wait` calls waiting for the requests in flight to end.
    pub(crate) draining: Vec<oneshot::Sender<()>>,
    /// Whether `draining` asked to clear the prefix cache once paused.
    pub(crate) clear_cache_when_drained: bool,
    /// The status, published on every change; the core is its only writer.
    pub(crate) status: EngineStatus,
    /// Events that end a request the status counted (refused, aborted, failed,
    /// expired), sent by [`Self::refresh_status`] right after it publishes: a client
    /// that reads the metrics after its error sees the status without its request.
    pub(crate) outbox: Vec<(EventSender, EngineEvent)>,
    pub(crate) published: watch::Sender<EngineStatus>,
}

impl EngineCore {
    /// A core over `scheduler` and `executor`, serving `cfg.weight_version`.
    pub fn new(scheduler: Scheduler, executor: Box<dyn Executor>, cfg: EngineConfig) -> Self {
        let status = EngineStatus::initial(cfg.weight_version.as_str().into());
        let (published, _) = watch::channel(status.clone());
        Self {
            scheduler,
            executor,
            cfg,
            requests: HashMap::new(),
            held: Vec::new(),
            paused: None,
            draining: Vec::new(),
            clear_cache_when_drained: false,
            status,
            outbox: Vec::new(),
            published,
        }
    }

    /// A receiver of the status, updated after every step and command.
    pub fn subscribe(&self) -> watch::Receiver<EngineStatus> {
        self.published.subscribe()
    }

    /// Marks the engine stopped in the published status.
    pub(crate) fn publish_stopped(&mut self) {
        self.status.alive = false;
        self.published.send_replace(self.status.clone());
    }

    /// Whether a step would do anything: unfinished work and generation not paused.
    pub fn has_work(&self) -> bool {
        self.paused.is_none() && self.scheduler.has_unfinished()
    }

    /// The scheduler (read-only, for tests and status).
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The status as of the last step or command.
    pub fn status(&self) -> &EngineStatus {
        &self.status
    }

    /// Admits `request`, or holds it while paused or draining. Refusals go to `events`.
    pub fn add(&mut self, request: Request, external_id: Arc<str>, events: EventSender) {
        let waiting = self.scheduler.num_waiting_requests() + self.held.len();
        if waiting >= self.cfg.max_waiting_requests {
            self.status.rejected_queue_full += 1;
            let rejection = Rejection::QueueFull { max_waiting_requests: self.cfg.max_waiting_requests };
            self.outbox.push((events, EngineEvent::Rejected(rejection)));
            self.refresh_status();
            return;
        }
        let live = Live::new(events, external_id, request.seqs.len());
        if self.paused.is_some() || !self.draining.is_empty() {
            let _ = live.events.send(EngineEvent::Started { weight_version: self.status.weight_version.clone() });
            self.held.push(Held { request, live });
        } else {
            let weight_version = self.status.weight_version.clone();
            if let Some(live) = self.admit(request, live) {
                let _ = live.events.send(EngineEvent::Started { weight_version });
            }
        }
        self.refresh_status();
    }

    /// Hands a request to the scheduler; returns its entry when it was admitted (a
    /// refusal is sent to the request).
    pub(crate) fn admit(&mut self, request: Request, live: Live) -> Option<&Live> {
        let id = request.id;
        let prompt_tokens: usize = request.seqs.iter().map(|s| s.prompt_token_ids.len()).sum();
        match self.scheduler.add_request(request) {
            Ok(()) => {
                self.status.prompt_tokens += prompt_tokens as u64;
                Some(self.requests.entry(id).or_insert(live))
            }
            Err(e) => {
                let _ = live.events.send(EngineEvent::Rejected(Rejection::Invalid(e.to_string())));
                None
            }
        }
    }

    /// Aborts request `id` (client gone): frees its blocks, sends nothing.
    pub fn abort(&mut self, id: RequestId) {
        self.requests.remove(&id);
        self.held.retain(|h| h.request.id != id);
        self.scheduler.abort_request(id);
        self.after_change();
    }

    /// One engine step over whatever the scheduler picks. Returns the batch (empty when
    /// nothing could run, or when paused).
    pub fn step(&mut self) -> ScheduledBatch {
        if self.paused.is_some() {
            return ScheduledBatch { seqs: Vec::new(), block_size: self.scheduler.config().block_size, finished_seq_ids: Vec::new() };
        }
        self.expire(Instant::now());
        let batch = self.scheduler.schedule();
        self.mark_scheduled(&batch);
        if batch.is_empty() {
            if !batch.finished_seq_ids.is_empty() {
                // No work, but the runner must forget finished sequences' state.
                if let Err(e) = self.executor.execute(&batch) {
                    tracing::warn!("releasing finished sequences failed: {e:#}");
                }
            }
            self.after_change();
            return batch;
        }
        match self.executor.execute(&batch) {
            Ok(output) => {
                self.fail_sequences(&output.failed);
                let updates = self.scheduler.update(&output);
                self.status.generation_tokens += output.sampled.len() as u64;
                for update in updates {
                    self.route(update);
                }
            }
            Err(e) => self.fail_all(&format!("model step failed: {e:#}")),
        }
        self.after_change();
        batch
    }

    /// Tells each request that runs for the first time in `batch` how long it queued.
    fn mark_scheduled(&mut self, batch: &ScheduledBatch) {
        let now = Instant::now();
        for seq in &batch.seqs {
            let Some(id) = self.scheduler.sequence(seq.seq_id).map(|s| s.request_id()) else { continue };
            let Some(live) = self.requests.get_mut(&id) else { continue };
            if !live.scheduled {
                live.scheduled = true;
                let _ = live.events.send(EngineEvent::Scheduled { queued: now.duration_since(live.arrived) });
            }
        }
    }

    /// Sends one update to its request; a closed stream aborts the request.
    fn route(&mut self, update: SeqUpdate) {
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
            self.requests.remove(&id);
            self.scheduler.abort_request(id);
        }
    }

    /// Sequences the runner could not sample fail their own requests only (told through
    /// the outbox, which the step's status refresh sends).
    fn fail_sequences(&mut self, failed: &[SeqFailure]) {
        for failure in failed {
            let Some(id) = self.scheduler.sequence(failure.seq_id).map(|s| s.request_id()) else { continue };
            tracing::warn!(request = id.0, "request failed: {}", failure.message);
            if let Some(live) = self.requests.remove(&id) {
                self.outbox.push((live.events, EngineEvent::Failed(failure.message.clone())));
            }
            self.scheduler.abort_request(id);
        }
    }

    /// A failed step poisons every running request: free its blocks and tell it (through
    /// the outbox, which the step's status refresh sends).
    fn fail_all(&mut self, message: &str) {
        tracing::error!("{message}");
        for (id, live) in std::mem::take(&mut self.requests) {
            self.scheduler.abort_request(id);
            self.outbox.push((live.events, EngineEvent::Failed(message.to_string())));
        }
    }

    /// Completes a `mode=wait` pause once nothing is in flight, then refreshes the status.
    pub(crate) fn after_change(&mut self) {
        if !self.draining.is_empty() && !self.scheduler.has_unfinished() {
            self.paused = Some(PauseMode::Wait);
            if std::mem::take(&mut self.clear_cache_when_drained) {
                self.scheduler.reset_prefix_cache();
            }
            self.refresh_status();
            for reply in self.draining.drain(..) {
                let _ = reply.send(());
            }
        }
        self.refresh_status();
    }

    pub(crate) fn refresh_status(&mut self) {
        let s = &mut self.status;
        s.paused = self.paused;
        s.num_running = self.scheduler.num_running();
        s.num_waiting = self.scheduler.num_waiting();
        s.num_held = self.held.len();
        s.kv_cache_usage = self.scheduler.kv_cache_usage();
        s.scheduler = self.scheduler.stats();
        let now = &self.status;
        self.published.send_if_modified(|old| {
            let changed = old != now;
            if changed {
                *old = now.clone();
            }
            changed
        });
        for (events, event) in self.outbox.drain(..) {
            let _ = events.send(event);
        }
    }
}
