//! [`ThinkTagParser`]: the `<think>…</think>` parser for R1-style and Qwen3-style
//! models, in token mode or text mode (see the module docs of `token_tags` and
//! `text_tags`), over the section state machine in `sections`.

use super::sections::Sections;
use super::segment::Segment;
use super::text_tags::TextTagScanner;
use super::token_tags::TokenTagSplitter;
use super::{ReasoningConfig, ReasoningDelta, ReasoningParser};

/// How tags are found.
#[derive(Debug, Clone)]
enum TagFinder {
    /// By `<think>` / `</think>` token id.
    Token(TokenTagSplitter),
    /// By text, across chunk boundaries.
    Text(TextTagScanner),
}

/// Splits `<think>…</think>` reasoning from the answer.
///
/// Cost per push: O(text length) plus, in text mode, O(log tokens) per tag found.
/// Memory: in text mode, one `usize` per generated token (to count reasoning tokens).
#[derive(Debug, Clone)]
pub struct ThinkTagParser {
    finder: TagFinder,
    sections: Sections,
    /// Generated tokens recorded by `push_token`.
    tokens: usize,
    /// Scratch list of segments, reused between pushes.
    segments: Vec<Segment>,
}

impl ThinkTagParser {
    /// A parser for one sequence.
    pub fn new(config: ReasoningConfig) -> Self {
        let finder = match config.think_token_ids {
            Some(ids) => TagFinder::Token(TokenTagSplitter::new(ids)),
            None => TagFinder::Text(TextTagScanner::default()),
        };
        Self {
            finder,
            sections: Sections::new(config.starts_in_reasoning),
            tokens: 0,
            segments: Vec::new(),
        }
    }

    /// Whether tags are found by token id.
    pub fn is_token_mode(&self) -> bool {
        matches!(self.finder, TagFinder::Token(_))
    }

    /// Runs the collected segments through the section state machine.
    fn drain_segments(&mut self) -> ReasoningDelta {
        let mut delta = ReasoningDelta::default();
        for segment in self.segments.drain(..) {
            self.sections.apply(segment, &mut delta);
        }
        delta
    }
}

impl ReasoningParser for ThinkTagParser {
    fn push_token(&mut self, token_id: u32, raw_text: &str) {
        self.tokens += 1;
        match &mut self.finder {
            TagFinder::Token(splitter) => splitter.push_token(token_id, raw_text),
            TagFinder::Text(scanner) => scanner.push_token(raw_text),
        }
    }

    fn push_text(&mut self, text: &str) -> ReasoningDelta {
        match &mut self.finder {
            TagFinder::Token(splitter) => splitter.push_text(text, &mut self.segments),
            TagFinder::Text(scanner) => scanner.push_text(text, &mut self.segments),
        }
        self.drain_segments()
    }

    fn finish(&mut self) -> ReasoningDelta {
        if let TagFinder::Text(scanner) = &mut self.finder {
            scanner.finish(&mut self.segments);
        }
        let delta = self.drain_segments();
        self.sections.finish();
        delta
    }

    fn reasoning_tokens(&self) -> usize {
        match self.sections.close_token() {
            Some(index) => index,
            None if self.sections.has_reasoning() => self.tokens,
            None => 0,
        }
    }

    fn has_reasoning(&self) -> bool {
        self.sections.has_reasoning()
    }
}
