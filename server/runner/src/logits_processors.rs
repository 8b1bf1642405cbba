//! Logit processors applied before sampling, in vLLM's order: logit bias, then the
//! penalties (repetition, frequency, presence), then temperature.
//!
//! All of them work in place on one host row `[vocab_size]` of f32 logits.

use ponder_engine::{SamplingParams, TokenHistory};

use crate::error::SamplerError;

/// Adds OpenAI `logit_bias` to the row: `logits[id] += bias` for each `(id, bias)`.
///
/// Errors: `TokenOutOfVocab` when an id is `>= logits.len()`.
pub fn apply_logit_bias(logits: &mut [f32], bias: &[(u32, f32)]) -> Result<(), SamplerError> {
    for &(token_id, b) in bias {
        let slot = vocab_slot(logits, token_id)?;
        *slot += b;
    }
    Ok(())
}

/// Applies the repetition, frequency and presence penalties of `params`.
///
/// - Repetition (Keskar et al., CTRL, 2019; as in HF `RepetitionPenaltyLogitsProcessor`
///   and vLLM): for every distinct token of prompt + output, a positive logit is divided
///   by `repetition_penalty`, a non-positive one multiplied by it.
/// - Frequency and presence (OpenAI API): for every token with `count > 0` occurrences
///   in the output only, `logit -= frequency_penalty * count + presence_penalty`.
///
/// Does nothing when `!params.needs_history()`.
/// Errors: `MissingHistory` when penalties are set and `history` is `None`;
/// `TokenOutOfVocab` when a history token is `>= logits.len()`.
pub fn apply_penalties(
    logits: &mut [f32],
    params: &SamplingParams,
    history: Option<&TokenHistory>,
) -> Result<(), SamplerError> {
    if !params.needs_history() {
        return Ok(());
    }
    let history = history.ok_or(SamplerError::MissingHistory)?;
    if params.repetition_penalty != 1.0 {
        apply_repetition_penalty(logits, params.repetition_penalty, history)?;
    }
    if params.frequency_penalty != 0.0 || params.presence_penalty != 0.0 {
        for (token_id, count) in output_counts(&history.output) {
            let slot = vocab_slot(logits, token_id)?;
            *slot -= params.frequency_penalty * count as f32 + params.presence_penalty;
        }
    }
    Ok(())
}

/// Divides every logit by `temperature` (`> 0`). Temperature 1 leaves the row as is.
pub fn apply_temperature(logits: &mut [f32], temperature: f32) {
    if temperature != 1.0 {
        let inv = 1.0 / temperature;
        logits.iter_mut().for_each(|l| *l *= inv);
    }
}

fn apply_repetition_penalty(
    logits: &mut [f32],
    penalty: f32,
    history: &TokenHistory,
) -> Result<(), SamplerError> {
    let mut seen: Vec<u32> = history.prompt.iter().chain(&history.output).copied().collect();
    seen.sort_unstable();
    seen.dedup();
    for token_id in seen {
        let slot = vocab_slot(logits, token_id)?;
        *slot = if *slot > 0.0 { *slot / penalty } else { *slot * penalty };
    }
    Ok(())
}

/// `(token, occurrences)` of each distinct token of `output`, by ascending token id.
fn output_counts(output: &[u32]) -> Vec<(u32, usize)> {
    let mut sorted = output.to_vec();
    sorted.sort_unstable();
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for id in sorted {
        match counts.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => counts.push((id, 1)),
        }
    }
    counts
}

fn vocab_slot(logits: &mut [f32], token_id: u32) -> Result<&mut f32, SamplerError> {
    let vocab_size = logits.len();
    logits
        .get_mut(token_id as usize)
        .ok_or(SamplerError::TokenOutOfVocab { token_id, vocab_size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_counts_counts_each_distinct_token_once_in_id_order() {
        assert_eq!(output_counts(&[5, 1, 5, 3, 5, 1]), vec![(1, 2), (3, 1), (5, 3)]);
        assert!(output_counts(&[]).is_empty());
    }
}
