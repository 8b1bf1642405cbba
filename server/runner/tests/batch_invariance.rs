//! Batch invariance through the real engine loop (`Scheduler` + `ModelRunner`): a
//! seeded request sampled at temperature 1.0 with top-p gets bit-identical token ids
//! and f32 logprobs whatever happens around it — other requests of other lengths in
//! its steps, its prompt prefilled in chunks or whole, its prefix served from the
//! prefix cache or computed, preempted and recomputed, or as sample `j` of an `n = 8`
//! request seeded `seed - j .. seed - j + 7` instead of a request of its own.
//!
//! A proptest with a fixed seed draws the scenario; the reference is the same request
//! alone in a fresh engine, prefilled whole, without prefix cache. Models: the f32
//! golden Llama / Qwen2 / Qwen3 checkpoints and the tiny reasoner (dense weights,
//! `ponder_kernels::matmul_t`), and SmolLM2 Q4_1 (quantized block kernels) when
//! `scripts/fetch-assets` has fetched it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use common::engine::{golden_dir, Engine};
use ponder_engine::{SamplingParams, SchedulerConfig, SchedulingPolicy, SeqId};
use ponder_models::{load_model, Model, ModelInput};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// One loaded model shared by every engine of a test (a model load per case would
/// dominate the run time).
#[derive(Clone)]
struct Shared(Arc<dyn Model>);

impl Model for Shared {
    fn forward(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> candle_core::Result<Tensor> {
        self.0.forward(input, kv_caches)
    }
    fn num_layers(&self) -> usize {
        self.0.num_layers()
    }
    fn num_kv_heads(&self) -> usize {
        self.0.num_kv_heads()
    }
    fn head_dim(&self) -> usize {
        self.0.head_dim()
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn max_model_len(&self) -> usize {
        self.0.max_model_len()
    }
    fn device(&self) -> &Device {
        self.0.device()
    }
}

/// A request: its prompt, output length and seed.
#[derive(Debug, Clone)]
struct Req {
    prompt: Vec<u32>,
    max_tokens: usize,
    seed: u64,
}

/// How the target request meets the engine.
#[derive(Debug, Clone)]
struct Scenario {
    target: Req,
    /// Requests submitted with it (before it, in this order).
    others: Vec<Req>,
    /// `Some(j)`: the target is sample `j` of an `n = 8` request (seeds `seed - j + i`).
    sample_of_eight: Option<usize>,
    /// `Some(k)`: a request whose prompt starts with the target's first `k` tokens runs
    /// to completion first (its blocks stay in the prefix cache).
    warm_prefix: Option<usize>,
    /// The per-step token budget (chunk size of the prefills).
    max_num_batched_tokens: usize,
    block_size: usize,
    /// KV blocks: few enough to force preemptions in some cases.
    num_blocks: usize,
    enable_prefix_caching: bool,
}

fn params(seed: u64, max_tokens: usize) -> SamplingParams {
    SamplingParams { temperature: 1.0, top_p: 0.9, max_tokens, ignore_eos: true, seed, ..SamplingParams::default() }
}

fn config(s: &Scenario, max_model_len: usize) -> SchedulerConfig {
    SchedulerConfig {
        policy: SchedulingPolicy::Fcfs,
        max_num_seqs: 64,
        max_num_batched_tokens: s.max_num_batched_tokens,
        block_size: s.block_size,
        num_blocks: s.num_blocks.max(max_model_len.div_ceil(s.block_size)),
        max_model_len,
        eos_token_ids: Vec::new(),
        enable_prefix_caching: s.enable_prefix_caching,
        enable_chunked_prefill: true,
        long_prefill_token_threshold: 0,
        attention_break_even_len: 0,
    }
}

/// The target's `(ids, logprob bits)` in a fresh engine built for `s`, and how many
/// preemptions the run saw.
fn run(model: &Shared, s: &Scenario, max_model_len: usize) -> ((Vec<u32>, Vec<u32>), usize) {
    let mut engine = Engine::with_model(Box::new(model.clone()), config(s, max_model_len));
    let t = &s.target;
    if let Some(k) = s.warm_prefix {
        let mut prompt = t.prompt[..k].to_vec();
        prompt.extend([3, 1, 4, 1, 5]);
        engine.add_samples(&prompt, &[params(t.seed ^ 0xABCD, 2)]);
        engine.run_to_completion(10_000);
    }
    for o in &s.others {
        engine.add_samples(&o.prompt, &[params(o.seed, o.max_tokens)]);
    }
    let target: SeqId = match s.sample_of_eight {
        Some(j) => {
            let base = t.seed.wrapping_sub(j as u64);
            let all: Vec<SamplingParams> = (0..8).map(|i| params(base.wrapping_add(i), t.max_tokens)).collect();
            engine.add_samples(&t.prompt, &all)[j]
        }
        None => engine.add_samples(&t.prompt, &[params(t.seed, t.max_tokens)])[0],
    };
    engine.run_to_completion(10_000);
    let ids = engine.outputs.remove(&target).expect("target ran");
    let bits = engine.logprob_bits.remove(&target).expect("target ran");
    assert_eq!(ids.len(), t.max_tokens);
    ((ids, bits), engine.preemptions.len())
}

fn prompt(vocab: u32, max_len: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0..vocab, 1..=max_len)
}

fn req(vocab: u32, max_prompt: usize, max_tokens: usize) -> impl Strategy<Value = Req> {
    (prompt(vocab, max_prompt), 1..=max_tokens, any::<u64>()).prop_map(|(prompt, max_tokens, seed)| Req { prompt, max_tokens, seed })
}

/// Scenarios for a model with `vocab` tokens: prompts up to `max_prompt` tokens,
/// outputs up to `max_tokens`.
fn scenarios(vocab: u32, max_prompt: usize, max_tokens: usize) -> impl Strategy<Value = Scenario> {
    let target = req(vocab, max_prompt, max_tokens);
    let others = prop::collection::vec(req(vocab, max_prompt, max_tokens), 0..12);
    let shape = (
        prop::option::weighted(0.3, 0..8usize),
        prop::sample::select(vec![7usize, 16, 64, 4096]),
        prop::sample::select(vec![4usize, 16]),
        prop::bool::ANY,
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.4),
    );
    (target, others, shape).prop_map(move |(target, others, (sample, budget, block_size, cache, warm, tight))| {
        let longest = (max_prompt + max_tokens).div_ceil(block_size);
        // A tight cache holds the longest sequence and little more: preemptions.
        let num_blocks = if tight { longest + 2 } else { (others.len() + 10) * longest };
        let warm_prefix = (warm && cache && target.prompt.len() > 1).then(|| target.prompt.len().div_ceil(2));
        Scenario {
            sample_of_eight: sample,
            warm_prefix,
            max_num_batched_tokens: budget,
            block_size,
            num_blocks,
            enable_prefix_caching: cache,
            target,
            others,
        }
    })
}

