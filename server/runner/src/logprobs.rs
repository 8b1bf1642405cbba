//! Log-probabilities reported with a sampled token.
//!
//! They are those of the RAW logits, before logit bias, penalties, temperature and the
//! top-k / top-p / min-p filters: the model's own distribution, which is what RL
//! trainers compare against their reference forward pass (vLLM's default
//! `logprobs_mode = "raw_logprobs"`).

use crate::truncation::by_logit_desc;

/// `log(sum(exp(logits)))` of one raw row, computed stably (max subtracted, sum in f64),
/// so that `log_softmax(logits)[i] = logits[i] - log_sum_exp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSoftmax {
    log_sum_exp: f64,
}

impl LogSoftmax {
    /// Normalizer of `logits` (`[vocab_size]`, no NaN, at least one finite value for a
    /// finite result). O(vocab).
    pub fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return Self { log_sum_exp: max as f64 };
        }
        let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        Self { log_sum_exp: f64::from(max) + sum.ln() }
    }

    /// Natural-log probability of a token whose raw logit is `logit`.
    pub fn logprob(&self, logit: f32) -> f32 {
        (f64::from(logit) - self.log_sum_exp) as f32
    }
}

/// The `k` most likely tokens of the raw row with their log-probabilities, most likely
/// first (ties: lower id first). `k` is clamped to the vocabulary size.
/// Partial selection over the row, then a sort of the `k` selected.
pub fn top_logprobs(logits: &[f32], k: usize, norm: &LogSoftmax) -> Vec<(u32, f32)> {
    let mut ids = crate::truncation::top_k_ids(logits, k);
    ids.sort_unstable_by(|&a, &b| by_logit_desc(logits, a, b));
    ids.into_iter().map(|id| (id, norm.logprob(logits[id as usize]))).collect()
}
