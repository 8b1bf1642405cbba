//! The raw bytes of every token, precomputed once.
//!
//! The incremental detokenizer concatenates these bytes and does its own UTF-8
//! handling, so decoding a token stream never re-runs the `tokenizers` decoder.
//!
//! Two vocabularies are supported, matching the two decoders seen in practice:
//! - byte-level BPE (GPT-2, Qwen, Llama 3, SmolLM): every byte is written as one
//!   printable character through GPT-2's `bytes_to_unicode` table
//!   (openai/gpt-2 `encoder.py`); a token maps back byte by byte. A token with a
//!   character outside the table (an added token such as `<｜User｜>`) is its UTF-8
//!   text, exactly as the `tokenizers` ByteLevel decoder does it.
//! - SentencePiece (Llama 2, Mistral): `▁` (U+2581) stands for a space and
//!   `<0xNN>` tokens are single raw bytes (byte fallback).

use std::collections::HashMap;

/// How the vocabulary writes bytes in its token strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEncoding {
    /// GPT-2 byte-level BPE: one printable character per byte.
    ByteLevel,
    /// SentencePiece: `▁` for a space, `<0xNN>` byte-fallback tokens.
    SentencePiece,
    /// Plain UTF-8 token strings (any other decoder).
    Utf8,
}

/// GPT-2's `bytes_to_unicode`: byte `b` is written as character `table[b]`.
///
/// Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) map to themselves; the
/// other 68 bytes map, in order, to U+0100, U+0101, ... (so a space is `Ġ`,
/// U+0120, and a newline is `Ċ`, U+010A).
pub fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut table = ['\0'; 256];
    let mut next = 0u32;
    for b in 0..256u32 {
        let code = if printable(b) {
            b
        } else {
            next += 1;
            255 + next
        };
        // Every code is below U+0144, a valid scalar value.
        table[b as usize] = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    table
}

/// The inverse of [`bytes_to_unicode`]: printable character to byte.
pub fn unicode_to_bytes() -> HashMap<char, u8> {
    bytes_to_unicode()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// The raw bytes of a byte-level token: each character mapped back through the
/// GPT-2 table, or the token's UTF-8 text when any character is outside it (the
/// rule of the `tokenizers` ByteLevel decoder).
pub fn byte_level_bytes(token: &str, table: &HashMap<char, u8>) -> Vec<u8> {
    token
        .chars()
        .map(|c| table.get(&c).copied())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// The raw bytes of a SentencePiece token: `<0xNN>` is the byte NN, otherwise the
/// text with every `▁` replaced by a space.
pub fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    if let Some(hex) = token
        .strip_prefix("<0x")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        if hex.len() == 2 {
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                return vec![byte];
            }
        }
    }
    token.replace('\u{2581}', " ").into_bytes()
}

/// A flat table of token bytes: `bytes[offsets[id]..offsets[id + 1]]` is token `id`.
///
/// One allocation for the whole vocabulary (about 1 MiB for a 151k vocabulary)
/// instead of one `Vec` per token.
#[derive(Debug, Clone, Default)]
pub struct TokenBytesTable {
    /// All tokens' bytes, concatenated in id order.
    bytes: Vec<u8>,
    /// `offsets.len() == n_tokens + 1`; token `id` spans `offsets[id]..offsets[id + 1]`.
    offsets: Vec<usize>,
}

impl TokenBytesTable {
    /// Builds the table from `tokens[id]` (`None` for an id with no token, which
    /// gets no bytes), writing bytes as `encoding` says.
    pub fn build(tokens: &[Option<&str>], encoding: TokenEncoding) -> Self {
        let table = unicode_to_bytes();
        let mut bytes = Vec::with_capacity(tokens.len() * 7);
        let mut offsets = Vec::with_capacity(tokens.len() + 1);
        offsets.push(0);
        for token in tokens {
            match (token, encoding) {
                (None, _) => {}
                (Some(t), TokenEncoding::ByteLevel) => {
                    bytes.extend_from_slice(&byte_level_bytes(t, &table))
                }
                (Some(t), TokenEncoding::SentencePiece) => {
                    bytes.extend_from_slice(&sentencepiece_bytes(t))
                }
                (Some(t), TokenEncoding::Utf8) => bytes.extend_from_slice(t.as_bytes()),
            }
            offsets.push(bytes.len());
        }
        Self { bytes, offsets }
    }

    /// The bytes of token `id`; empty for an id outside the vocabulary.
    pub fn get(&self, id: u32) -> &[u8] {
        let id = id as usize;
        match (self.offsets.get(id), self.offsets.get(id + 1)) {
            (Some(&start), Some(&end)) => &self.bytes[start..end],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_table_is_a_bijection_with_gpt2_space_and_newline() {
        let table = bytes_to_unicode();
        let inverse = unicode_to_bytes();
        assert_eq!(inverse.len(), 256);
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(inverse[&table[b as usize]], b);
        }
    }

    #[test]
    fn sentencepiece_tokens_map_spaces_and_byte_fallback() {
        assert_eq!(sentencepiece_bytes("▁hello"), b" hello");
        assert_eq!(sentencepiece_bytes("<0x0A>"), b"\n");
        assert_eq!(sentencepiece_bytes("<0xE4>"), [0xE4]);
        assert_eq!(sentencepiece_bytes("<0xZZ>"), b"<0xZZ>");
    }

    #[test]
    fn the_table_returns_each_token_and_nothing_past_the_end() {
        let t = TokenBytesTable::build(
            &[Some("Ġhi"), None, Some("<｜User｜>")],
            TokenEncoding::ByteLevel,
        );
        assert_eq!(t.get(0), b" hi");
        assert_eq!(t.get(1), b"");
        assert_eq!(t.get(2), "<｜User｜>".as_bytes());
        assert_eq!(t.get(3), b"");
        assert_eq!(t.get(u32::MAX), b"");
    }
}
