//! Non-streaming responses: run a generation to the end and build one JSON body.

use crate::error::ApiError;
use crate::generation::Generation;
use crate::protocol::{ChoiceOutput, FinishReason, LegacyLogprobs, TokenLogprob};

/// Accumulated output of one choice.
#[derive(Default)]
struct Acc {
    reasoning: String,
    content: String,
    logprobs: Vec<TokenLogprob>,
    has_logprobs: bool,
    legacy: Option<LegacyLogprobs>,
    prompt_logprobs: Option<Vec<TokenLogprob>>,
}

/// Drives `generation` to completion and returns every choice's final output.
///
/// Errors: those of [`Generation::next`].
pub async fn collect(mut generation: Generation, return_token_ids: bool) -> Result<(Vec<ChoiceOutput>, Generation), ApiError> {
    let mut acc: Vec<Acc> = (0..generation.choices().len()).map(|_| Acc::default()).collect();
    while let Some(deltas) = generation.next().await {
        for d in deltas? {
            let Some(a) = acc.get_mut(d.index) else { continue };
            if let Some(r) = &d.reasoning {
                a.reasoning.push_str(r);
            }
            if let Some(c) = &d.content {
                a.content.push_str(c);
            }
            if let Some(l) = d.logprobs {
                a.has_logprobs = true;
                a.logprobs.extend(l);
            }
            if let Some(l) = d.legacy_logprobs {
                a.legacy.get_or_insert_with(LegacyLogprobs::default).extend(l);
            }
            if d.prompt_logprobs.is_some() {
                a.prompt_logprobs = d.prompt_logprobs;
            }
        }
    }
    let outputs = generation
        .choices()
        .iter()
        .zip(acc)
        .map(|(choice, a)| ChoiceOutput {
            index: choice.index,
            reasoning: choice.has_reasoning().then_some(a.reasoning),
            content: a.content,
            finish: choice.finish.unwrap_or(FinishReason::Stop),
            token_ids: return_token_ids.then(|| choice.token_ids.clone()),
            logprobs: a.has_logprobs.then_some(a.logprobs),
            weight_versions: choice.spanned_weight_versions(),
            stop_reason: choice.stop_reason.clone(),
            prompt_logprobs: a.prompt_logprobs,
            legacy_logprobs: a.legacy,
            reasoning_tokens: choice.reasoning_tokens(),
        })
        .collect();
    Ok((outputs, generation))
}
