//! ThinkTagParser in token mode: tags found by `<think>` / `</think>` token id.

mod text_support;

use ponder::text::{
    prompt_ids_open_reasoning, IncrementalDetokenizer, ReasoningConfig, ReasoningParser,
    ThinkTagParser, ThinkTokenIds,
};
use text_support::{reference_split, FakeVocab, Rng, Split, CLOSE, OPEN};

const IDS: ThinkTokenIds = ThinkTokenIds {
    open: OPEN,
    close: CLOSE,
};

/// Result of streaming token ids through detokenizer + token-mode parser.
struct Run {
    split: Split,
    reasoning_tokens: usize,
    /// Per token: (reasoning delta, content delta).
    deltas: Vec<(String, String)>,
}

fn run(vocab: &FakeVocab, ids: &[u32], starts_in_reasoning: bool, skip_special: bool) -> Run {
    let mut detok = IncrementalDetokenizer::with_skip_special_tokens(skip_special);
    let mut parser = ThinkTagParser::new(ReasoningConfig {
        think_token_ids: Some(IDS),
        starts_in_reasoning,
    });
    assert!(parser.is_token_mode());
    let mut deltas = Vec::new();
    for &id in ids {
        let raw = detok.push(vocab, id);
        let d = parser.push(id, &raw);
        deltas.push((d.reasoning, d.content));
    }
    let flushed = parser.push_text(&detok.finish());
    let last = parser.finish();
    deltas.push((
        flushed.reasoning + &last.reasoning,
        flushed.content + &last.content,
    ));
    let reasoning: String = deltas.iter().map(|d| d.0.as_str()).collect();
    let content: String = deltas.iter().map(|d| d.1.as_str()).collect();
    Run {
        split: (parser.has_reasoning().then_some(reasoning), content),
        reasoning_tokens: parser.reasoning_tokens(),
        deltas,
    }
}

