//! One choice (one sequence) of a running request: its text pipeline, generated ids,
//! logprobs and finish reason.

use std::sync::Arc;

use ponder_engine::{FinishReason as EngineFinish, SampledToken};
use ponder_models::tokenizer::TextTokenizer;

use crate::protocol::{ChunkDelta, FinishReason, TokenLogprob, TopLogprob, WeightSpan};
use crate::text::{Deltas, TextPipeline, TextPipelineConfig};

/// How a choice's text is produced.
#[derive(Debug, Clone)]
pub struct ChoiceConfig {
    pub pipeline: TextPipelineConfig,
    /// Chat: split reasoning from content. Completions: all text is content.
    pub split_reasoning: bool,
    /// `include_reasoning: false` drops the reasoning text (it is still generated).
    pub include_reasoning: bool,
    /// Record per-token logprobs.
    pub logprobs: bool,
    /// Attach generated token ids to streamed chunks (`return_token_ids`).
    pub return_token_ids: bool,
}

/// State of one choice.
pub struct Choice {
    pub index: usize,
    tokenizer: Arc<TextTokenizer>,
    pipeline: TextPipeline<Arc<TextTokenizer>>,
    config: ChoiceConfig,
    /// Every generated token id (EOS and stop tokens included, as vLLM counts them).
    pub token_ids: Vec<u32>,
    /// Ids and logprobs not yet sent in a chunk (streaming attaches them to the next
    /// chunk that carries text or the finish reason).
    pending_ids: Vec<u32>,
    pending_logprobs: Vec<TokenLogprob>,
    /// Set once the choice ended (in the engine, or by a stop string here).
    pub finish: Option<FinishReason>,
    /// The engine reported this sequence finished (no abort needed for it).
    pub engine_finished: bool,
    /// Which weights produced which of `token_ids` (one span unless a swap happened).
    pub weight_versions: Vec<WeightSpan>,
}

impl Choice {
    pub fn new(index: usize, tokenizer: Arc<TextTokenizer>, config: ChoiceConfig) -> Self {
        let pipeline = TextPipeline::new(tokenizer.clone(), &config.pipeline);
        Self {
            index,
            tokenizer,
            pipeline,
            config,
            token_ids: Vec::new(),
            pending_ids: Vec::new(),
            pending_logprobs: Vec::new(),
            finish: None,
            engine_finished: false,
            weight_versions: Vec::new(),
        }
    }

    /// From the next token on, tokens come from `version` (a swap before this choice's
    /// first token replaces the version rather than adding a span).
    pub fn set_weight_version(&mut self, version: &Arc<str>) {
        if self.finish.is_some() {
            return;
        }
        let first_token_index = self.token_ids.len();
        match self.weight_versions.last_mut() {
            Some(last) if last.first_token_index == first_token_index => last.version = version.clone(),
            _ => self.weight_versions.push(WeightSpan { version: version.clone(), first_token_index }),
        }
    }

    /// The spans, when the choice spans a weight swap (else `None`).
    pub fn spanned_weight_versions(&self) -> Option<Vec<WeightSpan>> {
        (self.weight_versions.len() > 1).then(|| self.weight_versions.clone())
    }

    /// Ends the choice with `abort` (an operator aborted the request) and returns the
    /// closing delta; `None` if it had ended already.
    pub fn abort(&mut self) -> Option<ChunkDelta> {
        if self.finish.is_some() {
            return None;
        }
        self.engine_finished = true;
        self.finish = Some(FinishReason::Abort);
        let deltas = self.pipeline.finish();
        Some(self.delta(deltas))
    }

    /// Takes one generated token (with the engine's finish reason, if it ended the
    /// sequence) and returns what to send for it. Tokens after the choice ended are ignored.
    pub fn push(&mut self, token: &SampledToken, engine_finish: Option<EngineFinish>) -> ChunkDelta {
        if engine_finish.is_some() {
            self.engine_finished = true;
        }
        if self.finish.is_some() {
            return ChunkDelta { index: self.index, ..Default::default() };
        }
        self.token_ids.push(token.token_id);
        self.pending_ids.push(token.token_id);
        if self.config.logprobs {
            self.pending_logprobs.push(self.token_logprob(token));
        }
        // The text of EOS and stop tokens is not part of the output (vLLM's default).
        let ends_on_stop_token = matches!(engine_finish, Some(EngineFinish::Eos | EngineFinish::StopToken(_)));
        let mut deltas = if ends_on_stop_token { Deltas::default() } else { self.pipeline.push(token.token_id) };
        if self.pipeline.stopped() {
            self.finish = Some(FinishReason::Stop);
        } else if let Some(f) = engine_finish {
            self.finish = Some(match f {
                EngineFinish::Length => FinishReason::Length,
                _ => FinishReason::Stop,
            });
        }
        if self.finish.is_some() {
            deltas.append(&self.pipeline.finish());
        }
        self.delta(deltas)
    }

    /// Turns pipeline output into a chunk delta; ids and logprobs ride along only with
    /// text or the finish reason, so no chunk is empty.
    fn delta(&mut self, d: Deltas) -> ChunkDelta {
        let (reasoning, content) = if self.config.split_reasoning {
            let reasoning = if self.config.include_reasoning { d.reasoning } else { String::new() };
            (reasoning, d.content)
        } else {
            (String::new(), d.text)
        };
        let mut out = ChunkDelta {
            index: self.index,
            reasoning: (!reasoning.is_empty()).then_some(reasoning),
            content: (!content.is_empty()).then_some(content),
            finish: self.finish,
            weight_versions: self.finish.and_then(|_| self.spanned_weight_versions()),
            ..Default::default()
        };
        if out.reasoning.is_some() || out.content.is_some() || out.finish.is_some() {
            let ids = std::mem::take(&mut self.pending_ids);
            out.token_ids = self.config.return_token_ids.then_some(ids);
            if self.config.logprobs {
                out.logprobs = Some(std::mem::take(&mut self.pending_logprobs));
            }
        }
        out
    }

    fn token_logprob(&self, token: &SampledToken) -> TokenLogprob {
        let entry = |id: u32| {
            let bytes = self.tokenizer.token_bytes(id).to_vec();
            (String::from_utf8_lossy(&bytes).into_owned(), bytes)
        };
        let (text, bytes) = entry(token.token_id);
        let top_logprobs = token
            .top_logprobs
            .iter()
            .map(|&(id, logprob)| {
                let (token, bytes) = entry(id);
                TopLogprob { token, logprob, bytes }
            })
            .collect();
        TokenLogprob { token: text, logprob: token.logprob, bytes, top_logprobs }
    }

    /// Reasoning tokens of this choice (usage detail).
    pub fn reasoning_tokens(&self) -> usize {
        self.pipeline.reasoning_tokens()
    }

    /// Whether the output had a reasoning section (`reasoning_content` not null).
    pub fn has_reasoning(&self) -> bool {
        self.config.split_reasoning && self.config.include_reasoning && self.pipeline.has_reasoning()
    }
}
