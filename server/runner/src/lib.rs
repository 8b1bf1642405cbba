//! ponder-runner: the `ModelRunner` (one forward pass per engine step over the paged KV
//! cache) and the `Sampler` (seeded, per sequence, with raw logprobs).
//!
//! Code map:
//! - [`runner`]: `ModelRunner`, owner of the device KV cache; `execute(&ScheduledBatch)`.
//! - [`input`]: `ScheduledBatch` → host-side input ids, positions, attention metadata.
//! - [`prompt_logprobs`]: scores of prompt tokens (vLLM's `prompt_logprobs`).
//! - [`kv_cache`]: `RunnerConfig`, KV cache sizing and allocation.
//! - [`sampler`]: logits row → token; [`logits_processors`], [`truncation`],
//!   [`logprobs`] and [`rng`] hold its steps.
//!
//! Determinism: the uniform that draws output token `k` of a sequence is a pure
//! function of `(params.seed, k)` (a counter-based SplitMix64, see [`rng`]), so a
//! sequence's output depends neither on batch composition nor on preemption.

pub mod error;
pub mod input;
pub mod kv_cache;
pub mod logits_processors;
pub mod logprobs;
pub mod prompt_logprobs;
pub mod rng;
pub mod runner;
pub mod sampler;
pub mod structured;
pub mod truncation;

pub use error::{RunnerError, SamplerError};
pub use input::StepInputs;
pub use kv_cache::{kv_cache_bytes_per_block, num_blocks_for_memory, RunnerConfig};
pub use runner::ModelRunner;
pub use sampler::{Sample, Sampler};
pub use structured::{GrammarCompiler, Grammars};
