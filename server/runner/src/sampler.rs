//! The sampler: one host logits row in, one token (with its log-probabilities) out.
//!
//! Pipeline, in vLLM's order:
//! 1. logit bias, 2. repetition / frequency / presence penalties,
//! 3. greedy argmax when `temperature` is (near) 0; otherwise temperature, top-k,
//!    top-p, min-p, and an inverse-CDF draw with the counter-based uniform
//!    [`sample_uniform`]`(params.seed, spec.output_index)` (see [`crate::rng`]).
//!
//! The reported log-probabilities follow `params.logprobs_mode` (vLLM's): the raw row's
//! (`raw_logprobs`, the default; see [`crate::logprobs`]) or those of the logits the
//! token was drawn from (`processed_logprobs`: after bias, penalties, the grammar mask,
//! temperature and truncation, removed tokens at `-inf`; greedy rows without
//! temperature or truncation).

use std::borrow::Cow;

use llguidance::toktrie::SimpleVob;
use ponder_engine::{LogprobsMode, SampleSpec, SampledToken, SamplingParams, SeqId};

use crate::error::SamplerError;
use crate::logits_processors::{apply_logit_bias, apply_penalties, apply_temperature};
use crate::logprobs::{top_logprobs, LogSoftmax};
use crate::rng::sample_uniform;
use crate::truncation::{draw_inverse_cdf, min_p_filter, softmax_over, top_k_ids, top_p_filter, Candidate};

/// Temperatures below this are treated as greedy, as vLLM's `_SAMPLING_EPS` does:
/// dividing by them would overflow f32 logits, and the limit is the argmax anyway.
pub const GREEDY_TEMPERATURE_EPS: f32 = 1e-5;

/// One sampled token of one row, before it is tied to a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub token_id: u32,
    /// Natural-log probability of `token_id` (raw or processed, per `logprobs_mode`).
    pub logprob: f32,
    /// `(token, logprob)` of the `k` most likely tokens (same mode), most likely first, when
    /// `params.logprobs == Some(k)`; empty otherwise.
    pub top_logprobs: Vec<(u32, f32)>,
}

impl Sample {
    /// The engine's `SampledToken` for sequence `seq_id`.
    pub fn into_sampled_token(self, seq_id: SeqId) -> SampledToken {
        SampledToken { seq_id, token_id: self.token_id, logprob: self.logprob, top_logprobs: self.top_logprobs }
    }
}

/// Stateless sampler (all randomness comes from `(seed, output_index)`), so rows of a
/// step can be sampled in parallel from one shared `&Sampler`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sampler;

impl Sampler {
    /// Samples one token from `logits_row` (`[vocab_size]` f32, one row of the step's
    /// `[num_sampled, vocab_size]` host logits) as `spec` asks; a `spec.forced_token`
    /// (thinking budget spent) is returned as is, with its log-probability.
    ///
    /// Errors: an empty or NaN-containing row, out-of-vocabulary
    /// ids in `logit_bias` or the history, missing history for penalties, or a row
    /// where every token ends with probability 0.
    pub fn sample(&self, logits_row: &[f32], spec: &SampleSpec) -> Result<Sample, SamplerError> {
        self.sample_allowed(logits_row, spec, None)
    }

    /// [`Self::sample`] restricted to the tokens `allowed` holds (a structured-output
    /// grammar's mask): the others get probability 0 before sampling (and `-inf`
    /// processed logprobs).
    ///
    /// `spec.params` must have passed `SamplingParams::validate` (the scheduler checks
    /// it once at admission); out-of-range values give wrong draws or `NoCandidates`,
    /// never a panic.
    pub fn sample_allowed(&self, logits_row: &[f32], spec: &SampleSpec, allowed: Option<&SimpleVob>) -> Result<Sample, SamplerError> {
        let params = &*spec.params;
        check_row(logits_row)?;
        if let Some(id) = spec.forced_token {
            // The thinking budget is spent: emit the engine's token with its raw logprob
            // (it was not drawn, so no processed distribution describes it).
            if id as usize >= logits_row.len() {
                return Err(SamplerError::TokenOutOfVocab { token_id: id, vocab_size: logits_row.len() });
            }
            return Ok(report(logits_row, id, params.logprobs));
        }
        let processed = mask_logits(process_logits(logits_row, spec)?, allowed);
        let processed_mode = params.logprobs_mode == LogprobsMode::ProcessedLogprobs;
        if params.temperature < GREEDY_TEMPERATURE_EPS {
            let id = greedy(&processed)?;
            let row = if processed_mode { &processed[..] } else { logits_row };
            return Ok(report(row, id, params.logprobs));
        }
        let mut scaled = processed.into_owned();
        apply_temperature(&mut scaled, params.temperature);
        let (id, kept) = sample_random(&scaled, params, spec.output_index)?;
        if processed_mode {
            return Ok(report(&keep_only(scaled, &kept), id, params.logprobs));
        }
        Ok(report(logits_row, id, params.logprobs))
    }
}

