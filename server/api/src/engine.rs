//! The engine core lives in `ponder-core` (HTTP-free); the API keeps only its handle.

pub use ponder_core::{EngineEvent, EngineHandle, EngineStatus, EventStream, Expiry, PauseMode, Rejection, RequestGuard};
