//! What a request's task hears from the engine.

use std::sync::Arc;
use std::time::Duration;

use ponder_engine::SeqUpdate;

/// One event on a request's stream, in the order the engine produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The request entered the scheduler; its tokens come from `weight_version` until a
    /// [`EngineEvent::WeightsUpdated`] says otherwise.
    Started { weight_version: Arc<str> },
    /// The scheduler picked the request for a step for the first time, `queued` after
    /// the engine accepted it (waiting in the queue, or held while paused): vLLM's
    /// queue time. Sent once, before its first token.
    Scheduled { queued: Duration },
    /// One generated token of one sequence (with its finish reason, if it ended).
    Token(SeqUpdate),
    /// New weights were swapped in between two steps: every later token of this
    /// request comes from `weight_version`.
    WeightsUpdated { weight_version: Arc<str> },
    /// The request was not admitted.
    Rejected(Rejection),
    /// An operator aborted the request (`/abort_requests`, `/pause?mode=abort`, or a
    /// weight update with `abort_all_requests`); its blocks are freed.
    Aborted,
    /// A model step failed; the request was aborted.
    Failed(String),
    /// The engine ended the request on its own (blocks freed), for `Expiry`'s reason.
    Expired(Expiry),
}

/// Why the engine ended a request it had accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// It waited `limit` (`--max-queue-time`) without a step: queued behind others, or
    /// held while generation was `paused`.
    QueueTime { limit: Duration, paused: bool },
    /// Its reader left `unread` events untaken for `limit` (`--stream-stall-timeout`):
    /// a client that stopped reading its stream.
    SlowReader { unread: usize, limit: Duration },
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::QueueTime { limit, paused: false } => write!(
                f,
                "The server is overloaded: the request waited {:.1} s (the queue limit) without being scheduled. Retry later.",
                limit.as_secs_f64()
            ),
            Self::QueueTime { limit, paused: true } => write!(
                f,
                "Generation is paused: the request waited {:.1} s (the queue limit) for it to resume. Retry later.",
                limit.as_secs_f64()
            ),
            Self::SlowReader { unread, limit } => write!(
                f,
                "The client left {unread} events of its stream unread for {:.1} s: the request was aborted.",
                limit.as_secs_f64()
            ),
        }
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The request can never run (e.g. it can never fit the KV cache): a 400.
    Invalid(String),
    /// `max_waiting_requests` requests already wait: a 429, try again later.
    QueueFull { max_waiting_requests: usize },
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(message) => f.write_str(message),
            Self::QueueFull { max_waiting_requests } => {
                write!(f, "The server is overloaded: {max_waiting_requests} requests are already waiting. Retry later.")
            }
        }
    }
}
