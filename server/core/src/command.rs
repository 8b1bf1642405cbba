//! Commands to the engine thread (plain data plus reply channels).

use std::sync::Arc;
use std::time::Duration;

use ponder_engine::{Request, RequestId};
use tokio::sync::oneshot;

use crate::stream::EventSender;
use crate::executor::NewWeights;

/// vLLM's `POST /pause?mode=`: what happens to the requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseMode {
    /// Abort every request in flight (they end with `Aborted`), then pause.
    Abort,
    /// Admit nothing new, let the requests in flight finish, then pause.
    Wait,
    /// Freeze the requests in flight where they are (their KV blocks kept); they go on
    /// after `/resume`, on the new weights if a swap happened meanwhile.
    Keep,
}

impl PauseMode {
    /// vLLM's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Abort => "abort",
            Self::Wait => "wait",
            Self::Keep => "keep",
        }
    }
}

/// The result of a weight swap.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightUpdate {
    /// The version serving from now on.
    pub weight_version: Arc<str>,
    /// Time from the command reaching the engine thread to the swap (waiting for the
    /// step in progress, swapping, resetting the prefix cache).
    pub swap_time: Duration,
    /// Requests aborted by `abort_all_requests`.
    pub num_aborted: usize,
}

/// A command to the engine thread; each takes effect between two steps.
pub enum Command {
    /// Admit `request` (`external_id` is the id the client sees, for `/abort_requests`);
    /// its events go to `events`.
    Add { request: Request, external_id: Arc<str>, events: EventSender },
    /// Abort every sequence of a request and free its blocks (the client went away).
    Abort(RequestId),
    /// Abort the requests with these external ids (`None`: all); replies how many.
    AbortRequests { external_ids: Option<Vec<String>>, reply: oneshot::Sender<usize> },
    /// Pause generation; replies once paused (`Wait`: once the requests in flight ended).
    Pause { mode: PauseMode, clear_cache: bool, reply: oneshot::Sender<()> },
    /// Resume generation and admit the requests held meanwhile; replies whether it was paused.
    Resume { reply: oneshot::Sender<bool> },
    /// Swap in `weights` (already loaded and checked off the engine thread), then reset
    /// the prefix cache so no K/V of the old weights serves a later request.
    UpdateWeights {
        weights: NewWeights,
        weight_version: Arc<str>,
        abort_all_requests: bool,
        reply: oneshot::Sender<Result<WeightUpdate, String>>,
    },
    /// Forget every cached prefix; replies once done.
    ResetPrefixCache { reply: oneshot::Sender<()> },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Add { request, external_id, .. } => write!(f, "Add({:?}, {external_id})", request.id),
            Self::Abort(id) => write!(f, "Abort({id:?})"),
            Self::AbortRequests { external_ids, .. } => write!(f, "AbortRequests({external_ids:?})"),
            Self::Pause { mode, clear_cache, .. } => write!(f, "Pause({mode:?}, clear_cache={clear_cache})"),
            Self::Resume { .. } => f.write_str("Resume"),
            Self::UpdateWeights { weight_version, .. } => write!(f, "UpdateWeights({weight_version})"),
            Self::ResetPrefixCache { .. } => f.write_str("ResetPrefixCache"),
        }
    }
}
