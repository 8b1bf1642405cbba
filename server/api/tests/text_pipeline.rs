//! TextPipeline: detokenizer → stop strings → reasoning parser, per sequence.

mod text_support;

use ponder::text::{
    Deltas, ReasoningConfig, TextPipeline, TextPipelineConfig, ThinkTokenIds, Vocabulary,
};
use text_support::{reference_split, FakeVocab, Rng, Split, CLOSE, EOS, OPEN};

fn config(stop: &[&str], token_mode: bool, starts_in_reasoning: bool) -> TextPipelineConfig {
    let think_token_ids = token_mode.then_some(ThinkTokenIds {
        open: OPEN,
        close: CLOSE,
    });
    TextPipelineConfig {
        skip_special_tokens: true,
        stop: stop.iter().map(|s| s.to_string()).collect(),
        reasoning: Some(ReasoningConfig {
            think_token_ids,
            starts_in_reasoning,
        }),
    }
}

/// Pushes `ids` until the pipeline stops, then finishes; returns the appended deltas,
/// the fields as the non-streaming response has them, and the pipeline.
fn run<'v>(
    vocab: &'v FakeVocab,
    ids: &[u32],
    config: &TextPipelineConfig,
) -> (Deltas, Split, TextPipeline<&'v FakeVocab>) {
    let mut pipeline = TextPipeline::new(vocab, config);
    let mut all = Deltas::default();
    for &id in ids {
        all.append(&pipeline.push(id));
        if pipeline.stopped() {
            break;
        }
    }
    all.append(&pipeline.finish());
    let split = (
        pipeline.has_reasoning().then(|| all.reasoning.clone()),
        all.content.clone(),
    );
    (all, split, pipeline)
}

fn some(reasoning: &str, content: &str) -> Split {
    (Some(reasoning.to_owned()), content.to_owned())
}

#[test]
fn a_stop_string_in_the_answer_ends_the_content_before_it() {
    let vocab = FakeVocab::new();
    for token_mode in [true, false] {
        let ids = vocab.encode("<think>r</think>The answer. END more");
        let (all, split, pipeline) = run(&vocab, &ids, &config(&["END"], token_mode, false));
        assert_eq!(split, some("r", "The answer. "));
        assert_eq!(all.text, "<think>r</think>The answer. ");
        assert!(pipeline.stopped());
        assert_eq!(pipeline.reasoning_tokens(), 2);
    }
}

#[test]
fn a_stop_string_inside_reasoning_leaves_an_unclosed_block() {
    let vocab = FakeVocab::new();
    for token_mode in [true, false] {
        let ids = vocab.encode("thinking STOP more</think>answer");
        let (_, split, pipeline) = run(&vocab, &ids, &config(&["STOP"], token_mode, true));
        assert_eq!(split, some("thinking", ""));
        assert!(pipeline.stopped());
        assert_eq!(pipeline.reasoning_tokens(), "thinking STOP".len());
    }
}

#[test]
fn a_stop_string_that_begins_like_the_closing_tag_holds_the_tag_then_releases_it() {
    let vocab = FakeVocab::new();
    for token_mode in [true, false] {
        let ids = vocab.encode("why?</think>\n\nbecause");
        let cfg = config(&["</think>\n\nFINAL"], token_mode, true);
        let mut pipeline = TextPipeline::new(&vocab, &cfg);
        let deltas: Vec<Deltas> = ids.iter().map(|&id| pipeline.push(id)).collect();
        assert!(deltas
            .iter()
            .all(|d| !d.reasoning.contains('<') && !d.content.contains('<')));
        // The tag and "\n\n" stay held until "b" shows the stop string does not match.
        assert_eq!(deltas[ids.len() - 7].content, "because"[..1]);
        let mut all = Deltas::default();
        deltas.iter().for_each(|d| all.append(d));
        all.append(&pipeline.finish());
        assert_eq!(
            (all.reasoning.as_str(), all.content.as_str()),
            ("why?", "because")
        );
        assert_eq!(pipeline.reasoning_tokens(), 4, "token mode {token_mode}");
    }
}

