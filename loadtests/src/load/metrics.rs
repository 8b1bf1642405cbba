//! Per-sample records and run metrics, defined as vLLM's `benchmark_serving`
//! (`calculate_metrics`) so numbers are comparable:
//!
//! - TTFT: first token-bearing chunk − request sent (after the concurrency limit let it go).
//! - Answer TTFT: first chunk with answer text (after the reasoning) − request sent.
//! - TPOT: (e2e − TTFT) / (output tokens − 1), only for samples of more than one token.
//! - ITL: gaps between successive token-bearing chunks, all samples pooled.
//! - E2E: last chunk of the sample − request sent.
//! - Throughputs: completed samples and output tokens over the run's wall time.
//! - Goodput: samples meeting every SLO (TTFT, TPOT with 0 for one-token samples,
//!   E2E; each `≤`) per second of wall time.
//! - Prefill interference (`--long-prompt-len`, ours, not vLLM's): the gaps of the
//!   samples that overlap the long prompt's window [sent, sent + its TTFT], against
//!   all their other gaps (see [`super::interference`]). The long prompt is not a
//!   sample: it counts in none of the metrics above.
//!
//! A sample is one choice: a request with `n` choices gives `n` records, each timed
//! from the same send time. Output tokens are `usage.completion_tokens` when the
//! request has one choice, else the choice's count of token-bearing chunks.

use serde::Serialize;

use super::dataset::RequestSpec;
use super::interference::{LongPromptOutcome, LongPromptReport};
use super::request::StreamTimeline;
use crate::stats::Summary;

/// Service-level objectives in ms; `None` is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2el_ms: Option<f64>,
}

impl Slo {
    /// Parses `ttft=500,tpot=50,e2el=3000` (ms; any subset, at least one).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut slo = Slo::default();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once(['=', ':']).ok_or_else(|| format!("expected key=ms, got `{part}`"))?;
            let ms: f64 = value.trim().parse().map_err(|_| format!("`{value}` is not a number of ms"))?;
            if ms.is_nan() || ms <= 0.0 {
                return Err(format!("SLO `{key}` must be positive"));
            }
            match key.trim() {
                "ttft" => slo.ttft_ms = Some(ms),
                "tpot" => slo.tpot_ms = Some(ms),
                "e2el" | "e2e" => slo.e2el_ms = Some(ms),
                other => return Err(format!("unknown SLO `{other}` (ttft, tpot, e2el)")),
            }
        }
        if slo == Slo::default() {
            return Err("no SLO given".into());
        }
        Ok(slo)
    }

    /// Whether `r` meets every objective.
    pub fn is_met_by(&self, r: &SampleRecord) -> bool {
        let ok = |limit: Option<f64>, value: f64| limit.is_none_or(|l| value <= l);
        ok(self.ttft_ms, r.ttft_ms) && ok(self.tpot_ms, r.tpot_ms.unwrap_or(0.0)) && ok(self.e2el_ms, r.e2e_ms)
    }
}

/// Measurements of one sample (one choice of one request).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    pub request_index: usize,
    pub prompt_index: usize,
    pub choice_index: usize,
    /// When the request was sent, in s since the start of the run.
    pub sent_at_s: f64,
    pub ttft_ms: f64,
    /// None when no answer text came (e.g. the reasoning hit `max_tokens`).
    pub answer_ttft_ms: Option<f64>,
    /// None for samples of at most one token.
    pub tpot_ms: Option<f64>,
    pub e2e_ms: f64,
    pub output_tokens: u64,
    pub itl_ms: Vec<f64>,
}

