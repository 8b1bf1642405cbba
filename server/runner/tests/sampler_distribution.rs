//! The sampler's random path against naive references: temperature, top-k, top-p,
//! min-p, and the counter-based RNG's determinism.

mod common;

use std::collections::BTreeSet;

use common::{softmax_f64, spec};
use ponder_engine::SamplingParams;
use ponder_runner::truncation::{softmax_over, top_p_filter, Candidate};
use ponder_runner::Sampler;

/// Draws output token 0 of sequences seeded `0..n` and counts how often each token came out.
fn frequencies(logits: &[f32], params: &SamplingParams, n: u64) -> Vec<u64> {
    let mut counts = vec![0u64; logits.len()];
    for seed in 0..n {
        let p = SamplingParams { seed, ..params.clone() };
        let s = Sampler.sample(logits, &spec(p, 0)).expect("valid row");
        counts[s.token_id as usize] += 1;
    }
    counts
}

/// Pearson's chi-square statistic of `counts` against `probs` (zero-prob tokens must
/// have zero counts).
fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| {
            if p == 0.0 {
                assert_eq!(c, 0, "a token of probability 0 was drawn");
                0.0
            } else {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            }
        })
        .sum()
}

/// Logits whose probabilities are exactly `probs` (up to f32 rounding).
fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

const ROW: [f32; 8] = [1.0, 2.5, -0.5, 0.0, 1.7, 3.0, -2.0, 0.3];
/// Chi-square 99.9 % quantile for 7 degrees of freedom: a correct sampler fails this
/// with probability 0.001 (the seeds are fixed, so the outcome is deterministic).
const CHI2_7DF_P999: f64 = 24.32;

#[test]
fn temperature_sampling_frequencies_match_the_tempered_softmax() {
    for temperature in [0.5f32, 1.0, 1.7] {
        let params = SamplingParams { temperature, ..SamplingParams::default() };
        let counts = frequencies(&ROW, &params, 20_000);
        let scaled: Vec<f32> = ROW.iter().map(|l| l / temperature).collect();
        let stat = chi_square(&counts, &softmax_f64(&scaled));
        assert!(stat < CHI2_7DF_P999, "T={temperature}: chi2 {stat}, counts {counts:?}");
    }
}

#[test]
fn a_wrong_distribution_fails_the_same_chi_square_bound() {
    // Guards the test above: the bound rejects the untempered softmax at T = 0.5.
    let params = SamplingParams { temperature: 0.5, ..SamplingParams::default() };
    let counts = frequencies(&ROW, &params, 20_000);
    assert!(chi_square(&counts, &softmax_f64(&ROW)) > CHI2_7DF_P999);
}

#[test]
fn top_k_keeps_exactly_the_k_most_likely_tokens_and_their_relative_odds() {
    let params = SamplingParams { top_k: Some(3), ..SamplingParams::default() };
    let counts = frequencies(&ROW, &params, 20_000);
    let drawn: BTreeSet<usize> = (0..ROW.len()).filter(|&i| counts[i] > 0).collect();
    assert_eq!(drawn, BTreeSet::from([1, 4, 5]));
    let mut kept = [0.0f32; 8].map(|_| f32::NEG_INFINITY);
    for i in [1, 4, 5] {
        kept[i] = ROW[i];
    }
    // 2 degrees of freedom, 99.9 % quantile 13.82.
    assert!(chi_square(&counts, &softmax_f64(&kept)) < 13.82);
}

#[test]
fn top_k_breaks_ties_at_the_boundary_towards_lower_ids() {
    let row = [1.0f32, 2.0, 2.0, 2.0, 0.0];
    let params = SamplingParams { top_k: Some(2), ..SamplingParams::default() };
    let counts = frequencies(&row, &params, 2_000);
    assert_eq!(counts.iter().filter(|&&c| c > 0).count(), 2);
    assert!(counts[1] > 0 && counts[2] > 0, "{counts:?}");
}

