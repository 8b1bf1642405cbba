//! Seeded random-operation tests (proptest) of `Scheduler` over `KvCacheManager` and
//! `BlockPool`: random add / step / abort / abort-in-flight / lost samples / prefix-cache
//! reset on pools of 6..24 blocks of 2..4 tokens, so preemption by recompute and prefix
//! hits are frequent.
//!
//! After every operation: the block invariants (`check_invariants`: each ref count
//! equals the block tables holding the block, each free block queued once, free + used
//! == total), the batch's (`check_batch`), the preempted sequences are the newest
//! running ones (the test keeps its own admission-ordered model of the running batch),
//! and every sequence's output so far is a prefix of what a naive reference generates for
//! it (no token lost, repeated or changed across preemption). At the end, every block is
//! free and each finished sequence has exactly the reference's output and finish reason.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngSeed, TestRunner};

use super::*;
use crate::batch::ScheduledBatch;
use crate::finish::FinishReason;
use crate::ids::BlockId;
use crate::sampling::SamplingParams;
use crate::testing::{check_batch, check_invariants, config, fake_prompt_logprob, request, Harness};

/// `config`'s EOS id.
const EOS: u32 = 0;
/// The stop token of requests with `stop`.
const STOP: u32 = 5;
/// Sampled tokens are `0..VOCAB`, so EOS ends about one sequence in nine per token.
const VOCAB: u32 = 9;

/// The fake model's output token `index` of `seq`: a pure function, as the runner's
/// counter-based RNG, so a sequence's whole output is known before it runs and does not
/// depend on batching or preemption.
fn sample(seq: SeqId, index: usize) -> u32 {
    let mut x = seq.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 29;
    (x % u64::from(VOCAB)) as u32
}

/// Naive reference of a sequence's whole life: its output and why it ends.
fn reference(seq: SeqId, prompt_len: usize, p: &SamplingParams, max_model_len: usize) -> (Vec<u32>, FinishReason) {
    let mut out = Vec::new();
    loop {
        let token = sample(seq, out.len());
        out.push(token);
        let stops_count = out.len() >= p.min_tokens;
        if stops_count && !p.ignore_eos && token == EOS {
            return (out, FinishReason::Eos);
        }
        if stops_count && p.stop_token_ids.contains(&token) {
            return (out, FinishReason::StopToken(token));
        }
        if out.len() >= p.max_tokens || prompt_len + out.len() >= max_model_len {
            return (out, FinishReason::Length);
        }
    }
}

/// One prompt: the first `shared` tokens of base prompt `base`, then `suffix`.
#[derive(Debug, Clone)]
struct PromptGen {
    base: usize,
    shared: usize,
    suffix: Vec<u32>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A request of one sequence per prompt.
    Add { prompts: Vec<PromptGen>, max_tokens: usize, min_tokens: usize, ignore_eos: bool, stop: bool, penalty: bool, prompt_logprobs: bool },
    /// One engine step; the samples of batch entries `i` with bit `i % 8` of `lost` set
    /// never come back.
    Step { lost: u8 },
    /// Aborts the `n % count`-th request added so far (a no-op for a finished one).
    Abort(usize),
    /// One step with that abort between the runner's execution and `update`.
    StepAbortingInFlight(usize),
    ResetPrefixCache,
}

#[derive(Debug, Clone)]
struct Case {
    num_blocks: usize,
    block_size: usize,
    /// `max_num_batched_tokens`.
    budget: usize,
    max_num_seqs: usize,
    /// `max_model_len` is the cache's capacity minus this (at least 2).
    max_model_len_cut: usize,
    prefix_caching: bool,
    /// `enable_chunked_prefill`; when off the budget is raised to `max_model_len`.
    chunked_prefill: bool,
    /// Base prompts that generated prompts share prefixes of.
    bases: Vec<Vec<u32>>,
    ops: Vec<Op>,
    /// End by aborting every request instead of running them to completion.
    end_by_abort: bool,
}

