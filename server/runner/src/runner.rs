//! `ModelRunner`: owns the model and the device KV cache, and turns each
//! `ScheduledBatch` into exactly one forward pass plus sampling.

use candle_core::{DType, Tensor};
use ponder_engine::{PromptLogprobsChunk, SampleSpec, SampledToken, ScheduledBatch, SeqFailure, SeqId, StepOutput};
use ponder_models::Model;
use rayon::prelude::*;

use crate::error::RunnerError;
use crate::input::{SeqLogitsRows, StepInputs};
use crate::prompt_logprobs::score_prompt_rows;
use crate::kv_cache::{allocate_kv_caches, RunnerConfig};
use crate::sampler::Sampler;
use crate::structured::{GrammarCompiler, Grammars};
use llguidance::toktrie::SimpleVob;
use std::sync::Arc;

/// A sampled row: its sequence, what to sample, and its row in the step's logits.
type SampleRow<'a> = (SeqId, &'a SampleSpec, usize);

/// Runs one engine step at a time: builds the inputs, runs the model once over all
/// scheduled tokens (prefill chunks and decodes together), copies the sampled rows'
/// logits to the host once, and samples each row.
pub struct ModelRunner {
    model: Box<dyn Model>,
    /// One `(k, v)` per layer, each `[num_blocks, block_size, num_kv_heads, head_dim]`.
    kv_caches: Vec<(Tensor, Tensor)>,
    cfg: RunnerConfig,
    sampler: Sampler,
    /// Forward passes run so far (one per non-empty `execute`).
    forward_passes: u64,
    /// Structured-output matchers of the live constrained sequences.
    grammars: Grammars,
}

impl ModelRunner {
    /// Takes ownership of `model` and allocates its zeroed KV cache on `model.device()`.
    ///
    /// Errors: an invalid `cfg` (see [`RunnerConfig::validate`]) or a failed allocation.
    pub fn new(model: Box<dyn Model>, cfg: RunnerConfig) -> anyhow::Result<Self> {
        cfg.validate()?;
        let kv_caches =
            allocate_kv_caches(&cfg, model.num_layers(), model.num_kv_heads(), model.head_dim(), model.device())?;
        tracing::info!(
            num_layers = model.num_layers(),
            num_blocks = cfg.num_blocks,
            block_size = cfg.block_size,
            dtype = ?cfg.kv_cache_dtype,
            "allocated paged KV cache"
        );
        Ok(Self { model, kv_caches, cfg, sampler: Sampler, forward_passes: 0, grammars: Grammars::default() })
    }

    /// Enables structured outputs (`response_format`) with `compiler`'s vocabulary.
    pub fn with_grammar_compiler(mut self, compiler: Arc<GrammarCompiler>) -> Self {
        self.grammars = Grammars::new(Some(compiler));
        self
    }