#[test]
fn the_closing_tag_as_a_stop_string_cuts_before_it() {
    let vocab = FakeVocab::new();
    for token_mode in [true, false] {
        let ids = vocab.encode("hmm</think>answer");
        let (all, split, _) = run(&vocab, &ids, &config(&["</think>"], token_mode, true));
        assert_eq!(split, some("hmm", ""));
        assert_eq!(all.text, "hmm");
    }
}

#[test]
fn without_a_reasoning_config_text_passes_through_unchanged() {
    let vocab = FakeVocab::new();
    let cfg = TextPipelineConfig {
        skip_special_tokens: true,
        stop: vec![],
        reasoning: None,
    };
    let ids = vocab.encode("  <think> x </think> y ");
    let (all, split, pipeline) = run(&vocab, &ids, &cfg);
    assert_eq!(split, (None, "  <think> x </think> y ".to_owned()));
    assert_eq!(all.text, all.content);
    assert_eq!(pipeline.reasoning_tokens(), 0);
}

#[test]
fn finish_flushes_a_trailing_incomplete_byte_as_a_replacement_char() {
    let vocab = FakeVocab::new();
    let (all, split, _) = run(
        &vocab,
        &[b'o' as u32, b'k' as u32, 0xE2],
        &config(&[], true, false),
    );
    assert_eq!(split, (None, "ok\u{FFFD}".to_owned()));
    assert_eq!(all.text, "ok\u{FFFD}");
}

#[test]
fn special_tokens_are_left_out_and_tokens_after_a_stop_or_finish_are_ignored() {
    let vocab = FakeVocab::new();
    let mut pipeline = TextPipeline::new(&vocab, &config(&["!"], true, false));
    assert_eq!(pipeline.push(b'h' as u32).content, "h");
    assert!(pipeline.push(EOS).is_empty());
    assert_eq!(pipeline.push(b'!' as u32).content, "");
    assert!(pipeline.stopped());
    assert!(pipeline.push(b'x' as u32).is_empty());
    assert!(pipeline.finish().is_empty());
    assert!(pipeline.finish().is_empty());
}

/// Reference: lossy text of the non-special bytes, cut before the first stop string
/// to complete (the longest of those completing together), split by the naive reference.
fn reference(vocab: &FakeVocab, ids: &[u32], stops: &[&str], starts_in_reasoning: bool) -> Split {
    let bytes: Vec<u8> = ids
        .iter()
        .filter(|&&id| !vocab.is_special(id))
        .flat_map(|&id| vocab.token_bytes(id).to_vec())
        .collect();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let cut = (1..=text.len())
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| {
            stops
                .iter()
                .filter(|s| text[..end].ends_with(*s))
                .map(|s| end - s.len())
                .min()
        })
        .unwrap_or(text.len());
    reference_split(&text[..cut], starts_in_reasoning)
}

#[test]
fn random_token_streams_with_stop_strings_match_the_reference_in_both_modes() {
    let mut vocab = FakeVocab::new();
    let words = ["a/", "\n\n", " a", "é<"].map(|w| vocab.add(w));
    let mut pool = vec![
        OPEN,
        CLOSE,
        EOS,
        b'<' as u32,
        b'/' as u32,
        b'a' as u32,
        b' ' as u32,
        b'\n' as u32,
        0xC3,
        0xA9,
        0xFF,
    ];
    pool.extend(words);
    // No stop string can start inside a tag's text, so no cut falls inside a tag.
    let stop_pool = ["a/", "\n\n", "é<", "</", "<", "aa", "/ "];
    let mut rng = Rng::new(5);
    for _ in 0..20_000 {
        let ids: Vec<u32> = (0..rng.below(14))
            .map(|_| pool[rng.below(pool.len())])
            .collect();
        let stops: Vec<&str> = (0..rng.below(3))
            .map(|_| stop_pool[rng.below(stop_pool.len())])
            .collect();
        let starts_in_reasoning = rng.below(2) == 0;
        let expected = reference(&vocab, &ids, &stops, starts_in_reasoning);
        for token_mode in [true, false] {
            let (_, split, _) = run(
                &vocab,
                &ids,
                &config(&stops, token_mode, starts_in_reasoning),
            );
            assert_eq!(
                split, expected,
                "{ids:?} {stops:?} {starts_in_reasoning} token mode {token_mode}"
            );
        }
    }
}
