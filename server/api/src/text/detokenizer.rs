//! Incremental detokenizer: token ids in, UTF-8 text deltas out.
//!
//! Byte-level, as in llama.cpp's `common_token_to_piece` loop and TGI's
//! `decode_token`: each token's raw bytes are appended to a small buffer and the longest
//! valid UTF-8 prefix is emitted. Three cases at the buffer's end:
//!
//! ```text
//! | valid UTF-8 (emitted) | invalid bytes (→ U+FFFD now) | valid ... | incomplete (held) |
//! ```
//!
//! - an *incomplete* multi-byte sequence (a lead byte whose continuation bytes have not
//!   arrived yet) is held until the next token (at most 3 bytes);
//! - an *invalid* sequence (`Utf8Error::error_len()` is `Some`) becomes one U+FFFD per
//!   maximal invalid subpart at once, the way `String::from_utf8_lossy` does, so the
//!   stream never stalls on a bad byte;
//! - [`IncrementalDetokenizer::finish`] turns a still-incomplete tail into U+FFFD.
//!
//! Concatenating every delta and the `finish()` text equals
//! `String::from_utf8_lossy(all bytes)` (tested).

use super::vocab::Vocabulary;

/// Per-sequence detokenizer state. Cost per token: O(token bytes).
#[derive(Debug, Clone)]
pub struct IncrementalDetokenizer {
    /// Bytes not yet emitted: always an incomplete UTF-8 sequence (≤ 3 bytes) between calls.
    pending: Vec<u8>,
    /// Leave special tokens (as told by [`Vocabulary::is_special`]) out of the text.
    skip_special_tokens: bool,
}

impl Default for IncrementalDetokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl IncrementalDetokenizer {
    /// A detokenizer that skips special tokens (the OpenAI-compatible default).
    pub fn new() -> Self {
        Self::with_skip_special_tokens(true)
    }

    /// A detokenizer that skips special tokens or keeps their text
    /// (`skip_special_tokens` request field).
    pub fn with_skip_special_tokens(skip_special_tokens: bool) -> Self {
        Self {
            pending: Vec::new(),
            skip_special_tokens,
        }
    }

    /// Appends token `id` and returns the text that became complete (possibly empty).
    pub fn push<V: Vocabulary + ?Sized>(&mut self, vocab: &V, id: u32) -> String {
        if self.skip_special_tokens && vocab.is_special(id) {
            return String::new();
        }
        self.push_bytes(vocab.token_bytes(id))
    }

    /// Appends raw bytes and returns the text that became complete (possibly empty).
    pub fn push_bytes(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(valid) => {
                    out.push_str(valid);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid_end = start + e.valid_up_to();
                    // The first `valid_up_to` bytes are valid UTF-8: this borrows, replacing nothing.
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..valid_end]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + bad;
                        }
                        None => {
                            start = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// Ends the sequence: a held incomplete sequence becomes U+FFFD. The detokenizer is
    /// empty (reusable) afterwards.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Whether bytes of an incomplete character are held.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
