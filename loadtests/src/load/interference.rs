//! Prefill interference: the inter-token latency of running streams while one long
//! prompt is prefilled, to compare chunked with unchunked prefill.
//!
//! With `--long-prompt-len N` each run sends one extra streaming request of about N
//! prompt tokens and `--long-prompt-max-tokens` output tokens, `--long-prompt-at` s
//! after the run starts. It bypasses `--max-concurrency` and is not one of the run's
//! samples: it counts in no throughput, token total or latency summary, and the run's
//! duration ends with its last sample. When the load ends before `--long-prompt-at`,
//! the long prompt is not sent (the report says so) rather than waited for. Its prompt is
//! drawn afresh for every run of a sweep (seeded by `--seed` and the run's index), so
//! a prefix cache never serves it from an earlier run.
//!
//! Its *prefill window* is [sent, sent + TTFT] in ms since the run started. A gap of
//! a sample (between two successive token-bearing chunks of one choice, at absolute
//! times t_prev < t_next) is *during prefill* when it overlaps the window for a
//! positive time, `t_prev < window.end && t_next > window.start`; every other gap is
//! *otherwise*. Absolute times are rebuilt from each record as
//! `sent_at_s·1000 + ttft_ms + Σ itl_ms`.
//!
//! ```text
//!  stream      ●───●───●──────────────────────●───●───●
//!  gap           other  │   during prefill   │  other
//!  long prompt        sent ════ prefill ════ first token
//! ```
//!
//! Unchunked prefill stalls every running stream for the whole prefill, so the p99
//! (and max) during prefill approaches the long prompt's TTFT; chunked prefill
//! interleaves decode steps, so it stays near the ITL otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::args::LoadArgs;
use super::dataset::{self, RequestSpec};
use super::metrics::SampleRecord;
use super::request;
use crate::stats::Summary;

/// Salt of the long prompts' rng, so they differ from the dataset's prompts.
const SEED_SALT: u64 = 0x1096_9e0f_7a11_c0de;

/// The long-prompt request of every run, from `--long-prompt-*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LongPrompt {
    /// Prompt length in words (about as many tokens).
    pub len: usize,
    /// `max_tokens` of the request.
    pub max_tokens: usize,
    /// When it is sent, in s since the run started.
    pub at_s: f64,
}

impl LongPrompt {
    /// None without `--long-prompt-len`. Errors on a zero length or `max_tokens`,
    /// or a negative or non-finite `--long-prompt-at`.
    pub fn from_args(args: &LoadArgs) -> anyhow::Result<Option<Self>> {
        let Some(len) = args.long_prompt_len else { return Ok(None) };
        anyhow::ensure!(len > 0, "--long-prompt-len must be at least 1");
        anyhow::ensure!(args.long_prompt_max_tokens > 0, "--long-prompt-max-tokens must be at least 1");
        anyhow::ensure!(
            args.long_prompt_at.is_finite() && args.long_prompt_at >= 0.0,
            "--long-prompt-at must be a non-negative number of seconds"
        );
        Ok(Some(Self { len, max_tokens: args.long_prompt_max_tokens, at_s: args.long_prompt_at }))
    }

    /// The request of run `run_index` (0-based in the sweep): a synthetic prompt of
    /// `len` words, seeded by `seed` and `run_index`, with one choice.
    pub fn spec(&self, seed: u64, run_index: usize) -> RequestSpec {
        let mut rng = StdRng::seed_from_u64((seed ^ SEED_SALT).wrapping_add(run_index as u64));
        RequestSpec { prompt_index: 0, prompt: dataset::synthetic_prompt(self.len, &mut rng), max_tokens: self.max_tokens, n: 1 }
    }

    /// Sends `body` to `url` at `start + at_s` and times it. Never fails: a failed
    /// request is an outcome with its error.
    pub fn spawn(&self, client: reqwest::Client, url: Arc<str>, body: Value, start: Instant) -> JoinHandle<LongPromptOutcome> {
        let this = *self;
        tokio::spawn(async move {
            tokio::time::sleep_until((start + Duration::from_secs_f64(this.at_s)).into()).await;
            let sent_at_s = start.elapsed().as_secs_f64();
            let result = request::stream(&client, &url, &body).await.map_err(|e| format!("{e:#}")).and_then(|t| {
                let first = t.choices.get(&0).and_then(|c| c.token_ms.first().copied());
                let ttft_ms = first.ok_or_else(|| "the stream carried no token".to_string())?;
                Ok(LongPromptTiming { ttft_ms, prompt_tokens: t.usage.and_then(|u| u.prompt_tokens) })
            });
            LongPromptOutcome { len: this.len, sent_at_s, result }
        })
    }
}

/// What the long-prompt request measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LongPromptTiming {
    pub ttft_ms: f64,
    /// `usage.prompt_tokens`, when the server sent it.
    pub prompt_tokens: Option<u64>,
}

