//! Splitting a reasoning model's output into its chain of thought and its answer
//! (API.md, "Reasoning output").
//!
//! Reasoning models (DeepSeek-R1 and its distills, Qwen3, QwQ) write
//! `<think>…</think>` and then the answer. [`ThinkTagParser`] finds the tags by token id
//! when the tokenizer has them as single tokens, by text otherwise, never lets a
//! detected tag or part of one into either field, and counts reasoning tokens.
//! [`PassThrough`] is the parser for outputs that are not split (`/v1/completions`).
//!
//! The trait follows mistral.rs' reasoning parser (push, finish, deltas), with the
//! token record separated from the text so that stop strings can sit in between:
//!
//! ```text
//! token id ─▶ detokenizer ─raw text─▶ stop strings ─released text─▶ push_text
//!                   └─────(id, raw text)────────────────────────────▶ push_token
//! ```

mod passthrough;
mod prompt;
mod sections;
mod segment;
mod text_tags;
mod think_parser;
mod token_tags;

pub use passthrough::PassThrough;
pub use prompt::{prompt_closes_reasoning, prompt_ids_open_reasoning, prompt_opens_reasoning};
pub use segment::{CLOSE_TAG, OPEN_TAG};
pub use think_parser::ThinkTagParser;

/// The ids of the single-token think tags (R1-distill: 151648 / 151649; Qwen3:
/// 151667 / 151668).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTokenIds {
    /// Id of `<think>`.
    pub open: u32,
    /// Id of `</think>`.
    pub close: u32,
}

impl From<(u32, u32)> for ThinkTokenIds {
    /// From `(open, close)`, the shape `TextTokenizer::think_token_ids` returns.
    fn from((open, close): (u32, u32)) -> Self {
        Self { open, close }
    }
}

/// How to split one sequence's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasoningConfig {
    /// `Some`: token mode (tags found by id); `None`: text mode (tags found in the text).
    pub think_token_ids: Option<ThinkTokenIds>,
    /// The rendered prompt ended inside an open think block (e.g. the R1-distill
    /// template's `<｜Assistant｜><think>\n`), so the output starts in reasoning. Decide
    /// it from the prompt: [`prompt_opens_reasoning`] / [`prompt_ids_open_reasoning`].
    pub starts_in_reasoning: bool,
}

/// Text produced by one push: reasoning text always precedes content text in the
/// stream, so a caller that sends `reasoning` first and then `content` keeps the order.
/// Either may be empty: the caller skips empty deltas (a chunk never carries one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasoningDelta {
    /// Chain-of-thought text (tags removed, whitespace rules applied).
    pub reasoning: String,
    /// Answer text.
    pub content: String,
}

impl ReasoningDelta {
    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.reasoning.is_empty() && self.content.is_empty()
    }
}

/// Splits one sequence's output into reasoning and content, incrementally.
///
/// Contract: the texts given to [`push_text`](Self::push_text), concatenated, are a
/// prefix of the texts given to [`push_token`](Self::push_token), concatenated
/// (possibly followed by text no token produced, such as the detokenizer's final
/// U+FFFD). Concatenating every returned delta gives the non-streaming fields.
pub trait ReasoningParser: Send {
    /// Records generated token `token_id` and the text the detokenizer produced for it
    /// (before stop strings). Returns nothing: text is split in `push_text`.
    fn push_token(&mut self, token_id: u32, raw_text: &str);

    /// Splits the next piece of output text released by the stop-string matcher.
    fn push_text(&mut self, text: &str) -> ReasoningDelta;

    /// Ends the sequence (EOS, length, stop, abort): releases what was held back.
    fn finish(&mut self) -> ReasoningDelta;

    /// Generated tokens before the one that completed `</think>` (a generated
    /// `<think>` included); with no closing tag, every generated token if the output
    /// started inside reasoning or opened with `<think>`, else 0.
    fn reasoning_tokens(&self) -> usize;

    /// Whether the output has a reasoning section (`reasoning_content` is a string,
    /// possibly empty, rather than `null`).
    fn has_reasoning(&self) -> bool;

    /// One token and its text, for callers with no stop strings in between.
    fn push(&mut self, token_id: u32, text: &str) -> ReasoningDelta {
        self.push_token(token_id, text);
        self.push_text(text)
    }
}
