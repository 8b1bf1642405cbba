//! ponder: an OpenAI-compatible inference server for reasoning models.
//!
//! Code map (one concern per module):
//! - [`cli`], [`units`]: `ponder serve` flags.
//! - [`model_source`], [`hub`]: MODEL → files on disk; [`loader`]: model, tokenizer,
//!   KV cache sizing and the engine thread; [`gen_config`]: sampling defaults.
//! - [`engine`]: `EngineHandle` (commands to the one engine thread) and `RequestGuard`.
//! - [`protocol`]: OpenAI request validation (400 naming the field) and response bodies.
//! - [`text`]: detokenizer, stop strings, reasoning split (per choice).
//! - [`generation`]: a request in flight: engine events → per-choice deltas.
//! - [`routes`]: axum handlers, SSE, auth, JSON errors; [`server`]: `serve` and the
//!   drain; [`listen`]: the accept loop (header-read timeout, graceful close).
//! - [`metrics`]: Prometheus.

pub mod cli;
pub mod embedded;
pub mod engine;
pub mod error;
pub mod gen_config;
pub mod generation;
pub mod hub;
pub mod listen;
pub mod loader;
pub mod metrics;
pub mod model_source;
pub mod protocol;
pub mod routes;
pub mod server;
pub mod state;
pub mod text;
pub mod thinking;
pub mod units;
pub mod vocab;

pub use loader::{load, LoadedServer};
pub use server::serve;