/// The long-prompt request of one run, before the gaps are split.
#[derive(Debug, Clone, PartialEq)]
pub struct LongPromptOutcome {
    /// Prompt length in words.
    pub len: usize,
    /// When it was sent, in s since the run started.
    pub sent_at_s: f64,
    /// Its timing, or why it failed.
    pub result: Result<LongPromptTiming, String>,
}

impl LongPromptOutcome {
    /// The outcome of a long prompt never sent because the run's load ended at
    /// `ended_at_s`, before `--long-prompt-at` (its send time is then `at_s`).
    pub fn not_sent(lp: &LongPrompt, ended_at_s: f64) -> Self {
        let error = format!(
            "not sent: the load ended at {ended_at_s:.2} s, before --long-prompt-at {:.2} s; lower --long-prompt-at",
            lp.at_s
        );
        Self { len: lp.len, sent_at_s: lp.at_s, result: Err(error) }
    }

    /// The report, splitting the gaps of `samples` (the run's other streams) at the
    /// prefill window; without gap summaries when the request failed.
    pub fn report(self, samples: &[SampleRecord]) -> LongPromptReport {
        let mut report = LongPromptReport {
            len: self.len,
            sent_at_s: self.sent_at_s,
            prompt_tokens: None,
            ttft_ms: None,
            error: None,
            itl_during_prefill_ms: None,
            itl_otherwise_ms: None,
        };
        match self.result {
            Ok(t) => {
                let start_ms = self.sent_at_s * 1000.0;
                let (during, otherwise) = split_gaps(samples, Window { start_ms, end_ms: start_ms + t.ttft_ms });
                report.prompt_tokens = t.prompt_tokens;
                report.ttft_ms = Some(t.ttft_ms);
                report.itl_during_prefill_ms = Some(GapSummary::of(&during));
                report.itl_otherwise_ms = Some(GapSummary::of(&otherwise));
            }
            Err(e) => report.error = Some(e),
        }
        report
    }
}

/// The long-prompt section of a run's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongPromptReport {
    /// `--long-prompt-len`: prompt length in words (about as many tokens).
    pub len: usize,
    /// When it was sent, in s since the run started.
    pub sent_at_s: f64,
    /// `usage.prompt_tokens`; None when the server sent no usage or the request failed.
    pub prompt_tokens: Option<u64>,
    /// Its TTFT, the length of the prefill window; None when it failed.
    pub ttft_ms: Option<f64>,
    /// Why it failed; None when it succeeded.
    pub error: Option<String>,
    /// Gaps of the run's samples that overlap the prefill window; None when it failed.
    pub itl_during_prefill_ms: Option<GapSummary>,
    /// The other gaps of the run's samples; None when it failed.
    pub itl_otherwise_ms: Option<GapSummary>,
}

/// [`Summary`] of gaps in ms, with their maximum (0 when there is none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapSummary {
    #[serde(flatten)]
    pub summary: Summary,
    pub max: f64,
}

impl GapSummary {
    pub fn of(gaps_ms: &[f64]) -> Self {
        Self { summary: Summary::of(gaps_ms), max: gaps_ms.iter().copied().reduce(f64::max).unwrap_or(0.0) }
    }
}

/// A time interval in ms since the run started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start_ms: f64,
    pub end_ms: f64,
}