    /// Runs one step: one `model.forward` over every token of `batch`, then one sampled
    /// token per sequence with a `SampleSpec`, in batch order, and the prompt logprobs
    /// of every chunk that asked for them. An empty batch returns an
    /// empty `StepOutput` without running the model.
    ///
    /// A sequence whose token cannot be produced (bad sampling parameters, NaN logits,
    /// a grammar error) is reported in `StepOutput::failed`; the others are unaffected.
    ///
    /// Errors: a batch inconsistent with the cache (block size, block ids, block table
    /// coverage), a model error, or logits not shaped `[num_sampled, vocab_size]`.
    pub fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        self.grammars.release(&batch.finished_seq_ids);
        if batch.is_empty() {
            return Ok(StepOutput::default());
        }
        if batch.block_size != self.cfg.block_size {
            return Err(RunnerError::BlockSizeMismatch { batch: batch.block_size, cache: self.cfg.block_size }.into());
        }
        let mut inputs = StepInputs::from_batch(batch, self.cfg.num_blocks)?;
        let num_rows = inputs.logits_indices.len();
        let logits_rows = std::mem::take(&mut inputs.logits_rows);
        let input = inputs.into_model_input(self.model.device(), self.cfg.batch_invariant)?;
        let logits = on_pool(|| self.model.forward(&input, &self.kv_caches))?;
        self.forward_passes += 1;
        let host = self.logits_to_host(&logits, num_rows)?;
        let mut failed = Vec::new();
        let prompt_logprobs = self.score_prompts(&host, batch, &logits_rows, &mut failed);
        let rows: Vec<SampleRow> = batch
            .seqs
            .iter()
            .zip(&logits_rows)
            .filter_map(|(s, r)| Some((s.seq_id, s.sample.as_ref()?, r.sample?)))
            .collect();
        let sampled = self.sample_step(&host, &rows, &mut failed);
        let failed_ids: Vec<SeqId> = failed.iter().map(|f| f.seq_id).collect();
        self.grammars.release(&failed_ids);
        Ok(StepOutput { sampled, failed, prompt_logprobs })
    }

    /// Prompt logprobs of every chunk that asked for them; a sequence whose rows cannot
    /// be scored goes to `failed`.
    fn score_prompts(
        &self,
        host: &[f32],
        batch: &ScheduledBatch,
        logits_rows: &[SeqLogitsRows],
        failed: &mut Vec<SeqFailure>,
    ) -> Vec<PromptLogprobsChunk> {
        let vocab = self.model.vocab_size();
        let mut chunks = Vec::new();
        for (seq, rows) in batch.seqs.iter().zip(logits_rows) {
            let Some(req) = &seq.prompt_logprobs else { continue };
            match score_prompt_rows(host, vocab, rows.prompt.clone(), req) {
                Ok(logprobs) => chunks.push(PromptLogprobsChunk { seq_id: seq.seq_id, first_position: seq.num_computed_tokens + 1, logprobs }),
                Err(source) => failed.push(SeqFailure { seq_id: seq.seq_id, message: RunnerError::Sampling { seq_id: seq.seq_id, source }.to_string() }),
            }
        }
        chunks
    }

    /// Samples every row of `rows` (grammar masks applied), skipping sequences already
    /// in `failed`; a sampling or grammar error fails that sequence alone.
    fn sample_step(&mut self, host: &[f32], rows: &[SampleRow], failed: &mut Vec<SeqFailure>) -> Vec<SampledToken> {
        let masks = self.grammar_masks(rows, failed);
        let mut sampled = Vec::with_capacity(rows.len());
        for (result, &(seq_id, spec, _)) in self.sample_rows(host, rows, &masks).into_iter().zip(rows) {
            if failed.iter().any(|f| f.seq_id == seq_id) {
                continue;
            }
            let token = match result {
                Ok(token) => token,
                Err(e) => {
                    failed.push(SeqFailure { seq_id, message: e.to_string() });
                    continue;
                }
            };
            if masks.iter().any(|(id, _)| *id == seq_id) {
                if let Err(e) = self.grammars.consume(seq_id, token.token_id, spec.allow_think_start) {
                    failed.push(SeqFailure { seq_id, message: RunnerError::Grammar { seq_id, message: first_line(&e) }.to_string() });
                    continue;
                }
            }
            sampled.push(token);
        }
        sampled
    }

    /// The allowed-token mask of every constrained row that samples freely; a grammar
    /// that fails goes to `failed` (that sequence alone).
    fn grammar_masks(&mut self, rows: &[SampleRow], failed: &mut Vec<SeqFailure>) -> Vec<(SeqId, SimpleVob)> {
        let mut masks = Vec::new();
        for &(seq_id, spec, _) in rows {
            let Some(output) = spec.params.structured_output.as_ref().filter(|_| spec.constrained && spec.forced_token.is_none()) else {
                continue;
            };
            match self.grammars.mask(seq_id, output, spec.allow_think_start) {
                Ok(mask) => masks.push((seq_id, mask)),
                Err(e) => failed.push(SeqFailure {
                    seq_id,
                    message: RunnerError::Grammar { seq_id, message: first_line(&e) }.to_string(),
                }),
            }
        }
        masks
    }

    /// Replaces the model between two steps and returns the old one. The KV cache is
    /// kept (the caller resets the prefix cache; blocks held by running sequences keep
    /// the K/V the old weights wrote, as vLLM's partial rollouts do).
    ///
    /// Errors (the old model stays): `model` has another number of layers, K/V heads,
    /// head dimension or vocabulary size, or lives on another device.
    pub fn swap_model(&mut self, model: Box<dyn Model>) -> Result<Box<dyn Model>, RunnerError> {
        let old = self.model.as_ref();
        let shape = |m: &dyn Model| (m.num_layers(), m.num_kv_heads(), m.head_dim(), m.vocab_size());
        if shape(model.as_ref()) != shape(old) {
            return Err(RunnerError::ModelMismatch {
                detail: format!(
                    "(layers, kv heads, head dim, vocab) {:?} where the served model has {:?}",
                    shape(model.as_ref()),
                    shape(old)
                ),
            });
        }
        if !model.device().same_device(old.device()) {
            return Err(RunnerError::ModelMismatch { detail: "the new weights are on another device".into() });
        }
        Ok(std::mem::replace(&mut self.model, model))
    }

    /// Forward passes run since construction.
    pub fn forward_passes(&self) -> u64 {
        self.forward_passes
    }

    /// The model being run.
    pub fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }

    /// The KV cache layout.
    pub fn config(&self) -> &RunnerConfig {
        &self.cfg
    }

    /// The per-layer `(k, v)` cache tensors.
    pub fn kv_caches(&self) -> &[(Tensor, Tensor)] {
        &self.kv_caches
    }

    /// Checks the logits' shape and copies them to the host in one transfer, as a
    /// row-major `[num_rows * vocab_size]` f32 vector.
    fn logits_to_host(&self, logits: &Tensor, num_sampled: usize) -> anyhow::Result<Vec<f32>> {
        let vocab = self.model.vocab_size();
        if logits.dims() != [num_sampled, vocab] {
            return Err(RunnerError::LogitsShape { got: logits.dims().to_vec(), rows: num_sampled, vocab }.into());
        }
        Ok(logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Samples each of `rows` from its logits row of `host`, in parallel when there are several.
    fn sample_rows(&self, host: &[f32], rows: &[SampleRow], masks: &[(SeqId, SimpleVob)]) -> Vec<Result<SampledToken, RunnerError>> {
        let vocab = self.model.vocab_size();
        let sampler = &self.sampler;
        let sample_one = |&(seq_id, spec, row): &SampleRow| {
            let allowed = masks.iter().find(|(id, _)| *id == seq_id).map(|(_, m)| m);
            sampler
                .sample_allowed(&host[row * vocab..(row + 1) * vocab], spec, allowed)
                .map(|s| s.into_sampled_token(seq_id))
                .map_err(|source| RunnerError::Sampling { seq_id, source })
        };
        if rows.len() > 1 {
            rows.par_iter().map(sample_one).collect()
        } else {
            rows.iter().map(sample_one).collect()
        }
    }
}

/// Runs `f` on a worker of rayon's global pool and waits for it. The forward pass does
/// hundreds of small parallel ops per step; started from a pool worker they fork and
/// join inside the pool, where idle workers are still spinning, instead of each op
/// injecting its jobs from the outside thread and waking sleeping workers (which cost
/// a third of a decode step in context switches).
fn on_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let mut out = None;
    rayon::scope(|s| s.spawn(|_| out = Some(f())));
    out.expect("the scope ran the closure")
}

/// The first line of an error chain (llguidance appends its whole parser state).
fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}
