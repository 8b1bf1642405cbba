//! Prompt logprobs (vLLM's `prompt_logprobs`): the raw log-softmax of a prompt row's
//! logits at the prompt token that follows it, its rank, and the top alternatives.
//! They are always raw (the model's distribution): no sampling parameter applies to a
//! prompt token.

use std::ops::Range;

use ponder_engine::{PromptLogprob, PromptLogprobsRequest};
use rayon::prelude::*;

use crate::error::SamplerError;
use crate::logprobs::{top_logprobs, LogSoftmax};

/// Scores `req.target_ids[i]` under logits row `rows.start + i` of `host`
/// (`[num_rows, vocab]` row-major f32), in parallel over rows. `rows.len()` must equal
/// `req.target_ids.len()` (the runner lays them out so).
///
/// Errors: a target id outside the vocabulary.
pub fn score_prompt_rows(host: &[f32], vocab: usize, rows: Range<usize>, req: &PromptLogprobsRequest) -> Result<Vec<PromptLogprob>, SamplerError> {
    let score = |(row, &token_id): (usize, &u32)| score_row(&host[row * vocab..(row + 1) * vocab], token_id, req.num_top);
    if rows.len() > 1 {
        rows.into_par_iter().zip(req.target_ids.par_iter()).map(score).collect()
    } else {
        rows.zip(&req.target_ids).map(score).collect()
    }
}

/// One row: logprob, 1-based rank (tokens whose logit is at least the target's, as
/// vLLM counts it) and the `num_top` most likely tokens.
fn score_row(row: &[f32], token_id: u32, num_top: usize) -> Result<PromptLogprob, SamplerError> {
    let &logit = row.get(token_id as usize).ok_or(SamplerError::TokenOutOfVocab { token_id, vocab_size: row.len() })?;
    let norm = LogSoftmax::of(row);
    let rank = row.iter().filter(|&&l| l >= logit).count();
    let top = if num_top == 0 { Vec::new() } else { top_logprobs(row, num_top, &norm) };
    Ok(PromptLogprob { token_id, logprob: norm.logprob(logit), rank, top_logprobs: top })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_scores_its_target_with_rank_and_top() {
        // Two rows of a 4-token vocabulary.
        let host = [0.0, 2.0, 1.0, 2.0, 3.0, 0.0, 0.0, 1.0];
        let req = PromptLogprobsRequest { num_top: 2, target_ids: vec![2, 0] };
        let got = score_prompt_rows(&host, 4, 0..2, &req).unwrap();
        let lse0 = (0f64.exp() + 2f64.exp() + 1f64.exp() + 2f64.exp()).ln();
        assert_eq!(got[0].token_id, 2);
        assert!((f64::from(got[0].logprob) - (1.0 - lse0)).abs() < 1e-6);
        assert_eq!(got[0].rank, 3, "two tokens tie above it");
        assert_eq!(got[0].top_logprobs.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 3], "ties: lower id first");
        assert_eq!((got[1].token_id, got[1].rank), (0, 1));
    }

    #[test]
    fn an_out_of_vocabulary_target_is_an_error_not_a_panic() {
        let req = PromptLogprobsRequest { num_top: 0, target_ids: vec![9] };
        assert!(score_prompt_rows(&[0.0; 4], 4, 0..1, &req).is_err());
    }
}
