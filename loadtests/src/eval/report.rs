//! The report of `ponder-bench eval`: printed as a table, written as JSON.

use serde::Serialize;

use super::metrics::{Metrics, SampleRecord};
use super::plot::LengthBin;

/// Settings and results of one evaluation run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub base_url: String,
    pub model: Option<String>,
    pub dataset: String,
    pub num_prompts: usize,
    /// Samples per prompt.
    pub k: usize,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
    /// Base seed; sample j of prompt i used `seed + i·k + j`.
    pub seed: Option<u64>,
    pub max_concurrency: usize,
    pub requests: usize,
    pub failed: usize,
    /// Wall time of the whole run (s).
    pub duration_s: f64,
    /// Sum of `usage.completion_tokens` over all responses.
    pub total_output_tokens: u64,
    pub output_throughput_tok_s: f64,
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Accuracy against reasoning length (equal-count bins), as plotted.
    pub accuracy_by_reasoning_length: Vec<LengthBin>,
    /// Every sample, ordered by (prompt_index, sample_index).
    pub samples: Vec<SampleRecord>,
}

impl Report {
    /// Prints the summary table (not the per-sample records) to stdout.
    pub fn print(&self) {
        let m = &self.metrics;
        println!("============ ponder-bench eval ============");
        println!("{:<36}{}", "endpoint", self.base_url);
        println!("{:<36}{}", "dataset", self.dataset);
        println!("{:<36}{} x {} samples", "prompts", self.num_prompts, self.k);
        println!("{:<36}{}", "sampling", self.sampling_line());
        println!("{:<36}{}", "max concurrency", self.max_concurrency);
        println!("{:<36}{} ok, {} failed", "requests", self.requests - self.failed, self.failed);
        println!("{:<36}{:.2}", "duration (s)", self.duration_s);
        println!("{:<36}{}", "output tokens", self.total_output_tokens);
        println!("{:<36}{:.2}", "output throughput (tok/s)", self.output_throughput_tok_s);
        println!("{:<36}{:.4}", "pass@1", m.pass_at_1);
        println!("{:<36}{:.4}", format!("cons@{}", self.k), m.cons_at_k);
        println!("{:<36}{:.1}", "mean reasoning tokens", m.mean_reasoning_tokens);
        println!("{:<36}{:.1}", "mean answer tokens", m.mean_answer_tokens);
        println!("{:<36}{:.4}", "unclosed think fraction", m.unclosed_think_fraction);
    }

    fn sampling_line(&self) -> String {
        let or_default = |v: Option<f64>| v.map_or("server default".to_owned(), |v| v.to_string());
        let seed = self.seed.map_or("none".to_owned(), |s| s.to_string());
        format!(
            "temperature {}, top_p {}, max_tokens {}, seed {seed}",
            or_default(self.temperature),
            or_default(self.top_p),
            self.max_tokens
        )
    }
}
