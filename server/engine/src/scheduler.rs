//! `Scheduler`: continuous batching. Decides at every engine step which sequences
//! advance by how many tokens under a token budget, after vLLM v1's scheduler.
//!
//! There is no prefill phase and no decode phase: every sequence has
//! `num_computed_tokens` catching up to `num_tokens` (see `sequence`). A step serves
//! running sequences first (oldest first: one decode token, or the next prompt chunk),
//! then admits waiting ones in FCFS order while the token budget, `max_num_seqs` and free
//! blocks allow, so new requests join the running batch at the next step and finished
//! ones leave at once. When a running sequence cannot get a block, the newest running
//! sequence is preempted by recompute (blocks freed, output kept, front of the waiting
//! queue).
//!
//! Lifecycle: `add_request` → `schedule` → (runner executes the batch) → `update` →
//! `schedule` → ... ; `abort_request` at any time between steps.

mod step;
mod update;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod prompt_logprobs_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

pub use self::update::SeqUpdate;
use crate::error::{AddRequestError, ConfigError};
use crate::ids::{RequestId, SeqId};
use crate::kv_cache_manager::{KvCacheConfig, KvCacheManager};
use crate::request::Request;
use crate::sequence::{SeqStatus, Sequence};

/// Limits of the scheduler and shape of the KV cache (vLLM's flag names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Most sequences in the running batch.
    pub max_num_seqs: usize,
    /// Token budget of one step: the most tokens (prefill chunks plus decodes) computed
    /// in one forward pass.
    pub max_num_batched_tokens: usize,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Blocks in the KV cache.
    pub num_blocks: usize,
    /// Context window: prompt plus output tokens of one sequence. At most
    /// `num_blocks * block_size`, so any one sequence always fits alone.
    pub max_model_len: usize,
    /// The model's end-of-sequence token ids.
    pub eos_token_ids: Vec<u32>,
    /// Share the KV blocks of equal prompt prefixes (on in vLLM v1 and here by default).
    pub enable_prefix_caching: bool,
    /// Who is admitted first and preempted last.
    #[serde(default)]
    pub policy: SchedulingPolicy,
    /// Split a prompt longer than the step's remaining budget across steps (vLLM's
    /// `--enable-chunked-prefill`, on by default as in vLLM v1). When off, a prompt is
    /// prefilled whole in one step, so `max_num_batched_tokens` must be at least
    /// `max_model_len`; a prompt that does not fit beside the running decodes waits (and,
    /// FCFS, holds back those behind it).
    #[serde(default = "enabled")]
    pub enable_chunked_prefill: bool,
    /// With chunked prefill, while some running sequence is decoding, a prompt with more
    /// tokens left to compute than this gets at most this many per step (vLLM's
    /// `--long-prefill-token-threshold`, which vLLM applies even with no stream waiting;
    /// 0: only the step budget limits it). A long prompt's prefill is then spread over
    /// steps short enough that the decoding streams' next tokens are not held up long.
    #[serde(default)]
    pub long_prefill_token_threshold: usize,
    /// Makes `long_prefill_token_threshold` cost-aware (0: off, a plain token count): the
    /// context length at which one token's attention costs as much as its weight
    /// matmuls (`ModelConfig::attention_break_even_len`). A chunk at context `c` of `n`
    /// tokens is costed `n * (this + c + n / 2)`; each chunk may cost what the prompt's
    /// last `threshold` tokens cost, so early chunks, whose attention is cheap, are
    /// longer and the prompt needs fewer steps, while no step costs more than the last.
    #[serde(default)]
    pub attention_break_even_len: usize,
}

fn enabled() -> bool {
    true
}

/// `--scheduling-policy` (vLLM's): the order of the waiting queue and of preemption.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchedulingPolicy {
    /// First come, first served; the newest running sequence is preempted first.
    #[default]
    Fcfs,
    /// By `Request::priority` (lower first), then arrival; the running sequence with the
    /// highest priority value (newest among equals) is preempted first.
    Priority,
}

/// The continuous-batching scheduler; owns every unfinished sequence.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    kv: KvCacheManager,
    /// Every unfinished sequence, waiting or running.
    seqs: HashMap<SeqId, Sequence>,
    /// Unfinished sequences of each request.
    requests: HashMap<RequestId, Vec<SeqId>>,
    /// Running sequences in admission order; the back is preempted first.
    running: Vec<SeqId>,
    /// Waiting sequences, FCFS; preempted ones are pushed to the front.
    waiting: VecDeque<SeqId>,
    /// Sequences of the last `schedule`, each with whether it expects a sampled token.
    in_flight: Vec<(SeqId, bool)>,
    /// Arrival counter for new sequences.
    next_arrival: u64,
    /// Cumulative prefill and prefix-cache counters.
    stats: SchedulerStats,
    /// Sequences finished or aborted since the last `schedule` (handed to the runner).
    finished_since_schedule: Vec<SeqId>,
}

