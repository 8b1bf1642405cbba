//! Command line: `ponder serve [MODEL] [flags]`, flag names as in vLLM.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::protocol::ReasoningField;
use crate::thinking::EffortBudgets;
use crate::units::ByteSize;

/// ponder: an OpenAI-compatible inference server for reasoning models.
#[derive(Debug, Parser)]
#[command(name = "ponder", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a model and serve the OpenAI API over HTTP.
    Serve(ServeArgs),
}

/// Data type of the paged KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KvCacheDtype {
    /// f32 on CPU, bf16 on CUDA.
    Auto,
    F32,
    F16,
    Bf16,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `ponder serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A local Hugging Face model folder, a `.gguf` file, or a Hugging Face repo id.
    /// Default: the tiny reasoner embedded in the binary (`models/assets/tiny-reasoner`).
    pub model: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Name listed by /v1/models and accepted as `model` (default: the folder or file stem).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Context window in tokens (default: the model's).
    #[arg(long)]
    pub max_model_len: Option<usize>,
    /// Most sequences in one batch.
    #[arg(long, default_value_t = 64)]
    pub max_num_seqs: usize,
    /// Most tokens computed in one engine step (prefill chunks plus decodes).
    #[arg(long, default_value_t = 2048)]
    pub max_num_batched_tokens: usize,
    /// Tokens per KV-cache block.
    #[arg(long, default_value_t = 16)]
    pub block_size: usize,
    /// Memory for the KV cache, e.g. `512MiB`, `1GiB`, `1073741824`.
    #[arg(long, default_value = "1GiB")]
    pub kv_cache_memory: ByteSize,
    #[arg(long, value_enum, default_value_t = KvCacheDtype::Auto)]
    pub kv_cache_dtype: KvCacheDtype,
    /// Seed of requests that send none (default: a random seed per request).
    #[arg(long)]
    pub seed: Option<u64>,
    /// JSON name(s) of the reasoning text.
    #[arg(long, value_enum, default_value_t = ReasoningField::ReasoningContent)]
    pub reasoning_field: ReasoningField,
    /// Disable automatic prefix caching.
    #[arg(long)]
    pub no_prefix_caching: bool,
    /// Prefill every prompt whole in one step instead of in chunks under
    /// `--max-num-batched-tokens` (which is then raised to at least the context window).
    /// Running streams stall while a long prompt is prefilled; for measurements.
    #[arg(long)]
    pub no_enable_chunked_prefill: bool,
    /// Most tokens of one long prompt computed per step while other sequences decode
    /// (vLLM's flag; 0: only `--max-num-batched-tokens` limits it). Default: 0 on a
    /// GPU; on the CPU 64, so that a step beside running streams stays short (a
    /// 4,000-token prompt would otherwise stall them for seconds per 2,048-token chunk).
    /// Cost-aware, unlike vLLM's: a chunk may take as long as the prompt's last N
    /// tokens take, so early chunks, whose attention spans less context, hold more
    /// tokens (the model's weight matmuls and attention are weighed from its config).
    #[arg(long)]
    pub long_prefill_token_threshold: Option<usize>,
    /// Let the CPU kernels choose reduction orders by batch shape (f32 GEMM for
    /// prefills of 64+ rows, split-K by the number of work items): faster prefill, but
    /// a seeded request's tokens and logprobs may then change with what shares its
    /// steps. By default every row is computed batch-invariantly.
    #[arg(long)]
    pub no_batch_invariance: bool,
    /// What returned `logprobs` describe when a request sends no `logprobs_mode` (vLLM's
    /// flag): `raw_logprobs` (log-softmax of the model's logits) or `processed_logprobs`
    /// (of the logits the token was drawn from, after penalties, bias, grammar mask,
    /// temperature and top-k/top-p/min-p).
    #[arg(long, value_enum, default_value_t = LogprobsModeArg::RawLogprobs)]
    pub logprobs_mode: LogprobsModeArg,
    /// Require `Authorization: Bearer <key>` on the user routes; repeat the flag for
    /// several keys (each one accepted).
    #[arg(long, env = "PONDER_API_KEY", hide_env_values = true)]
    pub api_key: Vec<String>,
    /// A file of API keys, one per line (blank lines and `#` comments skipped), added
    /// to `--api-key`.
    #[arg(long)]
    pub api_key_file: Option<std::path::PathBuf>,
    /// Origins a browser page may call the API from (CORS), comma-separated, e.g.
    /// `https://ui.example.com`; `*` allows any. Default: none (no CORS headers).
    #[arg(long, value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Enables the admin routes (`/update_weights_from_disk`, `/pause`, `/resume`,
    /// `/abort_requests`, `/reset_prefix_cache`, ...) behind `Authorization: Bearer <key>`;
    /// without it they are 404. Separate from `--api-key`.
    #[arg(long, env = "PONDER_ADMIN_API_KEY", hide_env_values = true)]
    pub admin_api_key: Option<String>,
    /// Require `Authorization: Bearer <key>` on `/metrics`, `/health`, `/ready` and
    /// `/version` (open by default, as probes and Prometheus expect). Separate from the
    /// other keys.
    #[arg(long, env = "PONDER_METRICS_API_KEY", hide_env_values = true)]
    pub metrics_api_key: Option<String>,
    /// Most requests waiting for their first step (queued, or held while paused); past
    /// it a request gets a 429 with `Retry-After`. Default: 4 × `--max-num-seqs`.
    #[arg(long)]
    pub max_waiting_requests: Option<usize>,
    /// Seconds a request may wait for its first engine step (queued behind others, or
    /// held while generation is paused); past it the request ends with a 503 and
    /// `Retry-After` (streams: a final error event). Default: no limit.
    #[arg(long)]
    pub max_queue_time: Option<f64>,
    /// Generated tokens a streaming client may leave unread (its socket full) before
    /// its stall clock starts; see `--stream-stall-timeout`.
    #[arg(long, default_value_t = 1024)]
    pub stream_buffer_tokens: usize,
    /// Seconds a streaming client may stay `--stream-buffer-tokens` behind; then its
    /// request is aborted in the engine (its blocks freed, no more steps spent on it).
    #[arg(long, default_value_t = 30.0)]
    pub stream_stall_timeout: f64,
    /// Seconds a client has to send a request's headers once it connected (or between
    /// two requests of a kept-alive connection); then the connection is closed.
    #[arg(long, default_value_t = 30.0)]
    pub header_read_timeout: f64,
    /// Version name of the weights loaded at start-up (default: the model's folder or
    /// file name); `/update_weights_from_disk` sets a new one.
    #[arg(long)]
    pub weight_version: Option<String>,
    /// Seconds a request may take from arrival to its last token (queueing included);
    /// past it the request is aborted in the engine and answered with a 408 (streams:
    /// a final error event, then `[DONE]`). A client's `X-Stainless-Timeout` header
    /// (the OpenAI SDKs send their timeout there) shortens it. Default: no limit.
    #[arg(long)]
    pub request_timeout: Option<f64>,
    /// Log lines as `text` or `json` (one object per line). Every finished request logs
    /// one `info` line: id, status, token counts, reasoning tokens, TTFT and duration
    /// (never the prompt, the output or a key).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds a shutdown (SIGTERM or SIGINT) lets running requests finish before it
    /// aborts the rest; new requests get a 503 meanwhile. A second signal exits at once.
    #[arg(long, default_value_t = 30.0)]
    pub shutdown_timeout: f64,
    /// Largest accepted request body (a 128k-token prompt is under 1 MiB as text or ids).
    #[arg(long, default_value = "4MiB")]
    pub max_body_bytes: ByteSize,
    /// Reasoning tokens allowed per `reasoning_effort`, e.g. `low=512,medium=2048,high=none`.
    #[arg(long, default_value = "low=512,medium=2048,high=none")]
    pub reasoning_effort_budgets: EffortBudgets,
    /// Text forced before `</think>` when a thinking budget is spent (default: none).
    #[arg(long)]
    pub reasoning_budget_message: Option<String>,
    /// How reasoning is split from the answer: `auto` (by id when the tokenizer has
    /// think tokens, else by text; starts inside reasoning when the prompt opened a think
    /// block), `deepseek_r1` (output always starts inside reasoning, as vLLM's parser),
    /// `qwen3` (like auto), `none` (no split: everything is `content`).
    #[arg(long, value_enum, default_value_t = ReasoningParser::Auto)]
    pub reasoning_parser: ReasoningParser,
    /// `fcfs` (first come, first served) or `priority` (request field `priority`, lower
    /// first; the highest value is preempted first).
    #[arg(long, value_enum, default_value_t = SchedulingPolicyArg::Fcfs)]
    pub scheduling_policy: SchedulingPolicyArg,
    /// JSON object of chat template variables applied to every request, e.g.
    /// `{"enable_thinking": false}`; a request's `chat_template_kwargs` override them.
    #[arg(long, value_parser = parse_json_object)]
    pub default_chat_template_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ServeArgs {
    /// Errors naming the flag when a scheduler limit is 0 (checked before the model loads).
    pub fn check_limits(&self) -> anyhow::Result<()> {
        for (flag, value) in [
            ("--block-size", self.block_size),
            ("--max-num-seqs", self.max_num_seqs),
            ("--max-num-batched-tokens", self.max_num_batched_tokens),
        ] {
            anyhow::ensure!(value > 0, "{flag} must be at least 1");
        }
        anyhow::ensure!(self.max_waiting_requests != Some(0), "--max-waiting-requests must be at least 1");
        anyhow::ensure!(
            self.request_timeout.is_none_or(|t| t.is_finite() && t > 0.0),
            "--request-timeout must be a number of seconds > 0"
        );
        anyhow::ensure!(
            self.max_queue_time.is_none_or(|t| t.is_finite() && t > 0.0),
            "--max-queue-time must be a number of seconds > 0"
        );
        for (flag, seconds) in [
            ("--shutdown-timeout", self.shutdown_timeout),
            ("--stream-stall-timeout", self.stream_stall_timeout),
            ("--header-read-timeout", self.header_read_timeout),
        ] {
            anyhow::ensure!(seconds.is_finite() && seconds >= 0.0, "{flag} must be a number of seconds >= 0");
        }
        anyhow::ensure!(self.header_read_timeout > 0.0, "--header-read-timeout must be > 0");
        anyhow::ensure!(self.stream_buffer_tokens > 0, "--stream-buffer-tokens must be at least 1");
        for (flag, key) in [("--admin-api-key", &self.admin_api_key), ("--metrics-api-key", &self.metrics_api_key)] {
            anyhow::ensure!(key.as_deref().is_none_or(|k| !k.trim().is_empty()), "{flag} must not be empty");
        }
        Ok(())
    }

    /// Every API key: `--api-key` flags, then the lines of `--api-key-file`.
    ///
    /// Errors: the file cannot be read, or a key is empty.
    pub fn api_keys(&self) -> anyhow::Result<Vec<String>> {
        let mut keys = self.api_key.clone();
        if let Some(path) = &self.api_key_file {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--api-key-file {}: {e}", path.display()))?;
            keys.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
        }
        anyhow::ensure!(keys.iter().all(|k| !k.trim().is_empty()), "--api-key must not be empty");
        Ok(keys)
    }

    /// The engine core's admission and deadline settings.
    pub fn engine_config(&self, weight_version: String) -> ponder_core::EngineConfig {
        ponder_core::EngineConfig {
            max_queue_time: self.max_queue_time.map(std::time::Duration::from_secs_f64),
            stream_buffer_events: self.stream_buffer_tokens,
            stream_stall_timeout: std::time::Duration::from_secs_f64(self.stream_stall_timeout),
            ..ponder_core::EngineConfig::new(weight_version, self.max_waiting_requests())
        }
    }

    /// `--max-waiting-requests`, or its default of 4 × `--max-num-seqs`.
    pub fn max_waiting_requests(&self) -> usize {
        self.max_waiting_requests.unwrap_or(self.max_num_seqs.saturating_mul(4))
    }
}

