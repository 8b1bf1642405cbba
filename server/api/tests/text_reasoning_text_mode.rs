//! ThinkTagParser in text mode: tags found in the text, whatever the chunking.

mod text_support;

use ponder::text::{
    prompt_opens_reasoning, ReasoningConfig, ReasoningDelta, ReasoningParser, ThinkTagParser,
};
use text_support::{random_chunking, reference_split, two_and_three_piece_chunkings, Rng, Split};

fn text_mode(starts_in_reasoning: bool) -> ThinkTagParser {
    ThinkTagParser::new(ReasoningConfig {
        think_token_ids: None,
        starts_in_reasoning,
    })
}

/// Streams `chunks` (one token each) and checks the streaming rules on every delta:
/// no reasoning delta ends in whitespace, the first delta of each field does not
/// start with whitespace. Returns the concatenated fields and the parser.
fn stream(chunks: &[&str], starts_in_reasoning: bool) -> (Split, ThinkTagParser) {
    let mut parser = text_mode(starts_in_reasoning);
    let mut deltas: Vec<ReasoningDelta> = chunks.iter().map(|c| parser.push(0, c)).collect();
    deltas.push(parser.finish());
    let (mut reasoning, mut content) = (String::new(), String::new());
    for d in &deltas {
        if !d.reasoning.is_empty() {
            assert!(
                !d.reasoning.ends_with(char::is_whitespace),
                "{chunks:?}: {d:?}"
            );
            assert!(!reasoning.is_empty() || !d.reasoning.starts_with(char::is_whitespace));
        }
        if !d.content.is_empty() && content.is_empty() {
            assert!(
                !d.content.starts_with(char::is_whitespace),
                "{chunks:?}: {d:?}"
            );
        }
        reasoning.push_str(&d.reasoning);
        content.push_str(&d.content);
    }
    let reasoning = parser.has_reasoning().then_some(reasoning);
    ((reasoning, content), parser)
}

/// Asserts every 2- and 3-piece chunking and 200 random 2–3 piece ones match the reference.
fn check_all_chunkings(output: &str, starts_in_reasoning: bool) {
    let expected = reference_split(output, starts_in_reasoning);
    for chunks in two_and_three_piece_chunkings(output) {
        assert_eq!(
            stream(&chunks, starts_in_reasoning).0,
            expected,
            "{chunks:?}"
        );
    }
    let mut rng = Rng::new(output.len() as u64);
    for _ in 0..200 {
        let chunks = random_chunking(output, 2 + rng.below(2), &mut rng);
        assert_eq!(
            stream(&chunks, starts_in_reasoning).0,
            expected,
            "{chunks:?}"
        );
    }
}

fn some(reasoning: &str, content: &str) -> Split {
    (Some(reasoning.to_owned()), content.to_owned())
}

#[test]
fn every_split_of_a_think_block_then_answer_gives_the_same_fields() {
    let output = "<think>\nLet me add: 2 + 2 = 4.\n\nSo 4.\n</think>\n\nThe answer is 4.";
    assert_eq!(
        reference_split(output, false),
        some("Let me add: 2 + 2 = 4.\n\nSo 4.", "The answer is 4.")
    );
    check_all_chunkings(output, false);
}

#[test]
fn every_split_of_a_prompt_opened_block_gives_the_same_fields() {
    let output = "Okay, the user wants 6*7.\n\n6*7 = 42.\n</think>\n\n**42**";
    assert_eq!(
        reference_split(output, true),
        some("Okay, the user wants 6*7.\n\n6*7 = 42.", "**42**")
    );
    check_all_chunkings(output, true);
}

#[test]
fn each_character_alone_is_a_chunk_and_no_partial_tag_leaks() {
    let output = "<think>a<b </th x</think> y<thi";
    let chunks: Vec<&str> = output
        .char_indices()
        .map(|(i, c)| &output[i..i + c.len_utf8()])
        .collect();
    assert_eq!(stream(&chunks, false).0, some("a<b </th x", "y<thi"));
}

#[test]
fn multi_byte_text_right_before_the_closing_tag_stays_whole() {
    let output = "考えています…</think>答えは四。";
    assert_eq!(
        reference_split(output, true),
        some("考えています…", "答えは四。")
    );
    check_all_chunkings(output, true);
}

#[test]
fn a_replacement_char_in_reasoning_does_not_stop_the_closing_tag_from_switching() {
    let output = "bad byte \u{FFFD}</think>fine";
    check_all_chunkings(output, true);
    assert_eq!(stream(&[output], true).0, some("bad byte \u{FFFD}", "fine"));
}

