//! A spent thinking budget: the sampler emits the engine's forced token, whatever the
//! logits and sampling parameters say, with its raw log-probability.

mod common;

use common::{greedy, softmax_f64, spec};
use ponder_engine::SamplingParams;
use ponder_runner::Sampler;

#[test]
fn the_forced_token_is_emitted_with_its_log_probability() {
    let logits = [2.0f32, 0.5, -1.0, 3.0];
    let mut s = spec(SamplingParams { logprobs: Some(2), ..greedy() }, 5);
    s.forced_token = Some(2);
    let sample = Sampler.sample(&logits, &s).unwrap();
    assert_eq!(sample.token_id, 2);
    let want = softmax_f64(&logits)[2].ln();
    assert!((sample.logprob as f64 - want).abs() < 1e-5, "{} vs {want}", sample.logprob);
    assert_eq!(sample.top_logprobs.iter().map(|t| t.0).collect::<Vec<_>>(), [3, 0]);

    let mut hot = spec(SamplingParams { temperature: 1.5, seed: 9, ..SamplingParams::default() }, 0);
    hot.forced_token = Some(1);
    assert_eq!(Sampler.sample(&logits, &hot).unwrap().token_id, 1);
}

#[test]
fn a_forced_token_outside_the_vocabulary_is_an_error() {
    let mut s = spec(greedy(), 0);
    s.forced_token = Some(4);
    assert!(Sampler.sample(&[0.0f32; 4], &s).is_err());
}
