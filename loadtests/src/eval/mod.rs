//! `ponder-bench eval`: accuracy of a reasoning model on `{prompt, answer}` problems,
//! reported as DeepSeek-R1's paper does (pass@1 and cons@k over k samples per prompt).
//!
//! Each sample is one non-streaming chat completion with `n = 1` and its own seed
//! (`base + prompt_index·k + sample_index`), so a run is reproducible sample by
//! sample whatever the completion order. The answer is the last integer of
//! `message.content` (see [`answer`]); the reasoning is never read for it.

mod answer;
mod client;
mod dataset;
mod metrics;
pub(crate) mod plot;
mod report;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::ProgressBar;

use self::client::{Completion, Sampling};
use self::dataset::Problem;
use self::metrics::SampleRecord;
use self::report::Report;

/// Bins of the accuracy-against-reasoning-length plot.
const LENGTH_BINS: usize = 10;

/// Arguments of `ponder-bench eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    base_url: String,
    /// Model name sent in requests (omitted when not given).
    #[arg(long)]
    model: Option<String>,
    /// JSONL file of problems, one `{"prompt": str, "answer": int}` per line.
    #[arg(long)]
    dataset: PathBuf,
    /// Samples per prompt (k of pass@1 and cons@k).
    #[arg(long, short = 'k', default_value_t = 1)]
    num_samples: usize,
    /// Sampling temperature (the server's default when not given).
    #[arg(long)]
    temperature: Option<f64>,
    /// Nucleus sampling `top_p` (the server's default when not given).
    #[arg(long)]
    top_p: Option<f64>,
    /// `max_tokens` of each request (reasoning and answer together).
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    /// Base seed: sample j of prompt i is sent `seed + i·k + j`. No seed when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    max_concurrency: usize,
    /// Evaluate only the first N problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Write the report (with every sample) as JSON to this file.
    #[arg(long)]
    output_json: Option<PathBuf>,
    /// Draw accuracy against reasoning length as a PNG to this file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.max_concurrency == 0 || args.num_samples == 0 {
        bail!("--max-concurrency and --num-samples must be at least 1");
    }
    let problems = dataset::read(&args.dataset, args.limit)?;
    if problems.is_empty() {
        bail!("{} holds no problem", args.dataset.display());
    }
    let report = evaluate(&args, &problems).await?;
    report.print();
    if let Some(path) = &args.output_json {
        crate::progress::make_parent(path)?;
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        crate::progress::wrote(path);
    }
    if let Some(path) = &args.plot {
        crate::progress::make_parent(path)?;
        let title = format!("{}: accuracy vs reasoning length (k = {})", dataset_name(&args), args.num_samples);
        plot::draw(path, &report.accuracy_by_reasoning_length, report.metrics.pass_at_1, &title)?;
        crate::progress::wrote(path);
    }
    if report.failed == report.requests {
        bail!("no request completed");
    }
    Ok(())
}

/// Which sample a request is for.
#[derive(Debug, Clone, Copy)]
struct Job {
    prompt_index: usize,
    sample_index: usize,
    seed: Option<u64>,
}

/// Runs every sample of `problems` against the server and builds the report.
async fn evaluate(args: &EvalArgs, problems: &[Problem]) -> anyhow::Result<Report> {
    let client = crate::http::client(args.timeout_s)?;
    let url = format!("{}/chat/completions", args.base_url.trim_end_matches('/'));
    let sampling = Sampling {
        model: args.model.clone(),
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
    };
    let k = args.num_samples;
    let jobs: Vec<Job> = (0..problems.len())
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| Job {
            prompt_index: i,
            sample_index: j,
            seed: args.seed.map(|s| s.wrapping_add((i * k + j) as u64)),
        })
        .collect();
    let progress = progress_bar(jobs.len());
    let start = Instant::now();
    let mut samples: Vec<SampleRecord> = futures::stream::iter(jobs)
        .map(|job| {
            let problem = &problems[job.prompt_index];
            let body = client::request_body(&sampling, &problem.prompt, job.seed);
            let (client, url, progress) = (client.clone(), url.clone(), progress.clone());
            async move {
                let result = client::complete(&client, &url, &body).await;
                progress.inc(1);
                if let Err(e) = &result {
                    progress.suspend(|| {
                        eprintln!("request failed (prompt {}, sample {}): {e:#}", job.prompt_index, job.sample_index)
                    });
                }
                record(job, problem.answer, result)
            }
        })
        .buffer_unordered(args.max_concurrency)
        .collect()
        .await;
    let duration_s = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    samples.sort_by_key(|s| (s.prompt_index, s.sample_index));
    Ok(build_report(args, problems, samples, duration_s))
}

/// The record of one sample: its answer is the last number of the content only.
fn record(job: Job, reference: i64, result: anyhow::Result<Completion>) -> SampleRecord {
    let (completion, error) = match result {
        Ok(c) => (c, None),
        Err(e) => (Completion::default(), Some(format!("{e:#}"))),
    };
    let extracted_answer = completion.content.as_deref().and_then(answer::extract_final_number);
    SampleRecord {
        prompt_index: job.prompt_index,
        sample_index: job.sample_index,
        seed: job.seed,
        extracted_answer,
        correct: extracted_answer == Some(reference),
        reasoning_tokens: completion.reasoning_tokens,
        answer_tokens: completion.answer_tokens(),
        unclosed_think: completion.unclosed_think(),
        finish_reason: completion.finish_reason,
        error,
    }
}

fn build_report(args: &EvalArgs, problems: &[Problem], samples: Vec<SampleRecord>, duration_s: f64) -> Report {
    let references: Vec<i64> = problems.iter().map(|p| p.answer).collect();
    let metrics = metrics::aggregate(&samples, &references, args.num_samples);
    let total_output_tokens = samples.iter().map(|s| s.reasoning_tokens + s.answer_tokens).sum();
    let lengths: Vec<(u64, bool)> =
        samples.iter().filter(|s| s.succeeded()).map(|s| (s.reasoning_tokens, s.correct)).collect();
    Report {
        base_url: args.base_url.clone(),
        model: args.model.clone(),
        dataset: args.dataset.display().to_string(),
        num_prompts: problems.len(),
        k: args.num_samples,
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        seed: args.seed,
        max_concurrency: args.max_concurrency,
        requests: samples.len(),
        failed: samples.iter().filter(|s| !s.succeeded()).count(),
        duration_s,
        total_output_tokens,
        output_throughput_tok_s: total_output_tokens as f64 / duration_s.max(1e-9),
        metrics,
        accuracy_by_reasoning_length: plot::length_bins(&lengths, LENGTH_BINS),
        samples,
    }
}

/// A bar on stderr (a line every 5 s when stderr is not a terminal).
fn progress_bar(total: usize) -> ProgressBar {
    crate::progress::bar(total, "samples", "{elapsed_precise} [{bar:40}] {pos}/{len} samples  {per_sec}  eta {eta}")
}

fn dataset_name(args: &EvalArgs) -> String {
    args.dataset.file_name().map_or_else(|| args.dataset.display().to_string(), |n| n.to_string_lossy().into_owned())
}