#[test]
fn an_unclosed_think_block_stays_reasoning_and_counts_every_token() {
    let chunks = [
        "<think>",
        "still ",
        "thinking",
        " when the length limit hit",
    ];
    let (split, parser) = stream(&chunks, false);
    assert_eq!(split, some("still thinking when the length limit hit", ""));
    assert_eq!(parser.reasoning_tokens(), 4);
}

#[test]
fn output_without_a_think_block_is_all_content_and_has_no_reasoning() {
    let output = "  The answer is 4.  ";
    assert_eq!(
        reference_split(output, false),
        (None, "The answer is 4.  ".to_owned())
    );
    check_all_chunkings(output, false);
    let (_, parser) = stream(&["  The answer", " is 4.  "], false);
    assert_eq!(parser.reasoning_tokens(), 0);
    assert!(!parser.has_reasoning());
}

#[test]
fn a_think_tag_after_leading_whitespace_still_opens_reasoning() {
    check_all_chunkings("\n \n<think>hmm</think>ok", false);
    assert_eq!(
        reference_split("\n \n<think>hmm</think>ok", false),
        some("hmm", "ok")
    );
}

#[test]
fn a_think_tag_after_answer_text_is_dropped_and_does_not_open_reasoning() {
    let output = "Answer first <think>then this</think> and more";
    assert_eq!(
        reference_split(output, false),
        (None, "Answer first then this and more".to_owned())
    );
    check_all_chunkings(output, false);
}

#[test]
fn an_empty_think_block_is_an_empty_reasoning_section() {
    check_all_chunkings("<think>\n\n</think>\n\nHi!", false);
    assert_eq!(
        stream(&["<think>\n\n</think>\n\nHi!"], false).0,
        some("", "Hi!")
    );
}

#[test]
fn reasoning_whitespace_is_held_until_more_text_and_dropped_at_the_closing_tag() {
    let mut parser = text_mode(true);
    assert_eq!(parser.push(0, "\n  step one  ").reasoning, "step one");
    assert_eq!(parser.push(0, "\n\n").reasoning, "");
    assert_eq!(parser.push(0, "step two").reasoning, "  \n\nstep two");
    assert_eq!(parser.push(0, " \n").reasoning, "");
    let end = parser.push(0, "</think>\n\n  answer  ");
    assert_eq!(
        (end.reasoning.as_str(), end.content.as_str()),
        ("", "answer  ")
    );
}

#[test]
fn text_that_only_resembles_a_tag_is_released_as_text() {
    check_all_chunkings("<think>x <thinking> </thin k> <</think><b>", false);
    let mut parser = text_mode(false);
    assert_eq!(parser.push(0, "a <").content, "a ");
    assert_eq!(parser.push(0, "b").content, "<b");
}

#[test]
fn reasoning_tokens_count_the_tokens_before_the_one_holding_the_tags_last_char() {
    let output = "<think>abc</think>xyz";
    let close_last_char = output.find("</think>").unwrap() + "</think>".len() - 1;
    for chunks in two_and_three_piece_chunkings(output) {
        let (_, parser) = stream(&chunks, false);
        let mut end = 0;
        let completing = chunks.iter().position(|c| {
            end += c.len();
            end > close_last_char
        });
        assert_eq!(Some(parser.reasoning_tokens()), completing, "{chunks:?}");
    }
}

#[test]
fn random_outputs_in_random_chunks_match_the_reference() {
    let mut rng = Rng::new(3);
    let words = [
        "<think>", "</think>", "<", "</", "<th", "ink>", "a", " ", "\n", "é", "/", ">", "t",
    ];
    for _ in 0..20_000 {
        let output: String = (0..rng.below(10))
            .map(|_| words[rng.below(words.len())])
            .collect();
        let starts_in_reasoning = rng.below(2) == 0;
        let chunks = random_chunking(&output, 1 + rng.below(5), &mut rng);
        let expected = reference_split(&output, starts_in_reasoning);
        assert_eq!(
            stream(&chunks, starts_in_reasoning).0,
            expected,
            "{chunks:?} {starts_in_reasoning}"
        );
    }
}

#[test]
fn a_prompt_ending_inside_an_open_think_block_starts_in_reasoning() {
    assert!(prompt_opens_reasoning(
        "<｜User｜>2+2?<｜Assistant｜><think>\n"
    ));
    assert!(!prompt_opens_reasoning(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    ));
    assert!(!prompt_opens_reasoning("<|im_start|>assistant\n"));
    assert!(prompt_opens_reasoning("<think>a</think> b <think>"));
}
