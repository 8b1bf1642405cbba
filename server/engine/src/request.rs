//! What the API layer submits to the engine.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{RequestId, SeqId};
use crate::sampling::SamplingParams;

/// One client request: its sequences are admitted together. The API layer splits
/// `n > 1` (and several prompts) into one `SeqSpec` each; sequences with the same
/// prompt then share its full KV blocks through the prefix cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    /// At least one sequence; `SeqId`s unique across the engine.
    pub seqs: Vec<SeqSpec>,
    /// Scheduling priority under `SchedulingPolicy::Priority`: lower values are served
    /// first and preempted last (vLLM's convention). Ignored under FCFS.
    #[serde(default)]
    pub priority: i32,
}

/// One sequence to generate: a tokenized prompt continued by one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqSpec {
    pub seq_id: SeqId,
    /// The prompt's token ids (at least one).
    pub prompt_token_ids: Arc<[u32]>,
    pub params: Arc<SamplingParams>,
}
