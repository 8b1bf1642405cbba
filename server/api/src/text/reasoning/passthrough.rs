//! The parser for outputs that are not split: all text is content, unchanged.

use super::{ReasoningDelta, ReasoningParser};

/// Everything is content, byte for byte (no tag stripping, no whitespace trimming):
/// `/v1/completions` and models without reasoning.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough;

impl ReasoningParser for PassThrough {
    fn push_token(&mut self, _token_id: u32, _raw_text: &str) {}

    fn push_text(&mut self, text: &str) -> ReasoningDelta {
        ReasoningDelta {
            reasoning: String::new(),
            content: text.to_owned(),
        }
    }

    fn finish(&mut self) -> ReasoningDelta {
        ReasoningDelta::default()
    }

    fn reasoning_tokens(&self) -> usize {
        0
    }

    fn has_reasoning(&self) -> bool {
        false
    }
}