/// Runs `cases` scenarios on the model at `path` and checks each against the target
/// alone. Returns the number of scenarios that saw a preemption.
fn check_model(path: &Path, cases: u32, max_prompt: usize, max_tokens: usize, max_model_len: usize) -> usize {
    let model = Shared(Arc::from(load_model(path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))));
    let vocab = model.vocab_size().min(50_000) as u32;
    let config = Config { cases, rng_seed: RngSeed::Fixed(0x5EED), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let preempted = std::cell::Cell::new(0);
    let result = runner.run(&scenarios(vocab, max_prompt, max_tokens), |s| {
        let alone = Scenario {
            others: Vec::new(),
            sample_of_eight: None,
            warm_prefix: None,
            max_num_batched_tokens: 4096,
            num_blocks: (max_prompt + max_tokens).div_ceil(s.block_size) + 2,
            enable_prefix_caching: false,
            ..s.clone()
        };
        let (want, _) = run(&model, &alone, max_model_len);
        let (got, preemptions) = run(&model, &s, max_model_len);
        preempted.set(preempted.get() + usize::from(preemptions > 0));
        if got.0 != want.0 {
            return Err(TestCaseError::fail(format!("token ids {:?} vs alone {:?}", got.0, want.0)));
        }
        if got.1 != want.1 {
            return Err(TestCaseError::fail(format!("logprob bits {:x?} vs alone {:x?}", got.1, want.1)));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", path.display());
    }
    preempted.get()
}

/// Golden checkpoints: prompts up to 40 tokens, 12 new tokens (context 52 < 64).
#[test]
fn seeded_samples_are_bit_identical_to_the_request_alone_on_the_golden_models() {
    let mut preempted = 0;
    for arch in ["llama", "qwen2", "qwen3"] {
        preempted += check_model(&golden_dir(arch), 24, 40, 12, 64);
    }
    assert!(preempted > 0, "some scenario must preempt the target or its neighbours");
}

#[test]
fn seeded_samples_are_bit_identical_to_the_request_alone_on_the_tiny_reasoner() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner");
    check_model(&path, 6, 120, 8, 512);
}

/// SmolLM2 Q4_1 (prompts up to 300 tokens: contexts cross the attention kernel's
/// 256-position partitions). Ignored for now: it ran past 200 s on the shared 2-core
/// machine and has not been seen to finish yet (`cargo test -- --ignored`).
#[test]
#[ignore = "slow on 2 cores; not yet seen to pass"]
fn seeded_samples_are_bit_identical_to_the_request_alone_on_smollm2_q4_1() {
    let cache = std::env::var_os("PONDER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ponder")))
        .expect("PONDER_CACHE or HOME must be set");
    let path = cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-assets", path.display());
    check_model(&path, 6, 300, 8, 1024);
}
