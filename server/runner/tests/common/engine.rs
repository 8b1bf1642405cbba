//! A real engine loop for the integration tests: `ponder_engine::Scheduler` plus
//! `ModelRunner` over the tiny HF golden checkpoints of `models/tests/golden` (see its
//! README: 6 greedy cases per architecture, prompts of 3, 5, 8, 13, 32 and 40 tokens).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use ponder_engine::{
    FinishReason, PromptLogprob, SampledToken, Request, RequestId, SamplingParams, ScheduledBatch, Scheduler, SchedulerConfig, SeqId, SeqSpec,
    SeqStatus,
};
use ponder_models::{load_model, Model, ModelInput};
use ponder_runner::{ModelRunner, RunnerConfig};

/// The architectures with golden fixtures.
pub const ARCHS: [&str; 3] = ["llama", "qwen2", "qwen3"];

/// New tokens per golden case (`greedy_ids.len()`).
pub const NUM_GREEDY: usize = 16;

/// One golden case: a prompt and HF transformers' 16 greedy continuation ids.
#[derive(Debug, Clone)]
pub struct Case {
    pub input_ids: Vec<u32>,
    pub greedy_ids: Vec<u32>,
}

/// `models/tests/golden/<arch>`.
pub fn golden_dir(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tests/golden").join(arch)
}

/// The golden cases of `arch`, in file order (prompt lengths ascending).
pub fn cases(arch: &str) -> Vec<Case> {
    let path = golden_dir(arch).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("golden.json is JSON");
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().expect("id array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
    };
    let cases: Vec<Case> = json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case { input_ids: ids(&c["input_ids"]), greedy_ids: ids(&c["greedy_ids"]) })
        .collect();
    assert!(!cases.is_empty() && cases.iter().all(|c| c.greedy_ids.len() == NUM_GREEDY), "{arch}: bad golden.json");
    cases
}

/// Greedy, exactly `NUM_GREEDY` new tokens (EOS ignored), as the golden ids were made.
pub fn greedy_params() -> SamplingParams {
    SamplingParams { temperature: 0.0, max_tokens: NUM_GREEDY, ignore_eos: true, seed: 7, ..SamplingParams::default() }
}

/// A scheduler config with block size 4 and no EOS ids; `max_model_len` 64 (every golden
/// sequence, 40 + 16 tokens at most, ends by `max_tokens`).
pub fn scheduler_config(num_blocks: usize, max_num_batched_tokens: usize, enable_prefix_caching: bool) -> SchedulerConfig {
    SchedulerConfig {
        policy: ponder_engine::SchedulingPolicy::Fcfs,
        max_num_seqs: 8,
        max_num_batched_tokens,
        block_size: 4,
        num_blocks,
        max_model_len: 64,
        eos_token_ids: Vec::new(),
        enable_prefix_caching,
        enable_chunked_prefill: true,
        long_prefill_token_threshold: 0,
        attention_break_even_len: 0,
    }
}

/// Wraps a model and counts its `forward` calls, independently of the runner's counter.
pub struct CountingModel {
    inner: Box<dyn Model>,
    calls: Arc<AtomicU64>,
}

