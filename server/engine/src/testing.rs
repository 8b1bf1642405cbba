//! Test support: a fake runner whose KV cache holds a fingerprint of the whole prefix
//! at every slot (so a wrong block table, a stale prefix-cache hit or a lost token shows
//! up as a mismatch), and the scheduler's invariants.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::batch::{PromptLogprob, PromptLogprobsChunk, SampledToken, ScheduledBatch, ScheduledSeq, StepOutput};
use crate::ids::{RequestId, SeqId};
use crate::request::{Request, SeqSpec};
use crate::sampling::SamplingParams;
use crate::scheduler::{Scheduler, SchedulerConfig, SeqUpdate};
use crate::sequence::SeqStatus;

pub(crate) fn config(num_blocks: usize, block_size: usize, budget: usize, max_num_seqs: usize) -> SchedulerConfig {
    SchedulerConfig {
        policy: crate::scheduler::SchedulingPolicy::Fcfs,
        max_num_seqs,
        max_num_batched_tokens: budget,
        block_size,
        num_blocks,
        max_model_len: num_blocks * block_size,
        eos_token_ids: vec![0],
        enable_prefix_caching: true,
        enable_chunked_prefill: true,
        long_prefill_token_threshold: 0,
        attention_break_even_len: 0,
    }
}

/// A request of one sequence per prompt, seq ids `first_seq..`.
pub(crate) fn request(id: u64, first_seq: u64, prompts: &[&[u32]], params: SamplingParams) -> Request {
    let params = Arc::new(params);
    let seqs = (0..prompts.len())
        .map(|i| SeqSpec { seq_id: SeqId(first_seq + i as u64), prompt_token_ids: prompts[i].into(), params: params.clone() })
        .collect();
    Request { id: RequestId(id), seqs, priority: 0 }
}

/// Fingerprint of every prefix: `fp[p]` identifies `tokens[..=p]`.
fn fingerprints(tokens: &[u32]) -> Vec<u64> {
    let mut fp = 0x9e37_79b9_7f4a_7c15_u64;
    tokens
        .iter()
        .map(|&t| {
            fp = (fp ^ u64::from(t)).wrapping_mul(0x1000_0000_01b3).rotate_left(17);
            fp
        })
        .collect()
}

/// The fake runner's score of the last token of `tokens` given the ones before it.
pub(crate) fn fake_prompt_logprob(tokens: &[u32]) -> f32 {
    -((fingerprints(tokens).last().copied().unwrap_or(0) % 1000) as f32)
}

/// Stands in for the model runner.
pub(crate) struct FakeRunner {
    block_size: usize,
    /// Fingerprint of the prefix whose K/V each slot holds.
    slots: Vec<Option<u64>>,
    /// Prompt length and all known tokens of each live sequence.
    tokens: HashMap<SeqId, (usize, Vec<u32>)>,
}

impl FakeRunner {
    pub(crate) fn new(num_blocks: usize, block_size: usize) -> Self {
        Self { block_size, slots: vec![None; num_blocks * block_size], tokens: HashMap::new() }
    }

    pub(crate) fn add_request(&mut self, request: &Request) {
        for s in &request.seqs {
            self.tokens.insert(s.seq_id, (s.prompt_token_ids.len(), s.prompt_token_ids.to_vec()));
        }
    }

    /// Appends accepted tokens; forgets finished sequences.
    pub(crate) fn record(&mut self, updates: &[SeqUpdate]) {
        for u in updates {
            if let Some((_, tokens)) = self.tokens.get_mut(&u.seq_id) {
                tokens.push(u.token.token_id);
            }
            if u.finish.is_some() {
                self.tokens.remove(&u.seq_id);
            }
        }
    }

    pub(crate) fn forget(&mut self, seq_id: SeqId) {
        self.tokens.remove(&seq_id);
    }