fn bytes(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

fn some(reasoning: &str, content: &str) -> Split {
    (Some(reasoning.to_owned()), content.to_owned())
}

#[test]
fn the_closing_tag_id_switches_from_reasoning_to_content_and_its_text_is_dropped() {
    let vocab = FakeVocab::new();
    let ids: Vec<u32> = [bytes("think "), vec![CLOSE], bytes(" ok")].concat();
    let out = run(&vocab, &ids, true, true);
    assert_eq!(out.split, some("think", "ok"));
    assert_eq!(out.reasoning_tokens, 6);
    assert_eq!(
        out.deltas[6],
        (String::new(), String::new()),
        "the tag token itself adds nothing"
    );
}

#[test]
fn a_generated_opening_tag_at_the_start_enters_reasoning_and_is_counted() {
    let vocab = FakeVocab::new();
    let ids: Vec<u32> = [
        bytes("\n"),
        vec![OPEN],
        bytes("\nhm\n"),
        vec![CLOSE],
        bytes("\n\nA"),
    ]
    .concat();
    let out = run(&vocab, &ids, false, true);
    assert_eq!(out.split, some("hm", "A"));
    // "\n", <think>, "\n", "h", "m", "\n" come before </think>.
    assert_eq!(out.reasoning_tokens, 6);
}

#[test]
fn an_opening_tag_after_answer_text_does_not_open_reasoning() {
    let vocab = FakeVocab::new();
    let ids: Vec<u32> = [
        bytes("Hi "),
        vec![OPEN],
        bytes("x"),
        vec![CLOSE],
        bytes("!"),
    ]
    .concat();
    let out = run(&vocab, &ids, false, true);
    assert_eq!(out.split, (None, "Hi x!".to_owned()));
    assert_eq!(out.reasoning_tokens, 0);
}

#[test]
fn a_second_opening_tag_in_reasoning_and_a_second_closing_tag_in_content_are_dropped() {
    let vocab = FakeVocab::new();
    let ids: Vec<u32> = [
        vec![OPEN],
        bytes("a"),
        vec![OPEN],
        bytes("b"),
        vec![CLOSE],
        bytes("c"),
        vec![CLOSE],
        bytes("d"),
    ]
    .concat();
    let out = run(&vocab, &ids, false, true);
    assert_eq!(out.split, some("ab", "cd"));
    assert_eq!(out.reasoning_tokens, 4);
}

#[test]
fn an_unclosed_block_stays_reasoning_and_counts_all_tokens() {
    let vocab = FakeVocab::new();
    let out = run(&vocab, &bytes("still going  "), true, true);
    assert_eq!(out.split, some("still going", ""));
    assert_eq!(out.reasoning_tokens, 13);
}

#[test]
fn no_think_block_is_all_content_with_zero_reasoning_tokens() {
    let vocab = FakeVocab::new();
    let out = run(&vocab, &bytes(" plain answer"), false, true);
    assert_eq!(out.split, (None, "plain answer".to_owned()));
    assert_eq!(out.reasoning_tokens, 0);
}

#[test]
fn tag_text_spelled_with_ordinary_tokens_is_text_and_nothing_is_held() {
    let vocab = FakeVocab::new();
    let ids = bytes("a</think>b");
    let out = run(&vocab, &ids, true, true);
    assert_eq!(out.split, some("a</think>b", ""));
    assert_eq!(
        out.deltas[1],
        ("<".to_owned(), String::new()),
        "a lone '<' is not held in token mode"
    );
}

#[test]
fn a_multi_byte_char_split_over_two_tokens_right_before_the_closing_tag_stays_whole() {
    let vocab = FakeVocab::new();
    let ids: Vec<u32> = [bytes("café"), vec![CLOSE], bytes("thé")].concat();
    let out = run(&vocab, &ids, true, true);
    assert_eq!(out.split, some("café", "thé"));
    assert_eq!(out.reasoning_tokens, 5);
}

#[test]
fn an_incomplete_byte_before_the_closing_tag_becomes_a_replacement_char_and_still_switches() {
    let vocab = FakeVocab::new();
    let ids = vec![b'x' as u32, 0xC3, CLOSE, b'y' as u32];
    let out = run(&vocab, &ids, true, true);
    assert_eq!(out.split, some("x\u{FFFD}", "y"));
    assert_eq!(out.reasoning_tokens, 2);
}

#[test]
fn an_invalid_byte_in_reasoning_then_the_closing_tag_still_switches() {
    let vocab = FakeVocab::new();
    let ids = vec![0xFF, CLOSE, b'y' as u32];
    assert_eq!(run(&vocab, &ids, true, true).split, some("\u{FFFD}", "y"));
}

#[test]
fn tags_marked_special_and_skipped_by_the_detokenizer_still_split() {
    let vocab = FakeVocab::with_special_tags(true);
    let ids: Vec<u32> = [vec![OPEN], bytes("r"), vec![CLOSE], bytes("c")].concat();
    let out = run(&vocab, &ids, false, true);
    assert_eq!(out.split, some("r", "c"));
    assert_eq!(out.reasoning_tokens, 2);
    let kept = run(&vocab, &ids, false, false);
    assert_eq!(kept.split, some("r", "c"));
}

/// Token-level reference for reasoning_tokens.
fn reference_reasoning_tokens(vocab: &FakeVocab, ids: &[u32], starts_in_reasoning: bool) -> usize {
    let mut opened = starts_in_reasoning;
    let mut from = 0;
    if !opened {
        let first = ids
            .iter()
            .position(|&id| id == OPEN || id == CLOSE || !is_blank(vocab, id));
        if let Some(i) = first.filter(|&i| ids[i] == OPEN) {
            opened = true;
            from = i + 1;
        }
    }
    match ids[from..].iter().position(|&id| id == CLOSE) {
        Some(i) if opened => from + i,
        _ if opened => ids.len(),
        _ => 0,
    }
}

fn is_blank(vocab: &FakeVocab, id: u32) -> bool {
    use ponder::text::Vocabulary;
    std::str::from_utf8(vocab.token_bytes(id)).is_ok_and(|s| s.trim().is_empty())
}

#[test]
fn random_token_streams_match_the_reference() {
    let vocab = FakeVocab::new();
    let mut rng = Rng::new(11);
    // No '>' anywhere, so tag text can only come from the tag ids.
    let pool = [
        OPEN,
        CLOSE,
        b'<' as u32,
        b'/' as u32,
        b'a' as u32,
        b' ' as u32,
        b'\n' as u32,
        0xC3,
        0xA9,
        0xFF,
    ];
    for _ in 0..20_000 {
        let ids: Vec<u32> = (0..rng.below(12))
            .map(|_| pool[rng.below(pool.len())])
            .collect();
        let starts_in_reasoning = rng.below(2) == 0;
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| ponder::text::Vocabulary::token_bytes(&vocab, id).to_vec())
            .collect();
        let expected = reference_split(&String::from_utf8_lossy(&bytes), starts_in_reasoning);
        let out = run(&vocab, &ids, starts_in_reasoning, true);
        assert_eq!(out.split, expected, "{ids:?} {starts_in_reasoning}");
        let tokens = reference_reasoning_tokens(&vocab, &ids, starts_in_reasoning);
        assert_eq!(
            out.reasoning_tokens, tokens,
            "{ids:?} {starts_in_reasoning}"
        );
    }
}

#[test]
fn prompt_ids_ending_inside_an_open_think_block_start_in_reasoning() {
    assert!(prompt_ids_open_reasoning(&[1, 2, OPEN, 10], IDS));
    assert!(!prompt_ids_open_reasoning(&[1, OPEN, 10, CLOSE, 10], IDS));
    assert!(!prompt_ids_open_reasoning(&[1, 2], IDS));
    assert!(prompt_ids_open_reasoning(&[OPEN, CLOSE, OPEN], IDS));
}