#[test]
fn top_p_keeps_the_minimal_nucleus() {
    let probs = [0.05, 0.5, 0.15, 0.2, 0.1];
    let row = logits_of(&probs);
    // Sorted: 0.5, 0.2, 0.15 (cumulative 0.85 >= 0.8), so {1, 3, 2}; 0.7 would not do.
    let params = SamplingParams { top_p: 0.8, ..SamplingParams::default() };
    let counts = frequencies(&row, &params, 20_000);
    let nucleus = [0.0, 0.5 / 0.85, 0.15 / 0.85, 0.2 / 0.85, 0.0];
    assert!(chi_square(&counts, &nucleus) < 13.82, "{counts:?}");
    assert!(counts[1] > 0 && counts[2] > 0 && counts[3] > 0);
}

#[test]
fn top_p_filter_agrees_with_a_naive_sorted_prefix_on_many_rows() {
    let mut state = 99u64;
    for case in 0..200 {
        let row: Vec<f32> = (0..50)
            .map(|_| {
                state = ponder_runner::rng::counter_u64(state, 0);
                (state >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
            })
            .collect();
        let top_p = 0.05 + 0.9 * (case as f64 / 200.0);
        let ids: Vec<u32> = (0..row.len() as u32).collect();
        let mut cands = softmax_over(&row, &ids).expect("finite row");
        top_p_filter(&mut cands, top_p);
        let kept: BTreeSet<u32> = cands.iter().map(|c| c.token_id).collect();
        assert_eq!(kept, naive_nucleus(&row, top_p), "case {case}");
        let total: f64 = cands.iter().map(|c: &Candidate| c.prob).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}

/// Sorts all tokens by probability and takes the shortest prefix with mass >= top_p.
fn naive_nucleus(row: &[f32], top_p: f64) -> BTreeSet<u32> {
    let probs = softmax_f64(row);
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| probs[b].partial_cmp(&probs[a]).unwrap().then(a.cmp(&b)));
    let mut mass = 0.0;
    let mut kept = BTreeSet::new();
    for i in order {
        kept.insert(i as u32);
        mass += probs[i];
        if mass >= top_p {
            break;
        }
    }
    kept
}

#[test]
fn min_p_drops_tokens_below_a_fraction_of_the_top_probability() {
    let probs = [0.05, 0.5, 0.15, 0.2, 0.1];
    let row = logits_of(&probs);
    // Threshold 0.35 * 0.5 = 0.175: keeps 0.5 and 0.2.
    let params = SamplingParams { min_p: 0.35, ..SamplingParams::default() };
    let counts = frequencies(&row, &params, 20_000);
    let kept = [0.0, 0.5 / 0.7, 0.0, 0.2 / 0.7, 0.0];
    // 1 degree of freedom, 99.9 % quantile 10.83.
    assert!(chi_square(&counts, &kept) < 10.83, "{counts:?}");
}

#[test]
fn the_same_seed_and_output_index_give_the_same_token() {
    let row: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 50.0).collect();
    for seed in [0u64, 1, 42, u64::MAX] {
        for output_index in [0usize, 1, 17, 10_000] {
            let p = SamplingParams { seed, top_p: 0.9, ..SamplingParams::default() };
            let a = Sampler.sample(&row, &spec(p.clone(), output_index)).unwrap();
            let b = Sampler.sample(&row, &spec(p, output_index)).unwrap();
            assert_eq!(a, b);
        }
    }
}

#[test]
fn different_output_indices_of_one_sequence_draw_different_tokens() {
    let row = vec![0.0f32; 1000];
    let p = SamplingParams { seed: 7, ..SamplingParams::default() };
    let tokens: BTreeSet<u32> = (0..100).map(|k| Sampler.sample(&row, &spec(p.clone(), k)).unwrap().token_id).collect();
    // 100 uniform draws over 1000 tokens: about 95 distinct values expected.
    assert!(tokens.len() > 80, "only {} distinct tokens", tokens.len());
}
