//! Text side of a model: tokenizer, special tokens, per-token bytes and the chat
//! template.
//!
//! [`TextTokenizer`] is built once per model, from a Hugging Face folder
//! ([`TextTokenizer::from_dir`]) or from GGUF metadata
//! ([`TextTokenizer::from_gguf`]), and shared read-only (it is `Send + Sync`).
//! Encoding and decoding go through the Hugging Face `tokenizers` crate; the chat
//! template is compiled once with minijinja ([`chat_template`]).
//!
//! Invariants (API.md): a rendered chat prompt is tokenized without adding special
//! tokens, because templates write BOS themselves, so a prompt carries exactly the
//! BOS tokens its template wrote; input messages lose `reasoning_content` and
//! `reasoning` before rendering, so an earlier turn's reasoning never reaches the
//! prompt.

mod chat_template;
mod error;
mod gguf;
mod hf_dir;
mod pretokenizer;
mod python_json;
mod think;
mod token_bytes;

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Value as JinjaValue;
use serde_json::{Map, Value};

pub use chat_template::{ChatTemplate, DEFAULT_CHATML_TEMPLATE};
pub use error::TokenizerError;
pub use think::{text_opens_reasoning, THINK_CLOSE, THINK_OPEN};
pub use token_bytes::{bytes_to_unicode, TokenEncoding};

use error::Result;
use token_bytes::TokenBytesTable;

/// Message keys dropped before rendering (API.md: earlier reasoning never reaches
/// the prompt, and clients that send it back get no 400).
const DROPPED_MESSAGE_KEYS: [&str; 2] = ["reasoning_content", "reasoning"];

/// What a loader (folder or GGUF) hands to [`TextTokenizer::from_parts`].
pub(crate) struct LoadedParts {
    tokenizer: tokenizers::Tokenizer,
    encoding: TokenEncoding,
    bos_id: Option<u32>,
    bos_text: Option<String>,
    eos_text: Option<String>,
    eos_ids: Vec<u32>,
    /// Prepend `bos_id` when encoding with special tokens (GGUF `add_bos_token`).
    prepend_bos: bool,
    chat_template: Option<String>,
}

/// A model's tokenizer and chat template.
pub struct TextTokenizer {
    /// The Hugging Face tokenizer (model, normalizer, pre-tokenizer, decoder, added tokens).
    inner: tokenizers::Tokenizer,
    /// Number of token ids: the largest id + 1 (the model's embedding may be larger).
    vocab_size: usize,
    bos_id: Option<u32>,
    bos_text: Option<String>,
    eos_text: Option<String>,
    /// End-of-sequence ids, deduplicated, in discovery order.
    eos_ids: Vec<u32>,
    prepend_bos: bool,
    /// `special[id]`: the token is a special (control) token; `len() == vocab_size`.
    special: Vec<bool>,
    /// Raw bytes of every token.
    bytes: TokenBytesTable,
    encoding: TokenEncoding,
    /// (`<think>`, `</think>`) when both are single tokens.
    think: Option<(u32, u32)>,
    template: ChatTemplate,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, and when present `tokenizer_config.json`,
    /// `chat_template.jinja` and `generation_config.json`, from `dir`.
    ///
    /// Errors: [`TokenizerError::Io`] when `tokenizer.json` is missing,
    /// [`TokenizerError::Config`] on a malformed file, [`TokenizerError::Template`]
    /// when the chat template does not compile.
    pub fn from_dir(dir: &Path) -> std::result::Result<Self, TokenizerError> {
        Self::from_parts(hf_dir::load(dir)?)
    }

    /// Builds the tokenizer from the `tokenizer.*` metadata of a GGUF file (tensor
    /// data is never read).
    ///
    /// Errors: [`TokenizerError::Gguf`] on missing or malformed keys,
    /// [`TokenizerError::Unsupported`] for SentencePiece (`"llama"`) vocabularies or
    /// an unknown `tokenizer.ggml.pre`.
    pub fn from_gguf(path: &Path) -> std::result::Result<Self, TokenizerError> {
        Self::from_parts(gguf::load(path)?)
    }

    /// Replaces the chat template (a `--chat-template` override, or a corrected
    /// template for a model whose shipped one is outdated).
    pub fn with_chat_template(mut self, source: String) -> Result<Self> {
        self.template = ChatTemplate::new(Some(source))?;
        Ok(self)
    }

    fn from_parts(parts: LoadedParts) -> Result<Self> {
        let inner = parts.tokenizer;
        let vocab = inner.get_vocab(true);
        let vocab_size = vocab.values().max().map_or(0, |&m| m as usize + 1);
        let mut strings: Vec<Option<&str>> = vec![None; vocab_size];
        for (token, &id) in &vocab {
            strings[id as usize] = Some(token.as_str());
        }
        let bytes = TokenBytesTable::build(&strings, parts.encoding);
        let mut special = vec![false; vocab_size];
        let decoder = inner.get_added_vocabulary().get_added_tokens_decoder();
        let special_ids = decoder.iter().filter(|(_, t)| t.special).map(|(&id, _)| id);
        let named = parts.bos_id.into_iter().chain(parts.eos_ids.iter().copied());
        for id in special_ids.chain(named) {
            if let Some(slot) = special.get_mut(id as usize) {
                *slot = true;
            }
        }
        let mut eos_ids = Vec::with_capacity(parts.eos_ids.len());
        for id in parts.eos_ids {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        let think = inner
            .token_to_id(THINK_OPEN)
            .zip(inner.token_to_id(THINK_CLOSE));
        Ok(Self {
            template: ChatTemplate::new(parts.chat_template)?,
            inner,
            vocab_size,
            bos_id: parts.bos_id,
            bos_text: parts.bos_text,
            eos_text: parts.eos_text,
            eos_ids,
            prepend_bos: parts.prepend_bos,
            special,
            bytes,
            encoding: parts.encoding,
            think,
        })
    }

    /// Token ids of `text`. `add_special_tokens` adds what the tokenizer adds around
    /// a plain text (BOS for Llama-style tokenizers; nothing for Qwen); chat prompts
    /// use `false` (see [`Self::encode_chat`]). Added tokens written in the text
    /// (`<think>`, `<|im_end|>`) are always recognized as single tokens.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(TokenizerError::tokenizers)?;
        let ids = encoding.get_ids();
        match self.bos_id {
            Some(bos) if add_special_tokens && self.prepend_bos => {
                Ok(std::iter::once(bos).chain(ids.iter().copied()).collect())
            }
            _ => Ok(ids.to_vec()),
        }
    }