/// The records of one request's stream, one per requested choice. Errors when a
/// choice carried no token.
pub fn sample_records(
    request_index: usize,
    spec: &RequestSpec,
    sent_at_s: f64,
    t: &StreamTimeline,
) -> anyhow::Result<Vec<SampleRecord>> {
    (0..spec.n)
        .map(|choice_index| {
            let c = t.choices.get(&choice_index).filter(|c| !c.token_ms.is_empty());
            let c = c.ok_or_else(|| anyhow::anyhow!("choice {choice_index} carried no text"))?;
            let ttft_ms = c.token_ms[0];
            let output_tokens = match (spec.n, t.usage) {
                (1, Some(u)) => u.completion_tokens,
                _ => c.token_ms.len() as u64,
            };
            let tpot_ms = (output_tokens > 1).then(|| (c.last_ms - ttft_ms) / (output_tokens - 1) as f64);
            Ok(SampleRecord {
                request_index,
                prompt_index: spec.prompt_index,
                choice_index,
                sent_at_s,
                ttft_ms,
                answer_ttft_ms: c.first_answer_ms,
                tpot_ms,
                e2e_ms: c.last_ms,
                output_tokens,
                itl_ms: c.token_ms.windows(2).map(|w| w[1] - w[0]).collect(),
            })
        })
        .collect()
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub request_index: usize,
    pub error: String,
}

/// Metrics of one run (one concurrency limit).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// None: unlimited.
    pub max_concurrency: Option<usize>,
    /// Requests per second; None: infinite (all at once).
    pub request_rate: Option<f64>,
    pub requests: usize,
    pub failed_requests: usize,
    /// Completed samples (choices).
    pub completed: usize,
    pub duration_s: f64,
    /// Σ `usage.prompt_tokens` over requests that reported it.
    pub total_input_tokens: u64,
    /// Σ `usage.completion_tokens` per request (token-bearing chunks when absent).
    pub total_output_tokens: u64,
    /// Completed samples per second.
    pub request_throughput: f64,
    pub output_throughput: f64,
    /// (input + output tokens) per second.
    pub total_token_throughput: f64,
    pub slo: Option<Slo>,
    /// Samples meeting the SLOs per second; None without `--slo`.
    pub request_goodput: Option<f64>,
    pub ttft_ms: Summary,
    pub answer_ttft_ms: Summary,
    pub tpot_ms: Summary,
    pub itl_ms: Summary,
    pub e2e_ms: Summary,
    /// Prefill interference; None without `--long-prompt-len`.
    pub long_prompt: Option<LongPromptReport>,
    pub samples: Vec<SampleRecord>,
    pub failures: Vec<Failure>,
}

/// What a run measured, before the metrics.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub samples: Vec<SampleRecord>,
    pub failures: Vec<Failure>,
    pub requests: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub duration_s: f64,
    /// The long-prompt request, apart from every count above.
    pub long_prompt: Option<LongPromptOutcome>,
}

