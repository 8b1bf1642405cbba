//! The text pipeline's view of the model tokenizer.

use ponder_models::tokenizer::TextTokenizer;

use crate::text::Vocabulary;

impl Vocabulary for TextTokenizer {
    fn token_bytes(&self, id: u32) -> &[u8] {
        TextTokenizer::token_bytes(self, id)
    }

    fn is_special(&self, id: u32) -> bool {
        TextTokenizer::is_special(self, id)
    }
}
