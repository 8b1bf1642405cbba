use super::*;
use crate::batch::{SampledToken, ScheduledBatch, StepOutput};
use crate::finish::FinishReason;
use crate::sampling::SamplingParams;
use crate::testing::{config, request, Harness};

fn params(max_tokens: usize) -> SamplingParams {
    SamplingParams { max_tokens, ..SamplingParams::default() }
}

/// Samples token 7 (never EOS) for everyone.
fn sevens(_: SeqId, _: usize) -> u32 {
    7
}

fn chunk(batch: &ScheduledBatch, seq: u64) -> Option<(usize, usize, bool)> {
    let s = batch.seqs.iter().find(|s| s.seq_id == SeqId(seq))?;
    Some((s.num_computed_tokens, s.token_ids.len(), s.sample.is_some()))
}

#[test]
fn a_prompt_longer_than_the_budget_is_prefilled_in_chunks() {
    let mut h = Harness::new(config(16, 4, 4, 8));
    h.add(request(1, 1, &[&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], params(4))).unwrap();
    assert_eq!(chunk(&h.step(sevens).0, 1), Some((0, 4, false)));
    assert_eq!(chunk(&h.step(sevens).0, 1), Some((4, 4, false)));
    let (batch, updates) = h.step(sevens);
    assert_eq!(chunk(&batch, 1), Some((8, 2, true)));
    assert_eq!(updates.len(), 1);
    assert_eq!(chunk(&h.step(sevens).0, 1), Some((10, 1, true)));
}

#[test]
fn a_new_request_joins_the_running_batch_at_the_next_step() {
    let mut h = Harness::new(config(16, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2, 3]], params(8))).unwrap();
    h.step(sevens);
    h.add(request(2, 2, &[&[4, 5, 6, 8, 9]], params(8))).unwrap();
    let (batch, updates) = h.step(sevens);
    assert_eq!(chunk(&batch, 1), Some((3, 1, true)));
    assert_eq!(chunk(&batch, 2), Some((0, 5, true)));
    assert_eq!(updates.len(), 2);
    assert_eq!(h.sched.num_running(), 2);
}

#[test]
fn max_num_seqs_holds_later_requests_in_the_waiting_queue() {
    let mut h = Harness::new(config(16, 4, 64, 1));
    h.add(request(1, 1, &[&[1, 2]], params(2))).unwrap();
    h.add(request(2, 2, &[&[3, 4]], params(2))).unwrap();
    assert_eq!(h.step(sevens).0.seqs.len(), 1);
    assert_eq!(h.sched.num_waiting(), 1);
    h.step(sevens); // request 1 finishes
    assert_eq!(chunk(&h.step(sevens).0, 2), Some((0, 2, true)));
}

#[test]
fn preempted_sequence_is_recomputed_and_keeps_its_tokens() {
    let mut cfg = config(4, 2, 64, 8);
    cfg.enable_prefix_caching = false;
    let mut h = Harness::new(cfg);
    h.add(request(1, 1, &[&[1, 2, 3]], params(3))).unwrap();
    h.add(request(2, 2, &[&[4, 5, 6]], params(5))).unwrap();
    let mut next = 10;
    let mut sample = |_: SeqId, _: usize| {
        next += 1;
        next
    };
    h.step(&mut sample); // both prefill: 2 blocks each, the pool is full
    h.step(&mut sample); // both decode inside their second block
    let b_output = h.sched.sequence(SeqId(2)).unwrap().output().to_vec();
    let (batch, _) = h.step(&mut sample); // sequence 1 needs a third block: 2 is preempted
    assert_eq!(batch.seqs.len(), 1);
    assert_eq!(h.sched.num_waiting(), 1);
    assert_eq!(h.sched.sequence(SeqId(2)).unwrap().output(), b_output);
    // Sequence 1 finished with its third token in that step, so 2 is readmitted at
    // once and recomputes prompt and output in one chunk.
    assert!(h.sched.sequence(SeqId(1)).is_none(), "sequence 1 finished");
    let (batch, updates) = h.step(&mut sample);
    let resumed = &batch.seqs[0];
    assert_eq!(resumed.seq_id, SeqId(2));
    assert_eq!(resumed.token_ids, [&[4, 5, 6][..], &b_output].concat());
    assert_eq!(resumed.num_computed_tokens, 0);
    assert_eq!(resumed.sample.as_ref().unwrap().output_index, 2);
    assert_eq!(updates[0].token.token_id, next);
}