/// Computes the run metrics; `max_concurrency` and `request_rate` are only reported.
pub fn summarize(o: RunOutcome, max_concurrency: Option<usize>, request_rate: f64, slo: Option<Slo>) -> RunReport {
    let d = o.duration_s.max(1e-9);
    let of = |f: &dyn Fn(&SampleRecord) -> Option<f64>| Summary::of(&o.samples.iter().filter_map(f).collect::<Vec<_>>());
    let good = slo.map(|s| o.samples.iter().filter(|r| s.is_met_by(r)).count());
    let long_prompt = o.long_prompt.map(|lp| lp.report(&o.samples));
    RunReport {
        max_concurrency,
        request_rate: request_rate.is_finite().then_some(request_rate),
        requests: o.requests,
        failed_requests: o.failures.len(),
        completed: o.samples.len(),
        duration_s: o.duration_s,
        total_input_tokens: o.input_tokens,
        total_output_tokens: o.output_tokens,
        request_throughput: o.samples.len() as f64 / d,
        output_throughput: o.output_tokens as f64 / d,
        total_token_throughput: (o.input_tokens + o.output_tokens) as f64 / d,
        slo,
        request_goodput: good.map(|g| g as f64 / d),
        ttft_ms: of(&|r| Some(r.ttft_ms)),
        answer_ttft_ms: of(&|r| r.answer_ttft_ms),
        tpot_ms: of(&|r| r.tpot_ms),
        itl_ms: Summary::of(&o.samples.iter().flat_map(|r| r.itl_ms.iter().copied()).collect::<Vec<_>>()),
        e2e_ms: of(&|r| Some(r.e2e_ms)),
        long_prompt,
        samples: o.samples,
        failures: o.failures,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::request::{ChoiceTimeline, Usage};

    fn record(ttft_ms: f64, tpot_ms: Option<f64>, e2e_ms: f64) -> SampleRecord {
        SampleRecord {
            request_index: 0,
            prompt_index: 0,
            choice_index: 0,
            sent_at_s: 0.0,
            ttft_ms,
            answer_ttft_ms: None,
            tpot_ms,
            e2e_ms,
            output_tokens: 2,
            itl_ms: vec![],
        }
    }

    #[test]
    fn slos_parse_and_reject_nonsense() {
        assert_eq!(Slo::parse("ttft=500,tpot=50").unwrap(), Slo { ttft_ms: Some(500.0), tpot_ms: Some(50.0), e2el_ms: None });
        assert_eq!(Slo::parse("e2el:3000").unwrap().e2el_ms, Some(3000.0));
        for bad in ["", "ttft", "ttft=x", "ttft=-1", "itl=3"] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn goodput_counts_samples_meeting_every_slo() {
        let samples = vec![
            record(100.0, Some(10.0), 900.0),  // good
            record(500.0, Some(50.0), 900.0),  // good: limits are inclusive
            record(501.0, Some(10.0), 900.0),  // TTFT too slow
            record(100.0, Some(60.0), 900.0),  // TPOT too slow
            record(100.0, None, 900.0),        // one token: TPOT counts as 0
        ];
        let slo = Slo::parse("ttft=500,tpot=50").unwrap();
        let outcome = RunOutcome { samples: samples.clone(), requests: 5, output_tokens: 10, duration_s: 2.0, ..Default::default() };
        let r = summarize(outcome, Some(4), f64::INFINITY, Some(slo));
        assert_eq!(r.request_goodput, Some(3.0 / 2.0));
        assert_eq!((r.request_throughput, r.output_throughput, r.request_rate), (2.5, 5.0, None));
        // TPOT summary leaves the one-token sample out.
        assert_eq!(r.tpot_ms.count, 4);
        assert_eq!(r.tpot_ms.mean, (10.0 + 50.0 + 10.0 + 60.0) / 4.0);
        let e2e_only = Slo::parse("e2el=800").unwrap();
        let outcome = RunOutcome { samples, requests: 5, duration_s: 2.0, ..Default::default() };
        assert_eq!(summarize(outcome, None, 1.0, Some(e2e_only)).request_goodput, Some(0.0));
    }

    #[test]
    fn records_follow_vllm_definitions() {
        let spec = RequestSpec { prompt_index: 3, prompt: String::new(), max_tokens: 8, n: 1 };
        let choice = ChoiceTimeline { token_ms: vec![100.0, 130.0, 150.0, 190.0], first_answer_ms: Some(150.0), last_ms: 200.0 };
        let t = StreamTimeline { choices: BTreeMap::from([(0, choice)]), usage: Some(Usage { prompt_tokens: Some(5), completion_tokens: 6 }) };
        let r = &sample_records(7, &spec, 0.5, &t).unwrap()[0];
        assert_eq!((r.ttft_ms, r.answer_ttft_ms, r.e2e_ms, r.output_tokens), (100.0, Some(150.0), 200.0, 6));
        assert_eq!(r.tpot_ms, Some((200.0 - 100.0) / 5.0));
        assert_eq!(r.itl_ms, vec![30.0, 20.0, 40.0]);
        assert_eq!((r.request_index, r.prompt_index), (7, 3));
        // With n > 1 the usage is shared: tokens are counted per choice.
        let two = RequestSpec { n: 2, ..spec };
        assert!(sample_records(0, &two, 0.0, &t).is_err(), "choice 1 is missing");
        let mut t2 = t.clone();
        t2.choices.insert(1, ChoiceTimeline { token_ms: vec![120.0], first_answer_ms: None, last_ms: 125.0 });
        let rs = sample_records(0, &two, 0.0, &t2).unwrap();
        assert_eq!((rs[0].output_tokens, rs[1].output_tokens, rs[1].tpot_ms), (4, 1, None));
    }
}