fn op() -> impl Strategy<Value = Op> {
    let prompt = (0..3usize, 0..14usize, prop::collection::vec(1..VOCAB, 0..5))
        .prop_map(|(base, shared, suffix)| PromptGen { base, shared, suffix });
    let add = (
        prop::collection::vec(prompt, 1..=4),
        1..14usize,
        prop_oneof![3 => Just(0usize), 1 => 1..4usize],
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
    )
        // Every fifth `max_tokens` asks for prompt logprobs (derived, so the generated
        // cases, and the coverage counts below, stay those of the fixed seed).
        .prop_map(|(prompts, max_tokens, min_tokens, ignore_eos, stop, penalty)| Op::Add {
            prompt_logprobs: max_tokens % 5 == 0,
            prompts,
            max_tokens,
            min_tokens,
            ignore_eos,
            stop,
            penalty,
        });
    prop_oneof![
        4 => add,
        6 => prop_oneof![5 => Just(0u8), 1 => any::<u8>()].prop_map(|lost| Op::Step { lost }),
        1 => any::<usize>().prop_map(Op::Abort),
        1 => any::<usize>().prop_map(Op::StepAbortingInFlight),
        1 => Just(Op::ResetPrefixCache),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![3 => 6..12usize, 1 => 12..24usize],
        2..=4usize,
        prop_oneof![2..8usize, 8..40usize],
        1..=6usize,
        prop_oneof![2 => Just(0usize), 1 => 1..8usize],
        any::<bool>(),
        prop::bool::weighted(0.75),
        prop::collection::vec(prop::collection::vec(1..4u32, 1..14), 3),
        prop::collection::vec(op(), 1..80),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(num_blocks, block_size, budget, max_num_seqs, max_model_len_cut, prefix_caching, chunked_prefill, bases, ops, end_by_abort)| Case {
                num_blocks,
                block_size,
                budget,
                max_num_seqs,
                max_model_len_cut,
                prefix_caching,
                chunked_prefill,
                bases,
                ops,
                end_by_abort,
            },
        )
}

/// What a case exercised, so a test can check the generator is not vacuous.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    preemptions: usize,
    /// Preemptions of a sequence that arrived before a running one it was preempted for,
    /// i.e. newest by admission, not by arrival.
    readmitted_preemptions: usize,
    prefix_hits: usize,
    lost_samples: usize,
    in_flight_aborts: usize,
    finished: usize,
    rejected: usize,
}

/// What the test knows of one accepted sequence.
struct SeqModel {
    request_id: RequestId,
    prompt: Vec<u32>,
    /// The reference's whole output and finish reason.
    want: (Vec<u32>, FinishReason),
    /// Tokens reported by `update` so far.
    output: Vec<u32>,
    /// `Some(None)` once aborted, `Some(Some(reason))` once finished.
    ended: Option<Option<FinishReason>>,
    /// Asked for prompt logprobs.
    prompt_logprobs: bool,
}

/// The first update of a sequence that asked for prompt logprobs carries one score per
/// prompt token after the first, each the fake runner's (so none came from a position
/// the prefix cache skipped or from another sequence); every other update carries none.
fn check_prompt_logprobs(seq: &SeqModel, u: &SeqUpdate) -> Result<(), String> {
    let want: Option<Vec<(u32, f32)>> = (seq.prompt_logprobs && seq.output.len() == 1)
        .then(|| (1..seq.prompt.len()).map(|p| (seq.prompt[p], fake_prompt_logprob(&seq.prompt[..=p]))).collect());
    let got: Option<Vec<(u32, f32)>> = u.prompt_logprobs.as_ref().map(|v| v.iter().map(|l| (l.token_id, l.logprob)).collect());
    if got != want {
        return Err(format!("{:?} output {}: prompt logprobs {got:?}, expected {want:?}", u.seq_id, seq.output.len()));
    }
    Ok(())
}

/// Drives a `Harness` through a case and checks it against its own model.
struct Driver {
    h: Harness,
    bases: Vec<Vec<u32>>,
    /// Every accepted request's id and sequences, in order.
    requests: Vec<(RequestId, Vec<SeqId>)>,
    seqs: HashMap<SeqId, SeqModel>,
    /// The running batch in admission order, as the test observes it: the scheduler
    /// must preempt from the back.
    running: Vec<SeqId>,
    next_request: u64,
    next_seq: u64,
    stats: Stats,
}

