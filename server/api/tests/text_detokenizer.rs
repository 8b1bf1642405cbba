//! IncrementalDetokenizer: byte-level, UTF-8 safe, never stalls.

mod text_support;

use ponder::text::IncrementalDetokenizer;
use text_support::{FakeVocab, Rng, CLOSE, EOS, OPEN};

/// Pushes `chunks` of bytes; returns every delta and the `finish()` text.
fn run(chunks: &[&[u8]]) -> (Vec<String>, String) {
    let mut detok = IncrementalDetokenizer::new();
    let deltas = chunks.iter().map(|c| detok.push_bytes(c)).collect();
    (deltas, detok.finish())
}

/// Naive reference: the longest valid UTF-8 prefix of `bytes`, as text.
fn valid_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap(),
    }
}

#[test]
fn multi_byte_chars_split_across_tokens_in_every_split_come_out_whole_and_at_once() {
    let text = "aé€😀z";
    let bytes = text.as_bytes();
    let n = bytes.len();
    // Every composition of the byte string: bit i set = cut after byte i.
    for mask in 0u32..(1 << (n - 1)) {
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut start = 0;
        for i in 0..n - 1 {
            if mask & (1 << i) != 0 {
                chunks.push(&bytes[start..=i]);
                start = i + 1;
            }
        }
        chunks.push(&bytes[start..]);
        let (deltas, tail) = run(&chunks);
        let mut seen = 0;
        let mut emitted = String::new();
        for (chunk, delta) in chunks.iter().zip(&deltas) {
            seen += chunk.len();
            emitted.push_str(delta);
            assert_eq!(emitted, valid_prefix(&bytes[..seen]), "mask {mask:b}");
        }
        assert_eq!(tail, "");
        assert_eq!(emitted, text);
    }
}

#[test]
fn an_emoji_in_four_single_byte_tokens_is_emitted_by_the_fourth() {
    let bytes = "😀".as_bytes();
    let mut detok = IncrementalDetokenizer::new();
    assert_eq!(detok.push_bytes(&bytes[..1]), "");
    assert_eq!(detok.push_bytes(&bytes[1..2]), "");
    assert_eq!(detok.push_bytes(&bytes[2..3]), "");
    assert!(detok.has_pending());
    assert_eq!(detok.push_bytes(&bytes[3..]), "😀");
    assert!(!detok.has_pending());
}

#[test]
fn an_invalid_byte_in_the_middle_becomes_a_replacement_char_at_once() {
    let mut detok = IncrementalDetokenizer::new();
    assert_eq!(detok.push_bytes(b"ab"), "ab");
    assert_eq!(detok.push_bytes(&[0xFF]), "\u{FFFD}");
    assert_eq!(detok.push_bytes(b"cd"), "cd");
    assert_eq!(detok.finish(), "");
}

#[test]
fn a_lead_byte_followed_by_ascii_is_replaced_without_waiting() {
    let mut detok = IncrementalDetokenizer::new();
    assert_eq!(detok.push_bytes(&[0xE2, 0x82]), "");
    assert_eq!(detok.push_bytes(b"<"), "\u{FFFD}<");
}

#[test]
fn finish_flushes_a_truncated_sequence_as_one_replacement_char() {
    let mut detok = IncrementalDetokenizer::new();
    assert_eq!(detok.push_bytes(b"x"), "x");
    assert_eq!(detok.push_bytes(&"€".as_bytes()[..2]), "");
    assert_eq!(detok.finish(), "\u{FFFD}");
    assert!(!detok.has_pending());
    assert_eq!(detok.finish(), "");
}

#[test]
fn random_bytes_in_random_chunks_decode_like_from_utf8_lossy() {
    let mut rng = Rng::new(7);
    // Bytes biased towards UTF-8 structure: ASCII, lead bytes, continuation bytes.
    let pool: [u8; 10] = [b'a', b'<', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xFF];
    for _ in 0..20_000 {
        let len = rng.below(12);
        let bytes: Vec<u8> = (0..len).map(|_| pool[rng.below(pool.len())]).collect();
        let mut detok = IncrementalDetokenizer::new();
        let mut out = String::new();
        let mut at = 0;
        while at < bytes.len() {
            let step = 1 + rng.below(4).min(bytes.len() - at - 1);
            out.push_str(&detok.push_bytes(&bytes[at..at + step]));
            at += step;
            assert!(!detok.has_pending() || std::str::from_utf8(&bytes[..at]).is_err());
        }
        out.push_str(&detok.finish());
        assert_eq!(out, String::from_utf8_lossy(&bytes), "bytes {bytes:x?}");
    }
}

#[test]
fn special_tokens_are_skipped_by_default_and_kept_on_request() {
    let vocab = FakeVocab::new();
    let ids = [b'h' as u32, b'i' as u32, EOS];
    let mut skip = IncrementalDetokenizer::new();
    let skipped: String = ids.iter().map(|&id| skip.push(&vocab, id)).collect();
    assert_eq!(skipped, "hi");
    let mut keep = IncrementalDetokenizer::with_skip_special_tokens(false);
    let kept: String = ids.iter().map(|&id| keep.push(&vocab, id)).collect();
    assert_eq!(kept, "hi<|eos|>");
}

#[test]
fn think_tags_are_not_special_and_stay_in_the_text() {
    let vocab = FakeVocab::new();
    let mut detok = IncrementalDetokenizer::new();
    let text: String = [OPEN, b'x' as u32, CLOSE]
        .iter()
        .map(|&id| detok.push(&vocab, id))
        .collect();
    assert_eq!(text, "<think>x</think>");
}

#[test]
fn an_id_outside_the_vocabulary_adds_no_text() {
    let vocab = FakeVocab::new();
    let mut detok = IncrementalDetokenizer::new();
    assert_eq!(detok.push(&vocab, 1_000_000), "");
    assert_eq!(detok.push(&vocab, b'a' as u32), "a");
}
