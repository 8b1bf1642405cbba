//! Startup: resolve MODEL, load weights and tokenizer, size the KV cache, and start
//! the engine thread. Everything here runs before the listener opens.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use ponder_engine::{Scheduler, SchedulerConfig};
use ponder_models::tokenizer::TextTokenizer;
use ponder_runner::{num_blocks_for_memory, GrammarCompiler, ModelRunner, RunnerConfig};

use crate::cli::{KvCacheDtype, ServeArgs};
use crate::metrics::Metrics;
use crate::protocol::SamplingDefaults;
use crate::model_source::{self, ModelSource};
use crate::state::{AppState, CheckpointTarget};
use ponder_core::{spawn_engine, EngineCore};
use crate::thinking::BudgetSettings;

/// A loaded model with its engine thread running, ready to serve.
pub struct LoadedServer {
    pub state: Arc<AppState>,
    /// The engine thread; it ends when the last `EngineHandle` is dropped.
    pub engine_thread: JoinHandle<()>,
}

/// The compute device: CUDA device 0 with the `cuda` feature, else the CPU.
fn device() -> anyhow::Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Ok(Device::new_cuda(0).context("cannot open CUDA device 0")?)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}

/// `--long-prefill-token-threshold` on the CPU when the flag is not given: on 2 cores a
/// step of 64 prompt tokens at 4k context beside 8 decoding streams takes about 0.4 s
/// (128: 0.9 s, 256: 1.3 s median; docs/benchmarks.md, "A 4,000-token prompt arriving
/// among running streams"), and the long prompt's TTFT barely changes.
const CPU_LONG_PREFILL_TOKEN_THRESHOLD: usize = 64;

fn kv_dtype(flag: KvCacheDtype, device: &Device) -> DType {
    match flag {
        KvCacheDtype::Auto if device.is_cpu() => DType::F32,
        KvCacheDtype::Auto => DType::BF16,
        KvCacheDtype::F32 => DType::F32,
        KvCacheDtype::F16 => DType::F16,
        KvCacheDtype::Bf16 => DType::BF16,
    }
}

