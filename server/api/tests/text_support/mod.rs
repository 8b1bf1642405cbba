//! Shared helpers for the `text_*` tests: a fake byte-level vocabulary, a seeded RNG,
//! chunkings, and a naive non-streaming reference for the reasoning split.
#![allow(dead_code)]

use ponder::text::Vocabulary;

/// Id of `<think>` in [`FakeVocab`].
pub const OPEN: u32 = 256;
/// Id of `</think>`.
pub const CLOSE: u32 = 257;
/// Id of the special end-of-sequence token `<|eos|>`.
pub const EOS: u32 = 258;

/// Ids 0..=255 are single bytes; then `<think>`, `</think>`, `<|eos|>` (special), then
/// whatever words were added.
pub struct FakeVocab {
    tokens: Vec<Vec<u8>>,
    special: Vec<bool>,
}

impl FakeVocab {
    /// The byte tokens and the three tag/special tokens, with the tags not special.
    pub fn new() -> Self {
        Self::with_special_tags(false)
    }

    /// As [`FakeVocab::new`], optionally marking `<think>`/`</think>` special.
    pub fn with_special_tags(tags_special: bool) -> Self {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        tokens.push(b"<think>".to_vec());
        tokens.push(b"</think>".to_vec());
        tokens.push(b"<|eos|>".to_vec());
        let mut special = vec![false; 256];
        special.extend([tags_special, tags_special, true]);
        Self { tokens, special }
    }

    /// Adds a word token; returns its id.
    pub fn add(&mut self, word: &str) -> u32 {
        self.tokens.push(word.as_bytes().to_vec());
        self.special.push(false);
        (self.tokens.len() - 1) as u32
    }

    /// Greedy longest-match encoding of `text` (tags become their single ids).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut ids = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (id, len) = (0..self.tokens.len())
                .filter(|&id| id != EOS as usize)
                .filter(|&id| bytes[at..].starts_with(&self.tokens[id]))
                .map(|id| (id, self.tokens[id].len()))
                .max_by_key(|&(_, len)| len)
                .expect("byte tokens cover every byte");
            ids.push(id as u32);
            at += len;
        }
        ids
    }
}

impl Vocabulary for FakeVocab {
    fn token_bytes(&self, id: u32) -> &[u8] {
        self.tokens
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }
}

/// xorshift64*: a tiny seeded RNG, so the tests need no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Byte offsets of every char boundary strictly inside `text`.
pub fn inner_boundaries(text: &str) -> Vec<usize> {
    (1..text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect()
}

/// `text` cut at the given sorted byte offsets.
pub fn cut_at<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces.push(&text[start..]);
    pieces
}

/// Every way to cut `text` into 2 pieces and into 3 pieces at char boundaries.
pub fn two_and_three_piece_chunkings(text: &str) -> Vec<Vec<&str>> {
    let cuts = inner_boundaries(text);
    let mut all = Vec::new();
    for (i, &a) in cuts.iter().enumerate() {
        all.push(cut_at(text, &[a]));
        for &b in &cuts[i + 1..] {
            all.push(cut_at(text, &[a, b]));
        }
    }
    all
}

/// A random cut of `text` into `pieces` non-empty pieces (fewer if it is too short).
pub fn random_chunking<'a>(text: &'a str, pieces: usize, rng: &mut Rng) -> Vec<&'a str> {
    let mut cuts = inner_boundaries(text);
    while cuts.len() > pieces.saturating_sub(1) {
        cuts.remove(rng.below(cuts.len()));
    }
    cut_at(text, &cuts)
}

/// What the split must produce: `(reasoning, content)`.
pub type Split = (Option<String>, String);

/// Naive non-streaming reference for the text-mode split (API.md "Reasoning output"):
/// tags are found left to right; reasoning opens at the start (prompt-opened) or
/// with a `<think>` after leading whitespace, and ends at the first `</think>`; all
/// tags are removed; reasoning is trimmed, content loses its leading whitespace.
pub fn reference_split(output: &str, starts_in_reasoning: bool) -> Split {
    let pieces = split_tags(output);
    let mut opened = starts_in_reasoning;
    let mut rest = &pieces[..];
    if !opened {
        let first_non_ws = pieces
            .iter()
            .position(|p| !matches!(p, Piece::Text(t) if t.trim().is_empty()));
        if let Some(i) = first_non_ws {
            if pieces[i] == Piece::Open {
                opened = true;
                rest = &pieces[i + 1..];
            }
        }
    }
    if !opened {
        return (None, join_text(rest).trim_start().to_owned());
    }
    match rest.iter().position(|p| *p == Piece::Close) {
        Some(i) => (
            Some(join_text(&rest[..i]).trim().to_owned()),
            join_text(&rest[i + 1..]).trim_start().to_owned(),
        ),
        None => (Some(join_text(rest).trim().to_owned()), String::new()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Open,
    Close,
}

/// Left-to-right scan for tags, char by char.
fn split_tags(output: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut at = 0;
    while at < output.len() {
        let tag = if output[at..].starts_with("<think>") {
            Some((Piece::Open, 7))
        } else if output[at..].starts_with("</think>") {
            Some((Piece::Close, 8))
        } else {
            None
        };
        match tag {
            Some((piece, len)) => {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(piece);
                at += len;
            }
            None => {
                let c = output[at..].chars().next().unwrap();
                text.push(c);
                at += c.len_utf8();
            }
        }
    }
    pieces.push(Piece::Text(text));
    pieces
}

fn join_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
