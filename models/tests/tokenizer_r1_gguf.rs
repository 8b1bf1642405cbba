//! The DeepSeek-R1-Distill-Qwen-7B tokenizer built from its GGUF header, checked
//! against ids and a chat rendering produced by Python `tokenizers` + jinja2
//! (fixtures/r1_tokenizer.json, written by scripts/make_tokenizer_fixtures.py).

use std::path::PathBuf;
use std::time::Instant;

use ponder_models::tokenizer::TextTokenizer;
use serde_json::{Map, Value};

fn asset(relative: &str) -> PathBuf {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ponder")))
        .expect("PONDER_CACHE or HOME must be set");
    let path = cache.join(relative);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-assets", path.display());
    path
}

fn r1() -> TextTokenizer {
    TextTokenizer::from_gguf(&asset("r1-distill-qwen-7b/header.gguf")).expect("R1 tokenizer")
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/r1_tokenizer.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn ids(value: &Value) -> Vec<u32> {
    serde_json::from_value(value.clone()).expect("id list")
}

fn texts(fixture: &Value) -> Vec<(String, Vec<u32>)> {
    fixture["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| (t["text"].as_str().expect("text").to_owned(), ids(&t["ids"])))
        .collect()
}

#[test]
fn the_r1_header_gives_the_think_bos_and_eos_ids() {
    let tok = r1();
    assert_eq!(tok.think_token_ids(), Some((151648, 151649)));
    assert_eq!(tok.token_id("<think>"), Some(151648));
    assert_eq!(tok.token_id("</think>"), Some(151649));
    assert_eq!(tok.bos_token_id(), Some(151646));
    assert_eq!(tok.eos_token_ids(), &[151643]);
    assert_eq!(tok.vocab_size(), 152064);
}

#[test]
fn the_r1_tokenizer_encodes_every_fixture_text_to_the_python_ids() {
    let tok = r1();
    for (text, expected) in texts(&fixture()) {
        assert_eq!(tok.encode(&text, false).expect("encode"), expected, "{text:?}");
    }
}

#[test]
fn encoding_with_special_tokens_prepends_one_bos_as_the_gguf_asks() {
    let tok = r1();
    let plain = tok.encode("Hello", false).expect("encode");
    let with_bos = tok.encode("Hello", true).expect("encode");
    assert_eq!(with_bos[0], 151646);
    assert_eq!(&with_bos[1..], &plain[..]);
}

#[test]
fn control_tokens_are_special_and_think_tags_are_not() {
    let tok = r1();
    for entry in fixture()["added_tokens"].as_array().expect("added tokens") {
        let id = entry[0].as_u64().expect("id") as u32;
        let content = entry[1].as_str().expect("content");
        assert_eq!(tok.token_id(content), Some(id), "{content}");
        assert_eq!(tok.is_special(id), entry[2].as_bool().expect("special"), "{content}");
    }
    assert!(!tok.is_special(9707));
    assert!(!tok.is_special(u32::MAX));
    assert_eq!(tok.special_token_mask().len(), tok.vocab_size());
}

#[test]
fn the_gguf_template_renders_the_conversation_exactly_as_jinja2() {
    let tok = r1();
    let fx = fixture();
    let messages = fx["conversation"].as_array().expect("messages");
    let rendered = tok
        .apply_chat_template(messages, true, &Map::new())
        .expect("render");
    assert_eq!(rendered, fx["rendered"].as_str().expect("rendered"));
    let prompt = tok.encode_chat(messages, true, &Map::new()).expect("encode");
    assert_eq!(prompt, ids(&fx["rendered_ids"]));
    assert_eq!(prompt.iter().filter(|&&id| id == 151646).count(), 1, "exactly one BOS");
    assert_eq!(prompt[0], 151646);
    // This GGUF's (older) template ends at <｜Assistant｜>: no open think block.
    assert!(!tok.prompt_opens_reasoning(&prompt));
}

#[test]
fn the_updated_r1_template_opens_the_think_block_in_the_prompt() {
    let fx = fixture();
    let template = fx["template_with_think"].as_str().expect("template").to_owned();
    let tok = r1().with_chat_template(template).expect("template compiles");
    let messages = fx["conversation"].as_array().expect("messages");
    let rendered = tok.apply_chat_template(messages, true, &Map::new()).expect("render");
    assert_eq!(rendered, fx["rendered_with_think"].as_str().expect("rendered"));
    assert!(rendered.ends_with("<｜Assistant｜><think>\n"));
    assert!(!rendered.contains("simple sum"), "earlier reasoning must be dropped");
    let prompt = tok.encode_chat(messages, true, &Map::new()).expect("encode");
    assert_eq!(prompt, ids(&fx["rendered_with_think_ids"]));
    assert_eq!(prompt.iter().filter(|&&id| id == 151646).count(), 1, "exactly one BOS");
    assert!(tok.prompt_opens_reasoning(&prompt));
}

#[test]
fn decoding_the_fixture_ids_gives_back_each_nfc_text() {
    let tok = r1();
    for (text, ids) in texts(&fixture()) {
        if text.contains('\u{301}') {
            continue; // normalized to NFC on the way in
        }
        assert_eq!(tok.decode(&ids, false).expect("decode"), text);
    }
}

#[test]
fn concatenated_token_bytes_equal_the_decoded_text() {
    let tok = r1();
    let fx = fixture();
    let mut all: Vec<Vec<u32>> = texts(&fx).into_iter().map(|(_, ids)| ids).collect();
    all.push(ids(&fx["rendered_with_think_ids"]));
    for ids in all {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| tok.token_bytes(id).to_vec()).collect();
        let decoded = tok.decode(&ids, false).expect("decode");
        assert_eq!(String::from_utf8(bytes).expect("utf-8"), decoded);
    }
    assert_eq!(tok.token_bytes(220), b" ");
    assert!(tok.token_bytes(u32::MAX).is_empty());
}

#[test]
fn skipping_special_tokens_drops_control_tokens_but_keeps_think_tags() {
    let tok = r1();
    let ids = [151646, 151644, 9707, 151645, 151648, 271, 151649, 151643];
    assert_eq!(tok.decode(&ids, true).expect("decode"), "Hello<think>\n\n</think>");
}

#[test]
fn an_id_outside_the_vocabulary_is_a_decode_error() {
    let err = r1().decode(&[9707, 200_000], false).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("200000")));
}

#[test]
fn a_template_that_raises_is_an_error_naming_the_template_message() {
    let tok = r1()
        .with_chat_template("{{ raise_exception('System role not supported') }}".into())
        .expect("compiles");
    let err = tok.apply_chat_template(&[], true, &Map::new()).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("System role not supported")));
}

#[test]
fn building_the_151k_vocabulary_from_gguf_takes_well_under_a_few_seconds() {
    let path = asset("r1-distill-qwen-7b/header.gguf");
    let start = Instant::now();
    let tok = TextTokenizer::from_gguf(&path).expect("R1 tokenizer");
    let elapsed = start.elapsed();
    eprintln!("from_gguf(R1, {} tokens): {elapsed:?}", tok.vocab_size());
    // Generous bound for a loaded 2-core CI machine; measured well under 1 s.
    assert!(elapsed.as_secs_f64() < 5.0, "{elapsed:?}");
}
