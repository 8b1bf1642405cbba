//! Golden tests: ponder's decoder against HF transformers on tiny random checkpoints
//! (models/tests/golden/{llama,qwen2,qwen3}, see its README for how they were made).

mod common;

use common::golden::{assert_logits_close, cases, golden_dir, Case};
use common::{greedy_batch, PagedCache};
use ponder_models::load_model;

/// Each case alone: prefill logits and 16 greedy tokens, block size 4.
fn check_single_sequences(arch: &str) {
    let model = load_model(&golden_dir(arch), &common::device()).unwrap();
    for (i, case) in cases(arch).iter().enumerate() {
        let mut cache = PagedCache::new(model.as_ref(), 32, 4);
        let (logits, ids) = greedy_batch(model.as_ref(), &mut cache, &[case.input_ids.clone()], case.greedy_ids.len());
        assert_logits_close(arch, i, &logits[0], &case.last_logits);
        assert_eq!(ids[0], case.greedy_ids, "{arch} case {i} greedy ids");
    }
}

/// All cases, repeated to 8 sequences of mixed lengths, prefilled and decoded together.
fn check_batched_sequences(arch: &str) {
    let model = load_model(&golden_dir(arch), &common::device()).unwrap();
    let all = cases(arch);
    let batch: Vec<&Case> = (0..8).map(|i| &all[(i * 5) % all.len()]).collect();
    let prompts: Vec<Vec<u32>> = batch.iter().map(|c| c.input_ids.clone()).collect();
    let mut cache = PagedCache::new(model.as_ref(), 8 * 16, 4);
    let (logits, ids) = greedy_batch(model.as_ref(), &mut cache, &prompts, 16);
    for (s, case) in batch.iter().enumerate() {
        assert_logits_close(arch, s, &logits[s], &case.last_logits);
        assert_eq!(ids[s], case.greedy_ids, "{arch} batched sequence {s} greedy ids");
    }
}

#[test]
fn llama_matches_transformers_logits_and_greedy_ids() {
    check_single_sequences("llama");
}

#[test]
fn qwen2_matches_transformers_logits_and_greedy_ids() {
    check_single_sequences("qwen2");
}

#[test]
fn qwen3_matches_transformers_logits_and_greedy_ids() {
    check_single_sequences("qwen3");
}

#[test]
fn llama_batch_of_eight_mixed_lengths_decodes_the_same_ids() {
    check_batched_sequences("llama");
}

#[test]
fn qwen2_batch_of_eight_mixed_lengths_decodes_the_same_ids() {
    check_batched_sequences("qwen2");
}

#[test]
fn qwen3_batch_of_eight_mixed_lengths_decodes_the_same_ids() {
    check_batched_sequences("qwen3");
}

/// The GPU dtype policy's plumbing (16-bit weights and activations, f32 logits), run on
/// the CPU in f16 (candle's CPU matmul has no bf16; the device check runs bf16 on the
/// GPU): prefill logits stay within 0.05 × max(1, |logit|) of transformers' f32 ones
/// and the first 4 greedy tokens agree. The worst error is printed.
#[test]
fn half_precision_policy_stays_close_to_transformers_f32() {
    use candle_core::DType;
    for arch in ["llama", "qwen2", "qwen3"] {
        let model = ponder_models::load_decoder(&golden_dir(arch), &common::device(), DType::F16).unwrap();
        let mut worst = 0f32;
        for (i, case) in cases(arch).iter().enumerate() {
            let mut cache = PagedCache::new(&model, 32, 4);
            let (logits, ids) = greedy_batch(&model, &mut cache, std::slice::from_ref(&case.input_ids), 4);
            for (g, w) in logits[0].iter().zip(&case.last_logits) {
                let err = (g - w).abs() / w.abs().max(1.0);
                worst = worst.max(err);
                assert!(err <= 0.05, "{arch} case {i}: f16 logit {g} vs f32 {w}");
            }
            assert_eq!(ids[0], case.greedy_ids[..4], "{arch} case {i}: f16 greedy ids");
        }
        println!("{arch}: worst f16 logit error {worst:.5} (relative to max(1, |logit|))");
    }
}