#[test]
fn a_preempted_sequence_resumes_from_its_cached_blocks() {
    let mut h = Harness::new(config(4, 2, 64, 8));
    h.add(request(1, 1, &[&[1, 2, 3]], params(3))).unwrap();
    h.add(request(2, 2, &[&[4, 5, 6]], params(5))).unwrap();
    for _ in 0..3 {
        h.step(sevens); // prefill, decode, preempt 2 while 1 takes its third token and finishes
    }
    let (batch, _) = h.step(sevens);
    // Sequence 2 freed [4 5] [6 7]; block [6 7] was taken by sequence 1, [4 5] survived.
    assert_eq!(chunk(&batch, 2), Some((2, 3, true)));
}

#[test]
fn an_equal_prompt_reuses_the_blocks_of_a_finished_one() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    let prompt: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9];
    h.add(request(1, 1, &[prompt], params(1))).unwrap();
    h.step(sevens);
    assert!(!h.sched.has_unfinished());
    h.add(request(2, 2, &[prompt], params(1))).unwrap();
    assert_eq!(chunk(&h.step(sevens).0, 2), Some((8, 1, true)));
}

#[test]
fn n_samples_of_one_prompt_prefill_it_once() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    let prompt: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9];
    h.add(request(1, 1, &[prompt, prompt], params(4))).unwrap();
    let (batch, _) = h.step(sevens);
    assert_eq!(chunk(&batch, 1), Some((0, 9, true)));
    assert!(chunk(&batch, 2).is_none());
    let (batch, _) = h.step(sevens);
    assert_eq!(chunk(&batch, 2), Some((8, 1, true)));
    let tables: Vec<_> = batch.seqs.iter().map(|s| s.block_table[..2].to_vec()).collect();
    assert_eq!(tables[0], tables[1]);
    assert_eq!(h.sched.kv_cache().pool().ref_cnt(tables[0][0]), Some(2));
}

#[test]
fn eos_is_ignored_before_min_tokens() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2]], SamplingParams { min_tokens: 2, ..params(8) })).unwrap();
    let eos = |_: SeqId, _: usize| 0;
    assert_eq!(h.step(eos).1[0].finish, None);
    assert_eq!(h.step(eos).1[0].finish, Some(FinishReason::Eos));
    assert!(!h.sched.has_unfinished());
}

#[test]
fn ignore_eos_generates_until_max_tokens() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2]], SamplingParams { ignore_eos: true, ..params(3) })).unwrap();
    let finishes: Vec<_> = (0..3).map(|_| h.step(|_, _| 0).1[0].finish).collect();
    assert_eq!(finishes, [None, None, Some(FinishReason::Length)]);
}

#[test]
fn a_stop_token_finishes_with_its_id() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2]], SamplingParams { stop_token_ids: vec![5], ..params(8) })).unwrap();
    assert_eq!(h.step(|_, _| 4).1[0].finish, None);
    assert_eq!(h.step(|_, _| 5).1[0].finish, Some(FinishReason::StopToken(5)));
}

#[test]
fn reaching_max_model_len_finishes_with_length() {
    let mut cfg = config(8, 4, 64, 8);
    cfg.max_model_len = 6;
    let mut h = Harness::new(cfg);
    h.add(request(1, 1, &[&[1, 2, 3, 4]], params(100))).unwrap();
    assert_eq!(h.step(sevens).1[0].finish, None);
    assert_eq!(h.step(sevens).1[0].finish, Some(FinishReason::Length));
    assert_eq!(h.sched.kv_cache_usage(), 0.0);
}

