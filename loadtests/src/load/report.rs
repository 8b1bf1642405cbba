//! The printed tables and the JSON report of `ponder-bench load`.

use serde::Serialize;

use super::args::{Arrival, DatasetKind, Endpoint, LoadArgs};
use super::interference::{GapSummary, LongPromptReport};
use super::metrics::RunReport;
use crate::stats::Summary;

/// Everything `--output-json` writes: the settings, then one entry per concurrency.
#[derive(Debug, Serialize)]
pub struct Report {
    pub base_url: String,
    pub model: Option<String>,
    pub endpoint: Endpoint,
    pub dataset: DatasetKind,
    pub dataset_path: Option<String>,
    /// None: infinite.
    pub request_rate: Option<f64>,
    pub arrival: Arrival,
    pub burstiness: f64,
    pub seed: u64,
    pub runs: Vec<RunReport>,
}

impl Report {
    pub fn new(args: &LoadArgs, runs: Vec<RunReport>) -> Self {
        Self {
            base_url: args.base_url.clone(),
            model: args.model.clone(),
            endpoint: args.endpoint,
            dataset: args.dataset,
            dataset_path: args.dataset_path.as_ref().map(|p| p.display().to_string()),
            request_rate: args.request_rate.is_finite().then_some(args.request_rate),
            arrival: args.arrival,
            burstiness: args.burstiness,
            seed: args.seed,
            runs,
        }
    }
}

fn limit(c: Option<usize>) -> String {
    c.map_or_else(|| "unlimited".into(), |c| c.to_string())
}

/// Prints one run as `vllm bench serve` does.
pub fn print_run(args: &LoadArgs, r: &RunReport) {
    let rate = if args.request_rate.is_finite() { format!("{} req/s", args.request_rate) } else { "inf".into() };
    println!("============ ponder-bench load ============");
    println!("{:<40}{}", "endpoint", args.base_url);
    println!("{:<40}{rate}", "request rate");
    println!("{:<40}{}", "max concurrency", limit(r.max_concurrency));
    println!("{:<40}{} ok, {} failed", "requests", r.requests - r.failed_requests, r.failed_requests);
    println!("{:<40}{}", "samples (choices) completed", r.completed);
    println!("{:<40}{:.2}", "duration (s)", r.duration_s);
    println!("{:<40}{}", "input tokens (usage)", r.total_input_tokens);
    println!("{:<40}{}", "output tokens", r.total_output_tokens);
    println!("{:<40}{:.3}", "request throughput (req/s)", r.request_throughput);
    if let Some(g) = r.request_goodput {
        println!("{:<40}{g:.3}", "request goodput (req/s)");
    }
    println!("{:<40}{:.2}", "output token throughput (tok/s)", r.output_throughput);
    println!("{:<40}{:.2}", "total token throughput (tok/s)", r.total_token_throughput);
    let rows: [(&str, &Summary); 5] = [
        ("TTFT", &r.ttft_ms),
        ("answer TTFT", &r.answer_ttft_ms),
        ("TPOT", &r.tpot_ms),
        ("ITL", &r.itl_ms),
        ("E2E", &r.e2e_ms),
    ];
    for (name, s) in rows {
        println!(
            "{:<40}mean {:.1}  median {:.1}  p90 {:.1}  p99 {:.1}  (n={})",
            format!("{name} (ms)"),
            s.mean,
            s.median,
            s.p90,
            s.p99,
            s.count
        );
    }
    if let Some(lp) = &r.long_prompt {
        print_long_prompt(lp);
    }
}

/// The long prompt and the ITL of the other streams during and outside its prefill.
fn print_long_prompt(lp: &LongPromptReport) {
    let tokens = lp.prompt_tokens.map_or_else(
        || format!("~{} prompt tokens ({} words, no usage)", lp.len, lp.len),
        |t| format!("{t} prompt tokens ({} words)", lp.len),
    );
    let (Some(ttft), Some(during), Some(otherwise)) = (lp.ttft_ms, &lp.itl_during_prefill_ms, &lp.itl_otherwise_ms) else {
        let error = lp.error.as_deref().unwrap_or("no measurement");
        println!("{:<40}{tokens}, sent at {:.2} s: FAILED: {error}", "long prompt", lp.sent_at_s);
        return;
    };
    println!("{:<40}{tokens}, sent at {:.2} s, TTFT {ttft:.1} ms", "long prompt", lp.sent_at_s);
    let row = |name: &str, g: &GapSummary| {
        let s = &g.summary;
        if s.count == 0 {
            println!("{name:<40}no gaps (no other stream was producing tokens then)");
            return;
        }
        println!("{name:<40}mean {:.1}  median {:.1}  p99 {:.1}  max {:.1}  (n={})", s.mean, s.median, s.p99, g.max, s.count);
    };
    row("ITL while it prefilled (ms)", during);
    row("ITL otherwise (ms)", otherwise);
}

/// One row per concurrency limit.
pub fn print_table(runs: &[RunReport]) {
    println!(
        "{:>11} {:>9} {:>11} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "concurrency", "req/s", "out tok/s", "goodput", "TTFT p50", "TTFT p99", "TPOT p50", "ITL p50", "E2E p50"
    );
    for r in runs {
        let goodput = r.request_goodput.map_or_else(|| "-".into(), |g| format!("{g:.3}"));
        println!(
            "{:>11} {:>9.3} {:>11.1} {:>9} {:>10.1} {:>10.1} {:>10.2} {:>10.2} {:>10.1}",
            limit(r.max_concurrency),
            r.request_throughput,
            r.output_throughput,
            goodput,
            r.ttft_ms.median,
            r.ttft_ms.p99,
            r.tpot_ms.median,
            r.itl_ms.median,
            r.e2e_ms.median
        );
    }
    if runs.iter().any(|r| r.long_prompt.is_some()) {
        print_long_prompt_table(runs);
    }
}

/// One row per concurrency limit: the long prompt's TTFT and the ITL p99 of the
/// other streams during its prefill and otherwise (`-` when it failed).
fn print_long_prompt_table(runs: &[RunReport]) {
    println!("{:>11} {:>12} {:>15} {:>15} {:>14}", "concurrency", "long TTFT", "ITL p99 prefill", "ITL max prefill", "ITL p99 other");
    for r in runs {
        let lp = r.long_prompt.as_ref();
        let cell = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        let during = lp.and_then(|lp| lp.itl_during_prefill_ms.as_ref());
        let otherwise = lp.and_then(|lp| lp.itl_otherwise_ms.as_ref());
        println!(
            "{:>11} {:>12} {:>15} {:>15} {:>14}",
            limit(r.max_concurrency),
            cell(lp.and_then(|lp| lp.ttft_ms)),
            cell(during.map(|g| g.summary.p99)),
            cell(during.map(|g| g.max)),
            cell(otherwise.map(|g| g.summary.p99))
        );
    }
}
