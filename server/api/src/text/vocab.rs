//! The one thing the text pipeline needs from a tokenizer: each token's raw bytes.
//!
//! Byte-level BPE vocabularies (GPT-2, Qwen2/Qwen3, Llama 3, DeepSeek) map every token
//! to a byte string that need not be valid UTF-8 on its own: a multi-byte character may
//! be split over two or more tokens. Detokenizing therefore concatenates bytes, never
//! per-token strings. `ponder_models::tokenizer::TextTokenizer` has inherent methods
//! with exactly these names; the crate's `vocab` module implements this trait for it.

use std::rc::Rc;
use std::sync::Arc;

/// A token id → bytes table, plus which ids are special (control) tokens.
pub trait Vocabulary {
    /// The raw bytes token `id` stands for (for a special token, its text, e.g.
    /// `<｜end▁of▁sentence｜>`). An id outside the vocabulary gives an empty slice.
    fn token_bytes(&self, id: u32) -> &[u8];

    /// Whether `id` is a special token (BOS, EOS, chat-role markers...), which the
    /// detokenizer leaves out when `skip_special_tokens` is set. `<think>` and
    /// `</think>` are *not* special in the R1-distill and Qwen3 tokenizers.
    fn is_special(&self, id: u32) -> bool;

    /// Token `id` as text for logprobs and `token_strs` (bytes that are not valid
    /// UTF-8 on their own, a piece of a multi-byte character, become U+FFFD).
    fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }
}

impl<T: Vocabulary + ?Sized> Vocabulary for &T {
    fn token_bytes(&self, id: u32) -> &[u8] {
        (**self).token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        (**self).is_special(id)
    }
}

impl<T: Vocabulary + ?Sized> Vocabulary for Arc<T> {
    fn token_bytes(&self, id: u32) -> &[u8] {
        (**self).token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        (**self).is_special(id)
    }
}

impl<T: Vocabulary + ?Sized> Vocabulary for Rc<T> {
    fn token_bytes(&self, id: u32) -> &[u8] {
        (**self).token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        (**self).is_special(id)
    }
}

impl<T: Vocabulary + ?Sized> Vocabulary for Box<T> {
    fn token_bytes(&self, id: u32) -> &[u8] {
        (**self).token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        (**self).is_special(id)
    }
}