    /// Checks each sequence's prefix in the fake cache, writes its new tokens and
    /// samples `sample(seq_id, output_index)` where the batch asks for it (or emits the
    /// spec's forced token, as the real sampler does).
    pub(crate) fn execute(&mut self, batch: &ScheduledBatch, mut sample: impl FnMut(SeqId, usize) -> u32) -> Result<StepOutput, String> {
        let mut out = StepOutput::default();
        for s in &batch.seqs {
            self.run_seq(s)?;
            if s.prompt_logprobs.is_some() {
                out.prompt_logprobs.push(self.score_prompt_rows(s)?);
            }
            if let Some(spec) = &s.sample {
                out.sampled.push(SampledToken {
                    seq_id: s.seq_id,
                    token_id: spec.forced_token.unwrap_or_else(|| sample(s.seq_id, spec.output_index)),
                    logprob: 0.0,
                    top_logprobs: Vec::new(),
                });
            }
        }
        Ok(out)
    }

    /// Answers a chunk's `PromptLogprobsRequest`: checks that its targets are the prompt
    /// tokens after its rows, and scores each with [`fake_prompt_logprob`].
    fn score_prompt_rows(&self, s: &ScheduledSeq) -> Result<PromptLogprobsChunk, String> {
        let req = s.prompt_logprobs.as_ref().ok_or("no prompt logprobs request")?;
        let (prompt_len, known) = &self.tokens[&s.seq_id];
        let start = s.num_computed_tokens;
        let end = start + req.target_ids.len();
        if req.target_ids.is_empty() || end > *prompt_len || end > start + s.token_ids.len() || req.target_ids[..] != known[start + 1..=end] {
            return Err(format!("{:?}: prompt logprob targets {:?} are not the prompt after rows {start}..", s.seq_id, req.target_ids));
        }
        let logprobs = (start + 1..=end)
            .map(|p| PromptLogprob { token_id: known[p], logprob: fake_prompt_logprob(&known[..=p]), rank: 1, top_logprobs: Vec::new() })
            .collect();
        Ok(PromptLogprobsChunk { seq_id: s.seq_id, first_position: start + 1, logprobs })
    }

    fn run_seq(&mut self, s: &ScheduledSeq) -> Result<(), String> {
        let (prompt_len, known) = self.tokens.get(&s.seq_id).ok_or(format!("unknown {:?}", s.seq_id))?;
        let (start, end) = (s.num_computed_tokens, s.num_computed_tokens + s.token_ids.len());
        if end > known.len() || s.token_ids[..] != known[start..end] {
            return Err(format!("{:?}: scheduled tokens {start}..{end} are not the sequence's", s.seq_id));
        }
        if s.block_table.len() * self.block_size < end {
            return Err(format!("{:?}: block table does not cover {end} tokens", s.seq_id));
        }
        let fp = fingerprints(&known[..end]);
        let slot = |p: usize| s.block_table[p / self.block_size].index() * self.block_size + p % self.block_size;
        if let Some(p) = (0..start).find(|&p| self.slots[slot(p)] != Some(fp[p])) {
            return Err(format!("{:?}: position {p} holds wrong K/V", s.seq_id));
        }
        for p in start..end {
            self.slots[slot(p)] = Some(fp[p]);
        }
        match (&s.sample, end == known.len()) {
            (None, false) => Ok(()),
            (Some(spec), true) if spec.output_index == known.len() - prompt_len => {
                let history_ok = match &spec.history {
                    None => !spec.params.needs_history(),
                    Some(h) => *h.prompt == known[..*prompt_len] && h.output == known[*prompt_len..],
                };
                history_ok.then_some(()).ok_or(format!("{:?}: wrong token history", s.seq_id))
            }
            _ => Err(format!("{:?}: sample spec does not match the end of its tokens", s.seq_id)),
        }
    }
}

/// The batch respects the limits, covers its tokens and writes only private blocks.
pub(crate) fn check_batch(sched: &Scheduler, batch: &ScheduledBatch) -> Result<(), String> {
    let cfg = sched.config();
    if batch.num_tokens() > cfg.max_num_batched_tokens || batch.seqs.len() > cfg.max_num_seqs {
        return Err(format!("batch of {} tokens / {} seqs exceeds the limits", batch.num_tokens(), batch.seqs.len()));
    }
    let mut seen = HashSet::new();
    for s in &batch.seqs {
        let end = s.num_computed_tokens + s.token_ids.len();
        if !seen.insert(s.seq_id) || s.token_ids.is_empty() || s.block_table.len() * cfg.block_size < end {
            return Err(format!("{:?}: repeated, empty or not covered by its block table", s.seq_id));
        }
        let written = &s.block_table[s.num_computed_tokens / cfg.block_size..end.div_ceil(cfg.block_size)];
        if let Some(b) = written.iter().find(|&&b| sched.kv_cache().pool().ref_cnt(b) != Some(1)) {
            return Err(format!("{:?}: writes shared block {b:?}", s.seq_id));
        }
    }
    Ok(())
}

