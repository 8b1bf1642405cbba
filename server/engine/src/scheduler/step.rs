//! `Scheduler::schedule`: one step's batch under the token budget.

use std::collections::HashSet;

use super::Scheduler;
use crate::batch::{ScheduledBatch, ScheduledSeq};
use crate::block_hash::BlockHash;
use crate::ids::SeqId;
use crate::kv_cache_manager::ComputedBlocks;

/// The step being built.
struct StepBuilder {
    /// Tokens left in the step's budget.
    budget: usize,
    seqs: Vec<ScheduledSeq>,
    /// Hashes of the blocks this step fills (prefix caching only): a waiting sequence
    /// whose prefix continues with one of them waits a step and then takes it from the
    /// cache, so `n` samples of one prompt prefill it once.
    pending: HashSet<BlockHash>,
    /// Whether a sequence was preempted in this step (then nothing new is admitted).
    preempted: bool,
    /// Whether `long_prefill_token_threshold` caps prompt chunks in this step (while
    /// some running sequence is decoding; see [`Scheduler::caps_chunks`]).
    caps_chunks: bool,
}

impl Scheduler {
    /// Picks the next step's work and allocates its KV slots: running sequences first,
    /// oldest first (one decode token, or the next prompt chunk, preempting the newest
    /// running sequences when blocks run out), then waiting sequences in FCFS order
    /// while the budget, `max_num_seqs` and free blocks allow. The batch never exceeds
    /// `max_num_batched_tokens` tokens or `max_num_seqs` sequences; it is empty when
    /// nothing is unfinished. Must be followed by `update` with the runner's output.
    pub fn schedule(&mut self) -> ScheduledBatch {
        let mut step = StepBuilder {
            budget: self.cfg.max_num_batched_tokens,
            seqs: Vec::new(),
            pending: HashSet::new(),
            preempted: false,
            caps_chunks: self.caps_chunks(),
        };
        self.schedule_running(&mut step);
        if !step.preempted {
            self.schedule_waiting(&mut step);
        }
        self.in_flight = step.seqs.iter().map(|s| (s.seq_id, s.sample.is_some())).collect();
        let finished_seq_ids = std::mem::take(&mut self.finished_since_schedule);
        ScheduledBatch { seqs: step.seqs, block_size: self.cfg.block_size, finished_seq_ids }
    }

    fn schedule_running(&mut self, step: &mut StepBuilder) {
        let mut i = 0;
        while i < self.running.len() && step.budget > 0 {
            let id = self.running[i];
            let seq = &self.seqs[&id];
            let n = self.chunk_len(seq.num_computed_tokens(), seq.num_tokens(), step);
            if n > 0 {
                if !self.allocate_or_preempt(id, n, step) {
                    break; // `id` itself was preempted: it was the newest left
                }
                self.push_scheduled(id, n, step);
            }
            i += 1;
        }
    }

    /// Allocates slots for `n` more tokens of running `id`, preempting the newest running
    /// sequences until it fits. Returns `false` when `id` itself had to be preempted.
    fn allocate_or_preempt(&mut self, id: SeqId, n: usize, step: &mut StepBuilder) -> bool {
        loop {
            let seq = &self.seqs[&id];
            if self.kv.allocate_slots(seq, n, &ComputedBlocks::default()).is_some() {
                return true;
            }
            step.preempted = true;
            match self.preempt_newest() {
                Some(victim) if victim != id => continue,
                _ => return false,
            }
        }
    }

    fn schedule_waiting(&mut self, step: &mut StepBuilder) {
        let mut idx = 0;
        while idx < self.waiting.len() && step.budget > 0 && self.running.len() < self.cfg.max_num_seqs {
            let id = self.waiting[idx];
            let seq = &self.seqs[&id];
            let mut hit = self.kv.get_computed_blocks(seq);
            let capped = cap_hit(&mut hit, seq.max_cached_prefix(), self.cfg.block_size);
            if !capped && self.waits_for_pending_block(id, &hit, step) {
                idx += 1;
                continue;
            }
            let remaining = seq.num_tokens() - hit.num_tokens;
            if !self.cfg.enable_chunked_prefill && remaining > step.budget {
                break; // prefilled whole or not at all; those behind it wait their turn
            }
            let n = self.chunk_len(hit.num_tokens, seq.num_tokens(), step);
            if self.kv.allocate_slots(seq, n, &hit).is_none() {
                break;
            }
            self.waiting.remove(idx);
            self.stats.prefix_cache_queries += seq.num_tokens() as u64;
            self.stats.prefix_cache_hits += hit.num_tokens as u64;
            if let Some(seq) = self.seqs.get_mut(&id) {
                seq.set_num_computed_tokens(hit.num_tokens);
            }
            self.set_running(id);
            self.push_scheduled(id, n, step);
        }
    }