#[test]
fn a_prompt_that_can_never_fit_is_rejected() {
    let mut cfg = config(8, 4, 64, 8);
    cfg.max_model_len = 6;
    let mut s = Scheduler::new(cfg).unwrap();
    let err = s.add_request(request(1, 1, &[&[1, 2], &[1, 2, 3, 4, 5, 6]], params(4))).unwrap_err();
    assert!(matches!(err, AddRequestError::PromptTooLong { prompt_len: 6, .. }), "{err}");
    assert!(!s.has_unfinished());
    assert!(s.add_request(request(1, 1, &[&[1, 2, 3, 4, 5]], params(4))).is_ok());
}

#[test]
fn malformed_requests_are_rejected() {
    let mut s = Scheduler::new(config(8, 4, 64, 8)).unwrap();
    let err = |s: &mut Scheduler, r| s.add_request(r).unwrap_err();
    assert_eq!(err(&mut s, request(1, 1, &[], params(4))), AddRequestError::NoSequences(RequestId(1)));
    assert_eq!(err(&mut s, request(1, 1, &[&[]], params(4))), AddRequestError::EmptyPrompt(SeqId(1)));
    assert_eq!(err(&mut s, request(1, 1, &[&[1]], params(0))), AddRequestError::ZeroMaxTokens(SeqId(1)));
    s.add_request(request(1, 1, &[&[1]], params(4))).unwrap();
    assert_eq!(err(&mut s, request(1, 2, &[&[1]], params(4))), AddRequestError::DuplicateRequest(RequestId(1)));
    assert_eq!(err(&mut s, request(2, 1, &[&[1]], params(4))), AddRequestError::DuplicateSeq(SeqId(1)));
}

#[test]
fn configs_that_cannot_work_are_rejected() {
    let zero = SchedulerConfig { block_size: 0, ..config(8, 4, 64, 8) };
    assert_eq!(Scheduler::new(zero).unwrap_err(), ConfigError::Zero("block_size"));
    let too_long = SchedulerConfig { max_model_len: 33, ..config(8, 4, 64, 8) };
    assert_eq!(Scheduler::new(too_long).unwrap_err(), ConfigError::ModelLenExceedsKvCache { max_model_len: 33, capacity: 32 });
}

#[test]
fn aborting_a_request_frees_its_blocks_at_once_and_drops_its_late_token() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2, 3], &[4, 5]], params(8))).unwrap();
    h.step(sevens);
    let batch = h.sched.schedule();
    let mut ids = h.abort(1);
    ids.sort();
    assert_eq!(ids, [SeqId(1), SeqId(2)]);
    assert_eq!(h.sched.kv_cache_usage(), 0.0);
    assert!(!h.sched.has_unfinished());
    let late = h.runner.execute(&batch, sevens);
    assert!(late.is_err(), "the runner forgot the aborted sequences");
    let out = StepOutput { sampled: vec![SampledToken { seq_id: SeqId(1), token_id: 7, logprob: 0.0, top_logprobs: vec![] }], ..StepOutput::default() };
    assert!(h.sched.update(&out).is_empty());
    assert!(h.sched.abort_request(RequestId(1)).is_empty());
}

#[test]
fn sample_spec_carries_history_only_when_penalties_need_it() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2]], params(4))).unwrap();
    h.add(request(2, 2, &[&[3, 4]], SamplingParams { repetition_penalty: 1.2, ..params(4) })).unwrap();
    h.step(sevens);
    let batch = h.step(sevens).0;
    assert!(batch.seqs[0].sample.as_ref().unwrap().history.is_none());
    let history = batch.seqs[1].sample.as_ref().unwrap().history.clone().unwrap();
    assert_eq!((&*history.prompt, history.output.as_slice()), (&[3, 4][..], &[7][..]));
}

#[test]
fn a_lost_sample_is_recomputed_at_the_next_step() {
    let mut h = Harness::new(config(8, 4, 64, 8));
    h.add(request(1, 1, &[&[1, 2, 3]], params(4))).unwrap();
    // The runner computed the prefill but its sample never came back.
    let batch = h.sched.schedule();
    h.runner.execute(&batch, sevens).unwrap();
    assert!(h.sched.update(&StepOutput::default()).is_empty());
    assert_eq!(chunk(&h.step(sevens).0, 1), Some((2, 1, true)));
}

