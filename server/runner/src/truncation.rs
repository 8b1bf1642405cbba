//! The distribution a random sample is drawn from: softmax over the candidate tokens,
//! truncated by top-k, top-p (nucleus) and min-p, then an inverse-CDF draw.
//!
//! Ties are always broken towards the lower token id, so every step is deterministic.

use std::cmp::Ordering;

use crate::error::SamplerError;

/// A token still eligible for sampling and its probability (normalized over the
/// current candidate set after every filter of this module).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub token_id: u32,
    pub prob: f64,
}

/// Orders token ids by descending logit, ties by ascending id (a total order on non-NaN rows).
pub(crate) fn by_logit_desc(logits: &[f32], a: u32, b: u32) -> Ordering {
    logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b))
}

/// Ids of the `k` largest logits of the row (ties: lower id first), in no particular
/// order; all ids when `k >= logits.len()`.
///
/// Partial selection (`select_nth_unstable_by`), average O(vocab), not a full sort.
pub fn top_k_ids(logits: &[f32], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    if k == 0 {
        ids.clear();
    } else if k < ids.len() {
        ids.select_nth_unstable_by(k - 1, |&a, &b| by_logit_desc(logits, a, b));
        ids.truncate(k);
    }
    ids
}

/// Softmax of `logits` over the tokens `ids`, computed in f64 after subtracting the
/// maximum (numerically stable). A token whose logit is `-inf` gets probability 0.
///
/// Errors: `NoCandidates` when `ids` is empty or every logit in it is `-inf`.
pub fn softmax_over(logits: &[f32], ids: &[u32]) -> Result<Vec<Candidate>, SamplerError> {
    let max = ids.iter().map(|&i| logits[i as usize]).fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return Err(SamplerError::NoCandidates);
    }
    let mut total = 0.0f64;
    let mut cands: Vec<Candidate> = ids
        .iter()
        .map(|&token_id| {
            let l = logits[token_id as usize];
            // `l == max` also covers `max == +inf`, where `l - max` would be NaN.
            let prob = if l == max { 1.0 } else { ((l - max) as f64).exp() };
            total += prob;
            Candidate { token_id, prob }
        })
        .collect();
    cands.iter_mut().for_each(|c| c.prob /= total);
    Ok(cands)
}

/// Nucleus filter (Holtzman et al., "The Curious Case of Neural Text Degeneration",
/// ICLR 2020): keeps the smallest set of most likely tokens whose probability mass is
/// at least `top_p`, then renormalizes. Leaves the candidates sorted by descending
/// probability (ties: lower id first). A full sort, over the candidate set only.
pub fn top_p_filter(cands: &mut Vec<Candidate>, top_p: f64) {
    cands.sort_unstable_by(|a, b| b.prob.total_cmp(&a.prob).then(a.token_id.cmp(&b.token_id)));
    let mut mass = 0.0;
    let mut keep = cands.len();
    for (i, c) in cands.iter().enumerate() {
        mass += c.prob;
        if mass >= top_p {
            keep = i + 1;
            break;
        }
    }
    cands.truncate(keep);
    renormalize(cands);
}

/// Min-p filter (Nguyen et al., "Turning Up the Heat: Min-p Sampling", 2024; as in
/// vLLM): drops tokens whose probability is below `min_p` times the most likely
/// token's, then renormalizes. The most likely token always stays.
pub fn min_p_filter(cands: &mut Vec<Candidate>, min_p: f64) {
    let max = cands.iter().map(|c| c.prob).fold(0.0, f64::max);
    let threshold = min_p * max;
    cands.retain(|c| c.prob >= threshold);
    renormalize(cands);
}

/// Inverse-CDF draw: walks the candidates in ascending token-id order (a fixed order,
/// independent of how the filters left them), accumulating probability, and returns
/// the first token whose cumulative mass exceeds `u * total` (`u` in `[0, 1)`).
/// Tokens of probability 0 are never drawn.
///
/// Errors: `NoCandidates` when no candidate has positive probability.
pub fn draw_inverse_cdf(cands: &mut [Candidate], u: f64) -> Result<u32, SamplerError> {
    if !cands.is_sorted_by_key(|c| c.token_id) {
        cands.sort_unstable_by_key(|c| c.token_id);
    }
    let total: f64 = cands.iter().map(|c| c.prob).sum();
    let target = u * total;
    let mut mass = 0.0;
    let mut last_positive = None;
    for c in cands.iter().filter(|c| c.prob > 0.0) {
        mass += c.prob;
        if mass > target {
            return Ok(c.token_id);
        }
        last_positive = Some(c.token_id);
    }
    // Only reached through rounding when `u` is within an ulp of 1.
    last_positive.ok_or(SamplerError::NoCandidates)
}

fn renormalize(cands: &mut [Candidate]) {
    let total: f64 = cands.iter().map(|c| c.prob).sum();
    if total > 0.0 {
        cands.iter_mut().for_each(|c| c.prob /= total);
    }
}