/// Ref counts equal block-table holders, the free queue holds each free block once,
/// free + used == total, and only running sequences hold blocks.
pub(crate) fn check_invariants(sched: &Scheduler) -> Result<(), String> {
    let kv = sched.kv_cache();
    let pool = kv.pool();
    let mut holders = vec![0u32; pool.num_blocks()];
    for (id, table) in kv.block_tables() {
        let seq = sched.sequence(id).ok_or(format!("{id:?}: table of a finished sequence"))?;
        if seq.status() != SeqStatus::Running || table.len() * kv.block_size() < seq.num_computed_tokens() {
            return Err(format!("{id:?}: holds blocks while not running, or too few"));
        }
        let distinct: HashSet<_> = table.iter().collect();
        if distinct.len() != table.len() {
            return Err(format!("{id:?}: a block twice in one table"));
        }
        table.iter().for_each(|b| holders[b.index()] += 1);
    }
    if let Some(b) = (0..holders.len()).find(|&b| pool.ref_cnt(crate::ids::BlockId(b as u32)) != Some(holders[b])) {
        return Err(format!("block {b}: ref count {:?} but {} holders", pool.ref_cnt(crate::ids::BlockId(b as u32)), holders[b]));
    }
    let free: Vec<_> = pool.free_block_ids().collect();
    let distinct: HashSet<_> = free.iter().collect();
    if distinct.len() != free.len() || free.len() != pool.num_free_blocks() {
        return Err("free queue repeats a block or miscounts".into());
    }
    if free.iter().any(|b| holders[b.index()] != 0) {
        return Err("a held block is in the free queue".into());
    }
    let used = holders.iter().filter(|&&h| h > 0).count();
    if used + free.len() != pool.num_blocks() || (sched.kv_cache_usage() - used as f64 / pool.num_blocks() as f64).abs() > 1e-9 {
        return Err(format!("used {used} + free {} != total {}, or wrong usage", free.len(), pool.num_blocks()));
    }
    if sched.num_running() > sched.config().max_num_seqs || sched.num_running() + sched.num_waiting() != sched.sequences().count() {
        return Err("running/waiting counts are off".into());
    }
    Ok(())
}

/// A scheduler driven by a `FakeRunner`, checking the invariants around every step.
pub(crate) struct Harness {
    pub(crate) sched: Scheduler,
    pub(crate) runner: FakeRunner,
}

impl Harness {
    pub(crate) fn new(cfg: SchedulerConfig) -> Self {
        let runner = FakeRunner::new(cfg.num_blocks, cfg.block_size);
        Self { sched: Scheduler::new(cfg).expect("valid config"), runner }
    }

    pub(crate) fn add(&mut self, request: Request) -> Result<(), crate::error::AddRequestError> {
        self.sched.add_request(request.clone())?;
        self.runner.add_request(&request);
        Ok(())
    }

    pub(crate) fn abort(&mut self, id: u64) -> Vec<SeqId> {
        let ids = self.sched.abort_request(RequestId(id));
        ids.iter().for_each(|&s| self.runner.forget(s));
        ids
    }

    /// One engine step: schedule, check, execute on the fake runner, update, check.
    pub(crate) fn try_step(&mut self, sample: impl FnMut(SeqId, usize) -> u32) -> Result<(ScheduledBatch, Vec<SeqUpdate>), String> {
        let batch = self.sched.schedule();
        check_batch(&self.sched, &batch)?;
        check_invariants(&self.sched)?;
        let out = self.runner.execute(&batch, sample)?;
        let updates = self.sched.update(&out);
        self.runner.record(&updates);
        check_invariants(&self.sched)?;
        Ok((batch, updates))
    }

    pub(crate) fn step(&mut self, sample: impl FnMut(SeqId, usize) -> u32) -> (ScheduledBatch, Vec<SeqUpdate>) {
        self.try_step(sample).unwrap_or_else(|e| panic!("{e}"))
    }
}