/// `--scheduling-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulingPolicyArg {
    Fcfs,
    Priority,
}

impl From<SchedulingPolicyArg> for ponder_engine::SchedulingPolicy {
    fn from(arg: SchedulingPolicyArg) -> Self {
        match arg {
            SchedulingPolicyArg::Fcfs => Self::Fcfs,
            SchedulingPolicyArg::Priority => Self::Priority,
        }
    }
}

/// `--reasoning-parser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReasoningParser {
    Auto,
    #[value(name = "deepseek_r1")]
    DeepseekR1,
    Qwen3,
    None,
}

fn parse_json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// `${PONDER_CACHE:-$HOME/.cache/ponder}`: where scripts/fetch-assets puts test assets.
pub fn asset_cache_dir() -> PathBuf {
    match std::env::var_os("PONDER_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
            home.join(".cache").join("ponder")
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["ponder", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => a,
        }
    }

    #[test]
    fn zero_scheduler_limits_are_errors_naming_the_flag() {
        assert!(serve(&[]).check_limits().is_ok());
        for flag in ["--block-size", "--max-num-seqs", "--max-num-batched-tokens"] {
            let err = serve(&[flag, "0"]).check_limits().unwrap_err().to_string();
            assert_eq!(err, format!("{flag} must be at least 1"));
        }
        assert!(!serve(&[]).no_enable_chunked_prefill);
        assert!(serve(&["--no-enable-chunked-prefill"]).no_enable_chunked_prefill);
        assert!(!serve(&[]).no_batch_invariance);
        assert!(serve(&["--no-batch-invariance"]).no_batch_invariance);
    }

    #[test]
    fn the_reasoning_field_takes_the_json_names() {
        assert_eq!(serve(&["--reasoning-field", "reasoning_content"]).reasoning_field, ReasoningField::ReasoningContent);
        assert_eq!(serve(&["--reasoning-field", "reasoning"]).reasoning_field, ReasoningField::Reasoning);
        assert_eq!(serve(&["--reasoning-field", "both"]).reasoning_field, ReasoningField::Both);
    }

    #[test]
    fn reasoning_flags_parse_and_bad_values_are_usage_errors() {
        let a = serve(&[
            "--reasoning-parser",
            "deepseek_r1",
            "--default-chat-template-kwargs",
            r#"{"enable_thinking": false}"#,
            "--reasoning-effort-budgets",
            "low=8",
            "--reasoning-budget-message",
            "Time to answer.",
        ]);
        assert_eq!(a.reasoning_parser, ReasoningParser::DeepseekR1);
        assert_eq!(a.default_chat_template_kwargs.unwrap()["enable_thinking"], false);
        assert_eq!(a.reasoning_effort_budgets.low, Some(8));
        assert_eq!(a.reasoning_budget_message.as_deref(), Some("Time to answer."));
        assert_eq!(serve(&[]).reasoning_parser, ReasoningParser::Auto);
        for bad in [
            &["--default-chat-template-kwargs", "[1]"][..],
            &["--default-chat-template-kwargs", "{"],
            &["--reasoning-parser", "r2"],
            &["--reasoning-effort-budgets", "low=x"],
        ] {
            let mut argv = vec!["ponder", "serve"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn defaults_follow_the_api_contract() {
        let a = serve(&[]);
        assert_eq!(a.model, None);
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 8000));
        assert_eq!((a.max_num_seqs, a.max_num_batched_tokens, a.block_size), (64, 2048, 16));
        assert_eq!(a.kv_cache_memory, ByteSize(1 << 30));
        assert_eq!(a.kv_cache_dtype, KvCacheDtype::Auto);
        assert_eq!(a.reasoning_field, ReasoningField::ReasoningContent);
        assert!(!a.no_prefix_caching);
    }

    #[test]
    fn flags_parse_with_vllm_names_and_units() {
        let a = serve(&[
            "/m/model.gguf", "--port", "9000", "--served-model-name", "x", "--max-model-len", "4096",
            "--kv-cache-memory", "512MiB", "--kv-cache-dtype", "bf16", "--seed", "3",
            "--reasoning-field", "both", "--no-prefix-caching", "--api-key", "k", "--max-body-bytes", "1MiB",
        ]);
        assert_eq!(a.model.as_deref(), Some("/m/model.gguf"));
        assert_eq!((a.port, a.max_model_len, a.seed), (9000, Some(4096), Some(3)));
        assert_eq!(a.kv_cache_memory, ByteSize(512 << 20));
        assert_eq!(a.kv_cache_dtype, KvCacheDtype::Bf16);
        assert_eq!(a.reasoning_field, ReasoningField::Both);
        assert_eq!((a.api_key.as_slice(), a.max_body_bytes), (&["k".to_owned()][..], ByteSize(1 << 20)));
        assert!(a.no_prefix_caching);
    }

    #[test]
    fn a_bad_byte_size_is_a_usage_error() {
        assert!(Cli::try_parse_from(["ponder", "serve", "--kv-cache-memory", "lots"]).is_err());
    }

}

/// `--logprobs-mode` values, vLLM's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogprobsModeArg {
    #[value(name = "raw_logprobs")]
    RawLogprobs,
    #[value(name = "processed_logprobs")]
    ProcessedLogprobs,
}

impl From<LogprobsModeArg> for ponder_engine::LogprobsMode {
    fn from(mode: LogprobsModeArg) -> Self {
        match mode {
            LogprobsModeArg::RawLogprobs => Self::RawLogprobs,
            LogprobsModeArg::ProcessedLogprobs => Self::ProcessedLogprobs,
        }
    }
}
