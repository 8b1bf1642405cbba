//! The plain-data contract between the engine (`Scheduler`) and the runner
//! (`ModelRunner`). Nothing here holds a tensor, a lock or a channel: a batch can be
//! printed, compared in tests and serialized.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{BlockId, SeqId};
use crate::sampling::SamplingParams;

/// Everything the runner needs for one engine step: one forward pass over all
/// scheduled tokens of all sequences (prefill chunks and decodes together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledBatch {
    /// Sequences advanced in this step, in the order their tokens are laid out.
    pub seqs: Vec<ScheduledSeq>,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Sequences that finished or were aborted since the previous batch, so the runner
    /// can drop per-sequence state (grammar matchers).
    pub finished_seq_ids: Vec<SeqId>,
}

impl ScheduledBatch {
    /// Total number of new tokens computed in this step (the forward pass's rows).
    pub fn num_tokens(&self) -> usize {
        self.seqs.iter().map(|s| s.token_ids.len()).sum()
    }

    /// Whether nothing was scheduled (finished ids alone do not make work).
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

/// One sequence's share of a step.
///
/// ```text
///  | already computed (in KV cache) |  token_ids (computed now)  |
///  0                     num_computed_tokens          num_computed_tokens + token_ids.len()
/// ```
/// Positions of the new tokens are `num_computed_tokens..num_computed_tokens + len`.
/// Their K/V go to slots `block_table[pos / block_size] * block_size + pos % block_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledSeq {
    pub seq_id: SeqId,
    /// The tokens whose K/V are computed in this step (a prompt chunk, or one decode token).
    pub token_ids: Vec<u32>,
    /// Tokens of this sequence already in the KV cache.
    pub num_computed_tokens: usize,
    /// The sequence's block table, covering at least
    /// `num_computed_tokens + token_ids.len()` positions.
    pub block_table: Vec<BlockId>,
    /// Present when this step reaches the end of the sequence's known tokens, so the
    /// logits at its last new token must be sampled.
    pub sample: Option<SampleSpec>,
    /// Present when the sequence asked for prompt logprobs and this chunk computes
    /// prompt positions whose next token is still unscored.
    #[serde(default)]
    pub prompt_logprobs: Option<PromptLogprobsRequest>,
}

/// Which rows of a chunk to score against the prompt (vLLM's `prompt_logprobs`).
///
/// ```text
///  prompt:  t0   t1   t2   t3   t4   t5          chunk = positions 2..5 (t2 t3 t4)
///  rows:              r2   r3   r4               r2 scores t3, r3 t4, r4 t5
///  target_ids:        t3   t4   t5               (t5 is not in the chunk's tokens)
/// ```
/// Row `num_computed_tokens + i` of the chunk scores `target_ids[i]`, for the first
/// `target_ids.len()` rows; the prompt's last position predicts the first output
/// token and is never a prompt row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptLogprobsRequest {
    /// Top alternatives to return per position.
    pub num_top: usize,
    /// The prompt token that follows each scored row, in row order (at least one).
    pub target_ids: Vec<u32>,
}

/// What the sampler needs for one sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSpec {
    pub params: Arc<SamplingParams>,
    /// Index of the output token being sampled (0 for the first). With `params.seed`
    /// it keys the counter-based RNG, so a sample never depends on batch composition
    /// or on a preemption.
    pub output_index: usize,
    /// Prompt and output tokens so far, only when `params.needs_history()`.
    pub history: Option<TokenHistory>,
    /// Set when the thinking budget is spent: the runner emits this token (with its
    /// log-probability under the logits) instead of sampling.
    pub forced_token: Option<u32>,
    /// Whether `params.structured_output` constrains this token (the output is outside
    /// its reasoning section).
    pub constrained: bool,
    /// Besides the grammar's tokens, this token (`<think>`) may open a reasoning
    /// section as the first output token.
    pub allow_think_start: Option<u32>,
}

/// Token history for penalties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenHistory {
    pub prompt: Arc<[u32]>,
    pub output: Vec<u32>,
}

/// The runner's answer to a `ScheduledBatch`: one sampled token per sequence that had
/// a `SampleSpec`, in batch order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepOutput {
    pub sampled: Vec<SampledToken>,
    /// Sequences whose token could not be produced (a sampling or grammar error of
    /// that sequence alone). The caller aborts their requests; the rest of the batch
    /// goes on.
    #[serde(default)]
    pub failed: Vec<SeqFailure>,
    /// Prompt logprobs of the chunks that asked for them, in batch order.
    #[serde(default)]
    pub prompt_logprobs: Vec<PromptLogprobsChunk>,
}

/// The scored rows of one sequence's chunk (a `PromptLogprobsRequest` answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptLogprobsChunk {
    pub seq_id: SeqId,
    /// Prompt position of the token `logprobs[0]` scores (the chunk's first row + 1).
    pub first_position: usize,
    pub logprobs: Vec<PromptLogprob>,
}

/// One prompt token under the model's raw distribution at the position before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptLogprob {
    pub token_id: u32,
    /// Natural-log probability of `token_id` (raw log-softmax).
    pub logprob: f32,
    /// 1-based rank of `token_id`: the number of tokens whose logit is at least its
    /// own (vLLM's rank).
    pub rank: usize,
    /// The `num_top` most likely tokens with their log-probabilities, most likely first.
    pub top_logprobs: Vec<(u32, f32)>,
}

/// Why one sequence of a step got no token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqFailure {
    pub seq_id: SeqId,
    pub message: String,
}

/// One generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledToken {
    pub seq_id: SeqId,
    pub token_id: u32,
    /// Natural-log probability of `token_id` (see the sampler for raw vs processed).
    pub logprob: f32,
    /// The `k` most likely tokens with their log-probabilities, when requested.
    pub top_logprobs: Vec<(u32, f32)>,
}
