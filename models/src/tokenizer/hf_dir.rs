//! A tokenizer from a Hugging Face model folder: `tokenizer.json`,
//! `tokenizer_config.json` (chat template, BOS/EOS text) and
//! `generation_config.json` (EOS ids), the last two optional.
//!
//! `tokenizer_config.json` fields read:
//! - `chat_template`: a string, or a list of `{"name", "template"}` (the one named
//!   `"default"`, else the first). A `chat_template.jinja` file, where newer
//!   checkpoints keep it, takes precedence.
//! - `bos_token` / `eos_token`: a string or an `{"content": ...}` object (or null).
//!
//! `generation_config.json`: `eos_token_id` (an integer or a list), `bos_token_id`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::{DecoderWrapper, Tokenizer};

use super::error::{Result, TokenizerError};
use super::token_bytes::TokenEncoding;
use super::LoadedParts;

/// Loads the tokenizer files of `dir` into the parts of a [`super::TextTokenizer`].
pub(crate) fn load(dir: &Path) -> Result<LoadedParts> {
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(TokenizerError::Io {
            path: tokenizer_path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| TokenizerError::Config {
        path: tokenizer_path.clone(),
        message: e.to_string(),
    })?;
    let config = read_json(&dir.join("tokenizer_config.json"))?;
    let generation = read_json(&dir.join("generation_config.json"))?;

    let bos_text = config.as_ref().and_then(|c| token_text(c.get("bos_token")));
    let eos_text = config.as_ref().and_then(|c| token_text(c.get("eos_token")));
    let bos_id = bos_text
        .as_deref()
        .and_then(|t| tokenizer.token_to_id(t))
        .or_else(|| generation.as_ref().and_then(|g| first_id(g.get("bos_token_id"))));
    let mut eos_ids: Vec<u32> = eos_text
        .as_deref()
        .and_then(|t| tokenizer.token_to_id(t))
        .into_iter()
        .collect();
    if let Some(generation) = &generation {
        eos_ids.extend(ids(generation.get("eos_token_id")));
    }
    let chat_template = match read_template_file(&dir.join("chat_template.jinja"))? {
        Some(template) => Some(template),
        None => config.as_ref().and_then(|c| template_of(c.get("chat_template"))),
    };
    let encoding = encoding_of(tokenizer.get_decoder());
    Ok(LoadedParts {
        tokenizer,
        encoding,
        bos_id,
        bos_text,
        eos_text,
        eos_ids,
        // tokenizer.json's post-processor adds BOS itself where the model wants it.
        prepend_bos: false,
        chat_template,
    })
}

/// How the decoder writes bytes: ByteLevel anywhere in it means byte-level BPE; a
/// ByteFallback or a `▁` replacement means SentencePiece; anything else UTF-8.
fn encoding_of(decoder: Option<&DecoderWrapper>) -> TokenEncoding {
    let Some(decoder) = decoder else {
        return TokenEncoding::Utf8;
    };
    let parts: Vec<&DecoderWrapper> = match decoder {
        DecoderWrapper::Sequence(seq) => seq.get_decoders().iter().collect(),
        other => vec![other],
    };
    if parts.iter().any(|d| matches!(d, DecoderWrapper::ByteLevel(_))) {
        TokenEncoding::ByteLevel
    } else if parts.iter().any(|d| {
        matches!(
            d,
            DecoderWrapper::ByteFallback(_) | DecoderWrapper::Metaspace(_) | DecoderWrapper::Replace(_)
        )
    }) {
        TokenEncoding::SentencePiece
    } else {
        TokenEncoding::Utf8
    }
}

/// Reads an optional JSON file: `None` when it does not exist.
fn read_json(path: &Path) -> Result<Option<Value>> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TokenizerError::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

fn read_template_file(path: &Path) -> Result<Option<String>> {
    read_optional(path)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenizerError::Io {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// A special token's text: `"<s>"` or `{"content": "<s>", ...}`.
fn token_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The chat template: a string, or the `"default"` (else first) of a named list.
fn template_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => {
            let named = |name: &str| {
                list.iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
            };
            named("default")
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }
        _ => None,
    }
}

/// Token ids from an integer or a list of integers (negative or invalid ignored).
fn ids(value: Option<&Value>) -> Vec<u32> {
    match value {
        Some(Value::Array(list)) => list.iter().filter_map(as_id).collect(),
        Some(v) => as_id(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn first_id(value: Option<&Value>) -> Option<u32> {
    ids(value).first().copied()
}

fn as_id(value: &Value) -> Option<u32> {
    value.as_u64().and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn special_token_text_is_read_from_a_string_or_a_content_object() {
        assert_eq!(token_text(Some(&json!("<s>"))).as_deref(), Some("<s>"));
        assert_eq!(
            token_text(Some(&json!({"content": "</s>", "lstrip": false}))).as_deref(),
            Some("</s>")
        );
        assert_eq!(token_text(Some(&Value::Null)), None);
    }

    #[test]
    fn a_template_list_prefers_the_default_entry() {
        let list = json!([
            {"name": "tool_use", "template": "T"},
            {"name": "default", "template": "D"}
        ]);
        assert_eq!(template_of(Some(&list)).as_deref(), Some("D"));
        let only = json!([{"name": "rag", "template": "R"}]);
        assert_eq!(template_of(Some(&only)).as_deref(), Some("R"));
    }

    #[test]
    fn eos_ids_accept_an_integer_or_a_list() {
        assert_eq!(ids(Some(&json!(7))), vec![7]);
        assert_eq!(ids(Some(&json!([1, 2, -1]))), vec![1, 2]);
        assert!(ids(None).is_empty());
    }
}
