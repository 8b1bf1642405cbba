//! Greedy decoding through the full engine loop (`Scheduler` + `ModelRunner`, block size
//! 4) reproduces HF transformers' ids (models/tests/golden, see its README): each case
//! alone, eight mixed-length sequences together, under chunked prefill, and with
//! preemptions (recompute) in the middle of decoding. Llama, Qwen2 and Qwen3.

mod common;

use common::engine::{cases, scheduler_config, Case, Engine, NUM_GREEDY};

/// Eight sequences of mixed lengths (3, 40, 32, 13, 8, 5, 3, 40 tokens): every case,
/// two of them twice.
fn eight_mixed(arch: &str) -> Vec<Case> {
    let all = cases(arch);
    (0..8).map(|i| all[(i * 5) % all.len()].clone()).collect()
}

/// Submits `batch` together and runs it to completion; asserts each sequence's ids.
fn run_together(engine: &mut Engine, batch: &[Case], what: &str) {
    let ids: Vec<_> = batch.iter().map(|c| engine.add(&c.input_ids)).collect();
    engine.run_to_completion(1000);
    for (&id, case) in ids.iter().zip(batch) {
        engine.assert_output(id, &case.greedy_ids, what);
    }
}

/// Each case on its own, one after the other in one engine (so later cases reuse blocks
/// holding stale K/V), then the same prompt again, now served from the prefix cache.
fn check_alone(arch: &str) {
    let mut engine = Engine::new(arch, scheduler_config(32, 64, true));
    for (i, case) in cases(arch).iter().enumerate() {
        for run in 0..2 {
            let first_step = engine.batches.len();
            let id = engine.add(&case.input_ids);
            engine.run_to_completion(100);
            let what = format!("{arch} case {i} run {run}");
            engine.assert_output(id, &case.greedy_ids, &what);
            let batches = &engine.batches[first_step..];
            assert_eq!(batches.len(), NUM_GREEDY, "{what}: one prefill step and 15 decode steps");
            assert!(batches.iter().all(|b| b.seqs.len() == 1 && b.seqs[0].seq_id == id), "{what}: alone");
            // The second run hits every full prompt block except one holding the last token.
            let hit = if run == 0 { 0 } else { (case.input_ids.len() - 1) / 4 * 4 };
            assert_eq!(batches[0].seqs[0].num_computed_tokens, hit, "{what}: prefix-cache hit");
        }
    }
}

/// The eight mixed sequences submitted at once. Without prefix caching all eight are
/// prefilled in the first step; with it, the repeated prompts share KV blocks.
fn check_eight_mixed(arch: &str, enable_prefix_caching: bool) {
    let batch = eight_mixed(arch);
    let mut engine = Engine::new(arch, scheduler_config(128, 512, enable_prefix_caching));
    run_together(&mut engine, &batch, &format!("{arch} eight mixed, prefix caching {enable_prefix_caching}"));
    if !enable_prefix_caching {
        let first = &engine.batches[0];
        assert_eq!(first.seqs.len(), 8);
        assert_eq!(first.num_tokens(), batch.iter().map(|c| c.input_ids.len()).sum::<usize>());
        assert_eq!(engine.batches.len(), NUM_GREEDY, "{arch}: all eight decode in lockstep");
    }
    assert!(engine.preemptions.is_empty(), "{arch}: 128 blocks hold all eight sequences");
}

/// The eight mixed sequences under a 7-token budget: prompts are prefilled in chunks
/// that end mid-block and share steps with other sequences' decodes.
fn check_chunked_prefill(arch: &str) {
    let batch = eight_mixed(arch);
    let mut engine = Engine::new(arch, scheduler_config(128, 7, true));
    run_together(&mut engine, &batch, &format!("{arch} chunked prefill"));
    assert!(engine.batches.iter().all(|b| b.num_tokens() <= 7));
    let partial_chunks = engine.batches.iter().flat_map(|b| &b.seqs).filter(|s| s.sample.is_none()).count();
    assert!(partial_chunks >= 8, "{arch}: the 40- and 32-token prompts take several chunks");
    let mixed = engine.batches.iter().any(|b| {
        b.seqs.iter().any(|s| s.sample.is_none()) && b.seqs.iter().any(|s| s.token_ids.len() == 1 && s.sample.is_some())
    });
    assert!(mixed, "{arch}: some step holds a prefill chunk and a decode");
}

/// The eight mixed sequences in a 24-block (96-slot) cache, far less than the ~68 blocks
/// they end up needing: the scheduler must preempt sequences mid-decode and recompute
/// them, and the ids are still HF's.
fn check_preemption(arch: &str, max_num_batched_tokens: usize, enable_prefix_caching: bool) {
    let what = format!("{arch} preemption, budget {max_num_batched_tokens}, prefix caching {enable_prefix_caching}");
    let batch = eight_mixed(arch);
    let mut engine = Engine::new(arch, scheduler_config(24, max_num_batched_tokens, enable_prefix_caching));
    run_together(&mut engine, &batch, &what);
    assert!(!engine.preemptions.is_empty(), "{what}: no preemption happened");
    let mid_decode = engine.preemptions.iter().filter(|&&(_, outputs)| (1..NUM_GREEDY).contains(&outputs)).count();
    assert!(mid_decode > 0, "{what}: no sequence was preempted with output already sampled");
    if !enable_prefix_caching {
        // Every preempted sequence restarts from position 0, and nothing else restarts.
        assert_eq!(engine.recomputes.len(), engine.preemptions.len(), "{what}");
        assert!(engine.recomputes.iter().all(|&(_, computed)| computed == 0), "{what}: {:?}", engine.recomputes);
    } else {
        assert!(engine.recomputes.len() <= engine.preemptions.len(), "{what}");
    }
}

fn check_preemption_recompute(arch: &str) {
    check_preemption(arch, 64, false);
}

fn check_preemption_with_prefix_cache(arch: &str) {
    check_preemption(arch, 64, true);
}

fn check_preemption_with_chunked_prefill(arch: &str) {
    check_preemption(arch, 7, true);
}

fn check_eight_mixed_without_prefix_caching(arch: &str) {
    check_eight_mixed(arch, false);
}

fn check_eight_mixed_with_prefix_caching(arch: &str) {
    check_eight_mixed(arch, true);
}

crate::per_arch! {
    each_case_alone_matches_transformers => check_alone;
    eight_mixed_lengths_match_transformers => check_eight_mixed_without_prefix_caching;
    eight_mixed_lengths_with_prefix_caching_match_transformers => check_eight_mixed_with_prefix_caching;
    chunked_prefill_matches_transformers => check_chunked_prefill;
    preemption_by_recompute_matches_transformers => check_preemption_recompute;
    preemption_with_prefix_cache_matches_transformers => check_preemption_with_prefix_cache;
    preemption_with_chunked_prefill_matches_transformers => check_preemption_with_chunked_prefill;
}
