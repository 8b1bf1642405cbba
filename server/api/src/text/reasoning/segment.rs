//! What a tag finder hands to the section state machine: plain text or a tag.

/// Which think tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    /// `<think>`: opens the reasoning section.
    Open,
    /// `</think>`: closes it; the answer follows.
    Close,
}

impl TagKind {
    /// The tag's text.
    pub(crate) fn text(self) -> &'static str {
        match self {
            TagKind::Open => OPEN_TAG,
            TagKind::Close => CLOSE_TAG,
        }
    }
}

/// The opening tag of a reasoning section (DeepSeek-R1, Qwen3, QwQ).
pub const OPEN_TAG: &str = "<think>";
/// The closing tag of a reasoning section.
pub const CLOSE_TAG: &str = "</think>";

/// A piece of the output stream, in order: tag text is never inside `Text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Text between tags.
    Text(String),
    /// A complete tag; `token_index` is the 0-based index, among generated tokens, of
    /// the token that completed it.
    Tag { kind: TagKind, token_index: usize },
}

/// Index of the token whose text holds stream byte `end - 1`, given each token's
/// cumulative end offset (`token_ends`, non-decreasing). Past the last token (text
/// that no token produced, e.g. the detokenizer's final U+FFFD) → the token count.
pub(crate) fn token_completing(token_ends: &[usize], end: usize) -> usize {
    token_ends.partition_point(|&token_end| token_end < end)
}

/// The largest index ≤ `at` that is a char boundary of `text` (`at` clamped to its length).
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Appends `text` as a [`Segment::Text`] unless it is empty.
pub(crate) fn push_text_segment(text: &str, out: &mut Vec<Segment>) {
    if !text.is_empty() {
        out.push(Segment::Text(text.to_owned()));
    }
}
