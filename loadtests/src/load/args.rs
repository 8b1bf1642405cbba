//! Command-line arguments of `ponder-bench load`.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;

use super::metrics::Slo;

/// Which OpenAI route to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/chat/completions` with `messages`; text in `choices[i].delta.{content,reasoning_content,reasoning}`.
    Chat,
    /// `/completions` with `prompt`; text in `choices[i].text`.
    Completions,
}

/// Where prompts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Generated prompts of about `--input-len` tokens, `--output-len` tokens generated.
    Synthetic,
    /// `--dataset-path`: one `{"prompt": str, "max_tokens"?: int}` per line.
    Jsonl,
    /// `--grpo-prompts` prompts × `--grpo-samples` samples each (prompts from
    /// `--dataset-path` when given, else synthetic).
    Grpo,
}

/// How arrival times are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Gamma-distributed gaps of mean 1/rate and shape `--burstiness` (1.0 = Poisson), as vLLM.
    Poisson,
    /// Exactly 1/rate seconds apart.
    Fixed,
}

/// Arguments of `ponder-bench load`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    pub base_url: String,
    /// Model name sent in requests (omitted when not given).
    #[arg(long)]
    pub model: Option<String>,
    /// Route to load.
    #[arg(long, value_enum, default_value_t = Endpoint::Chat)]
    pub endpoint: Endpoint,
    /// Prompt source.
    #[arg(long, value_enum, default_value_t = DatasetKind::Synthetic)]
    pub dataset: DatasetKind,
    /// JSONL of prompts (`--dataset jsonl`, optional for `grpo`).
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Number of requests (synthetic and jsonl; jsonl lines are reused cyclically when fewer).
    #[arg(long, default_value_t = 8)]
    pub num_prompts: usize,
    /// Synthetic prompt length in tokens (approximate: one common English word per token).
    #[arg(long, default_value_t = 256)]
    pub input_len: usize,
    /// `max_tokens` of each request (jsonl lines may override it).
    #[arg(long, visible_alias = "max-tokens", default_value_t = 128)]
    pub output_len: usize,
    /// Lengths drawn uniformly from [len·(1−r), len·(1+r)], as vLLM's random dataset.
    #[arg(long, default_value_t = 0.0)]
    pub range_ratio: f64,
    /// GRPO mode: number of distinct prompts P.
    #[arg(long, default_value_t = 8)]
    pub grpo_prompts: usize,
    /// GRPO mode: samples per prompt n, sent as one request with `n` (see `--grpo-split`).
    #[arg(long, default_value_t = 8)]
    pub grpo_samples: usize,
    /// GRPO mode: send n requests with `n = 1` per prompt instead of one with `n`.
    #[arg(long)]
    pub grpo_split: bool,
    /// Arrival rate in requests/s; `inf` sends every request at once (bounded by --max-concurrency).
    #[arg(long, default_value_t = f64::INFINITY)]
    pub request_rate: f64,
    /// Arrival process when the rate is finite.
    #[arg(long, value_enum, default_value_t = Arrival::Poisson)]
    pub arrival: Arrival,
    /// Gamma shape of inter-arrival gaps: 1.0 Poisson, <1 burstier, >1 more regular.
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Seed of arrival times and synthetic prompts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Requests in flight at once; a list (`1,8,32`) runs the load once per value.
    /// Unlimited when not given.
    #[arg(long, value_delimiter = ',')]
    pub max_concurrency: Vec<usize>,
    /// Send `ignore_eos: true` so every request generates exactly `max_tokens`.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Service-level objectives for goodput, in ms: `ttft=500,tpot=50` (keys ttft, tpot, e2el).
    #[arg(long, value_parser = Slo::parse)]
    pub slo: Option<Slo>,
    /// Write the report (every run, every request) as JSON to this file.
    #[arg(long)]
    pub output_json: Option<PathBuf>,
    /// Write `latency_cdf.png` (and `throughput_vs_concurrency.png` for several concurrencies) here.
    #[arg(long)]
    pub plot_dir: Option<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_s: u64,
    /// Prefill interference: each run also sends one synthetic prompt of about this
    /// many tokens, outside --max-concurrency and not counted in the run's metrics,
    /// and reports the ITL of the other streams while it is prefilled.
    #[arg(long)]
    pub long_prompt_len: Option<usize>,
    /// When the long prompt is sent, in s since each run started.
    #[arg(long, default_value_t = 5.0)]
    pub long_prompt_at: f64,
    /// `max_tokens` of the long prompt.
    #[arg(long, default_value_t = 8)]
    pub long_prompt_max_tokens: usize,
}