/// `token_id`'s log-probability and the top `k` under the log-softmax of `row` (the
/// raw row, or the processed one in `processed_logprobs` mode).
fn report(row: &[f32], token_id: u32, logprobs: Option<usize>) -> Sample {
    let norm = LogSoftmax::of(row);
    let top = logprobs.map_or_else(Vec::new, |k| top_logprobs(row, k, &norm));
    Sample { token_id, logprob: norm.logprob(row[token_id as usize]), top_logprobs: top }
}

/// The logits the draw used: `scaled` with every token outside `kept` set to `-inf`.
fn keep_only(mut scaled: Vec<f32>, kept: &[Candidate]) -> Vec<f32> {
    let mut keep = vec![false; scaled.len()];
    kept.iter().for_each(|c| keep[c.token_id as usize] = true);
    scaled.iter_mut().zip(keep).filter(|(_, k)| !k).for_each(|(l, _)| *l = f32::NEG_INFINITY);
    scaled
}

/// Steps 1 and 2: logit bias and penalties. Borrows the row when neither applies.
fn process_logits<'a>(row: &'a [f32], spec: &SampleSpec) -> Result<Cow<'a, [f32]>, SamplerError> {
    let params = &*spec.params;
    if params.logit_bias.is_empty() && !params.needs_history() {
        return Ok(Cow::Borrowed(row));
    }
    let mut logits = row.to_vec();
    apply_logit_bias(&mut logits, &params.logit_bias)?;
    apply_penalties(&mut logits, params, spec.history.as_ref())?;
    Ok(Cow::Owned(logits))
}

/// Sets every token `allowed` does not hold to `-inf` (ids past the mask too).
fn mask_logits<'a>(logits: Cow<'a, [f32]>, allowed: Option<&SimpleVob>) -> Cow<'a, [f32]> {
    let Some(allowed) = allowed else { return logits };
    let mut logits = logits.into_owned();
    let len = allowed.len();
    for (id, l) in logits.iter_mut().enumerate() {
        if id >= len || !allowed.is_allowed(id as u32) {
            *l = f32::NEG_INFINITY;
        }
    }
    Cow::Owned(logits)
}

/// Argmax; ties go to the lowest token id.
fn greedy(logits: &[f32]) -> Result<u32, SamplerError> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    match best {
        Some((i, l)) if l != f32::NEG_INFINITY => Ok(i as u32),
        _ => Err(SamplerError::NoCandidates),
    }
}

/// Step 3 for `temperature > 0`, on logits already divided by the temperature: top-k,
/// softmax, top-p, min-p, draw. Returns the token and the candidates it was drawn from.
fn sample_random(scaled: &[f32], params: &SamplingParams, output_index: usize) -> Result<(u32, Vec<Candidate>), SamplerError> {
    let ids = match params.top_k {
        Some(k) if k < scaled.len() => top_k_ids(scaled, k),
        _ => (0..scaled.len() as u32).collect(),
    };
    let mut cands = softmax_over(scaled, &ids)?;
    if params.top_p < 1.0 {
        top_p_filter(&mut cands, f64::from(params.top_p));
    }
    if params.min_p > 0.0 {
        min_p_filter(&mut cands, f64::from(params.min_p));
    }
    let token = draw_inverse_cdf(&mut cands, sample_uniform(params.seed, output_index))?;
    Ok((token, cands))
}

fn check_row(row: &[f32]) -> Result<(), SamplerError> {
    if row.is_empty() {
        return Err(SamplerError::EmptyLogits);
    }
    match row.iter().position(|l| l.is_nan()) {
        Some(i) => Err(SamplerError::NanLogit { token_id: i as u32 }),
        None => Ok(()),
    }
}
