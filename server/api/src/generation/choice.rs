//! One choice (one sequence) of a running request: its text pipeline, generated ids,
//! logprobs and finish reason.

use std::sync::Arc;

use ponder_engine::{FinishReason as EngineFinish, PromptLogprob, SeqUpdate};
use ponder_models::tokenizer::TextTokenizer;

use crate::protocol::{ChunkDelta, FinishReason, LegacyLogprobs, StopReason, TokenLogprob, TopLogprob, WeightSpan};
use crate::text::{Deltas, TextPipeline, TextPipelineConfig, Vocabulary};

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
    /// Completions: logprobs in the legacy format (with `logprobs`).
    pub legacy_logprobs: bool,
    /// Return the prompt's scores (vLLM's `prompt_logprobs`).
    pub prompt_logprobs: bool,
    /// The prompt's token ids (set per prompt by `submit`).
    pub prompt_ids: Option<Arc<[u32]>>,
    /// Completions' `echo`: the prompt text, returned before the output (per prompt).
    pub echo: Option<Arc<str>>,
    /// `max_tokens: 0` (scoring a prompt): the engine generates one token, never shown.
    pub discard_output: bool,
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
    /// The stop string or stop token that ended the choice.
    pub stop_reason: Option<StopReason>,
    /// Scores of prompt tokens `1..` (arrive with the first token), until sent.
    pending_prompt_logprobs: Option<Vec<TokenLogprob>>,
    /// A chunk with a payload went out (the prompt extras ride on the first).
    sent_first: bool,
    /// Characters of token text covered by legacy logprobs so far (`text_offset`).
    legacy_offset: usize,
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
            stop_reason: None,
            pending_prompt_logprobs: None,
            sent_first: false,
            legacy_offset: 0,
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

    /// Takes one engine update of this choice's sequence (a generated token, the
    /// engine's finish reason if it ended the sequence, prompt scores with the first
    /// token) and returns what to send for it. Tokens after the choice ended are ignored.
    pub fn push(&mut self, update: &SeqUpdate) -> ChunkDelta {
        let (token, engine_finish) = (&update.token, update.finish);
        if engine_finish.is_some() {
            self.engine_finished = true;
        }
        if let Some(scores) = &update.prompt_logprobs {
            self.pending_prompt_logprobs = Some(scores.iter().map(|p| self.prompt_logprob(p)).collect());
        }
        if self.finish.is_some() {
            return ChunkDelta { index: self.index, ..Default::default() };
        }
        if self.config.discard_output {
            // `max_tokens: 0`: the engine's one token only carried the prompt's scores.
            self.finish = Some(FinishReason::Length);
            let deltas = self.pipeline.finish();
            return self.delta(Deltas { text: String::new(), ..deltas });
        }
        self.token_ids.push(token.token_id);
        self.pending_ids.push(token.token_id);
        if self.config.logprobs {
            self.pending_logprobs.push(self.token_logprob(token.token_id, token.logprob, &token.top_logprobs));
        }
        // The text of EOS and stop tokens is not part of the output (vLLM's default).
        let ends_on_stop_token = matches!(engine_finish, Some(EngineFinish::Eos | EngineFinish::StopToken(_)));
        let mut deltas = if ends_on_stop_token { Deltas::default() } else { self.pipeline.push(token.token_id) };
        if self.pipeline.stopped() {
            self.finish = Some(FinishReason::Stop);
            self.stop_reason = self.pipeline.matched_stop().map(|s| StopReason::Text(s.to_owned()));
        } else if let Some(f) = engine_finish {
            if let EngineFinish::StopToken(id) = f {
                self.stop_reason = Some(StopReason::Token(id));
            }
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
        let first = !self.sent_first && (!reasoning.is_empty() || !content.is_empty() || self.finish.is_some());
        let echo = self.config.echo.as_deref().filter(|_| first).unwrap_or_default();
        let content = format!("{echo}{content}");
        let mut out = ChunkDelta {
            index: self.index,
            reasoning: (!reasoning.is_empty()).then_some(reasoning),
            content: (!content.is_empty()).then_some(content),
            finish: self.finish,
            weight_versions: self.finish.and_then(|_| self.spanned_weight_versions()),
            stop_reason: self.stop_reason.clone(),
            ..Default::default()
        };
        if out.reasoning.is_some() || out.content.is_some() || out.finish.is_some() {
            let mut legacy = LegacyLogprobs::default();
            if first {
                self.sent_first = true;
                let prompt_scores = self.pending_prompt_logprobs.take();
                if self.config.echo.is_some() && self.config.legacy_logprobs && self.config.logprobs {
                    self.push_echoed_prompt(&mut legacy, prompt_scores.as_deref().unwrap_or_default());
                }
                if self.config.return_token_ids {
                    out.prompt_token_ids = self.config.prompt_ids.clone();
                }
                out.prompt_logprobs = prompt_scores.filter(|_| self.config.prompt_logprobs);
            }
            let ids = std::mem::take(&mut self.pending_ids);
            out.token_ids = self.config.return_token_ids.then_some(ids);
            let logprobs = std::mem::take(&mut self.pending_logprobs);
            if self.config.logprobs && self.config.legacy_logprobs {
                for l in &logprobs {
                    self.push_legacy(&mut legacy, l.token.clone(), Some(l));
                }
                out.legacy_logprobs = Some(legacy);
            } else if self.config.logprobs {
                out.logprobs = Some(logprobs);
            }
        }
        out
    }

    /// The echoed prompt's legacy entries: its first token unscored, then each scored one.
    fn push_echoed_prompt(&mut self, legacy: &mut LegacyLogprobs, scores: &[TokenLogprob]) {
        let Some(&first) = self.config.prompt_ids.as_deref().and_then(<[u32]>::first) else { return };
        self.push_legacy(legacy, self.tokenizer.token_text(first), None);
        for s in scores {
            self.push_legacy(legacy, s.token.clone(), Some(s));
        }
    }

    fn push_legacy(&mut self, legacy: &mut LegacyLogprobs, token: String, scored: Option<&TokenLogprob>) {
        let offset = self.legacy_offset;
        self.legacy_offset += token.chars().count();
        legacy.push(offset, token, scored);
    }

    fn prompt_logprob(&self, p: &PromptLogprob) -> TokenLogprob {
        TokenLogprob { rank: Some(p.rank), ..self.token_logprob(p.token_id, p.logprob, &p.top_logprobs) }
    }

    fn token_logprob(&self, token_id: u32, logprob: f32, top: &[(u32, f32)]) -> TokenLogprob {
        let entry = |id: u32| (self.tokenizer.token_text(id), self.tokenizer.token_bytes(id).to_vec());
        let (text, bytes) = entry(token_id);
        let top_logprobs = top
            .iter()
            .map(|&(id, logprob)| {
                let (token, bytes) = entry(id);
                TopLogprob { token_id: id, token, logprob, bytes }
            })
            .collect();
        TokenLogprob { token_id, rank: None, token: text, logprob, bytes, top_logprobs }
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
