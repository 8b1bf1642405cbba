//! Token mode: the `<think>` / `</think>` token ids mark the tags, for tokenizers that
//! have them as single tokens (R1-distill 151648/151649, Qwen3 151667/151668).
//!
//! The parser sees text after the stop-string matcher, which may hold text back, so a
//! tag token's text can reach it later than the id. Each tag token therefore records
//! the byte span of its text in the output stream when its id is pushed, and the
//! released text is cut at those spans:
//!
//! ```text
//! raw stream:  | reasoning text | </think> | answer ...
//!                               ^span.start ^span.end (= stream length after the tag token)
//! released:    | ............ | (held by stop matcher) ...
//! ```
//!
//! Text before a span is plain text; the span's own bytes are dropped (also when they
//! arrive in pieces); the tag is reported once its last byte is released. A tag token
//! whose text was left out (`skip_special_tokens` on a tokenizer that marks the tags
//! special) gets an empty span at the point where it was generated.

use std::collections::VecDeque;

use super::segment::{floor_char_boundary, push_text_segment, Segment, TagKind};
use super::ThinkTokenIds;

/// Where one tag token's text lies in the output stream.
#[derive(Debug, Clone)]
struct TagSpan {
    /// Stream byte offset of the tag text's first byte.
    start: usize,
    /// Stream byte offset just past it (`start` when the text was skipped).
    end: usize,
    kind: TagKind,
    /// 0-based index of the tag token among generated tokens.
    token_index: usize,
}

/// Tag finder driven by token ids.
#[derive(Debug, Clone)]
pub(crate) struct TokenTagSplitter {
    ids: ThinkTokenIds,
    /// Tag spans not yet fully released, in stream order.
    spans: VecDeque<TagSpan>,
    /// Generated tokens seen.
    tokens: usize,
    /// Bytes of detokenized text seen (the raw stream's length).
    raw_len: usize,
    /// Bytes of released text consumed (a prefix of the raw stream).
    released: usize,
}

impl TokenTagSplitter {
    /// A splitter for the given tag token ids.
    pub(crate) fn new(ids: ThinkTokenIds) -> Self {
        Self {
            ids,
            spans: VecDeque::new(),
            tokens: 0,
            raw_len: 0,
            released: 0,
        }
    }

    /// Records generated token `id` whose detokenized text was `raw`.
    pub(crate) fn push_token(&mut self, id: u32, raw: &str) {
        let token_index = self.tokens;
        self.tokens += 1;
        self.raw_len += raw.len();
        let kind = match id {
            id if id == self.ids.open => TagKind::Open,
            id if id == self.ids.close => TagKind::Close,
            _ => return,
        };
        // The tag text is ASCII, so it is the tail of `raw` (after any U+FFFD flushed
        // for bytes held before it) unless the detokenizer skipped it.
        let tag_len = if raw.ends_with(kind.text()) {
            kind.text().len()
        } else {
            0
        };
        let span = TagSpan {
            start: self.raw_len - tag_len,
            end: self.raw_len,
            kind,
            token_index,
        };
        self.spans.push_back(span);
    }

    /// Classifies the next released text; appends complete segments to `out`.
    pub(crate) fn push_text(&mut self, text: &str, out: &mut Vec<Segment>) {
        let mut rest = text;
        while let Some(span) = self.spans.front() {
            if self.released < span.start {
                let plain = floor_char_boundary(rest, span.start - self.released);
                push_text_segment(&rest[..plain], out);
                self.released += plain;
                rest = &rest[plain..];
                if self.released < span.start {
                    return;
                }
            }
            let tag_bytes = floor_char_boundary(rest, span.end.saturating_sub(self.released));
            self.released += tag_bytes;
            rest = &rest[tag_bytes..];
            if self.released < span.end {
                return;
            }
            out.push(Segment::Tag {
                kind: span.kind,
                token_index: span.token_index,
            });
            self.spans.pop_front();
        }
        self.released += rest.len();
        push_text_segment(rest, out);
    }
}