#[test]
fn the_block_of_a_lost_sample_is_shared_only_after_its_recompute() {
    let mut h = Harness::new(config(8, 2, 64, 8));
    h.add(request(1, 1, &[&[1, 2, 3, 4]], params(4))).unwrap();
    let batch = h.sched.schedule();
    h.runner.execute(&batch, sevens).unwrap();
    assert!(h.sched.update(&StepOutput::default()).is_empty());
    let last_block = batch.seqs[0].block_table[1];
    assert!(!h.sched.kv_cache().pool().is_cached(last_block), "[3 4] is written again next step");
    // Sequence 2 shares [1 2] at once but waits for [3 4] (`step` fails on a shared write).
    h.add(request(2, 2, &[&[1, 2, 3, 4, 5]], params(4))).unwrap();
    let (batch, _) = h.step(sevens);
    assert_eq!((chunk(&batch, 1), chunk(&batch, 2)), (Some((3, 1, true)), None));
    let (batch, _) = h.step(sevens);
    assert_eq!(chunk(&batch, 2), Some((4, 1, true)));
    assert_eq!(h.sched.kv_cache().pool().ref_cnt(last_block), Some(2));
}

#[test]
fn kv_cache_usage_returns_to_zero_when_idle() {
    let mut h = Harness::new(config(8, 2, 5, 3));
    for id in 0..5 {
        h.add(request(id, id, &[&[1, 2, 3, id as u32 + 1]], params(3 + id as usize))).unwrap();
    }
    let mut steps = 0;
    while h.sched.has_unfinished() && steps < 100 {
        h.step(sevens);
        steps += 1;
        assert!((0.0..=1.0).contains(&h.sched.kv_cache_usage()));
    }
    assert!(!h.sched.has_unfinished());
    assert_eq!(h.sched.kv_cache_usage(), 0.0);
    assert_eq!(h.sched.kv_cache().pool().num_free_blocks(), 8);
}

#[test]
fn a_spent_thinking_budget_forces_the_transition_and_end_tag_through_the_batch() {
    use crate::thinking_budget::{ReasoningPhase, ThinkingBudget};
    const END: u32 = 99;
    let budget = ThinkingBudget {
        max_reasoning_tokens: 3,
        starts_in_reasoning: true,
        start_ids: vec![98],
        end_ids: vec![END],
        forced_ids: vec![50, END],
    };
    let mut h = Harness::new(config(16, 2, 64, 8));
    let params = SamplingParams { max_tokens: 7, thinking_budget: Some(budget), ..SamplingParams::default() };
    h.add(request(1, 1, &[&[1, 2, 3]], params)).unwrap();
    let mut forced = Vec::new();
    let mut outputs = Vec::new();
    for step in 0..7 {
        let exhausted = h.sched.stats().reasoning_budget_exhausted;
        assert_eq!(exhausted, u64::from(step > 3), "counted once, with the first forced token (step {step})");
        if step == 4 {
            // Mid-forcing: the transition token is out, `</think>` comes next.
            let seq = h.sched.sequence(SeqId(1)).unwrap();
            assert_eq!(seq.reasoning_phase(), Some(ReasoningPhase::Forcing { next: 1 }));
        }
        let (batch, updates) = h.step(sevens);
        forced.push(batch.seqs[0].sample.as_ref().unwrap().forced_token);
        outputs.extend(updates.iter().map(|u| u.token.token_id));
    }
    assert_eq!(outputs, [7, 7, 7, 50, END, 7, 7]);
    assert_eq!(forced, [None, None, None, Some(50), Some(END), None, None]);
}