impl Driver {
    fn new(case: &Case) -> Self {
        let mut cfg = config(case.num_blocks, case.block_size, case.budget, case.max_num_seqs);
        cfg.max_model_len = cfg.max_model_len.saturating_sub(case.max_model_len_cut).max(2);
        cfg.enable_prefix_caching = case.prefix_caching;
        cfg.enable_chunked_prefill = case.chunked_prefill;
        if !case.chunked_prefill {
            cfg.max_num_batched_tokens = cfg.max_num_batched_tokens.max(cfg.max_model_len);
        }
        Self {
            h: Harness::new(cfg),
            bases: case.bases.clone(),
            requests: Vec::new(),
            seqs: HashMap::new(),
            running: Vec::new(),
            next_request: 0,
            next_seq: 0,
            stats: Stats::default(),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Add { prompts, max_tokens, min_tokens, ignore_eos, stop, penalty, prompt_logprobs } => {
                let params = SamplingParams {
                    max_tokens: *max_tokens,
                    min_tokens: *min_tokens,
                    ignore_eos: *ignore_eos,
                    stop_token_ids: if *stop { vec![STOP] } else { Vec::new() },
                    repetition_penalty: if *penalty { 1.1 } else { 1.0 },
                    prompt_logprobs: prompt_logprobs.then_some(0),
                    ..SamplingParams::default()
                };
                let prompts: Vec<Vec<u32>> = prompts.iter().map(|p| self.prompt(p)).collect();
                self.add(prompts, params)?;
            }
            Op::Step { lost } => self.step(*lost, None)?,
            Op::Abort(n) => self.abort(*n)?,
            Op::StepAbortingInFlight(n) => self.step(0, Some(*n))?,
            Op::ResetPrefixCache => {
                self.h.sched.reset_prefix_cache();
                let pool = self.h.sched.kv_cache().pool();
                if let Some(b) = (0..pool.num_blocks()).find(|&b| pool.is_cached(BlockId(b as u32))) {
                    return Err(format!("block {b} is still cached after reset_prefix_cache"));
                }
            }
        }
        check_invariants(&self.h.sched)?;
        self.check_sequences()
    }

    fn prompt(&self, p: &PromptGen) -> Vec<u32> {
        let base = &self.bases[p.base % self.bases.len()];
        let mut prompt = base[..p.shared.min(base.len())].to_vec();
        prompt.extend(&p.suffix);
        if prompt.is_empty() {
            prompt.push(1);
        }
        prompt
    }

    fn add(&mut self, prompts: Vec<Vec<u32>>, params: SamplingParams) -> Result<(), String> {
        let (id, first) = (self.next_request, self.next_seq);
        self.next_request += 1;
        self.next_seq += prompts.len() as u64;
        let max_model_len = self.h.sched.config().max_model_len;
        let fits = prompts.iter().all(|p| p.len() < max_model_len);
        let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        match (self.h.add(request(id, first, &refs, params.clone())), fits) {
            (Ok(()), true) => {}
            (Err(AddRequestError::PromptTooLong { .. }), false) => {
                self.stats.rejected += 1;
                return Ok(());
            }
            (result, _) => return Err(format!("add_request({prompts:?}) with max_model_len {max_model_len}: {result:?}")),
        }
        let ids: Vec<SeqId> = (first..first + prompts.len() as u64).map(SeqId).collect();
        for (&seq_id, prompt) in ids.iter().zip(prompts) {
            let want = reference(seq_id, prompt.len(), &params, max_model_len);
            let prompt_logprobs = params.prompt_logprobs.is_some();
            let model = SeqModel { request_id: RequestId(id), prompt, want, output: Vec::new(), ended: None, prompt_logprobs };
            self.seqs.insert(seq_id, model);
        }
        self.requests.push((RequestId(id), ids));
        Ok(())
    }

    fn abort(&mut self, n: usize) -> Result<(), String> {
        if self.requests.is_empty() {
            return Ok(());
        }
        let (request_id, ids) = self.requests[n % self.requests.len()].clone();
        let mut want: Vec<SeqId> = ids.into_iter().filter(|id| self.seqs[id].ended.is_none()).collect();
        let mut got = self.h.abort(request_id.0);
        want.sort();
        got.sort();
        if got != want {
            return Err(format!("abort of {request_id:?} dropped {got:?}, expected its unfinished {want:?}"));
        }
        for id in got {
            self.seqs.get_mut(&id).expect("known").ended = Some(None);
            self.running.retain(|&r| r != id);
        }
        Ok(())
    }

