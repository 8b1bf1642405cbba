//! Thinking budgets (`max_reasoning_tokens`, vLLM's `thinking_token_budget`): once a
//! sequence has generated that many tokens inside its reasoning section, the engine
//! itself emits the end-of-thinking tokens (an optional transition text, then
//! `</think>`) instead of sampling, and the model goes on to answer.
//!
//! Counting follows API.md's `reasoning_tokens`: every generated token before the one
//! that completes `</think>` (a generated `<think>` included). The budget is checked
//! against the number of output tokens so far while the sequence is in its reasoning
//! section, so forcing starts at output index `max_reasoning_tokens` exactly: no token
//! is sampled and then thrown away. Forced tokens of the transition text are reasoning
//! tokens too (they precede `</think>`).
//!
//! Detection is on token ids: `<think>`/`</think>` are single ids for the R1 distills
//! and Qwen3; for other tokenizers the API layer passes the tags' encodings and a tag
//! is recognized when the output ends with that id sequence.

use serde::{Deserialize, Serialize};

/// A sequence's thinking budget and how to recognize and close its reasoning section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBudget {
    /// Reasoning tokens allowed before the engine closes the section (0: close at once).
    pub max_reasoning_tokens: usize,
    /// The prompt opened a think block (the R1-distill template ends in `<think>\n`).
    pub starts_in_reasoning: bool,
    /// Ids of `<think>`: when the output ends with them, reasoning starts.
    pub start_ids: Vec<u32>,
    /// Ids of `</think>`: when the output ends with them, reasoning is over.
    pub end_ids: Vec<u32>,
    /// Ids emitted when the budget is spent: the transition text, then `end_ids`.
    pub forced_ids: Vec<u32>,
}

/// Where a sequence's output stands with respect to its reasoning section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReasoningPhase {
    /// No `<think>` yet (and the prompt did not open one).
    NotStarted,
    /// Inside the reasoning section, sampling freely.
    Reasoning,
    /// The budget is spent: `forced_ids[next]` is the next output token.
    Forcing { next: usize },
    /// The section is closed (by the model or by forcing); sampling is free again.
    Closed,
}

impl ThinkingBudget {
    /// The phase of a sequence with no output yet.
    pub fn initial_phase(&self) -> ReasoningPhase {
        let phase = if self.starts_in_reasoning { ReasoningPhase::Reasoning } else { ReasoningPhase::NotStarted };
        self.check_budget(phase, 0)
    }

    /// The phase after `output`'s last token was appended, from the phase before it.
    pub fn advance(&self, phase: ReasoningPhase, output: &[u32]) -> ReasoningPhase {
        let next = match phase {
            ReasoningPhase::NotStarted if ends_with(output, &self.start_ids) => ReasoningPhase::Reasoning,
            ReasoningPhase::Reasoning if ends_with(output, &self.end_ids) => ReasoningPhase::Closed,
            ReasoningPhase::Forcing { next } if next + 1 >= self.forced_ids.len() => ReasoningPhase::Closed,
            ReasoningPhase::Forcing { next } => ReasoningPhase::Forcing { next: next + 1 },
            other => other,
        };
        self.check_budget(next, output.len())
    }

    /// The token the engine emits next instead of sampling, if any.
    pub fn forced_token(&self, phase: ReasoningPhase) -> Option<u32> {
        match phase {
            ReasoningPhase::Forcing { next } => self.forced_ids.get(next).copied(),
            _ => None,
        }
    }

    fn check_budget(&self, phase: ReasoningPhase, generated: usize) -> ReasoningPhase {
        match phase {
            ReasoningPhase::Reasoning if generated >= self.max_reasoning_tokens => {
                if self.forced_ids.is_empty() {
                    ReasoningPhase::Closed
                } else {
                    ReasoningPhase::Forcing { next: 0 }
                }
            }
            other => other,
        }
    }
}

fn ends_with(output: &[u32], tag: &[u32]) -> bool {
    !tag.is_empty() && output.ends_with(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const THINK: u32 = 100;
    const END: u32 = 101;

    fn budget(max: usize, starts_in_reasoning: bool, message: &[u32]) -> ThinkingBudget {
        ThinkingBudget {
            max_reasoning_tokens: max,
            starts_in_reasoning,
            start_ids: vec![THINK],
            end_ids: vec![END],
            forced_ids: message.iter().copied().chain([END]).collect(),
        }
    }

    /// Generates `steps` tokens: forced ones where the budget says so, else `model(i)`.
    fn run(b: &ThinkingBudget, steps: usize, model: impl Fn(usize) -> u32) -> Vec<u32> {
        let mut phase = b.initial_phase();
        let mut out = Vec::new();
        for i in 0..steps {
            out.push(b.forced_token(phase).unwrap_or_else(|| model(i)));
            phase = b.advance(phase, &out);
        }
        out
    }

    #[test]
    fn the_end_tag_is_forced_right_after_the_budget() {
        let out = run(&budget(3, true, &[]), 6, |_| 7);
        assert_eq!(out, [7, 7, 7, END, 7, 7]);
    }

    #[test]
    fn a_budget_of_zero_closes_the_block_first_and_one_allows_one_token() {
        assert_eq!(run(&budget(0, true, &[]), 3, |_| 7), [END, 7, 7]);
        assert_eq!(run(&budget(1, true, &[]), 3, |_| 7), [7, END, 7]);
    }

    #[test]
    fn the_transition_message_precedes_the_end_tag() {
        assert_eq!(run(&budget(2, true, &[50, 51]), 6, |_| 7), [7, 7, 50, 51, END, 7]);
    }

    #[test]
    fn a_model_that_closes_in_time_is_never_forced() {
        let out = run(&budget(5, true, &[]), 8, |i| if i == 2 { END } else { 7 });
        assert_eq!(out, [7, 7, END, 7, 7, 7, 7, 7]);
    }

    #[test]
    fn counting_starts_with_a_generated_think_and_includes_tokens_before_it() {
        // Not opened by the prompt: nothing is forced until <think> appears; then the
        // budget counts every generated token so far (<think> and what preceded it).
        let out = run(&budget(4, false, &[]), 7, |i| if i == 1 { THINK } else { 7 });
        assert_eq!(out, [7, THINK, 7, 7, END, 7, 7]);
        assert_eq!(run(&budget(4, false, &[]), 6, |_| 7), [7; 6], "no think block: no forcing");
    }

    #[test]
    fn multi_token_tags_are_recognized_as_id_sequences() {
        let b = ThinkingBudget {
            max_reasoning_tokens: 10,
            starts_in_reasoning: true,
            start_ids: vec![1, 2],
            end_ids: vec![3, 4],
            forced_ids: vec![3, 4],
        };
        let model = [7, 3, 7, 3, 4, 7, 7];
        let out = run(&b, 7, |i| model[i]);
        assert_eq!(out, model, "the model closed the block itself at index 4");
        let mut phase = b.initial_phase();
        for i in 0..5 {
            phase = b.advance(phase, &model[..=i]);
        }
        assert_eq!(phase, ReasoningPhase::Closed);
    }
}
