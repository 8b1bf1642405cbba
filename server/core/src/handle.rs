//! `EngineHandle`: the cloneable front of the engine thread (an actor, as TGI's router
//! `Queue`), and `RequestGuard`, which aborts a request whose handler is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use ponder_engine::{Request, RequestId, SeqId};
use tokio::sync::{oneshot, watch};

use crate::command::{Command, PauseMode, WeightUpdate};
use crate::executor::NewWeights;
use crate::status::EngineStatus;
use crate::stream::{event_channel, EventStream};

/// The engine thread has stopped: nothing can be submitted or controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine has stopped")]
pub struct EngineStopped;

/// Cloneable handle to the engine thread. Sending never blocks; the thread owns all
/// scheduling state and publishes an [`EngineStatus`] the handle reads.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<EngineStatus>,
    next_id: Arc<AtomicU64>,
}

impl EngineHandle {
    pub(crate) fn new(tx: mpsc::Sender<Command>, status: watch::Receiver<EngineStatus>) -> Self {
        Self { tx, status, next_id: Arc::new(AtomicU64::new(1)) }
    }

    /// A fresh request id (unique for this server's lifetime).
    pub fn next_request_id(&self) -> RequestId {
        RequestId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh sequence id.
    pub fn next_seq_id(&self) -> SeqId {
        SeqId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The engine's latest status (weight version, pause state, queue sizes). `alive`
    /// is false once the engine thread is gone, also when it died without publishing
    /// (a panic drops the status sender).
    pub fn status(&self) -> EngineStatus {
        let mut status = self.status.borrow().clone();
        if self.status.has_changed().is_err() {
            status.alive = false;
        }
        status
    }

    /// Resolves once the engine thread is gone (it published `alive: false`, or died
    /// and dropped the status sender).
    pub async fn stopped(&self) {
        let mut status = self.status.clone();
        while status.borrow_and_update().alive {
            if status.changed().await.is_err() {
                return;
            }
        }
    }

    /// Submits `request` under the client-facing `external_id` (what `/abort_requests`
    /// names). The returned guard aborts it when dropped before
    /// [`RequestGuard::finished`]; the receiver yields its events, `Started` first
    /// (or `Rejected`).
    ///
    /// Errors: the engine thread has stopped.
    pub fn submit(
        &self,
        request: Request,
        external_id: impl Into<Arc<str>>,
    ) -> Result<(RequestGuard, EventStream), EngineStopped> {
        let (events, rx) = event_channel();
        let id = request.id;
        self.send(Command::Add { request, external_id: external_id.into(), events })?;
        Ok((RequestGuard { id, handle: self.clone(), finished: false }, rx))
    }

    /// Asks the engine to abort `id` (no-op if it already finished).
    pub fn abort(&self, id: RequestId) {
        // A closed channel means the engine is gone: nothing is left to abort.
        let _ = self.tx.send(Command::Abort(id));
    }

    /// Aborts the requests with these external ids (`None`: every request); returns how
    /// many were live.
    pub async fn abort_requests(&self, external_ids: Option<Vec<String>>) -> Result<usize, EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::AbortRequests { external_ids, reply })?;
        rx.await.map_err(|_| EngineStopped)
    }

    /// Pauses generation; returns once paused (see [`PauseMode`]).
    pub async fn pause(&self, mode: PauseMode, clear_cache: bool) -> Result<(), EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Pause { mode, clear_cache, reply })?;
        rx.await.map_err(|_| EngineStopped)
    }

    /// Resumes generation; returns whether it was paused.
    pub async fn resume(&self) -> Result<bool, EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Resume { reply })?;
        rx.await.map_err(|_| EngineStopped)
    }

    /// Swaps in `weights` at the next step boundary. The inner error says why the
    /// executor refused them (the old weights keep serving).
    pub async fn update_weights(
        &self,
        weights: NewWeights,
        weight_version: impl Into<Arc<str>>,
        abort_all_requests: bool,
    ) -> Result<Result<WeightUpdate, String>, EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::UpdateWeights { weights, weight_version: weight_version.into(), abort_all_requests, reply })?;
        rx.await.map_err(|_| EngineStopped)
    }

    /// Forgets every cached prefix.
    pub async fn reset_prefix_cache(&self) -> Result<(), EngineStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::ResetPrefixCache { reply })?;
        rx.await.map_err(|_| EngineStopped)
    }

    fn send(&self, cmd: Command) -> Result<(), EngineStopped> {
        self.tx.send(cmd).map_err(|_| EngineStopped)
    }
}

/// Aborts its request on drop (client disconnected, handler dropped, stop string hit)
/// unless every sequence finished in the engine first.
#[derive(Debug)]
pub struct RequestGuard {
    id: RequestId,
    handle: EngineHandle,
    finished: bool,
}

impl RequestGuard {
    /// The guarded request.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Marks the request as finished in the engine: dropping the guard sends nothing.
    pub fn finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.handle.abort(self.id);
        }
    }
}
