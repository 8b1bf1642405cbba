//! A tokenizer from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
//!
//! Only the metadata is read (candle's `gguf_file::Content::read` stops after the
//! tensor infos and never touches tensor data), so a header-only file works.
//!
//! `tokenizer.ggml.model = "gpt2"` is byte-level BPE: `tokens` is the vocabulary
//! in id order, `merges` the BPE merges by rank ("left right"), `token_type` marks
//! each token (llama.cpp's `llama_token_type`: 1 normal, 2 unknown, 3 control,
//! 4 user-defined, 5 unused, 6 byte). Control and user-defined tokens become added
//! tokens (matched in text before BPE), control ones special, as in the Hugging Face
//! tokenizer the GGUF was converted from. `"llama"` (SentencePiece with scores) is
//! not supported and is reported as such.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::{AddedToken, Tokenizer};

use super::error::{Result, TokenizerError};
use super::pretokenizer::for_gguf_pre;
use super::token_bytes::TokenEncoding;
use super::LoadedParts;

/// llama.cpp's token types (`llama_token_type`).
const TOKEN_TYPE_UNKNOWN: i32 = 2;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Reads the tokenizer metadata of the GGUF file at `path` and builds the parts of
/// a [`super::TextTokenizer`].
pub(crate) fn load(path: &Path) -> Result<LoadedParts> {
    let file = File::open(path).map_err(|source| TokenizerError::Io {
        path: path.to_owned(),
        source,
    })?;
    let content = Content::read(&mut BufReader::with_capacity(1 << 20, file))
        .map_err(|e| TokenizerError::Gguf(format!("{}: {e}", path.display())))?;
    from_metadata(&content.metadata)
}

/// Builds the parts from already-read GGUF metadata.
pub(crate) fn from_metadata(meta: &HashMap<String, Value>) -> Result<LoadedParts> {
    let model = string(meta, "tokenizer.ggml.model")?
        .ok_or_else(|| missing("tokenizer.ggml.model"))?;
    if model != "gpt2" {
        return Err(TokenizerError::Unsupported(format!(
            "tokenizer.ggml.model = {model:?}: only \"gpt2\" (byte-level BPE) GGUF \
             tokenizers are supported; use the model's tokenizer.json instead"
        )));
    }
    let tokens = string_array(meta, "tokenizer.ggml.tokens")?;
    let merges = string_array(meta, "tokenizer.ggml.merges")?;
    let types = token_types(meta, tokens.len())?;
    let pre = string(meta, "tokenizer.ggml.pre")?;
    let tokenizer = build_bpe(&tokens, &merges, &types, pre)?;

    let bos_id = id(meta, "tokenizer.ggml.bos_token_id")?;
    let eos_ids: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"]
        .iter()
        .map(|key| id(meta, key))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let text_of = |id: Option<u32>| id.and_then(|i| tokens.get(i as usize).map(|t| (*t).to_owned()));
    let add_bos = match meta.get("tokenizer.ggml.add_bos_token") {
        Some(v) => v.to_bool().map_err(|e| bad("tokenizer.ggml.add_bos_token", e))?,
        None => false,
    };
    Ok(LoadedParts {
        tokenizer,
        encoding: TokenEncoding::ByteLevel,
        bos_text: text_of(bos_id),
        eos_text: text_of(eos_ids.first().copied()),
        bos_id,
        eos_ids,
        prepend_bos: add_bos && bos_id.is_some(),
        chat_template: string(meta, "tokenizer.chat_template")?.map(str::to_owned),
    })
}

