//! `Sequence`: one prompt continued by one sample, as the scheduler tracks it.
//!
//! One model for every phase, after vLLM v1's scheduler: a sequence has `num_tokens()`
//! known tokens (prompt, then sampled output) and `num_computed_tokens` of them have
//! their K/V in the cache; each step advances `num_computed_tokens` towards
//! `num_tokens()`. Prefill, chunked prefill, decode (exactly one token behind) and
//! recompute after preemption (`num_computed_tokens` reset to 0, output kept) are the
//! same code path.

use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;

use crate::batch::{PromptLogprob, PromptLogprobsRequest, SampleSpec, TokenHistory};
use crate::block_hash::{hash_block_tokens, BlockHash};
use crate::finish::FinishReason;
use crate::ids::{RequestId, SeqId};
use crate::request::SeqSpec;
use crate::sampling::SamplingParams;
use crate::thinking_budget::{ReasoningPhase, ThinkingBudget};

/// Where a sequence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStatus {
    /// In the waiting queue: new, or preempted (holds no KV blocks).
    Waiting,
    /// In the running batch (holds KV blocks).
    Running,
    /// Done; its blocks are freed.
    Finished(FinishReason),
}

/// One sequence's tokens and progress.
#[derive(Debug, Clone)]
pub struct Sequence {
    seq_id: SeqId,
    request_id: RequestId,
    prompt: Arc<[u32]>,
    /// Sampled tokens, in order.
    output: Vec<u32>,
    /// Leading tokens (of prompt ++ output) whose K/V are in the cache; `<= num_tokens()`.
    num_computed_tokens: usize,
    params: Arc<SamplingParams>,
    status: SeqStatus,
    /// Admission order in the engine (smaller arrived earlier).
    arrival: u64,
    /// The request's scheduling priority (lower is served first).
    priority: i32,
    /// Block size the hashes are computed with; `None` when prefix caching is off.
    hash_block_size: Option<NonZeroUsize>,
    /// Chained hash of every full block of prompt ++ output (`num_tokens / block_size`).
    block_hashes: Vec<BlockHash>,
    /// Reasoning section state, when `params.thinking_budget` is set.
    reasoning_phase: Option<ReasoningPhase>,
    /// Scores of prompt tokens `1..=prompt_logprobs.len()` so far (`params.prompt_logprobs`);
    /// handed out with the first output token.
    prompt_logprobs: Vec<PromptLogprob>,
}

impl Sequence {
    /// A waiting sequence from `spec`. With `hash_block_size`, the hash of every full
    /// block is kept up to date for the prefix cache.
    pub fn new(request_id: RequestId, spec: SeqSpec, arrival: u64, priority: i32, hash_block_size: Option<NonZeroUsize>) -> Self {
        let mut seq = Self {
            seq_id: spec.seq_id,
            request_id,
            prompt: spec.prompt_token_ids,
            output: Vec::new(),
            num_computed_tokens: 0,
            params: spec.params,
            status: SeqStatus::Waiting,
            arrival,
            priority,
            hash_block_size,
            block_hashes: Vec::new(),
            reasoning_phase: None,
            prompt_logprobs: Vec::new(),
        };
        seq.reasoning_phase = seq.params.thinking_budget.as_ref().map(ThinkingBudget::initial_phase);
        seq.extend_block_hashes();
        seq
    }

    pub fn seq_id(&self) -> SeqId {
        self.seq_id
    }

    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    pub fn prompt(&self) -> &Arc<[u32]> {
        &self.prompt
    }

    /// Sampled tokens so far.
    pub fn output(&self) -> &[u32] {
        &self.output
    }

    pub fn params(&self) -> &Arc<SamplingParams> {
        &self.params
    }

    pub fn status(&self) -> SeqStatus {
        self.status
    }

    /// Admission order (smaller arrived earlier).
    /// The scheduling priority (lower is served first).
    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub fn arrival(&self) -> u64 {
        self.arrival
    }

    /// Known tokens: prompt plus output.
    pub fn num_tokens(&self) -> usize {
        self.prompt.len() + self.output.len()
    }

