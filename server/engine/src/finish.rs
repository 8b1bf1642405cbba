//! Token-level stop conditions, checked on the engine thread after every sampled token
//! so that no token is computed past a stop. String stops are the API layer's.

use serde::{Deserialize, Serialize};

use crate::sequence::Sequence;

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FinishReason {
    /// Sampled one of the model's EOS token ids (OpenAI `stop`).
    Eos,
    /// Sampled this id from `stop_token_ids` (OpenAI `stop`).
    StopToken(u32),
    /// Reached `max_tokens` or the context window `max_model_len` (OpenAI `length`).
    Length,
    /// Aborted by the client or an admin (never produced by `Scheduler::update`).
    Abort,
}

/// Whether `seq`, whose last output token was just appended, is finished.
///
/// EOS (unless `ignore_eos`) and `stop_token_ids` count only once `min_tokens` outputs
/// exist; they are checked before length, so a stop token sampled as the last allowed
/// token reports the stop (as vLLM v0; v1 reports length). Length applies regardless of
/// `min_tokens`, so generation is always bounded.
pub(crate) fn check_stop(seq: &Sequence, eos_token_ids: &[u32], max_model_len: usize) -> Option<FinishReason> {
    let params = seq.params();
    let num_output = seq.output().len();
    if let Some(&last) = seq.output().last() {
        if num_output >= params.min_tokens {
            if !params.ignore_eos && eos_token_ids.contains(&last) {
                return Some(FinishReason::Eos);
            }
            if params.stop_token_ids.contains(&last) {
                return Some(FinishReason::StopToken(last));
            }
        }
    }
    (num_output >= params.max_tokens || seq.num_tokens() >= max_model_len).then_some(FinishReason::Length)
}
