//! `ponder-bench load`: open-loop load against an OpenAI-compatible server, as
//! vLLM's `vllm bench serve`.
//!
//! Requests arrive at the times of [`arrivals`] (all at once for an infinite rate);
//! each waits for a slot under `--max-concurrency`, then is sent and timed from that
//! moment. Metrics are defined in [`metrics`]. With a list of concurrencies the whole
//! load runs once per value, and a row per value is printed and plotted.
//!
//! With `--long-prompt-len` each run also sends one long prompt at `--long-prompt-at`
//! s, outside the concurrency limit and outside the run's metrics, and reports the ITL
//! of the other streams while it is prefilled against their ITL otherwise (see
//! [`interference`]): the stall that chunked prefill is meant to remove.

mod args;
mod arrivals;
mod dataset;
mod interference;
mod metrics;
mod plot;
mod report;
mod request;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use tokio::sync::Semaphore;

pub use self::args::LoadArgs;
use self::dataset::RequestSpec;
use self::interference::LongPrompt;
use self::metrics::{Failure, RunOutcome};
use self::report::Report;
use self::request::BodySettings;

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.num_prompts == 0 || args.max_concurrency.contains(&0) {
        bail!("--max-concurrency and --num-prompts must be at least 1");
    }
    let long_prompt = LongPrompt::from_args(&args)?;
    let specs = dataset::build(&args)?;
    let arrivals = arrivals::arrival_offsets(specs.len(), args.request_rate, args.arrival, args.burstiness, args.seed)?;
    let limits: Vec<Option<usize>> =
        if args.max_concurrency.is_empty() { vec![None] } else { args.max_concurrency.iter().map(|c| Some(*c)).collect() };
    let mut runs = Vec::new();
    for (run_index, limit) in limits.into_iter().enumerate() {
        let long_prompt = long_prompt.map(|lp| (lp, run_index));
        let outcome = run_once(&args, &specs, &arrivals, limit, long_prompt).await?;
        let run = metrics::summarize(outcome, limit, args.request_rate, args.slo);
        report::print_run(&args, &run);
        runs.push(run);
    }
    let report = Report::new(&args, runs);
    if report.runs.len() > 1 {
        report::print_table(&report.runs);
    }
    if let Some(path) = &args.output_json {
        crate::progress::make_parent(path)?;
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
        crate::progress::wrote(path);
    }
    if let Some(dir) = &args.plot_dir {
        plot::draw_all(dir, &report.runs, args.slo)?;
        crate::progress::wrote(dir);
    }
    if report.runs.iter().all(|r| r.completed == 0) {
        bail!("no request completed");
    }
    Ok(())
}

/// Sends every request of `specs` at its arrival time under the concurrency `limit`,
/// and the long prompt of run `run_index` (0-based in the sweep) when given.
async fn run_once(
    args: &LoadArgs,
    specs: &[RequestSpec],
    arrivals: &[f64],
    limit: Option<usize>,
    long_prompt: Option<(LongPrompt, usize)>,
) -> anyhow::Result<RunOutcome> {
    let client = crate::http::client(args.timeout_s)?;
    let route = match args.endpoint {
        args::Endpoint::Chat => "chat/completions",
        args::Endpoint::Completions => "completions",
    };
    let url: Arc<str> = format!("{}/{route}", args.base_url.trim_end_matches('/')).into();
    let settings =
        BodySettings { endpoint: args.endpoint, model: args.model.clone(), temperature: args.temperature, ignore_eos: args.ignore_eos };
    let slots = Arc::new(Semaphore::new(limit.unwrap_or(Semaphore::MAX_PERMITS)));
    let progress = progress_bar(specs.len(), limit);
    let start = Instant::now();
    let long_task = long_prompt.map(|(lp, run_index)| {
        let body = request::request_body(&settings, &lp.spec(args.seed, run_index));
        lp.spawn(client.clone(), url.clone(), body, start)
    });
    let mut tasks = Vec::with_capacity(specs.len());
    for (i, (spec, offset)) in specs.iter().zip(arrivals).enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(*offset)).into()).await;
        let body = request::request_body(&settings, spec);
        let (client, url, slots, progress, spec) = (client.clone(), url.clone(), slots.clone(), progress.clone(), spec.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore never closed");
            let sent_at_s = start.elapsed().as_secs_f64();
            let result = request::stream(&client, &url, &body)
                .await
                .and_then(|t| Ok((metrics::sample_records(i, &spec, sent_at_s, &t)?, t.usage)));
            progress.inc(1);
            if let Err(e) = &result {
                progress.suspend(|| eprintln!("request {i} failed: {e:#}"));
            }
            result
        }));
    }
    let mut outcome = RunOutcome { requests: specs.len(), ..Default::default() };
    for (request_index, task) in tasks.into_iter().enumerate() {
        match task.await? {
            Ok((samples, usage)) => {
                outcome.input_tokens += usage.and_then(|u| u.prompt_tokens).unwrap_or(0);
                let chunk_tokens: u64 = samples.iter().map(|s| s.output_tokens).sum();
                outcome.output_tokens += usage.map_or(chunk_tokens, |u| u.completion_tokens);
                outcome.samples.extend(samples);
            }
            Err(e) => outcome.failures.push(Failure { request_index, error: format!("{e:#}") }),
        }
    }
    outcome.duration_s = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    if let (Some(task), Some((lp, _))) = (long_task, long_prompt) {
        // A long prompt still waiting for its send time would measure nothing: drop it.
        outcome.long_prompt = if outcome.duration_s < lp.at_s {
            task.abort();
            Some(interference::LongPromptOutcome::not_sent(&lp, outcome.duration_s))
        } else {
            Some(task.await?)
        };
    }
    Ok(outcome)
}

/// A bar on stderr (a line every 5 s when stderr is not a terminal).
fn progress_bar(total: usize, limit: Option<usize>) -> ProgressBar {
    let bar = crate::progress::bar(total, "requests", "{elapsed_precise} [{bar:40}] {pos}/{len} requests  {per_sec}  eta {eta}  {msg}");
    bar.set_message(limit.map_or_else(|| "concurrency unlimited".to_string(), |c| format!("concurrency {c}")));
    bar
}

