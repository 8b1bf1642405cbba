//! `Scheduler::update`: applies a step's sampled tokens.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::Scheduler;
use crate::batch::{PromptLogprob, SampledToken, StepOutput};
use crate::finish::{check_stop, FinishReason};
use crate::ids::{RequestId, SeqId};
use crate::thinking_budget::ReasoningPhase;

/// One sampled token of one sequence, and whether it ended the sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqUpdate {
    pub request_id: RequestId,
    pub seq_id: SeqId,
    pub token: SampledToken,
    /// `Some` when this token finished the sequence (its blocks are already freed).
    pub finish: Option<FinishReason>,
    /// On the first token of a sequence that asked for `prompt_logprobs`: entry `i`
    /// scores prompt token `i + 1` (the first prompt token has no score). `None` on
    /// every other update.
    #[serde(default)]
    pub prompt_logprobs: Option<Vec<PromptLogprob>>,
}

impl Scheduler {
    /// Applies the runner's output for the last `schedule`: records prompt logprobs
    /// (delivered with each sequence's first token), enters the blocks the step
    /// filled into the prefix cache, appends each sampled token, checks the token-level
    /// stops (EOS unless `ignore_eos`, `stop_token_ids`, both only after `min_tokens`;
    /// `max_tokens` and `max_model_len` as `Length`) and frees finished sequences' blocks
    /// at once. Returns one update per accepted token, in `out` order.
    ///
    /// Ignored: tokens for sequences that were aborted or did not expect a sample, and
    /// a second token for one sequence. A sequence that expected a sample but got none
    /// recomputes its last token at the next step, so no token is lost; the block holding
    /// that token is entered into the prefix cache only after the recompute, so no other
    /// sequence shares it while it is written again.
    pub fn update(&mut self, out: &StepOutput) -> Vec<SeqUpdate> {
        let in_flight = std::mem::take(&mut self.in_flight);
        for chunk in &out.prompt_logprobs {
            if let Some(seq) = self.seqs.get_mut(&chunk.seq_id) {
                seq.add_prompt_logprobs(chunk.first_position, &chunk.logprobs);
            }
        }
        let sampled: HashSet<SeqId> = out.sampled.iter().map(|t| t.seq_id).collect();
        for &(id, expects_sample) in &in_flight {
            let Some(seq) = self.seqs.get_mut(&id) else { continue };
            if expects_sample && !sampled.contains(&id) {
                seq.set_num_computed_tokens(seq.num_tokens() - 1);
            }
            self.kv.cache_full_blocks(seq);
        }
        let mut expecting: HashSet<SeqId> = in_flight.iter().filter(|(_, s)| *s).map(|(id, _)| *id).collect();
        let mut updates = Vec::with_capacity(out.sampled.len());
        for token in &out.sampled {
            if !expecting.remove(&token.seq_id) {
                continue;
            }
            if let Some(update) = self.append_token(token) {
                updates.push(update);
            }
        }
        updates
    }

    fn append_token(&mut self, token: &SampledToken) -> Option<SeqUpdate> {
        let seq = self.seqs.get_mut(&token.seq_id)?;
        let prompt_logprobs = if seq.output().is_empty() { seq.take_prompt_logprobs() } else { None };
        if seq.reasoning_phase() == Some(ReasoningPhase::Forcing { next: 0 }) {
            self.stats.reasoning_budget_exhausted += 1;
        }
        seq.append_output(token.token_id);
        let finish = check_stop(seq, &self.cfg.eos_token_ids, self.cfg.max_model_len);
        let request_id = seq.request_id();
        if finish.is_some() {
            self.finish(token.seq_id);
        }
        Some(SeqUpdate { request_id, seq_id: token.seq_id, token: token.clone(), finish, prompt_logprobs })
    }
}
