//! Text mode: finds `<think>` / `</think>` in the text itself, across arbitrary chunk
//! boundaries, for tokenizers that spell the tags with several ordinary tokens.
//!
//! Both tags contain exactly one `<`, so the only suffix of the text seen so far that
//! can still grow into a tag starts at its last `<`; that suffix is held back while it
//! is a proper prefix of a tag and released as text once it cannot be one:
//!
//! ```text
//! pushed "so 42.</th"  → Text("so 42.")          held "</th"
//! pushed "ink>The"     → Tag(Close), then "The"  held ""
//! ```
//!
//! The token that completes a tag is the one whose text delta holds the tag's last
//! byte; token text lengths come from [`TextTagScanner::push_token`].

use super::segment::{push_text_segment, token_completing, Segment, TagKind, CLOSE_TAG, OPEN_TAG};

/// Tag finder over the released output text.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextTagScanner {
    /// Released text not yet classified: a proper prefix of a tag (starts with `<`).
    held: String,
    /// Stream byte offset of the first byte of `held` (= bytes released before it).
    held_start: usize,
    /// Cumulative stream byte offset after each generated token's detokenized text.
    token_ends: Vec<usize>,
}

impl TextTagScanner {
    /// Records a generated token whose detokenized text was `raw` (before stop strings).
    pub(crate) fn push_token(&mut self, raw: &str) {
        let end = self.token_ends.last().copied().unwrap_or(0) + raw.len();
        self.token_ends.push(end);
    }

    /// Classifies the next released text; appends complete segments to `out`.
    pub(crate) fn push_text(&mut self, text: &str, out: &mut Vec<Segment>) {
        let mut buf = std::mem::take(&mut self.held);
        buf.push_str(text);
        let mut pos = 0;
        while let Some((at, kind)) = find_tag(&buf[pos..]) {
            push_text_segment(&buf[pos..pos + at], out);
            pos += at + kind.text().len();
            let token_index = token_completing(&self.token_ends, self.held_start + pos);
            out.push(Segment::Tag { kind, token_index });
        }
        let keep = partial_tag_len(&buf[pos..]);
        let cut = buf.len() - keep;
        push_text_segment(&buf[pos..cut], out);
        self.held_start += cut;
        self.held = buf.split_off(cut);
    }

    /// Ends the stream: a held partial tag is ordinary text after all.
    pub(crate) fn finish(&mut self, out: &mut Vec<Segment>) {
        self.held_start += self.held.len();
        push_text_segment(&std::mem::take(&mut self.held), out);
    }
}

/// The first complete tag in `text`: its byte offset and kind.
fn find_tag(text: &str) -> Option<(usize, TagKind)> {
    let open = text.find(OPEN_TAG).map(|at| (at, TagKind::Open));
    let close = text.find(CLOSE_TAG).map(|at| (at, TagKind::Close));
    match (open, close) {
        (Some(o), Some(c)) => Some(if o.0 < c.0 { o } else { c }),
        (found, None) | (None, found) => found,
    }
}

/// Length of the suffix of `text` (which holds no complete tag) that is a proper
/// prefix of a tag, 0 when none.
fn partial_tag_len(text: &str) -> usize {
    match text.rfind('<') {
        Some(at) if OPEN_TAG.starts_with(&text[at..]) || CLOSE_TAG.starts_with(&text[at..]) => {
            text.len() - at
        }
        _ => 0,
    }
}
