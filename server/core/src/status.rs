//! `EngineStatus`: what the engine publishes after every step and command.

use std::sync::Arc;

use ponder_engine::SchedulerStats;

use crate::command::PauseMode;

/// A snapshot of the engine, written only by the engine thread (through a
/// `tokio::sync::watch` channel) and read by anyone holding an `EngineHandle`.
/// Counters are cumulative since start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStatus {
    /// The weights serving now (`/update_weights_from_disk` sets it).
    pub weight_version: Arc<str>,
    /// `Some` while generation is paused (after `mode=wait` drained, at once otherwise).
    pub paused: Option<PauseMode>,
    /// Sequences running in the batch.
    pub num_running: usize,
    /// Sequences waiting in the scheduler.
    pub num_waiting: usize,
    /// Requests accepted while paused, held back until `/resume`.
    pub num_held: usize,
    /// Fraction of KV blocks in use, `0.0..=1.0`.
    pub kv_cache_usage: f64,
    /// The scheduler's prefix-cache and prefill counters.
    pub scheduler: SchedulerStats,
    /// Prompt tokens of admitted requests.
    pub prompt_tokens: u64,
    /// Tokens sampled.
    pub generation_tokens: u64,
    /// Weight swaps done.
    pub weight_updates: u64,
    /// Requests refused because the waiting queue was full.
    pub rejected_queue_full: u64,
    /// Requests ended after waiting `max_queue_time` for their first step.
    pub expired_queue_time: u64,
    /// Requests aborted because their reader stopped taking events.
    pub expired_slow_reader: u64,
    /// Whether the engine thread is still running.
    pub alive: bool,
}

impl EngineStatus {
    /// The status of an engine that has not stepped yet.
    pub fn initial(weight_version: Arc<str>) -> Self {
        Self {
            weight_version,
            paused: None,
            num_running: 0,
            num_waiting: 0,
            num_held: 0,
            kv_cache_usage: 0.0,
            scheduler: SchedulerStats::default(),
            prompt_tokens: 0,
            generation_tokens: 0,
            weight_updates: 0,
            rejected_queue_full: 0,
            expired_queue_time: 0,
            expired_slow_reader: 0,
            alive: true,
        }
    }
}