#[test]
fn eight_samples_of_one_prompt_prefill_it_once_plus_at_most_a_block_each() {
    let mut h = Harness::new(config(64, 4, 256, 16));
    let prompt: Vec<u32> = (1..=37).collect();
    let prompts: Vec<&[u32]> = vec![&prompt; 8];
    h.add(request(1, 1, &prompts, params(4))).unwrap();
    while h.sched.has_unfinished() {
        h.step(sevens);
    }
    let stats = h.sched.stats();
    assert!(stats.prompt_tokens_computed <= 37 + 8 * 4, "{stats:?}");
    assert!(stats.prompt_tokens_computed >= 37, "{stats:?}");
    assert_eq!(stats.prefix_cache_queries, 8 * 37);
    assert_eq!(stats.prefix_cache_hits, 7 * 36, "each later sample reuses the 9 full blocks");
    assert_eq!(stats.prompt_tokens_computed, 8 * 37 - stats.prefix_cache_hits);
}

#[test]
fn without_prefix_caching_every_sample_prefills_the_whole_prompt() {
    let mut cfg = config(64, 4, 512, 16);
    cfg.enable_prefix_caching = false;
    let mut h = Harness::new(cfg);
    let prompt: Vec<u32> = (1..=37).collect();
    h.add(request(1, 1, &[&prompt[..]; 8], params(2))).unwrap();
    while h.sched.has_unfinished() {
        h.step(sevens);
    }
    assert_eq!(h.sched.stats().prompt_tokens_computed, 8 * 37);
    assert_eq!(h.sched.stats().prefix_cache_hits, 0);
}

#[test]
fn priority_policy_admits_lower_values_first_and_preempts_the_highest_value() {
    use crate::scheduler::SchedulingPolicy;
    let mut cfg = config(6, 2, 64, 8);
    cfg.policy = SchedulingPolicy::Priority;
    cfg.enable_prefix_caching = false;
    let mut h = Harness::new(cfg);
    let with_priority = |id: u64, prompt: &[u32], priority: i32, max_tokens: usize| {
        let mut r = request(id, id, &[prompt], params(max_tokens));
        r.priority = priority;
        r
    };
    // Budget for two: 6 blocks of 2; each 3-token prompt takes 2 blocks.
    h.add(with_priority(1, &[1, 2, 3], 5, 8)).unwrap();
    h.add(with_priority(2, &[4, 5, 6], -1, 8)).unwrap();
    h.add(with_priority(3, &[7, 8, 9], 0, 8)).unwrap();
    let (batch, _) = h.step(sevens);
    let admitted: Vec<u64> = batch.seqs.iter().map(|s| s.seq_id.0).collect();
    assert_eq!(admitted, [2, 3, 1], "lower priority values first (all three fit at first)");
    // Decode until blocks run out: the highest value (request 1) is preempted first.
    let mut preempted = None;
    for _ in 0..4 {
        h.step(sevens);
        if let Some(s) = h.sched.sequences().find(|s| s.status() == SeqStatus::Waiting) {
            preempted = Some(s.seq_id());
            break;
        }
    }
    assert_eq!(preempted, Some(SeqId(1)));
    while h.sched.has_unfinished() {
        h.step(sevens);
    }
    assert_eq!(h.sched.kv_cache().pool().num_free_blocks(), 6);
}

#[test]
fn fcfs_ignores_priority() {
    let mut h = Harness::new(config(16, 2, 64, 8));
    let mut r1 = request(1, 1, &[&[1, 2]], params(2));
    r1.priority = 9;
    let mut r2 = request(2, 2, &[&[3, 4]], params(2));
    r2.priority = -9;
    h.add(r1).unwrap();
    h.add(r2).unwrap();
    let order: Vec<u64> = h.step(sevens).0.seqs.iter().map(|s| s.seq_id.0).collect();
    assert_eq!(order, [1, 2]);
}