/// Loads everything `ponder serve` needs (blocking; seconds to minutes).
///
/// Errors: MODEL cannot be resolved or loaded, `--max-model-len` exceeds the model's
/// window, or the KV cache cannot hold one full-length sequence.
pub fn load(args: &ServeArgs) -> anyhow::Result<LoadedServer> {
    args.check_limits()?;
    let (source, stem) = model_source::resolve(args.model.as_deref())?;
    let device = device()?;
    tracing::info!(path = %source.path().display(), "loading model");
    let model = ponder_models::load_model(source.path(), &device)
        .with_context(|| format!("cannot load the model at {}", source.path().display()))?;
    let checkpoint = CheckpointTarget {
        format: ponder_models::model_format(source.path())?,
        config: ponder_models::load_config(source.path())?,
        device: device.clone(),
    };
    let tokenizer = Arc::new(load_tokenizer(&source)?);
    let max_model_len = match args.max_model_len {
        Some(n) if n > model.max_model_len() => {
            bail!("--max-model-len {n} exceeds the model's context window of {} tokens", model.max_model_len())
        }
        Some(0) => bail!("--max-model-len must be positive"),
        Some(n) => n,
        None => model.max_model_len(),
    };
    let dtype = kv_dtype(args.kv_cache_dtype, &device);
    let num_blocks = num_blocks_for_memory(
        usize::try_from(args.kv_cache_memory.0).unwrap_or(usize::MAX),
        model.num_layers(),
        model.num_kv_heads(),
        model.head_dim(),
        args.block_size,
        dtype,
    );
    if num_blocks * args.block_size < max_model_len {
        bail!(
            "a KV cache of {} holds {} blocks of {} tokens ({} tokens), less than --max-model-len {}: \
             raise --kv-cache-memory or lower --max-model-len",
            args.kv_cache_memory, num_blocks, args.block_size, num_blocks * args.block_size, max_model_len
        );
    }
    let vocab_size = model.vocab_size();
    let enable_chunked_prefill = !args.no_enable_chunked_prefill;
    // As vLLM: without chunked prefill a whole prompt must fit in one step.
    let max_num_batched_tokens =
        if enable_chunked_prefill { args.max_num_batched_tokens } else { args.max_num_batched_tokens.max(max_model_len) };
    let long_prefill_token_threshold =
        args.long_prefill_token_threshold.unwrap_or(if device.is_cpu() { CPU_LONG_PREFILL_TOKEN_THRESHOLD } else { 0 });
    tracing::info!(enable_chunked_prefill, max_num_batched_tokens, long_prefill_token_threshold, "scheduler step budget");
    let scheduler = Scheduler::new(SchedulerConfig {
        policy: args.scheduling_policy.into(),
        max_num_seqs: args.max_num_seqs,
        max_num_batched_tokens,
        block_size: args.block_size,
        num_blocks,
        max_model_len,
        eos_token_ids: tokenizer.eos_token_ids().to_vec(),
        enable_prefix_caching: !args.no_prefix_caching,
        enable_chunked_prefill,
        long_prefill_token_threshold,
        attention_break_even_len: checkpoint.config.attention_break_even_len(),
    })
    .context("invalid scheduler settings")?;
    let grammar = grammar_compiler(&tokenizer, vocab_size);
    let runner_cfg = RunnerConfig {
        block_size: args.block_size,
        num_blocks,
        kv_cache_dtype: dtype,
        batch_invariant: !args.no_batch_invariance,
    };
    let mut runner = ModelRunner::new(model, runner_cfg)?;
    if let Some(compiler) = &grammar {
        runner = runner.with_grammar_compiler(compiler.clone());
    }
    let metrics = Metrics::new().context("cannot register metrics")?;
    let weight_version = args.weight_version.clone().unwrap_or_else(|| stem.clone());
    let core_cfg = args.engine_config(weight_version);
    let (engine, engine_thread) = spawn_engine(EngineCore::new(scheduler, Box::new(runner), core_cfg))?;
    tracing::info!(num_blocks, max_model_len, ?dtype, "engine started");
    let thinking = BudgetSettings::new(&tokenizer, args.reasoning_effort_budgets, args.reasoning_budget_message.as_deref())
        .context("cannot tokenize the thinking tags or --reasoning-budget-message")?;
    let max_token_bytes = (0..tokenizer.vocab_size() as u32).map(|id| tokenizer.token_bytes(id).len()).max().unwrap_or(1);
    let state = AppState {
        model_name: args.served_model_name.clone().unwrap_or(stem),
        tokenizer,
        engine,
        metrics,
        max_model_len,
        kv_cache_tokens: num_blocks * args.block_size,
        vocab_size,
        defaults: SamplingDefaults { logprobs_mode: args.logprobs_mode.into(), ..crate::gen_config::sampling_defaults(source.folder()) },
        reasoning_field: args.reasoning_field,
        default_seed: args.seed,
        api_keys: args.api_keys()?,
        admin_api_key: args.admin_api_key.clone(),
        metrics_api_key: args.metrics_api_key.clone(),
        header_read_timeout: std::time::Duration::from_secs_f64(args.header_read_timeout),
        checkpoint,
        weight_update_lock: tokio::sync::Mutex::new(()),
        max_body_bytes: usize::try_from(args.max_body_bytes.0).unwrap_or(usize::MAX),
        max_token_bytes,
        draining: std::sync::atomic::AtomicBool::new(false),
        shutdown_timeout: std::time::Duration::from_secs_f64(args.shutdown_timeout),
        request_timeout: args.request_timeout.map(std::time::Duration::from_secs_f64),
        allowed_origins: args.allowed_origins.clone(),
        thinking,
        reasoning_parser: args.reasoning_parser,
        default_template_kwargs: args.default_chat_template_kwargs.clone().unwrap_or_default(),
        grammar,
        scheduling_policy: args.scheduling_policy.into(),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    };
    Ok(LoadedServer { state: Arc::new(state), engine_thread })
}

fn load_tokenizer(source: &ModelSource) -> anyhow::Result<TextTokenizer> {
    let tokenizer = match source {
        ModelSource::HfFolder(dir) => TextTokenizer::from_dir(dir),
        ModelSource::Gguf(file) => TextTokenizer::from_gguf(file),
    };
    tokenizer.with_context(|| format!("cannot load the tokenizer of {}", source.path().display()))
}

/// The structured-output compiler over the tokenizer's vocabulary (special tokens are
/// never produced by a grammar). `None`, with a warning, when the tokenizer has no EOS
/// or llguidance rejects the vocabulary: `response_format` requests then get a 400.
fn grammar_compiler(tokenizer: &TextTokenizer, vocab_size: usize) -> Option<Arc<GrammarCompiler>> {
    let Some(&eos) = tokenizer.eos_token_ids().first() else {
        tracing::warn!("the tokenizer has no EOS token: structured output is disabled");
        return None;
    };
    let bytes: Vec<Option<&[u8]>> = (0..tokenizer.vocab_size() as u32)
        .map(|id| (!tokenizer.is_special(id)).then(|| tokenizer.token_bytes(id)))
        .collect();
    match GrammarCompiler::new(&bytes, vocab_size.max(tokenizer.vocab_size()), eos) {
        Ok(compiler) => Some(Arc::new(compiler)),
        Err(e) => {
            tracing::warn!("structured output is disabled: {e:#}");
            None
        }
    }
}