    /// The text of `ids`, special tokens left out when `skip_special_tokens`.
    /// Invalid UTF-8 (a token sequence cut inside a character) becomes U+FFFD.
    ///
    /// Errors when an id is outside the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TokenizerError::Tokenizers(format!(
                "token id {bad} is outside the vocabulary ({} ids)",
                self.vocab_size
            )));
        }
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(TokenizerError::tokenizers)
    }

    /// Number of token ids (largest id + 1). The model's embedding matrix may have
    /// more rows (padded); ids past this have no text.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// Every id that ends generation: the tokenizer's EOS, `generation_config.json`'s
    /// `eos_token_id`(s), the GGUF EOS and EOT; deduplicated.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// The id of `token` when it is a single token (vocabulary or added token).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of `<think>` and `</think>` when each is a single token.
    pub fn think_token_ids(&self) -> Option<(u32, u32)> {
        self.think
    }

    /// Whether `id` is a special token (control tokens, BOS, EOS); false outside
    /// the vocabulary.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// `mask[id]` is [`Self::is_special`]; `mask.len() == vocab_size()`.
    pub fn special_token_mask(&self) -> &[bool] {
        &self.special
    }

    /// The raw bytes of token `id` (see [`TokenEncoding`]); empty outside the
    /// vocabulary. Concatenating them gives the decoded text's bytes (for
    /// SentencePiece, before the decoder strips the leading space).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id)
    }

    /// How token strings write bytes in this vocabulary.
    pub fn token_encoding(&self) -> TokenEncoding {
        self.encoding
    }

    /// The compiled chat template (the model's, or [`DEFAULT_CHATML_TEMPLATE`]).
    pub fn chat_template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The underlying Hugging Face tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Renders `messages` (OpenAI chat messages as JSON objects) with the chat
    /// template. The template sees `messages` (without `reasoning_content` /
    /// `reasoning` keys), `add_generation_prompt`, `bos_token`, `eos_token`,
    /// `tools = none`, and every entry of `kwargs` (which may override `tools`,
    /// `bos_token`, `eos_token`; e.g. `{"enable_thinking": false}` for Qwen3).
    ///
    /// Errors with [`TokenizerError::Template`] naming the template's error.
    pub fn apply_chat_template(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        kwargs: &Map<String, Value>,
    ) -> Result<String> {
        let mut context: BTreeMap<String, JinjaValue> = BTreeMap::new();
        context.insert("tools".into(), JinjaValue::from(()));
        if let Some(bos) = &self.bos_text {
            context.insert("bos_token".into(), JinjaValue::from(bos.as_str()));
        }
        if let Some(eos) = &self.eos_text {
            context.insert("eos_token".into(), JinjaValue::from(eos.as_str()));
        }
        for (key, value) in kwargs {
            context.insert(key.clone(), JinjaValue::from_serialize(value));
        }
        let messages: Vec<Value> = messages.iter().map(without_reasoning).collect();
        context.insert("messages".into(), JinjaValue::from_serialize(&messages));
        context.insert(
            "add_generation_prompt".into(),
            JinjaValue::from(add_generation_prompt),
        );
        self.template.render(JinjaValue::from_iter(context))
    }

    /// Renders the chat template and tokenizes the prompt without adding special
    /// tokens (the template wrote its BOS).
    pub fn encode_chat(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        kwargs: &Map<String, Value>,
    ) -> Result<Vec<u32>> {
        let prompt = self.apply_chat_template(messages, add_generation_prompt, kwargs)?;
        self.encode(&prompt, false)
    }

    /// Whether the prompt ends inside an open think block (its last `<think>` after
    /// its last `</think>`): the output then starts inside reasoning. Decided by
    /// token id when the tags are single tokens, else on the decoded text.
    pub fn prompt_opens_reasoning(&self, prompt_ids: &[u32]) -> bool {
        match self.think {
            Some((open, close)) => think::ids_open_reasoning(prompt_ids, open, close),
            None => self
                .decode(prompt_ids, false)
                .is_ok_and(|text| text_opens_reasoning(&text)),
        }
    }
}

/// A message without the keys in [`DROPPED_MESSAGE_KEYS`].
fn without_reasoning(message: &Value) -> Value {
    match message {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !DROPPED_MESSAGE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TextTokenizer>();
    }

    #[test]
    fn reasoning_keys_are_dropped_from_messages() {
        let m = serde_json::json!({"role": "assistant", "content": "x",
            "reasoning_content": "r", "reasoning": "r"});
        assert_eq!(
            without_reasoning(&m),
            serde_json::json!({"role": "assistant", "content": "x"})
        );
    }
}
