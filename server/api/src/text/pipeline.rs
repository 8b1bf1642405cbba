//! One sequence's text pipeline, as the HTTP handler uses it per choice:
//!
//! ```text
//! token id ─▶ IncrementalDetokenizer ─raw─▶ StopStrings ─released─▶ ReasoningParser ─▶ Deltas
//!                    └──────────(id, raw) for tag ids and token counts─────▲
//! ```
//!
//! Stop strings see the whole output text (tags included) before the reasoning split,
//! as in vLLM. Text work only: it runs in the request's task, never on the engine thread.

use super::detokenizer::IncrementalDetokenizer;
use super::reasoning::{PassThrough, ReasoningConfig, ReasoningParser, ThinkTagParser};
use super::stop_strings::StopStrings;
use super::vocab::Vocabulary;

/// Per-sequence settings, from the request and the tokenizer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextPipelineConfig {
    /// Leave special tokens out of the text (`skip_special_tokens`, default true).
    pub skip_special_tokens: bool,
    /// The request's `stop` strings.
    pub stop: Vec<String>,
    /// `Some`: split reasoning from content (chat); `None`: everything is content,
    /// unchanged (`/v1/completions`).
    pub reasoning: Option<ReasoningConfig>,
}

/// Text produced by one push. Send `reasoning` before `content`; skip empty ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deltas {
    /// The output text released at this step, tags included (stop strings applied):
    /// `/v1/generate`'s `text`, `/v1/completions`' text.
    pub text: String,
    /// Chain-of-thought text (`delta.reasoning_content`).
    pub reasoning: String,
    /// Answer text (`delta.content`).
    pub content: String,
}

impl Deltas {
    /// Appends `other` (to build the non-streaming fields from the deltas).
    pub fn append(&mut self, other: &Deltas) {
        self.text.push_str(&other.text);
        self.reasoning.push_str(&other.reasoning);
        self.content.push_str(&other.content);
    }

    /// Whether all three parts are empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.reasoning.is_empty() && self.content.is_empty()
    }
}

/// Detokenizer → stop strings → reasoning parser for one sequence.
///
/// Non-streaming: `append` every delta, then `reasoning_content` is the reasoning text
/// if [`has_reasoning`](Self::has_reasoning), else `null`.
pub struct TextPipeline<V> {
    vocab: V,
    detokenizer: IncrementalDetokenizer,
    stop: StopStrings,
    parser: Box<dyn ReasoningParser>,
    /// `finish` has run.
    finished: bool,
}

impl<V: Vocabulary> TextPipeline<V> {
    /// A pipeline over `vocab` (e.g. an `Arc` of the tokenizer).
    pub fn new(vocab: V, config: &TextPipelineConfig) -> Self {
        let parser: Box<dyn ReasoningParser> = match config.reasoning {
            Some(reasoning) => Box::new(ThinkTagParser::new(reasoning)),
            None => Box::new(PassThrough),
        };
        Self {
            vocab,
            detokenizer: IncrementalDetokenizer::with_skip_special_tokens(
                config.skip_special_tokens,
            ),
            stop: StopStrings::new(&config.stop),
            parser,
            finished: false,
        }
    }

    /// Appends generated token `token_id`. Tokens after a stop string matched or after
    /// `finish` are ignored (they are not part of the output).
    pub fn push(&mut self, token_id: u32) -> Deltas {
        if self.stop.stopped() || self.finished {
            return Deltas::default();
        }
        let raw = self.detokenizer.push(&self.vocab, token_id);
        self.parser.push_token(token_id, &raw);
        let released = self.stop.push(&raw);
        let split = self.parser.push_text(&released.text);
        Deltas {
            text: released.text,
            reasoning: split.reasoning,
            content: split.content,
        }
    }

    /// Ends the sequence: flushes held bytes (as U+FFFD), held stop-string prefixes
    /// and held whitespace/partial tags. Later calls return nothing.
    pub fn finish(&mut self) -> Deltas {
        if self.finished {
            return Deltas::default();
        }
        self.finished = true;
        let mut text = String::new();
        if !self.stop.stopped() {
            let flushed = self.stop.push(&self.detokenizer.finish());
            text = flushed.text;
            if !flushed.stopped {
                text.push_str(&self.stop.finish());
            }
        }
        let mut split = self.parser.push_text(&text);
        let last = self.parser.finish();
        split.reasoning.push_str(&last.reasoning);
        split.content.push_str(&last.content);
        Deltas {
            text,
            reasoning: split.reasoning,
            content: split.content,
        }
    }

    /// A stop string matched: the caller aborts the sequence (finish reason `stop`).
    pub fn stopped(&self) -> bool {
        self.stop.stopped()
    }

    /// The stop string that ended the output, if one did (vLLM's `stop_reason`).
    pub fn matched_stop(&self) -> Option<&str> {
        self.stop.matched()
    }

    /// `usage.completion_tokens_details.reasoning_tokens` (see
    /// [`ReasoningParser::reasoning_tokens`]).
    pub fn reasoning_tokens(&self) -> usize {
        self.parser.reasoning_tokens()
    }

    /// Whether the output has a reasoning section (`reasoning_content` not `null`).
    pub fn has_reasoning(&self) -> bool {
        self.parser.has_reasoning()
    }
}
