//! `processed_logprobs` on exact rows: the sampler's reported logprobs equal a naive
//! f64 processing (repetition penalty, temperature, nucleus; `-inf` outside it) of the
//! very f32 row it was given, for every token of the vocabulary, over many draws.

mod common;

use common::reference::{log_softmax, naive_processed};
use common::spec_with_history;
use ponder_engine::{LogprobsMode, SamplingParams};
use ponder_runner::Sampler;
use rand::{Rng, SeedableRng};

const VOCAB: usize = 300;

fn processed(temperature: f32, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature,
        top_p: 0.9,
        repetition_penalty: 1.3,
        logprobs: Some(VOCAB),
        logprobs_mode: LogprobsMode::ProcessedLogprobs,
        seed,
        ..SamplingParams::default()
    }
}

#[test]
fn processed_logprobs_are_the_log_softmax_of_the_logits_the_draw_used() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut max_delta, mut masked) = (0f64, 0);
    for case in 0..40u64 {
        let row: Vec<f32> = (0..VOCAB).map(|_| rng.random_range(-4.0f32..4.0)).collect();
        let prompt: Vec<u32> = (0..8).map(|_| rng.random_range(0..VOCAB as u32)).collect();
        let output: Vec<u32> = (0..3).map(|_| rng.random_range(0..VOCAB as u32)).collect();
        let spec = spec_with_history(processed(0.6, case), &prompt, &output);
        let sample = Sampler.sample(&row, &spec).unwrap();
        let history: Vec<u32> = prompt.iter().chain(&output).copied().collect();
        let row64: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
        let want = naive_processed(&row64, &history, 1.3, 0.6, 0.9);
        assert!(want[sample.token_id as usize].is_finite() && sample.logprob.is_finite(), "case {case}: drawn outside the nucleus");
        assert_eq!(sample.top_logprobs.len(), VOCAB);
        for &(id, lp) in std::iter::once(&(sample.token_id, sample.logprob)).chain(&sample.top_logprobs) {
            let w = want[id as usize];
            if w == f64::NEG_INFINITY {
                assert_eq!(lp, f32::NEG_INFINITY, "case {case}: token {id} is outside the nucleus");
                masked += 1;
            } else {
                max_delta = max_delta.max((f64::from(lp) - w).abs());
            }
        }
    }
    println!("max |processed - naive f64| = {max_delta:.2e}, {masked} masked entries");
    assert!(max_delta < 1e-6, "{max_delta}");
    assert!(masked > 1000, "the nucleus cut too little to test masking: {masked}");
}

#[test]
fn greedy_processed_logprobs_skip_temperature_and_truncation_but_keep_the_penalty() {
    let row: Vec<f32> = (0..VOCAB).map(|i| ((i * 37 % 101) as f32 - 50.0) / 10.0).collect();
    let spec = spec_with_history(processed(0.0, 1), &[5, 6], &[7]);
    let sample = Sampler.sample(&row, &spec).unwrap();
    let mut penalized: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
    for t in [5, 6, 7] {
        let x = &mut penalized[t];
        *x = if *x > 0.0 { *x / 1.3 } else { *x * 1.3 };
    }
    let want = log_softmax(&penalized);
    for &(id, lp) in &sample.top_logprobs {
        assert!((f64::from(lp) - want[id as usize]).abs() < 1e-6, "token {id}");
    }
}

#[test]
fn raw_mode_reports_the_unprocessed_row_whatever_the_sampling() {
    let row: Vec<f32> = (0..VOCAB).map(|i| ((i * 13 % 97) as f32 - 40.0) / 8.0).collect();
    let spec = spec_with_history(SamplingParams { logprobs_mode: LogprobsMode::RawLogprobs, ..processed(0.6, 3) }, &[1], &[2]);
    let sample = Sampler.sample(&row, &spec).unwrap();
    let want = log_softmax(&row.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
    assert!(sample.top_logprobs.iter().all(|&(id, lp)| (f64::from(lp) - want[id as usize]).abs() < 1e-6 && lp.is_finite()));
}
