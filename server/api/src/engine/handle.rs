//! `EngineHandle`: the cloneable front of the engine thread (an actor, as TGI's router
//! `Queue`), and `RequestGuard`, which aborts a request whose handler is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use ponder_engine::{Request, RequestId, SeqId, SeqUpdate};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::error::ApiError;

/// What a request's task hears from the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// One generated token of one sequence (with its finish reason, if it ended).
    Token(SeqUpdate),
    /// The scheduler refused the request (e.g. it can never fit the KV cache).
    Rejected(String),
    /// A model step failed; the request was aborted.
    Failed(String),
}

/// A command to the engine thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Admit `request`; its events go to `events`.
    Add { request: Request, events: UnboundedSender<EngineEvent> },
    /// Abort every sequence of a request and free its blocks.
    Abort(RequestId),
}

/// Cloneable handle to the engine thread. Sending never blocks (unbounded channel);
/// the thread owns all scheduling state.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    next_id: Arc<AtomicU64>,
}

impl EngineHandle {
    pub(crate) fn new(tx: mpsc::Sender<Command>) -> Self {
        Self { tx, next_id: Arc::new(AtomicU64::new(1)) }
    }

    /// A fresh request id (unique for this server's lifetime).
    pub fn next_request_id(&self) -> RequestId {
        RequestId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh sequence id.
    pub fn next_seq_id(&self) -> SeqId {
        SeqId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Submits `request`. The returned guard aborts it when dropped before
    /// [`RequestGuard::finished`]; the receiver yields its events.
    ///
    /// Errors: 503 when the engine thread has stopped.
    pub fn submit(&self, request: Request) -> Result<(RequestGuard, UnboundedReceiver<EngineEvent>), ApiError> {
        let (events, rx) = unbounded_channel();
        let id = request.id;
        self.tx
            .send(Command::Add { request, events })
            .map_err(|_| ApiError::unavailable("The engine has stopped."))?;
        Ok((RequestGuard { id, handle: self.clone(), finished: false }, rx))
    }

    /// Asks the engine to abort `id` (no-op if it already finished).
    pub fn abort(&self, id: RequestId) {
        // A closed channel means the engine is gone: nothing is left to abort.
        let _ = self.tx.send(Command::Abort(id));
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
