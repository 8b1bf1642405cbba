//! Non-streaming responses: run a generation to the end and build one JSON body. The
//! per-choice accumulator also serves streams that resend a choice's output so far
//! (SGLang's cumulative `/generate` chunks).

use crate::error::ApiError;
use crate::generation::{Choice, Generation};
use crate::protocol::{ChoiceOutput, ChunkDelta, FinishReason, LegacyLogprobs, TokenLogprob};

/// Accumulated output of one choice.
#[derive(Default)]
pub struct Acc {
    reasoning: String,
    content: String,
    logprobs: Vec<TokenLogprob>,
    has_logprobs: bool,
    legacy: Option<LegacyLogprobs>,
    prompt_logprobs: Option<Vec<TokenLogprob>>,
}

impl Acc {
    /// Adds one delta of this choice.
    pub fn add(&mut self, d: ChunkDelta) {
        if let Some(r) = &d.reasoning {
            self.reasoning.push_str(r);
        }
        if let Some(c) = &d.content {
            self.content.push_str(c);
        }
        if let Some(l) = d.logprobs {
            self.has_logprobs = true;
            self.logprobs.extend(l);
        }
        if let Some(l) = d.legacy_logprobs {
            self.legacy.get_or_insert_with(LegacyLogprobs::default).extend(l);
        }
        if d.prompt_logprobs.is_some() {
            self.prompt_logprobs = d.prompt_logprobs;
        }
    }

    /// The choice's output so far: the accumulated text and logprobs, the rest from
    /// the choice itself (`finish` reads `stop` until the choice has ended).
    pub fn output(&self, choice: &Choice, return_token_ids: bool) -> ChoiceOutput {
        ChoiceOutput {
            index: choice.index,
            reasoning: choice.has_reasoning().then(|| self.reasoning.clone()),
            content: self.content.clone(),
            finish: choice.finish.unwrap_or(FinishReason::Stop),
            token_ids: return_token_ids.then(|| choice.token_ids.clone()),
            logprobs: self.has_logprobs.then(|| self.logprobs.clone()),
            weight_versions: choice.spanned_weight_versions(),
            stop_reason: choice.stop_reason.clone(),
            prompt_logprobs: self.prompt_logprobs.clone(),
            legacy_logprobs: self.legacy.clone(),
            reasoning_tokens: choice.reasoning_tokens(),
        }
    }
}

/// Drives `generation` to completion and returns every choice's final output.
///
/// Errors: those of [`Generation::next`].
pub async fn collect(mut generation: Generation, return_token_ids: bool) -> Result<(Vec<ChoiceOutput>, Generation), ApiError> {
    let mut acc: Vec<Acc> = (0..generation.choices().len()).map(|_| Acc::default()).collect();
    while let Some(deltas) = generation.next().await {
        for d in deltas? {
            if let Some(a) = acc.get_mut(d.index) {
                a.add(d);
            }
        }
    }
    let outputs = generation.choices().iter().zip(&acc).map(|(choice, a)| a.output(choice, return_token_ids)).collect();
    Ok((outputs, generation))
}
