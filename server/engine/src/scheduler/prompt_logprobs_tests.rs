//! Prompt logprobs (vLLM's `prompt_logprobs`) through the scheduler, with the fake
//! runner's scores (`fake_prompt_logprob`): every prompt token after the first is
//! scored once, from a computed row, and delivered with the sequence's first token.

use super::*;
use crate::batch::ScheduledBatch;
use crate::sampling::SamplingParams;
use crate::testing::{config, fake_prompt_logprob, request, Harness};

fn scored(max_tokens: usize) -> SamplingParams {
    SamplingParams { max_tokens, prompt_logprobs: Some(0), ..SamplingParams::default() }
}

fn sevens(_: SeqId, _: usize) -> u32 {
    7
}

/// `(token, fake score)` of every prompt token after the first.
fn want(prompt: &[u32]) -> Vec<(u32, f32)> {
    (1..prompt.len()).map(|p| (prompt[p], fake_prompt_logprob(&prompt[..=p]))).collect()
}

fn got(updates: &[SeqUpdate], seq: u64) -> Option<Vec<(u32, f32)>> {
    let u = updates.iter().find(|u| u.seq_id == SeqId(seq))?;
    u.prompt_logprobs.as_ref().map(|v| v.iter().map(|l| (l.token_id, l.logprob)).collect())
}

fn first_computed(batch: &ScheduledBatch, seq: u64) -> Option<usize> {
    batch.seqs.iter().find(|s| s.seq_id == SeqId(seq)).map(|s| s.num_computed_tokens)
}

#[test]
fn prompt_scores_of_a_chunked_prefill_arrive_whole_with_the_first_token() {
    let prompt: Vec<u32> = (1..=10).collect();
    let mut h = Harness::new(config(16, 4, 4, 8));
    h.add(request(1, 1, &[&prompt], scored(3))).unwrap();
    let (first, none) = h.step(sevens);
    assert!(none.is_empty());
    assert_eq!(first.seqs[0].prompt_logprobs.as_ref().unwrap().target_ids, [2, 3, 4, 5], "rows 0..4 score tokens 1..5");
    h.step(sevens);
    let (last, updates) = h.step(sevens);
    // Rows 8 and 9: row 8 scores the last prompt token, row 9 samples.
    assert_eq!(last.seqs[0].prompt_logprobs.as_ref().unwrap().target_ids, [10]);
    assert_eq!(got(&updates, 1), Some(want(&prompt)));
    let (decode, later) = h.step(sevens);
    assert!(decode.seqs[0].prompt_logprobs.is_none());
    assert_eq!(later[0].prompt_logprobs, None);
}

#[test]
fn a_one_token_prompt_has_no_scores_and_no_prompt_rows() {
    let mut h = Harness::new(config(16, 4, 64, 8));
    h.add(request(1, 1, &[&[5]], scored(2))).unwrap();
    let (batch, updates) = h.step(sevens);
    assert!(batch.seqs[0].prompt_logprobs.is_none());
    assert_eq!(got(&updates, 1), Some(Vec::new()));
}

#[test]
fn a_scored_prompt_is_computed_even_when_its_prefix_is_cached() {
    let prompt: Vec<u32> = (1..=9).collect();
    let mut h = Harness::new(config(32, 4, 64, 8));
    h.add(request(1, 1, &[&prompt], SamplingParams { max_tokens: 1, ..SamplingParams::default() })).unwrap();
    h.step(sevens);
    h.add(request(2, 2, &[&prompt], SamplingParams { max_tokens: 1, ..SamplingParams::default() })).unwrap();
    h.add(request(3, 3, &[&prompt], scored(1))).unwrap();
    let (batch, updates) = h.step(sevens);
    assert_eq!(first_computed(&batch, 2), Some(8), "a plain sequence takes two cached blocks");
    assert_eq!(first_computed(&batch, 3), Some(0), "the scored one computes its whole prompt");
    assert_eq!(got(&updates, 3), Some(want(&prompt)));
    assert_eq!(got(&updates, 2), None);
}

#[test]
fn a_sequence_preempted_mid_prefill_keeps_its_scores_and_may_reuse_scored_blocks() {
    // 5 blocks of 2: the scored 8-token prompt (4 blocks + 1 for its output) and a
    // running decode cannot both fit once the decode grows.
    let scored_prompt: Vec<u32> = (11..=18).collect();
    let mut cfg = config(5, 2, 4, 8);
    cfg.max_model_len = 10;
    let mut h = Harness::new(cfg);
    h.add(request(1, 1, &[&[1, 2]], SamplingParams { max_tokens: 6, ignore_eos: true, ..SamplingParams::default() })).unwrap();
    h.step(sevens);
    h.add(request(2, 2, &[&scored_prompt], scored(1))).unwrap();
    let mut delivered = None;
    for _ in 0..40 {
        if !h.sched.has_unfinished() {
            break;
        }
        let (_, updates) = h.step(sevens);
        delivered = delivered.or(got(&updates, 2));
    }
    assert!(h.sched.stats().preemptions > 0, "the scored sequence was never preempted");
    assert_eq!(delivered, Some(want(&scored_prompt)));
}

#[test]
fn out_of_range_sampling_params_are_refused_at_admission() {
    let mut h = Harness::new(config(16, 4, 64, 8));
    let bad = SamplingParams { top_p: 0.0, ..SamplingParams::default() };
    let err = h.add(request(1, 1, &[&[1, 2]], bad)).unwrap_err();
    assert!(matches!(err, AddRequestError::InvalidParams { source: crate::sampling::InvalidSamplingParam { name: "top_p", .. }, .. }), "{err:?}");
    assert!(!h.sched.has_unfinished());
}