    /// Leading tokens whose K/V are in the cache.
    pub fn num_computed_tokens(&self) -> usize {
        self.num_computed_tokens
    }

    /// Chained hashes of the full blocks of prompt ++ output (empty when prefix caching is off).
    pub fn block_hashes(&self) -> &[BlockHash] {
        &self.block_hashes
    }

    /// Tokens at positions `range` of prompt ++ output (clamped to the known tokens).
    pub fn token_ids(&self, range: Range<usize>) -> Cow<'_, [u32]> {
        let end = range.end.min(self.num_tokens());
        let start = range.start.min(end);
        let p = self.prompt.len();
        if end <= p {
            Cow::Borrowed(&self.prompt[start..end])
        } else if start >= p {
            Cow::Borrowed(&self.output[start - p..end - p])
        } else {
            Cow::Owned(self.prompt[start..].iter().chain(&self.output[..end - p]).copied().collect())
        }
    }

    /// What the sampler needs to sample output token `output().len()`.
    pub fn sample_spec(&self) -> SampleSpec {
        let history = self.params.needs_history().then(|| TokenHistory { prompt: self.prompt.clone(), output: self.output.clone() });
        let forced_token = match (&self.params.thinking_budget, self.reasoning_phase) {
            (Some(budget), Some(phase)) => budget.forced_token(phase),
            _ => None,
        };
        let phase = self.reasoning_phase;
        let constrained = self.params.structured_output.is_some()
            && !matches!(phase, Some(ReasoningPhase::Reasoning | ReasoningPhase::Forcing { .. }));
        let allow_think_start = match (&self.params.thinking_budget, phase) {
            (Some(budget), Some(ReasoningPhase::NotStarted)) if constrained && self.output.is_empty() => {
                <[u32; 1]>::try_from(budget.start_ids.as_slice()).ok().map(|[id]| id)
            }
            _ => None,
        };
        SampleSpec { params: self.params.clone(), output_index: self.output.len(), history, forced_token, constrained, allow_think_start }
    }

    /// Whether prompt rows still have to be scored: prompt logprobs were asked for, the
    /// first output token (which delivers them) is not out yet, and some prompt token
    /// after the first is unscored.
    fn needs_prompt_rows(&self) -> bool {
        self.params.prompt_logprobs.is_some() && self.output.is_empty() && self.prompt_logprobs.len() + 1 < self.prompt.len()
    }

    /// Leading positions the prefix cache may serve: all of them, except for a sequence
    /// that still needs prompt rows, whose unscored positions must be computed (vLLM
    /// skips the prefix cache for `prompt_logprobs` requests likewise).
    pub fn max_cached_prefix(&self) -> usize {
        if self.needs_prompt_rows() {
            self.prompt_logprobs.len()
        } else {
            usize::MAX
        }
    }

    /// The rows of the chunk `start..end` to score against the prompt, if any:
    /// positions `start..min(end, prompt_len - 1)`, each scoring the prompt token after it.
    pub fn prompt_logprobs_request(&self, start: usize, end: usize) -> Option<PromptLogprobsRequest> {
        let num_top = self.params.prompt_logprobs?;
        let last_row = end.min(self.prompt.len().saturating_sub(1));
        (self.needs_prompt_rows() && start < last_row)
            .then(|| PromptLogprobsRequest { num_top, target_ids: self.prompt[start + 1..=last_row].to_vec() })
    }

    /// Records scores of prompt tokens `first_position..`; only the next unscored
    /// position onwards is taken (a recomputed chunk repeats scored ones).
    pub(crate) fn add_prompt_logprobs(&mut self, first_position: usize, logprobs: &[PromptLogprob]) {
        if !self.needs_prompt_rows() {
            return;
        }
        let next = self.prompt_logprobs.len() + 1;
        let Some(skip) = next.checked_sub(first_position) else { return };
        let room = self.prompt.len() - next;
        self.prompt_logprobs.extend(logprobs.iter().skip(skip).take(room).cloned());
    }

    /// The prompt scores, taken once when the first output token is appended
    /// (`None` when they were not asked for).
    pub(crate) fn take_prompt_logprobs(&mut self) -> Option<Vec<PromptLogprob>> {
        self.params.prompt_logprobs.map(|_| std::mem::take(&mut self.prompt_logprobs))
    }

    /// Where the output stands with respect to its reasoning section (`None` without a
    /// thinking budget).
    pub fn reasoning_phase(&self) -> Option<ReasoningPhase> {
        self.reasoning_phase
    }

    /// Appends a sampled token (and the hash of a block it completes).
    pub(crate) fn append_output(&mut self, token: u32) {
        self.output.push(token);
        self.extend_block_hashes();
        if let (Some(budget), Some(phase)) = (&self.params.thinking_budget, self.reasoning_phase) {
            self.reasoning_phase = Some(budget.advance(phase, &self.output));
        }
    }

    /// Records that `n` more tokens were computed (clamped to the known tokens).
    pub(crate) fn advance(&mut self, n: usize) {
        self.num_computed_tokens = (self.num_computed_tokens + n).min(self.num_tokens());
    }

    /// Sets the computed prefix, e.g. to a prefix-cache hit's length or one token back
    /// when a sample was lost (clamped to the known tokens).
    pub(crate) fn set_num_computed_tokens(&mut self, n: usize) {
        self.num_computed_tokens = n.min(self.num_tokens());
    }

    pub(crate) fn set_status(&mut self, status: SeqStatus) {
        self.status = status;
    }

    /// Preemption by recompute: back to waiting with nothing computed; output is kept
    /// and will be recomputed as part of the prefix.
    pub(crate) fn reset_for_recompute(&mut self) {
        self.num_computed_tokens = 0;
        self.status = SeqStatus::Waiting;
    }

    fn extend_block_hashes(&mut self) {
        let Some(bs) = self.hash_block_size.map(NonZeroUsize::get) else { return };
        while (self.block_hashes.len() + 1) * bs <= self.num_tokens() {
            let i = self.block_hashes.len();
            let hash = hash_block_tokens(self.block_hashes.last().copied(), &self.token_ids(i * bs..(i + 1) * bs));
            self.block_hashes.push(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(prompt: &[u32], block_size: Option<usize>) -> Sequence {
        let spec = SeqSpec { seq_id: SeqId(1), prompt_token_ids: prompt.into(), params: Arc::new(SamplingParams::default()) };
        Sequence::new(RequestId(1), spec, 0, 0, block_size.and_then(NonZeroUsize::new))
    }

    #[test]
    fn token_ids_span_prompt_and_output() {
        let mut s = seq(&[1, 2, 3], None);
        s.append_output(4);
        s.append_output(5);
        assert_eq!(&*s.token_ids(0..5), [1, 2, 3, 4, 5]);
        assert_eq!(&*s.token_ids(2..4), [3, 4]);
        assert_eq!(&*s.token_ids(3..9), [4, 5]);
        assert_eq!(s.num_tokens(), 5);
    }

    #[test]
    fn block_hashes_cover_full_blocks_of_prompt_and_output() {
        let mut s = seq(&[1, 2, 3], Some(2));
        assert_eq!(s.block_hashes().len(), 1);
        s.append_output(4);
        assert_eq!(s.block_hashes().len(), 2);
        let first = hash_block_tokens(None, &[1, 2]);
        assert_eq!(s.block_hashes(), [first, hash_block_tokens(Some(first), &[3, 4])]);
    }

    #[test]
    fn no_hashes_are_kept_when_prefix_caching_is_off() {
        assert!(seq(&[1, 2, 3, 4], None).block_hashes().is_empty());
    }

    #[test]
    fn recompute_keeps_the_output_and_resets_progress() {
        let mut s = seq(&[1, 2], None);
        s.advance(2);
        s.append_output(9);
        s.set_status(SeqStatus::Running);
        s.reset_for_recompute();
        assert_eq!(s.num_computed_tokens(), 0);
        assert_eq!(s.output(), [9]);
        assert_eq!(s.status(), SeqStatus::Waiting);
    }
}