#[test]
fn structured_output_is_constrained_after_the_reasoning_section_only() {
    use crate::sampling::StructuredOutput;
    use crate::thinking_budget::ThinkingBudget;
    const OPEN: u32 = 98;
    const END: u32 = 99;
    let tracking = |starts_in_reasoning: bool, start_ids: Vec<u32>| ThinkingBudget {
        max_reasoning_tokens: usize::MAX,
        starts_in_reasoning,
        start_ids,
        end_ids: vec![END],
        forced_ids: vec![END],
    };
    let spec_after = |budget: ThinkingBudget, model: &[u32]| {
        let mut h = Harness::new(config(16, 2, 64, 8));
        let params = SamplingParams {
            max_tokens: 8,
            thinking_budget: Some(budget),
            structured_output: Some(StructuredOutput::JsonObject),
            ..SamplingParams::default()
        };
        h.add(request(1, 1, &[&[1, 2, 3]], params)).unwrap();
        let mut specs = Vec::new();
        for &token in model {
            let (batch, _) = h.step(|_, _| token);
            let spec = batch.seqs[0].sample.clone().unwrap();
            specs.push((spec.constrained, spec.allow_think_start));
        }
        specs
    };
    // Prompt opened the block: free while reasoning, constrained after </think>.
    assert_eq!(spec_after(tracking(true, vec![OPEN]), &[7, END, 7]), [(false, None), (false, None), (true, None)]);
    // Thinking possible but not started: constrained, with <think> allowed first only.
    assert_eq!(spec_after(tracking(false, vec![OPEN]), &[7, 7]), [(true, Some(OPEN)), (true, None)]);
    // Thinking disabled by the template (no start tag to watch): constrained from token one.
    assert_eq!(spec_after(tracking(false, vec![]), &[7, 7]), [(true, None), (true, None)]);
}

/// Running decodes plus a 10-token prompt in a budget of 12 (max_model_len 12).
fn long_prompt_beside_decodes(enable_chunked_prefill: bool) -> Harness {
    let mut cfg = config(16, 2, 12, 8);
    cfg.max_model_len = 12;
    cfg.enable_chunked_prefill = enable_chunked_prefill;
    let mut h = Harness::new(cfg);
    h.add(request(1, 1, &[&[1, 2]], params(3))).unwrap();
    h.add(request(2, 2, &[&[3, 4]], params(3))).unwrap();
    h.add(request(3, 3, &[&[11, 12, 13, 14]], params(4))).unwrap();
    h.step(sevens); // three prompts prefill: 8 tokens
    h.add(request(4, 4, &[&[9, 8, 7, 6, 5, 4, 3, 2, 1, 9]], params(2))).unwrap();
    h
}

#[test]
fn with_chunked_prefill_a_long_prompt_takes_what_the_decodes_leave() {
    let mut h = long_prompt_beside_decodes(true);
    let (batch, _) = h.step(sevens);
    assert_eq!([1, 2, 3].map(|s| chunk(&batch, s)), [Some((2, 1, true)), Some((2, 1, true)), Some((4, 1, true))]);
    assert_eq!(chunk(&batch, 4), Some((0, 9, false)));
}

#[test]
fn a_long_prefill_threshold_caps_a_prompts_chunk_beside_decodes_only() {
    // Alone (nothing decoding), a prompt takes the whole budget.
    let mut cfg = config(16, 2, 12, 8);
    cfg.long_prefill_token_threshold = 4;
    let mut h = Harness::new(cfg);
    h.add(request(1, 1, &[&[9, 8, 7, 6, 5, 4, 3, 2, 1, 9]], params(2))).unwrap();
    assert_eq!(chunk(&h.step(sevens).0, 1), Some((0, 10, true)));

    let mut h = long_prompt_beside_decodes(true);
    h.sched.cfg.long_prefill_token_threshold = 4;
    // The 10-token prompt takes 4 per step (not the 9 the decodes leave) ...
    let (batch, _) = h.step(sevens);
    assert_eq!([1, 2, 3].map(|s| chunk(&batch, s)), [Some((2, 1, true)), Some((2, 1, true)), Some((4, 1, true))]);
    assert_eq!(chunk(&batch, 4), Some((0, 4, false)));
    assert_eq!(chunk(&h.step(sevens).0, 4), Some((4, 4, false)));
    // ... and its last 2 (not above the threshold) go in whole, with the sample.
    assert_eq!(chunk(&h.step(sevens).0, 4), Some((8, 2, true)));
    // Without chunked prefill the threshold does not apply.
    let mut h = long_prompt_beside_decodes(false);
    h.sched.cfg.long_prefill_token_threshold = 4;
    h.step(sevens);
    h.step(sevens);
    assert_eq!(chunk(&h.step(sevens).0, 4), Some((0, 10, true)));
}

