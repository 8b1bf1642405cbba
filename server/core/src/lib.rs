//! ponder-core: the engine core, free of HTTP.
//!
//! One thread owns the `Scheduler` and the `Executor` (the `ModelRunner`) and loops
//! `schedule → execute → update`, as vLLM v1's `EngineCore` does. Everything else talks
//! to it through an [`EngineHandle`] (an actor's mailbox, as TGI's router `Queue`):
//! [`Command`]s to add and abort requests, pause and resume generation, swap the
//! weights and reset the prefix cache. Each request hears back through its own
//! [`EngineEvent`] stream; the engine's state is published as an [`EngineStatus`]
//! after every step and command.
//!
//! Code map:
//! - [`core`]: [`EngineCore`], the synchronous state machine (tests drive it step by
//!   step); [`control`] holds its pause / resume / weight-update half.
//! - [`thread`]: [`spawn_engine`], the loop that feeds commands to the core.
//! - [`handle`]: [`EngineHandle`] and the [`RequestGuard`] that aborts a dropped request.
//! - [`command`], [`event`], [`status`]: the plain data crossing the thread boundary;
//!   [`stream`]: a request's event channel, which counts what its reader left unread.
//! - `expiry`: the queue and reader-stall deadlines of accepted requests.
//! - [`executor`]: the [`Executor`] trait the `ModelRunner` implements.
//! - [`checkpoint`]: loading and checking new weights off the engine thread.

pub mod checkpoint;
pub mod command;
pub mod control;
pub mod core;
pub mod event;
pub mod executor;
mod expiry;
pub mod handle;
pub mod status;
pub mod stream;
pub mod thread;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod core_tests;

pub use checkpoint::{load_checkpoint, CheckpointError};
pub use command::{Command, PauseMode, WeightUpdate};
pub use core::{EngineConfig, EngineCore};
pub use event::{EngineEvent, Expiry, Rejection};
pub use executor::{Executor, NewWeights};
pub use handle::{EngineHandle, RequestGuard};
pub use status::EngineStatus;
pub use stream::{event_channel, EventSender, EventStream};
pub use thread::spawn_engine;