    /// One engine step, like `Harness::try_step` but with lost samples, an optional
    /// abort while the step is in flight, and the model's checks.
    fn step(&mut self, lost: u8, abort_in_flight: Option<usize>) -> Result<(), String> {
        let computed: HashMap<SeqId, usize> = self.h.sched.sequences().map(|s| (s.seq_id(), s.num_computed_tokens())).collect();
        let batch = self.h.sched.schedule();
        check_batch(&self.h.sched, &batch)?;
        check_invariants(&self.h.sched)?;
        self.check_schedule(&batch, &computed)?;
        let mut out = self.h.runner.execute(&batch, sample)?;
        let mut i = 0;
        out.sampled.retain(|_| {
            let keep = (lost >> (i % 8)) & 1 == 0;
            i += 1;
            keep
        });
        self.stats.lost_samples += batch.seqs.iter().filter(|s| s.sample.is_some()).count() - out.sampled.len();
        if let Some(n) = abort_in_flight {
            self.stats.in_flight_aborts += 1;
            self.abort(n)?;
        }
        let updates = self.h.sched.update(&out);
        self.h.runner.record(&updates);
        self.record(&updates)
    }

    /// Checks the batch just scheduled against the model of the running batch (running
    /// sequences first, oldest first, each where it stopped (`computed` before the
    /// schedule); preemption from the newest; no admission in a step that preempts) and
    /// updates the model.
    fn check_schedule(&mut self, batch: &ScheduledBatch, computed: &HashMap<SeqId, usize>) -> Result<(), String> {
        let sched = &self.h.sched;
        let status = |id: SeqId| sched.sequence(id).map(Sequence::status);
        let kept = self.running.iter().take_while(|&&id| status(id) == Some(SeqStatus::Running)).count();
        let (old, preempted) = self.running.split_at(kept);
        if let Some(id) = preempted.iter().find(|&&id| status(id) != Some(SeqStatus::Waiting)) {
            return Err(format!("{id:?} left running {:?} in a schedule, but not by preemption; preempted must be the newest", self.running));
        }
        for &id in preempted {
            let seq = sched.sequence(id).expect("waiting");
            if seq.num_computed_tokens() != 0 || !sched.kv_cache().block_table(id).is_empty() {
                return Err(format!("preempted {id:?} keeps computed tokens or blocks"));
            }
            if seq.output() != self.seqs[&id].output {
                return Err(format!("preempted {id:?} lost output: {:?} vs {:?}", seq.output(), self.seqs[&id].output));
            }
        }
        let order: Vec<SeqId> = batch.seqs.iter().map(|s| s.seq_id).collect();
        let num_old = order.iter().zip(old).take_while(|(a, b)| a == b).count();
        if order[num_old..].iter().any(|id| old.contains(id)) {
            return Err(format!("batch {order:?} does not serve running {old:?} first, oldest first"));
        }
        if let Some(s) = batch.seqs[..num_old].iter().find(|s| s.num_computed_tokens != computed[&s.seq_id]) {
            return Err(format!("running {:?} resumed at {} of {} computed tokens", s.seq_id, s.num_computed_tokens, computed[&s.seq_id]));
        }
        let admitted = &order[num_old..];
        if num_old < old.len() && batch.num_tokens() < sched.config().max_num_batched_tokens {
            return Err(format!("running {:?} skipped with budget left", old[num_old]));
        }
        if !preempted.is_empty() && !admitted.is_empty() {
            return Err(format!("{admitted:?} admitted in a step that preempted {preempted:?}"));
        }
        if let Some(s) = batch.seqs.iter().find(|s| !sched.config().enable_chunked_prefill && s.sample.is_none()) {
            return Err(format!("{:?} prefilled in a chunk while chunked prefill is off", s.seq_id));
        }
        for s in &batch.seqs[num_old..] {
            if s.num_computed_tokens % sched.config().block_size != 0 {
                return Err(format!("{:?} admitted with a partial block computed", s.seq_id));
            }
            if s.num_computed_tokens > 0 {
                if !sched.config().enable_prefix_caching {
                    return Err(format!("{:?} admitted with a cache hit while prefix caching is off", s.seq_id));
                }
                self.stats.prefix_hits += 1;
            }
        }
        self.stats.preemptions += preempted.len();
        let arrival = |id: &SeqId| sched.sequence(*id).map_or(0, Sequence::arrival);
        let newest_kept_arrival = old.iter().map(arrival).max();
        self.stats.readmitted_preemptions += preempted.iter().filter(|id| Some(arrival(id)) < newest_kept_arrival).count();

        self.running.truncate(kept);
        self.running.extend_from_slice(admitted);
        let actual: HashSet<SeqId> = sched.sequences().filter(|s| s.status() == SeqStatus::Running).map(Sequence::seq_id).collect();
        if actual != self.running.iter().copied().collect() || sched.num_running() != self.running.len() {
            return Err(format!("running {actual:?}, expected {:?}", self.running));
        }
        Ok(())
    }