#[test]
fn a_cost_aware_threshold_gives_early_chunks_more_tokens_and_none_costs_more_than_the_last() {
    use super::step::long_prefill_cap;
    let cost = |n: usize, c: usize, k: usize| n as f64 * (k as f64 + c as f64 + n as f64 / 2.0);
    // SmolLM2's break-even context, a 4,000-token prompt, threshold 64.
    let (t, k, total) = (64, 3072, 4000);
    let last = cost(t, total - t, k);
    let mut computed = 0;
    let mut chunks = Vec::new();
    while computed < total {
        let n = long_prefill_cap(t, k, computed, total).min(total - computed);
        assert!(n >= t.min(total - computed));
        assert!(cost(n, computed, k) <= last * (1.0 + 1e-9), "chunk of {n} at {computed}");
        chunks.push(n);
        computed += n;
    }
    // 143 tokens at context 0 (n^2/2 + 3072 n = 64 (3072 + 3936 + 32) = 450,560 gives
    // n = sqrt(3072^2 + 901,120) - 3072 = 143.3), shrinking to the threshold at the
    // end: 46 steps instead of 63.
    assert_eq!(chunks[..3], [143, 137, 131]);
    assert!(chunks.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(chunks[chunks.len() - 3..], [64, 64, 16]);
    assert_eq!(chunks.len(), 46);
    // No cost model: the plain threshold.
    assert_eq!(long_prefill_cap(t, 0, 0, total), 64);
}

#[test]
fn a_cost_aware_threshold_reaches_the_step_through_the_scheduler() {
    let mut h = long_prompt_beside_decodes(true);
    h.sched.cfg.long_prefill_token_threshold = 2;
    // Break-even 4 positions, 10-token prompt: the last 2 tokens cost 2 (4 + 8 + 1) = 26;
    // at context 0 a chunk of 4 costs 4 (4 + 0 + 2) = 24, one of 5 would cost 32.5.
    h.sched.cfg.attention_break_even_len = 4;
    assert_eq!(chunk(&h.step(sevens).0, 4), Some((0, 4, false)));
    // At context 4: n (8 + n/2) <= 26 gives 2 (= the threshold) .. 2.83.
    assert_eq!(chunk(&h.step(sevens).0, 4), Some((4, 2, false)));
}

#[test]
fn without_chunked_prefill_a_prompt_is_prefilled_whole_once_it_fits() {
    let mut h = long_prompt_beside_decodes(false);
    // 3 decodes leave 9 of 12 tokens: the 10-token prompt waits.
    let (batch, _) = h.step(sevens);
    assert_eq!(batch.seqs.len(), 3);
    assert_eq!(chunk(&batch, 4), None);
    assert_eq!(h.sched.num_waiting(), 1);
    // Requests 1 and 2 finish at their third token in this step; 3 has one more to go.
    let (batch, _) = h.step(sevens);
    assert_eq!(batch.seqs.len(), 3);
    // One decode leaves 11: the prompt goes in whole and samples at once.
    let (batch, _) = h.step(sevens);
    assert_eq!(chunk(&batch, 3), Some((6, 1, true)));
    assert_eq!(chunk(&batch, 4), Some((0, 10, true)));
}

#[test]
fn without_chunked_prefill_the_budget_must_cover_the_context_window() {
    let mut cfg = config(16, 2, 12, 8);
    cfg.enable_chunked_prefill = false;
    assert_eq!(
        Scheduler::new(cfg).unwrap_err(),
        ConfigError::BudgetBelowModelLen { max_num_batched_tokens: 12, max_model_len: 32 }
    );
}