    /// Whether the next step caps prompt chunks: vLLM's `long_prefill_token_threshold`
    /// rule (a prompt with more uncomputed tokens than the threshold computes that
    /// many), applied only while some running sequence is past its prompt, i.e.
    /// decoding: a stream waits for this step's token then, and no one does otherwise.
    /// Without chunked prefill there is no cap.
    fn caps_chunks(&self) -> bool {
        let decoding = || self.running.iter().any(|id| self.seqs[id].num_computed_tokens() >= self.seqs[id].prompt().len());
        self.cfg.long_prefill_token_threshold > 0 && self.cfg.enable_chunked_prefill && decoding()
    }

    /// Tokens a sequence with `computed` of `total` tokens computed takes in this step:
    /// the rest, capped by the step's budget and, when the step caps chunks, by
    /// [`long_prefill_cap`].
    fn chunk_len(&self, computed: usize, total: usize, step: &StepBuilder) -> usize {
        let remaining = total - computed;
        let cap = if step.caps_chunks {
            long_prefill_cap(self.cfg.long_prefill_token_threshold, self.cfg.attention_break_even_len, computed, total)
        } else {
            usize::MAX
        };
        remaining.min(cap).min(step.budget)
    }

    /// Whether the block right after `hit` could be served from the cache but is being
    /// filled in this very step by another sequence.
    fn waits_for_pending_block(&self, id: SeqId, hit: &ComputedBlocks, step: &StepBuilder) -> bool {
        let seq = &self.seqs[&id];
        let next = hit.blocks.len();
        let max_hit_blocks = (seq.num_tokens() - 1) / self.cfg.block_size;
        next < max_hit_blocks && seq.block_hashes().get(next).is_some_and(|h| step.pending.contains(h))
    }

    /// Adds `n` tokens of `id` (slots already allocated) to the step and advances its
    /// `num_computed_tokens`.
    fn push_scheduled(&mut self, id: SeqId, n: usize, step: &mut StepBuilder) {
        let Some(seq) = self.seqs.get_mut(&id) else { return };
        let start = seq.num_computed_tokens();
        let end = start + n;
        let sample = (end == seq.num_tokens()).then(|| seq.sample_spec());
        let prompt_logprobs = seq.prompt_logprobs_request(start, end);
        let bs = self.cfg.block_size;
        step.pending.extend(seq.block_hashes().iter().take(end / bs).skip(start / bs).copied());
        let token_ids = seq.token_ids(start..end).into_owned();
        self.stats.prompt_tokens_computed += end.min(seq.prompt().len()).saturating_sub(start) as u64;
        seq.advance(n);
        step.budget -= n;
        step.seqs.push(ScheduledSeq {
            seq_id: id,
            token_ids,
            num_computed_tokens: start,
            block_table: self.kv.block_table(id).to_vec(),
            sample,
            prompt_logprobs,
        });
    }
}

/// Shortens a prefix-cache hit to at most `max_tokens` leading positions (whole blocks).
/// Returns whether it was cut.
fn cap_hit(hit: &mut ComputedBlocks, max_tokens: usize, block_size: usize) -> bool {
    if hit.num_tokens <= max_tokens {
        return false;
    }
    hit.blocks.truncate(max_tokens / block_size);
    hit.num_tokens = hit.blocks.len() * block_size;
    true
}

/// The most tokens a prompt chunk at context `computed` of a `total`-token sequence
/// may have under `--long-prefill-token-threshold` `threshold`: `threshold` itself
/// without a cost model (`break_even == 0`), else the longest chunk that costs no more
/// than the sequence's last `threshold` tokens, with a chunk of `n` tokens at context
/// `c` costed `n * (break_even + c + n / 2)` (its tokens' weight matmuls plus their
/// attention over `c + n / 2` positions on average, in units of one position's
/// attention; see `SchedulerConfig::attention_break_even_len`). Never below `threshold`.
pub(crate) fn long_prefill_cap(threshold: usize, break_even: usize, computed: usize, total: usize) -> usize {
    if break_even == 0 {
        return threshold;
    }
    let t = threshold as f64;
    let last_context = total.saturating_sub(threshold) as f64;
    let budget = t * (break_even as f64 + last_context + t / 2.0);
    // The positive root of n^2 / 2 + a n = budget.
    let a = (break_even + computed) as f64;
    let n = (a * a + 2.0 * budget).sqrt() - a;
    (n.floor() as usize).max(threshold)
}
