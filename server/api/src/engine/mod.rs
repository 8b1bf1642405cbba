//! The engine thread and its handle: the actor that owns scheduling state.

pub mod handle;
pub mod worker;

pub use handle::{EngineEvent, EngineHandle, RequestGuard};
pub use worker::{spawn_engine, Executor};