    /// Checks each update against the reference and records it.
    fn record(&mut self, updates: &[SeqUpdate]) -> Result<(), String> {
        for u in updates {
            let seq = self.seqs.get_mut(&u.seq_id).ok_or(format!("update for unknown {:?}", u.seq_id))?;
            if seq.ended.is_some() || seq.request_id != u.request_id {
                return Err(format!("update {u:?} for an ended sequence or the wrong request"));
            }
            seq.output.push(u.token.token_id);
            check_prompt_logprobs(seq, u)?;
            let (want, reason) = &seq.want;
            if !want.starts_with(&seq.output) {
                return Err(format!("{:?}: output {:?} departs from the reference {want:?}", u.seq_id, seq.output));
            }
            let want_finish = (seq.output.len() == want.len()).then_some(*reason);
            if u.finish != want_finish {
                return Err(format!("{:?} after {:?}: finish {:?}, expected {want_finish:?}", u.seq_id, seq.output, u.finish));
            }
            if u.finish.is_some() {
                seq.ended = Some(u.finish);
                self.stats.finished += 1;
                self.running.retain(|&id| id != u.seq_id);
            }
        }
        check_invariants(&self.h.sched)?;
        self.check_sequences()
    }

    /// The scheduler holds exactly the unended sequences, with their prompts and outputs.
    fn check_sequences(&self) -> Result<(), String> {
        let sched = &self.h.sched;
        let live: HashSet<SeqId> = self.seqs.iter().filter(|(_, s)| s.ended.is_none()).map(|(&id, _)| id).collect();
        let unfinished: HashSet<SeqId> = sched.sequences().map(Sequence::seq_id).collect();
        if live != unfinished || sched.has_unfinished() == live.is_empty() {
            return Err(format!("scheduler holds {unfinished:?}, expected {live:?}"));
        }
        for id in live {
            let (seq, model) = (sched.sequence(id).expect("live"), &self.seqs[&id]);
            if **seq.prompt() != *model.prompt || seq.output() != model.output {
                return Err(format!("{id:?}: prompt/output {:?}/{:?}, expected {:?}/{:?}", seq.prompt(), seq.output(), model.prompt, model.output));
            }
        }
        Ok(())
    }

    /// Runs every sequence to completion (or aborts everything), then checks that every
    /// block is free and each finished sequence produced the reference's output.
    fn finish(&mut self, by_abort: bool) -> Result<(), String> {
        if by_abort {
            for n in 0..self.requests.len() {
                self.abort(n)?;
            }
        }
        let max_model_len = self.h.sched.config().max_model_len;
        // The oldest running sequence computes at least one token per step and is never
        // preempted, so each sequence finishes within `max_model_len` steps.
        let bound = (self.h.sched.sequences().count() + 1) * (max_model_len + 1);
        let mut steps = 0;
        while self.h.sched.has_unfinished() {
            if steps == bound {
                return Err(format!("still unfinished after {bound} steps"));
            }
            self.step(0, None)?;
            steps += 1;
        }
        let sched = &self.h.sched;
        let pool = sched.kv_cache().pool();
        if sched.kv_cache_usage() != 0.0 || pool.num_free_blocks() != pool.num_blocks() || sched.kv_cache().block_tables().count() != 0 {
            return Err(format!("idle with usage {} and {} of {} blocks free", sched.kv_cache_usage(), pool.num_free_blocks(), pool.num_blocks()));
        }
        if let Some(b) = (0..pool.num_blocks()).find(|&b| pool.ref_cnt(BlockId(b as u32)) != Some(0)) {
            return Err(format!("idle but block {b} has ref count {:?}", pool.ref_cnt(BlockId(b as u32))));
        }
        if sched.num_running() + sched.num_waiting() != 0 {
            return Err("idle with running or waiting sequences".into());
        }
        for (id, seq) in &self.seqs {
            match seq.ended {
                Some(Some(reason)) if (&seq.output, reason) == (&seq.want.0, seq.want.1) => {}
                Some(None) if by_abort || seq.want.0.starts_with(&seq.output) => {}
                _ => return Err(format!("{id:?} ended as {:?} with {:?}, reference {:?}", seq.ended, seq.output, seq.want)),
            }
        }
        Ok(())
    }
}

