//! The section state machine: turns text/tag segments into reasoning and content
//! deltas, applying API.md's whitespace rules.
//!
//! ```text
//!            <think> (first thing, after whitespace)
//! Undecided ─────────────────────────────────────▶ Reasoning ──</think>──▶ Content
//!     │  non-whitespace text, or </think>                                     ▲
//!     └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! A sequence whose prompt ended inside an open think block starts in `Reasoning`.
//! Every tag is stripped; only the transitions drawn above change state (a second
//! `<think>`, or a tag inside the answer, is dropped and changes nothing).
//!
//! Whitespace: a section's leading whitespace is dropped; reasoning's trailing
//! whitespace is held until more reasoning text follows and dropped at `</think>` or the
//! end, so the concatenated reasoning deltas equal the trimmed reasoning text; content
//! keeps its trailing whitespace.

use super::segment::{Segment, TagKind};
use super::ReasoningDelta;

/// Which section the next text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Only whitespace so far; a `<think>` now opens reasoning.
    Undecided,
    Reasoning,
    Content,
}

/// Per-sequence section state.
#[derive(Debug, Clone)]
pub(crate) struct Sections {
    section: Section,
    /// A reasoning section exists (opened by the prompt or by a leading `<think>`).
    has_reasoning: bool,
    /// No non-whitespace text yet in the current section: leading whitespace is dropped.
    at_section_start: bool,
    /// Reasoning's trailing whitespace, not emitted yet (only in `Reasoning`).
    held_whitespace: String,
    /// Index of the generated token that completed the `</think>` closing reasoning.
    close_token: Option<usize>,
}

impl Sections {
    /// Initial state: in reasoning when the prompt opened a think block.
    pub(crate) fn new(starts_in_reasoning: bool) -> Self {
        let section = if starts_in_reasoning {
            Section::Reasoning
        } else {
            Section::Undecided
        };
        Self {
            section,
            has_reasoning: starts_in_reasoning,
            at_section_start: true,
            held_whitespace: String::new(),
            close_token: None,
        }
    }

    /// Applies one segment, appending to `out`.
    pub(crate) fn apply(&mut self, segment: Segment, out: &mut ReasoningDelta) {
        match segment {
            Segment::Text(text) => self.apply_text(&text, out),
            Segment::Tag {
                kind: TagKind::Open,
                ..
            } => {
                if self.section == Section::Undecided {
                    self.enter(Section::Reasoning);
                    self.has_reasoning = true;
                }
            }
            Segment::Tag {
                kind: TagKind::Close,
                token_index,
            } => match self.section {
                Section::Reasoning => {
                    self.held_whitespace.clear();
                    self.close_token = Some(token_index);
                    self.enter(Section::Content);
                }
                Section::Undecided => self.enter(Section::Content),
                Section::Content => {}
            },
        }
    }

    /// Ends the sequence: reasoning's held trailing whitespace is dropped.
    pub(crate) fn finish(&mut self) {
        self.held_whitespace.clear();
    }

    /// Whether a reasoning section exists.
    pub(crate) fn has_reasoning(&self) -> bool {
        self.has_reasoning
    }

    /// Index of the token that completed the `</think>` ending reasoning, if any.
    pub(crate) fn close_token(&self) -> Option<usize> {
        self.close_token
    }

    fn enter(&mut self, section: Section) {
        self.section = section;
        self.at_section_start = true;
    }

    fn apply_text(&mut self, text: &str, out: &mut ReasoningDelta) {
        let text = if self.at_section_start {
            text.trim_start()
        } else {
            text
        };
        if text.is_empty() {
            return;
        }
        self.at_section_start = false;
        match self.section {
            Section::Undecided => {
                self.section = Section::Content;
                out.content.push_str(text);
            }
            Section::Content => out.content.push_str(text),
            Section::Reasoning => {
                let body = text.trim_end();
                if body.is_empty() {
                    self.held_whitespace.push_str(text);
                    return;
                }
                out.reasoning
                    .push_str(&std::mem::take(&mut self.held_whitespace));
                out.reasoning.push_str(body);
                self.held_whitespace.push_str(&text[body.len()..]);
            }
        }
    }
}