impl Model for CountingModel {
    fn forward(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> candle_core::Result<Tensor> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.forward(input, kv_caches)
    }
    fn num_layers(&self) -> usize {
        self.inner.num_layers()
    }
    fn num_kv_heads(&self) -> usize {
        self.inner.num_kv_heads()
    }
    fn head_dim(&self) -> usize {
        self.inner.head_dim()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn max_model_len(&self) -> usize {
        self.inner.max_model_len()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
}

/// Scheduler + runner driven step by step, recording every batch, every sampled token
/// and every preemption it observes.
pub struct Engine {
    pub scheduler: Scheduler,
    pub runner: ModelRunner,
    /// `forward` calls that reached the model.
    pub model_calls: Arc<AtomicU64>,
    /// Every non-empty batch, in step order.
    pub batches: Vec<ScheduledBatch>,
    /// Sampled ids of every sequence, in order.
    pub outputs: HashMap<SeqId, Vec<u32>>,
    /// The bits of each sampled token's f32 logprob, in the same order as `outputs`.
    pub logprob_bits: HashMap<SeqId, Vec<u32>>,
    /// Every sampled token (with its logprobs) of every sequence, in order.
    pub tokens: HashMap<SeqId, Vec<SampledToken>>,
    /// Prompt logprobs delivered with a sequence's first token.
    pub prompt_logprobs: HashMap<SeqId, Vec<PromptLogprob>>,
    /// How each finished sequence ended.
    pub finished: HashMap<SeqId, FinishReason>,
    /// `(seq, outputs sampled so far)` for every preemption seen (running → waiting).
    pub preemptions: Vec<(SeqId, usize)>,
    /// `(seq, num_computed_tokens)` of batches where a sequence restarted below where its
    /// previous step had left it (recompute after preemption).
    pub recomputes: Vec<(SeqId, usize)>,
    statuses: HashMap<SeqId, SeqStatus>,
    /// `num_computed_tokens + token_ids.len()` of each sequence's last scheduled step.
    computed_end: HashMap<SeqId, usize>,
    next_id: u64,
}

impl Engine {
    /// Loads the `arch` golden checkpoint on the CPU behind a `CountingModel` and builds
    /// a runner with an f32 KV cache of the scheduler's shape.
    pub fn new(arch: &str, cfg: SchedulerConfig) -> Self {
        Self::load(&golden_dir(arch), cfg)
    }

    /// Like [`Self::new`] for the model at `path` (an HF folder or a `.gguf`).
    pub fn load(path: &Path, cfg: SchedulerConfig) -> Self {
        let inner = load_model(path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        Self::with_model(inner, cfg)
    }

    /// An engine over an already loaded model (batch-invariant kernels, f32 KV cache).
    pub fn with_model(inner: Box<dyn Model>, cfg: SchedulerConfig) -> Self {
        let model_calls = Arc::new(AtomicU64::new(0));
        let model = CountingModel { inner, calls: model_calls.clone() };
        let runner_cfg =
            RunnerConfig { block_size: cfg.block_size, num_blocks: cfg.num_blocks, kv_cache_dtype: DType::F32, batch_invariant: true };
        let runner = ModelRunner::new(Box::new(model), runner_cfg).expect("runner");
        Self {
            scheduler: Scheduler::new(cfg).expect("scheduler config"),
            runner,
            model_calls,
            batches: Vec::new(),
            outputs: HashMap::new(),
            logprob_bits: HashMap::new(),
            tokens: HashMap::new(),
            prompt_logprobs: HashMap::new(),
            finished: HashMap::new(),
            preemptions: Vec::new(),
            recomputes: Vec::new(),
            statuses: HashMap::new(),
            computed_end: HashMap::new(),
            next_id: 0,
        }
    }

    /// Submits `prompt` as a one-sequence request with `greedy_params()`.
    pub fn add(&mut self, prompt: &[u32]) -> SeqId {
        self.add_samples(prompt, &[greedy_params()])[0]
    }

    /// Submits `prompt` as one request with a sequence per entry of `params` (as the
    /// API splits `n > 1`); returns their ids in order.
    pub fn add_samples(&mut self, prompt: &[u32], params: &[SamplingParams]) -> Vec<SeqId> {
        self.next_id += 1;
        let request = RequestId(self.next_id);
        let mut seqs = Vec::new();
        for p in params {
            self.next_id += 1;
            seqs.push(SeqSpec { seq_id: SeqId(self.next_id), prompt_token_ids: prompt.into(), params: Arc::new(p.clone()) });
        }
        let ids = seqs.iter().map(|s| s.seq_id).collect();
        self.scheduler.add_request(Request { id: request, seqs, priority: 0 }).expect("add_request");
        ids
    }

    /// Submits `prompt` as a one-sequence request with `params`.
    pub fn add_with(&mut self, prompt: &[u32], params: SamplingParams) -> SeqId {
        self.next_id += 1;
        let seq_id = SeqId(self.next_id);
        let spec = SeqSpec { seq_id, prompt_token_ids: prompt.into(), params: Arc::new(params) };
        self.scheduler.add_request(Request { id: RequestId(self.next_id), seqs: vec![spec], priority: 0 }).expect("add_request");
        seq_id
    }

    /// One engine step: `schedule`, `execute`, `update`. Asserts that a non-empty batch
    /// costs exactly one forward pass (by the runner's counter and at the model), an empty
    /// one none, and that one token comes back per sampled sequence. Returns the batch.
    pub fn step(&mut self) -> ScheduledBatch {
        let batch = self.scheduler.schedule();
        self.observe(&batch);
        let passes = self.runner.forward_passes();
        let calls = self.model_calls.load(Ordering::SeqCst);
        let out = self.runner.execute(&batch).unwrap_or_else(|e| panic!("execute: {e:#}"));
        let expected = u64::from(!batch.is_empty());
        assert_eq!(self.runner.forward_passes() - passes, expected, "runner forward passes in step {}", self.batches.len());
        assert_eq!(self.model_calls.load(Ordering::SeqCst) - calls, expected, "model calls in step {}", self.batches.len());
        let sampled: Vec<SeqId> = batch.seqs.iter().filter(|s| s.sample.is_some()).map(|s| s.seq_id).collect();
        assert_eq!(out.sampled.iter().map(|t| t.seq_id).collect::<Vec<_>>(), sampled, "one token per sampled sequence");
        for update in self.scheduler.update(&out) {
            self.outputs.entry(update.seq_id).or_default().push(update.token.token_id);
            self.logprob_bits.entry(update.seq_id).or_default().push(update.token.logprob.to_bits());
            self.tokens.entry(update.seq_id).or_default().push(update.token.clone());
            if let Some(scores) = update.prompt_logprobs {
                self.prompt_logprobs.insert(update.seq_id, scores);
            }
            if let Some(reason) = update.finish {
                self.finished.insert(update.seq_id, reason);
            }
        }
        if !batch.is_empty() {
            self.batches.push(batch.clone());
        }
        batch
    }

    /// Steps until nothing is unfinished; panics after `max_steps` or on an empty batch
    /// while work is left (no progress).
    pub fn run_to_completion(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            if !self.scheduler.has_unfinished() {
                return;
            }
            let batch = self.step();
            assert!(!batch.is_empty(), "empty batch with unfinished sequences: no progress");
        }
        panic!("not finished after {max_steps} steps");
    }

    /// Asserts that `seq_id` finished by length with exactly `want` as its output ids.
    pub fn assert_output(&self, seq_id: SeqId, want: &[u32], what: &str) {
        assert_eq!(self.outputs.get(&seq_id).map(Vec::as_slice), Some(want), "{what}: greedy ids of {seq_id:?}");
        assert_eq!(self.finished.get(&seq_id), Some(&FinishReason::Length), "{what}: finish of {seq_id:?}");
    }

    /// Records preemptions (running → waiting) and recomputes visible in `batch`.
    fn observe(&mut self, batch: &ScheduledBatch) {
        for seq in self.scheduler.sequences() {
            let now = seq.status();
            let before = self.statuses.insert(seq.seq_id(), now);
            if before == Some(SeqStatus::Running) && now == SeqStatus::Waiting {
                self.preemptions.push((seq.seq_id(), seq.output().len()));
            }
        }
        for s in &batch.seqs {
            let end = s.num_computed_tokens + s.token_ids.len();
            if let Some(prev_end) = self.computed_end.insert(s.seq_id, end) {
                if s.num_computed_tokens < prev_end {
                    self.recomputes.push((s.seq_id, s.num_computed_tokens));
                }
            }
        }
    }
}

/// `per_arch! { test_mod => check_fn; ... }`: one `#[test]` per golden architecture,
/// `test_mod::{llama, qwen2, qwen3}`, each calling `check_fn(arch)`.
#[macro_export]
macro_rules! per_arch {
    ($($name:ident => $check:ident;)*) => {$(
        mod $name {
            #[test]
            fn llama() {
                super::$check("llama");
            }
            #[test]
            fn qwen2() {
                super::$check("qwen2");
            }
            #[test]
            fn qwen3() {
                super::$check("qwen3");
            }
        }
    )*};
}