/// The gaps (ms) of every sample, split into those overlapping `window` for a
/// positive time and the others, each in sample then token order.
pub fn split_gaps(samples: &[SampleRecord], window: Window) -> (Vec<f64>, Vec<f64>) {
    let (mut during, mut otherwise) = (Vec::new(), Vec::new());
    for r in samples {
        let mut prev_ms = r.sent_at_s * 1000.0 + r.ttft_ms;
        for &gap in &r.itl_ms {
            let next_ms = prev_ms + gap;
            let overlaps = prev_ms < window.end_ms && next_ms > window.start_ms;
            if overlaps { &mut during } else { &mut otherwise }.push(gap);
            prev_ms = next_ms;
        }
    }
    (during, otherwise)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample sent at `sent_at_s` whose tokens arrive at `tokens_ms` after it was sent.
    fn sample(sent_at_s: f64, tokens_ms: &[f64]) -> SampleRecord {
        SampleRecord {
            request_index: 0,
            prompt_index: 0,
            choice_index: 0,
            sent_at_s,
            ttft_ms: tokens_ms[0],
            answer_ttft_ms: None,
            tpot_ms: None,
            e2e_ms: *tokens_ms.last().unwrap(),
            output_tokens: tokens_ms.len() as u64,
            itl_ms: tokens_ms.windows(2).map(|w| w[1] - w[0]).collect(),
        }
    }

    fn window(start_ms: f64, end_ms: f64) -> Window {
        Window { start_ms, end_ms }
    }

    #[test]
    fn gaps_overlapping_the_window_are_selected() {
        // Tokens at 0, 100, 200, 900, 1000 ms: gaps [0,100] [100,200] [200,900] [900,1000].
        // The window [150, 850] cuts [100,200] and [200,900] only.
        let s = sample(0.0, &[0.0, 100.0, 200.0, 900.0, 1000.0]);
        assert_eq!(split_gaps(&[s], window(150.0, 850.0)), (vec![100.0, 700.0], vec![100.0, 100.0]));
    }

    #[test]
    fn token_times_are_absolute_from_the_send_time_and_ttft() {
        // Sent at 2 s, tokens 50, 80, 200, 230 ms later: absolute 2050, 2080, 2200, 2230.
        // Window [2100, 2150] lies inside the gap [2080, 2200] alone.
        let a = sample(2.0, &[50.0, 80.0, 200.0, 230.0]);
        // Sent at 0: absolute 10, 40, 2120, 2160; the window lies inside [40, 2120],
        // and [2120, 2160] overlaps its end.
        let b = sample(0.0, &[10.0, 40.0, 2120.0, 2160.0]);
        let (during, otherwise) = split_gaps(&[a, b], window(2100.0, 2150.0));
        assert_eq!(during, vec![120.0, 2080.0, 40.0]);
        assert_eq!(otherwise, vec![30.0, 30.0, 30.0]);
    }

    #[test]
    fn gaps_touching_the_window_only_at_an_end_are_not_during_it() {
        let s = sample(0.0, &[0.0, 100.0, 200.0, 300.0]);
        assert_eq!(split_gaps(&[s], window(100.0, 200.0)), (vec![100.0], vec![100.0, 100.0]));
    }

    #[test]
    fn no_samples_or_a_window_before_every_token_select_nothing() {
        assert_eq!(split_gaps(&[], window(0.0, 1e9)), (vec![], vec![]));
        let s = sample(1.0, &[100.0, 130.0, 170.0]);
        assert_eq!(split_gaps(std::slice::from_ref(&s), window(0.0, 1000.0)), (vec![], vec![30.0, 40.0]));
        // A window after the last token, and a one-token sample (no gap at all).
        assert_eq!(split_gaps(&[s, sample(0.0, &[5.0])], window(2000.0, 3000.0)), (vec![], vec![30.0, 40.0]));
    }

    #[test]
    fn the_report_summarizes_both_sides_or_carries_the_error() {
        // Window [1000, 1000 + 450] ms; tokens at 900, 950, 1100, 1500, 1520.
        let s = sample(0.5, &[400.0, 450.0, 600.0, 1000.0, 1020.0]);
        let ok = LongPromptOutcome {
            len: 4000,
            sent_at_s: 1.0,
            result: Ok(LongPromptTiming { ttft_ms: 450.0, prompt_tokens: Some(4012) }),
        };
        let r = ok.report(std::slice::from_ref(&s));
        assert_eq!((r.ttft_ms, r.prompt_tokens, r.error.as_deref()), (Some(450.0), Some(4012), None));
        let during = r.itl_during_prefill_ms.unwrap();
        assert_eq!(during, GapSummary { summary: Summary::of(&[150.0, 400.0]), max: 400.0 });
        assert_eq!((during.summary.mean, during.summary.count), (275.0, 2));
        assert_eq!(r.itl_otherwise_ms.unwrap(), GapSummary { summary: Summary::of(&[50.0, 20.0]), max: 50.0 });

        let failed = LongPromptOutcome { len: 4000, sent_at_s: 1.0, result: Err("HTTP 400".into()) };
        let r = failed.report(&[s]);
        assert_eq!((r.error.as_deref(), r.ttft_ms, r.prompt_tokens), (Some("HTTP 400"), None, None));
        assert_eq!((&r.itl_during_prefill_ms, &r.itl_otherwise_ms), (&None, &None));
    }

    #[test]
    fn an_empty_gap_summary_is_all_zero() {
        assert_eq!(GapSummary::of(&[]), GapSummary { summary: Summary::of(&[]), max: 0.0 });
        assert_eq!(GapSummary::of(&[3.0, 9.0, 1.0]).max, 9.0);
    }

    #[test]
    fn each_run_gets_its_own_seeded_prompt_of_the_requested_length() {
        let lp = LongPrompt { len: 300, max_tokens: 8, at_s: 5.0 };
        let (a, b) = (lp.spec(7, 0), lp.spec(7, 1));
        assert_eq!(a, lp.spec(7, 0), "same seed and run: same prompt");
        assert_ne!(a.prompt, b.prompt);
        assert_ne!(a.prompt, lp.spec(8, 0).prompt);
        assert_eq!((a.prompt.split(' ').count(), a.max_tokens, a.n), (300, 8, 1));
    }
}