/// The byte-level BPE tokenizer: BPE model, normalizer and pre-tokenizer for `pre`,
/// ByteLevel decoder, and the control / user-defined tokens as added tokens.
fn build_bpe(
    tokens: &[&str],
    merges: &[&str],
    types: &[i32],
    pre: Option<&str>,
) -> Result<Tokenizer> {
    let spec = for_gguf_pre(pre)?;
    let mut vocab = Vocab::default();
    vocab.reserve(tokens.len());
    for (id, token) in tokens.iter().enumerate() {
        // A duplicated string keeps its first id, as llama.cpp's token_to_id does.
        vocab.entry((*token).to_owned()).or_insert(id as u32);
    }
    let merges = merges
        .iter()
        .map(|m| split_merge(m))
        .collect::<Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(TokenizerError::tokenizers)?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer
        .with_normalizer(spec.normalizer)
        .with_pre_tokenizer(Some(spec.pre_tokenizer))
        .with_decoder(Some(ByteLevel::default()));
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, &t)| matches!(t, TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED))
        .map(|(&content, &t)| AddedToken::from(content, t != TOKEN_TYPE_USER_DEFINED).normalized(false))
        .collect();
    tokenizer.add_tokens(&added);
    Ok(tokenizer)
}

/// Splits a GGUF merge "left right" at the first space after the first byte (a
/// merge's left part may itself start with a space only in non-byte-level vocabs).
fn split_merge(merge: &str) -> Result<(String, String)> {
    let first_len = merge.chars().next().map_or(0, char::len_utf8);
    merge[first_len..]
        .find(' ')
        .map(|pos| {
            let (left, right) = merge.split_at(first_len + pos);
            (left.to_owned(), right[1..].to_owned())
        })
        .ok_or_else(|| TokenizerError::Gguf(format!("merge {merge:?} has no space")))
}

fn missing(key: &str) -> TokenizerError {
    TokenizerError::Gguf(format!("missing key {key}"))
}

fn bad(key: &str, err: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Gguf(format!("{key}: {err}"))
}

fn string<'a>(meta: &'a HashMap<String, Value>, key: &str) -> Result<Option<&'a str>> {
    meta.get(key)
        .map(|v| v.to_string().map(String::as_str).map_err(|e| bad(key, e)))
        .transpose()
}

fn string_array<'a>(meta: &'a HashMap<String, Value>, key: &str) -> Result<Vec<&'a str>> {
    let values = meta.get(key).ok_or_else(|| missing(key))?;
    let values = values.to_vec().map_err(|e| bad(key, e))?;
    values
        .iter()
        .map(|v| v.to_string().map(String::as_str).map_err(|e| bad(key, e)))
        .collect()
}

/// `tokenizer.ggml.token_type`, or all normal when absent; its length must match.
fn token_types(meta: &HashMap<String, Value>, n_tokens: usize) -> Result<Vec<i32>> {
    let key = "tokenizer.ggml.token_type";
    let Some(values) = meta.get(key) else {
        return Ok(vec![1; n_tokens]);
    };
    let types = values
        .to_vec()
        .map_err(|e| bad(key, e))?
        .iter()
        .map(|v| v.to_i32().map_err(|e| bad(key, e)))
        .collect::<Result<Vec<_>>>()?;
    if types.len() != n_tokens {
        return Err(bad(key, format!("{} types for {n_tokens} tokens", types.len())));
    }
    Ok(types)
}

/// A token id key (u32 in practice; any integer type is accepted).
fn id(meta: &HashMap<String, Value>, key: &str) -> Result<Option<u32>> {
    let Some(value) = meta.get(key) else {
        return Ok(None);
    };
    let id = match value {
        Value::U32(v) => i64::from(*v),
        Value::I32(v) => i64::from(*v),
        Value::U64(v) => i64::try_from(*v).unwrap_or(-1),
        Value::I64(v) => *v,
        other => return Err(bad(key, format!("not an integer: {other:?}"))),
    };
    // A negative id is llama.cpp's "none".
    Ok(u32::try_from(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_split_at_the_first_space_after_the_first_character() {
        assert_eq!(split_merge("Ġ t").ok(), Some(("Ġ".into(), "t".into())));
        assert_eq!(split_merge("ĠĠ ĠĠ").ok(), Some(("ĠĠ".into(), "ĠĠ".into())));
        assert_eq!(split_merge("  a").ok(), Some((" ".into(), "a".into())));
        assert!(split_merge("nospace").is_err());
    }
}