/// Cumulative counters since the scheduler started (vLLM's prefix-cache metrics count
/// tokens, as here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerStats {
    /// Tokens of admitted sequences looked up in the prefix cache (prompt, or prompt and
    /// output for a preempted sequence coming back).
    pub prefix_cache_queries: u64,
    /// Of those, tokens served from cached blocks (not computed).
    pub prefix_cache_hits: u64,
    /// Prompt positions whose K/V were computed (prefill work; recomputes count again).
    pub prompt_tokens_computed: u64,
    /// Preemptions by recompute.
    pub preemptions: u64,
    /// Sequences whose thinking budget ran out, so the engine closed their reasoning
    /// (counted at the first forced token).
    pub reasoning_budget_exhausted: u64,
}

impl Scheduler {
    /// An idle scheduler with an empty KV cache.
    ///
    /// # Errors
    /// `ConfigError` when a limit is 0, `num_blocks` exceeds `u32::MAX`, or
    /// `max_model_len > num_blocks * block_size` (a sequence could outgrow the cache).
    pub fn new(cfg: SchedulerConfig) -> Result<Self, ConfigError> {
        for (name, value) in [
            ("max_num_seqs", cfg.max_num_seqs),
            ("max_num_batched_tokens", cfg.max_num_batched_tokens),
            ("block_size", cfg.block_size),
            ("num_blocks", cfg.num_blocks),
            ("max_model_len", cfg.max_model_len),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        let num_blocks = u32::try_from(cfg.num_blocks).map_err(|_| ConfigError::TooManyBlocks(cfg.num_blocks))?;
        let capacity = cfg.num_blocks.saturating_mul(cfg.block_size);
        if cfg.max_model_len > capacity {
            return Err(ConfigError::ModelLenExceedsKvCache { max_model_len: cfg.max_model_len, capacity });
        }
        if !cfg.enable_chunked_prefill && cfg.max_num_batched_tokens < cfg.max_model_len {
            return Err(ConfigError::BudgetBelowModelLen {
                max_num_batched_tokens: cfg.max_num_batched_tokens,
                max_model_len: cfg.max_model_len,
            });
        }
        let kv = KvCacheManager::new(KvCacheConfig {
            num_blocks,
            block_size: cfg.block_size,
            enable_prefix_caching: cfg.enable_prefix_caching,
        });
        Ok(Self {
            cfg,
            kv,
            seqs: HashMap::new(),
            requests: HashMap::new(),
            running: Vec::new(),
            waiting: VecDeque::new(),
            in_flight: Vec::new(),
            next_arrival: 0,
            stats: SchedulerStats::default(),
            finished_since_schedule: Vec::new(),
        })
    }

    /// Queues all sequences of `request` (in order) at the back of the waiting queue;
    /// they may join the running batch at the next `schedule`.
    ///
    /// # Errors
    /// `AddRequestError` (and nothing is queued) when the request is empty or its id or a
    /// sequence id is already in use, a prompt is empty, `max_tokens` is 0, a sampling
    /// parameter is out of range (`SamplingParams::validate`), or a prompt
    /// can never fit: `prompt_len + 1 > max_model_len` or more blocks than the cache holds.
    pub fn add_request(&mut self, request: Request) -> Result<(), AddRequestError> {
        self.validate(&request)?;
        let hash_block_size = NonZeroUsize::new(self.cfg.block_size).filter(|_| self.cfg.enable_prefix_caching);
        let ids = request.seqs.iter().map(|s| s.seq_id).collect();
        for spec in request.seqs {
            let seq = Sequence::new(request.id, spec, self.next_arrival, request.priority, hash_block_size);
            self.next_arrival += 1;
            let id = seq.seq_id();
            self.seqs.insert(id, seq);
            self.enqueue_waiting(id);
        }
        self.requests.insert(request.id, ids);
        Ok(())
    }

    fn validate(&self, request: &Request) -> Result<(), AddRequestError> {
        if request.seqs.is_empty() {
            return Err(AddRequestError::NoSequences(request.id));
        }
        if self.requests.contains_key(&request.id) {
            return Err(AddRequestError::DuplicateRequest(request.id));
        }
        for (i, spec) in request.seqs.iter().enumerate() {
            let seq_id = spec.seq_id;
            if self.seqs.contains_key(&seq_id) || request.seqs[..i].iter().any(|s| s.seq_id == seq_id) {
                return Err(AddRequestError::DuplicateSeq(seq_id));
            }
            let prompt_len = spec.prompt_token_ids.len();
            if prompt_len == 0 {
                return Err(AddRequestError::EmptyPrompt(seq_id));
            }
            if spec.params.max_tokens == 0 {
                return Err(AddRequestError::ZeroMaxTokens(seq_id));
            }
            spec.params.validate().map_err(|source| AddRequestError::InvalidParams { seq_id, source })?;
            if prompt_len + 1 > self.cfg.max_model_len {
                return Err(AddRequestError::PromptTooLong { seq_id, prompt_len, max_model_len: self.cfg.max_model_len });
            }
            let needed = (prompt_len + 1).div_ceil(self.cfg.block_size);
            if needed > self.cfg.num_blocks {
                return Err(AddRequestError::NotEnoughBlocks { seq_id, needed, num_blocks: self.cfg.num_blocks });
            }
        }
        Ok(())
    }

    /// Drops the request's unfinished sequences and frees their blocks at once. Returns
    /// their ids (empty for an unknown or already finished request). A token the runner
    /// still samples for them is ignored by `update`.
    pub fn abort_request(&mut self, request_id: RequestId) -> Vec<SeqId> {
        let ids = self.requests.remove(&request_id).unwrap_or_default();
        for &id in &ids {
            self.kv.free(id);
            self.seqs.remove(&id);
        }
        self.finished_since_schedule.extend_from_slice(&ids);
        self.running.retain(|id| !ids.contains(id));
        self.waiting.retain(|id| !ids.contains(id));
        ids
    }

    /// Sequences in the running batch.
    pub fn num_running(&self) -> usize {
        self.running.len()
    }

    /// Sequences waiting for admission (new or preempted).
    pub fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Requests none of whose sequences is running yet (new ones, or every sequence
    /// preempted): what bounded admission counts.
    pub fn num_waiting_requests(&self) -> usize {
        self.requests
            .values()
            .filter(|seqs| seqs.iter().all(|id| self.seqs.get(id).is_none_or(|s| s.status() == SeqStatus::Waiting)))
            .count()
    }

    /// Fraction of KV blocks in use, `0.0..=1.0`; 0 when idle.
    pub fn kv_cache_usage(&self) -> f64 {
        self.kv.usage()
    }

    /// Cumulative prefill, prefix-cache and preemption counters.
    pub fn stats(&self) -> SchedulerStats {
        self.stats
    }

    /// Whether any sequence is waiting or running.
    pub fn has_unfinished(&self) -> bool {
        !self.seqs.is_empty()
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    /// The KV cache bookkeeping (read-only), for metrics and tests.
    pub fn kv_cache(&self) -> &KvCacheManager {
        &self.kv
    }

    /// An unfinished sequence.
    pub fn sequence(&self, seq_id: SeqId) -> Option<&Sequence> {
        self.seqs.get(&seq_id)
    }

    /// Every unfinished sequence, in no particular order.
    pub fn sequences(&self) -> impl Iterator<Item = &Sequence> + '_ {
        self.seqs.values()
    }

    /// Forgets every cached prefix, e.g. after new weights were loaded (their K/V would
    /// be stale). Running sequences keep their blocks.
    pub fn reset_prefix_cache(&mut self) {
        self.kv.reset_prefix_cache();
    }

    /// Preemption by recompute of the newest running sequence: frees its blocks and puts
    /// it at the front of the waiting queue with its output kept. Returns its id.
    fn preempt_newest(&mut self) -> Option<SeqId> {
        // `running` is ordered by admission (FCFS) or by (priority, arrival): the back
        // is always the one to preempt.
        let id = self.running.pop()?;
        self.stats.preemptions += 1;
        self.kv.free(id);
        if let Some(seq) = self.seqs.get_mut(&id) {
            seq.reset_for_recompute();
        }
        match self.cfg.policy {
            SchedulingPolicy::Fcfs => self.waiting.push_front(id),
            SchedulingPolicy::Priority => self.enqueue_waiting(id),
        }
        Some(id)
    }

    /// Puts `id` in the waiting queue: at the back under FCFS; under `Priority`, after
    /// every sequence with a lower (priority, arrival) key.
    fn enqueue_waiting(&mut self, id: SeqId) {
        match self.cfg.policy {
            SchedulingPolicy::Fcfs => self.waiting.push_back(id),
            SchedulingPolicy::Priority => {
                let at = self.position_by_priority(self.waiting.iter(), id);
                self.waiting.insert(at, id);
            }
        }
    }

    /// Index of the first of `queue` whose (priority, arrival) key is above `id`'s.
    fn position_by_priority<'a>(&self, queue: impl Iterator<Item = &'a SeqId>, id: SeqId) -> usize {
        let key = |id: &SeqId| self.seqs.get(id).map(|s| (s.priority(), s.arrival()));
        let own = key(&id);
        let mut n = 0;
        for other in queue {
            if key(other) > own {
                return n;
            }
            n += 1;
        }
        n
    }

    /// Removes a finished sequence and frees its blocks.
    fn finish(&mut self, seq_id: SeqId) {
        self.finished_since_schedule.push(seq_id);
        self.kv.free(seq_id);
        self.running.retain(|&id| id != seq_id);
        self.waiting.retain(|&id| id != seq_id);
        if let Some(seq) = self.seqs.remove(&seq_id) {
            if let Some(ids) = self.requests.get_mut(&seq.request_id()) {
                ids.retain(|&id| id != seq_id);
                if ids.is_empty() {
                    self.requests.remove(&seq.request_id());
                }
            }
        }
    }

    fn set_running(&mut self, seq_id: SeqId) {
        if let Some(seq) = self.seqs.get_mut(&seq_id) {
            seq.set_status(SeqStatus::Running);
        }
        match self.cfg.policy {
            SchedulingPolicy::Fcfs => self.running.push(seq_id),
            SchedulingPolicy::Priority => {
                let at = self.position_by_priority(self.running.iter(), seq_id);
                self.running.insert(at, seq_id);
            }
        }
    }
}
