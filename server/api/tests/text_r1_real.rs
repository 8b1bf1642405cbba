//! The text pipeline on REAL DeepSeek-R1-Distill-Qwen-7B token ids (tokenizer from the
//! GGUF header fetched by `scripts/fetch-assets`): every split of the output into
//! contiguous chunks of up to 12 tokens gives the same reasoning, answer and count.

mod text_support;

use std::path::PathBuf;

use ponder::text::{
    IncrementalDetokenizer, ReasoningConfig, ReasoningParser, TextPipeline, TextPipelineConfig,
    ThinkTagParser, ThinkTokenIds, Vocabulary,
};
use ponder_models::tokenizer::TextTokenizer;
use text_support::Rng;

/// The R1 tokenizer seen through the text pipeline's [`Vocabulary`].
struct R1(TextTokenizer);

impl Vocabulary for R1 {
    fn token_bytes(&self, id: u32) -> &[u8] {
        self.0.token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        self.0.is_special(id)
    }
}

fn r1_tokenizer() -> R1 {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/ponder")))
        .expect("neither PONDER_CACHE nor HOME is set");
    let path = cache.join("r1-distill-qwen-7b/header.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-assets",
        path.display()
    );
    R1(TextTokenizer::from_gguf(&path).expect("the R1 GGUF header loads"))
}

const REASONING: &str = "Okay, so I need to add 2 and 2. Let me think… 2 + 2 = 4.\n\
    In Chinese: 二加二等于四。 Check: ✓ 😀\n\nYes, 4.";
const ANSWER: &str = "The answer is **4**.\n\n$$2 + 2 = 4$$";

/// Output as the model writes it after the R1 template's `<｜Assistant｜><think>\n`.
fn prompt_opened_output() -> String {
    format!("{REASONING}\n</think>\n\n{ANSWER}")
}

/// Feeds `ids` in `chunks` (lengths) to a detokenizer and parser: each chunk's tokens
/// are recorded, then the chunk's text is split at once (as a multi-token step or a
/// coalesced SSE write would). Returns (reasoning, content, reasoning_tokens).
fn run_chunked(
    vocab: &R1,
    ids: &[u32],
    chunks: &[usize],
    config: ReasoningConfig,
) -> (String, String, usize) {
    let mut detok = IncrementalDetokenizer::new();
    let mut parser = ThinkTagParser::new(config);
    let (mut reasoning, mut content) = (String::new(), String::new());
    let mut at = 0;
    for &len in chunks {
        let mut text = String::new();
        for &id in &ids[at..at + len] {
            let raw = detok.push(vocab, id);
            parser.push_token(id, &raw);
            text.push_str(&raw);
        }
        at += len;
        let delta = parser.push_text(&text);
        reasoning.push_str(&delta.reasoning);
        content.push_str(&delta.content);
    }
    assert_eq!(at, ids.len());
    let delta = parser.push_text(&detok.finish());
    let last = parser.finish();
    reasoning.push_str(&(delta.reasoning + &last.reasoning));
    content.push_str(&(delta.content + &last.content));
    (reasoning, content, parser.reasoning_tokens())
}

/// Every chunking into equal chunks of 1..=12 tokens at every phase, plus 2,000
/// random chunkings with chunks of 1..=12 tokens.
fn chunkings(n: usize) -> Vec<Vec<usize>> {
    let mut all = Vec::new();
    for size in 1..=12 {
        for phase in 0..size.min(n) {
            let mut chunks = if phase > 0 { vec![phase] } else { vec![] };
            let mut at = phase;
            while at < n {
                chunks.push(size.min(n - at));
                at += size;
            }
            all.push(chunks);
        }
    }
    let mut rng = Rng::new(2025);
    for _ in 0..2_000 {
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < n {
            let len = (1 + rng.below(12)).min(n - at);
            chunks.push(len);
            at += len;
        }
        all.push(chunks);
    }
    all
}

#[test]
fn the_r1_tokenizer_has_single_token_think_tags_and_detokenizes_real_ids_exactly() {
    let vocab = r1_tokenizer();
    assert_eq!(vocab.0.think_token_ids(), Some((151648, 151649)));
    let output = prompt_opened_output();
    let ids = vocab.0.encode(&output, false).expect("encodes");
    assert_eq!(
        ids.iter().filter(|&&id| id == 151649).count(),
        1,
        "</think> is one token"
    );
    let mut detok = IncrementalDetokenizer::new();
    let mut text: String = ids.iter().map(|&id| detok.push(&vocab, id)).collect();
    text.push_str(&detok.finish());
    assert_eq!(text, output);
}

#[test]
fn every_chunking_of_real_r1_ids_splits_reasoning_from_the_answer_in_token_mode() {
    let vocab = r1_tokenizer();
    let ids = vocab
        .0
        .encode(&prompt_opened_output(), false)
        .expect("encodes");
    let close = ids
        .iter()
        .position(|&id| id == 151649)
        .expect("has </think>");
    let config = ReasoningConfig {
        think_token_ids: vocab.0.think_token_ids().map(ThinkTokenIds::from),
        starts_in_reasoning: true,
    };
    for chunks in chunkings(ids.len()) {
        let got = run_chunked(&vocab, &ids, &chunks, config);
        assert_eq!(
            got,
            (REASONING.to_owned(), ANSWER.to_owned(), close),
            "chunks {chunks:?}"
        );
    }
}

#[test]
fn every_chunking_of_real_r1_ids_splits_the_same_way_in_text_mode() {
    let vocab = r1_tokenizer();
    let ids = vocab
        .0
        .encode(&prompt_opened_output(), false)
        .expect("encodes");
    let close = ids
        .iter()
        .position(|&id| id == 151649)
        .expect("has </think>");
    let config = ReasoningConfig {
        think_token_ids: None,
        starts_in_reasoning: true,
    };
    for chunks in chunkings(ids.len()) {
        let got = run_chunked(&vocab, &ids, &chunks, config);
        assert_eq!(
            got,
            (REASONING.to_owned(), ANSWER.to_owned(), close),
            "chunks {chunks:?}"
        );
    }
}

#[test]
fn a_generated_think_tag_and_a_stop_string_work_through_the_pipeline_on_real_ids() {
    let vocab = r1_tokenizer();
    let output = format!("<think>\n{REASONING}\n</think>\n\n{ANSWER}");
    let ids = vocab.0.encode(&output, false).expect("encodes");
    assert_eq!(ids[0], 151648, "<think> is one token");
    let close = ids
        .iter()
        .position(|&id| id == 151649)
        .expect("has </think>");
    let config = TextPipelineConfig {
        skip_special_tokens: true,
        stop: vec!["$$".to_owned()],
        reasoning: Some(ReasoningConfig {
            think_token_ids: vocab.0.think_token_ids().map(ThinkTokenIds::from),
            starts_in_reasoning: false,
        }),
    };
    let mut pipeline = TextPipeline::new(&vocab, &config);
    let (mut reasoning, mut content) = (String::new(), String::new());
    for &id in &ids {
        let d = pipeline.push(id);
        assert!(!d.reasoning.contains("think>") && !d.content.contains("think>"));
        reasoning.push_str(&d.reasoning);
        content.push_str(&d.content);
        if pipeline.stopped() {
            break;
        }
    }
    let d = pipeline.finish();
    reasoning.push_str(&d.reasoning);
    content.push_str(&d.content);
    assert!(pipeline.stopped());
    assert_eq!(reasoning, REASONING);
    assert_eq!(content, "The answer is **4**.\n\n");
    assert_eq!(pipeline.reasoning_tokens(), close);
}