fn run(case: &Case) -> Result<Stats, String> {
    let mut driver = Driver::new(case);
    for (i, op) in case.ops.iter().enumerate() {
        driver.apply(op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
    }
    driver.finish(case.end_by_abort).map_err(|e| format!("at the end: {e}"))?;
    Ok(driver.stats)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        rng_seed: RngSeed::Fixed(0x706f_6e64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_never_leak_lose_or_double_free(case in case()) {
        run(&case).map_err(TestCaseError::fail)?;
    }
}

/// The generator really exercises what the property test is about.
#[test]
fn random_operations_exercise_preemption_prefix_hits_and_aborts() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut total = Stats::default();
    for _ in 0..64 {
        let case = strategy.new_tree(&mut runner).expect("case").current();
        let s = run(&case).unwrap_or_else(|e| panic!("{e}\n{case:?}"));
        total.preemptions += s.preemptions;
        total.readmitted_preemptions += s.readmitted_preemptions;
        total.prefix_hits += s.prefix_hits;
        total.lost_samples += s.lost_samples;
        total.in_flight_aborts += s.in_flight_aborts;
        total.finished += s.finished;
        total.rejected += s.rejected;
    }
    let Stats { preemptions, readmitted_preemptions, prefix_hits, lost_samples, in_flight_aborts, finished, rejected } = total;
    assert!(preemptions >= 20 && readmitted_preemptions > 0 && prefix_hits >= 20, "{total:?}");
    assert!(lost_samples > 0 && in_flight_aborts > 0 && finished >= 100 && rejected > 0, "{total:?}");
}

/// Directed: when the oldest running sequence needs a block and none is free, the newest
/// running one is preempted (not the middle one), keeps its output and frees its blocks.
#[test]
fn the_newest_running_sequence_is_preempted_first() {
    let mut cfg = config(6, 2, 64, 8);
    cfg.enable_prefix_caching = false;
    let mut h = Harness::new(cfg);
    let params = SamplingParams { max_tokens: 8, ..SamplingParams::default() };
    for (id, prompt) in [(1, &[1, 2, 3][..]), (2, &[4, 5, 6]), (3, &[7, 8])] {
        h.add(request(id, id, &[prompt], params.clone())).unwrap();
    }
    let sevens = |_: SeqId, _: usize| 7;
    h.step(sevens); // prefill: 2 + 2 + 1 blocks, one free
    h.step(sevens); // decode: sequence 3 takes the last free block
    assert_eq!(h.sched.kv_cache().pool().num_free_blocks(), 0);
    let (batch, _) = h.step(sevens); // 1 needs a third block: 3 is preempted, 1 and 2 get one each
    let ids: Vec<SeqId> = batch.seqs.iter().map(|s| s.seq_id).collect();
    assert_eq!(ids, [SeqId(1), SeqId(2)]);
    let victim = h.sched.sequence(SeqId(3)).unwrap();
    assert_eq!((victim.status(), victim.num_computed_tokens(), victim.output()), (SeqStatus::Waiting, 0, &[7, 7][..]));
    assert!(h.sched.kv_cache().block_table(SeqId(3)).is_empty());
    assert_eq!(h.sched.sequence(SeqId(2)).unwrap().status(), SeqStatus::Running);
    assert_eq!((h.sched.num_running(), h.sched.num_waiting()), (2, 1));
}

#[test]
fn reference_stops_on_eos_stop_token_and_length() {
    // Checks the test's own reference against hand-computed cases.
    let seq = SeqId(3);
    let tokens: Vec<u32> = (0..64).map(|i| sample(seq, i)).collect();
    let first_eos = tokens.iter().position(|&t| t == EOS).expect("an EOS within 64 tokens");
    let p = SamplingParams { max_tokens: 64, ..SamplingParams::default() };
    assert_eq!(reference(seq, 1, &p, 1000), (tokens[..=first_eos].to_vec(), FinishReason::Eos));
    let p = SamplingParams { max_tokens: 64, ignore_eos: true, ..SamplingParams::default() };
    assert_eq!(reference(seq, 1, &p, 1000), (tokens.clone(), FinishReason::Length));
    assert_eq!(reference(seq, 10, &p, 15), (tokens[..5].to_vec(), FinishReason::Length));
    let stop = tokens[0];
    let p = SamplingParams { max_tokens: 64, ignore_eos: true, stop_token_ids: vec![stop], min_tokens: 1, ..SamplingParams::default() };
    assert_eq!(reference(seq, 1, &p, 1000), (tokens[..1].to_vec(), FinishReason::StopToken(stop)));
}
