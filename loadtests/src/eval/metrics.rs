//! Per-sample records and their aggregation as DeepSeek-R1's paper reports them:
//! pass@1 (mean correctness over the k samples of a prompt, averaged over prompts) and
//! cons@k (majority vote over the k answers of a prompt).

use serde::Serialize;

/// One sample: the `sample_index`-th of the k completions of problem `prompt_index`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    /// 0-based position of the problem in the dataset.
    pub prompt_index: usize,
    /// 0-based sample number, `0..k`.
    pub sample_index: usize,
    /// Seed sent with the request (`base + prompt_index·k + sample_index`).
    pub seed: Option<u64>,
    /// Final number of the content (`None`: no number, or the request failed).
    pub extracted_answer: Option<i64>,
    /// `extracted_answer` equals the reference.
    pub correct: bool,
    pub reasoning_tokens: u64,
    pub answer_tokens: u64,
    pub finish_reason: Option<String>,
    /// Generation stopped inside the think block (see `Completion::unclosed_think`).
    pub unclosed_think: bool,
    /// Why the request failed; a failed sample counts as incorrect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SampleRecord {
    /// Whether a response came back (the token counts are then meaningful).
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// Aggregate accuracy and length figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean over prompts of (correct samples / k), failed samples counted as incorrect.
    pub pass_at_1: f64,
    /// Fraction of prompts whose majority-voted answer equals the reference.
    pub cons_at_k: f64,
    /// Means over the samples that got a response.
    pub mean_reasoning_tokens: f64,
    pub mean_answer_tokens: f64,
    /// Fraction of responded samples whose think block was never closed.
    pub unclosed_think_fraction: f64,
}

/// Aggregates `samples` of problems whose reference answers are `references`
/// (indexed by `prompt_index`), with `k` samples per problem.
pub fn aggregate(samples: &[SampleRecord], references: &[i64], k: usize) -> Metrics {
    let mut by_prompt: Vec<Vec<&SampleRecord>> = vec![Vec::new(); references.len()];
    for s in samples {
        by_prompt[s.prompt_index].push(s);
    }
    let prompts = references.len().max(1) as f64;
    let mut pass_sum = 0.0;
    let mut consensus = 0usize;
    for (group, reference) in by_prompt.iter_mut().zip(references) {
        group.sort_by_key(|s| s.sample_index);
        pass_sum += group.iter().filter(|s| s.correct).count() as f64 / k.max(1) as f64;
        if majority_vote(group.iter().map(|s| s.extracted_answer)) == Some(*reference) {
            consensus += 1;
        }
    }
    let ok: Vec<&SampleRecord> = samples.iter().filter(|s| s.succeeded()).collect();
    let mean = |f: &dyn Fn(&SampleRecord) -> f64| {
        if ok.is_empty() {
            0.0
        } else {
            ok.iter().map(|s| f(s)).sum::<f64>() / ok.len() as f64
        }
    };
    Metrics {
        pass_at_1: pass_sum / prompts,
        cons_at_k: consensus as f64 / prompts,
        mean_reasoning_tokens: mean(&|s| s.reasoning_tokens as f64),
        mean_answer_tokens: mean(&|s| s.answer_tokens as f64),
        unclosed_think_fraction: mean(&|s| f64::from(u8::from(s.unclosed_think))),
    }
}

/// The most frequent answer; samples without a number do not vote; a tie goes to
/// the answer that appeared first. `None` when nobody voted.
pub fn majority_vote(answers: impl IntoIterator<Item = Option<i64>>) -> Option<i64> {
    // (answer, votes) in order of first appearance.
    let mut tally: Vec<(i64, usize)> = Vec::new();
    for answer in answers.into_iter().flatten() {
        match tally.iter_mut().find(|(a, _)| *a == answer) {
            Some((_, votes)) => *votes += 1,
            None => tally.push((answer, 1)),
        }
    }
    let most = tally.iter().map(|(_, v)| *v).max()?;
    tally.into_iter().find(|(_, v)| *v == most).map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A responded sample with answer `answer` against reference `reference`.
    fn sample(
        prompt_index: usize,
        sample_index: usize,
        answer: Option<i64>,
        reference: i64,
        reasoning_tokens: u64,
    ) -> SampleRecord {
        SampleRecord {
            prompt_index,
            sample_index,
            seed: None,
            extracted_answer: answer,
            correct: answer == Some(reference),
            reasoning_tokens,
            answer_tokens: 10,
            finish_reason: Some("stop".into()),
            unclosed_think: false,
            error: None,
        }
    }

    #[test]
    fn ties_go_to_the_first_answer_and_non_answers_do_not_vote() {
        assert_eq!(majority_vote([Some(3), Some(5), Some(5), Some(3)]), Some(3));
        assert_eq!(majority_vote([None, None, Some(5)]), Some(5));
        assert_eq!(majority_vote([Some(1), Some(2), Some(2)]), Some(2));
        assert_eq!(majority_vote([None, None]), None);
        assert_eq!(majority_vote([]), None);
    }

    #[test]
    fn pass_at_1_and_cons_at_k_on_hand_made_samples() {
        // k = 4, three problems (references 7, 10, 3).
        // Problem 0: answers 7, 7, 8, none  -> 2/4 correct, majority 7   -> consensus.
        // Problem 1: answers 9, 9, 10, 10   -> 2/4 correct, tie -> 9 (first) -> no consensus.
        // Problem 2: answers 3, 4, 5, 6     -> 1/4 correct, tie -> 3 (first) -> consensus.
        // pass@1 = (0.5 + 0.5 + 0.25) / 3 = 5/12; cons@4 = 2/3.
        let refs = [7, 10, 3];
        let answers = [
            [Some(7), Some(7), Some(8), None],
            [Some(9), Some(9), Some(10), Some(10)],
            [Some(3), Some(4), Some(5), Some(6)],
        ];
        let mut samples = Vec::new();
        for (p, row) in answers.iter().enumerate() {
            for (j, a) in row.iter().enumerate() {
                samples.push(sample(p, j, *a, refs[p], (100 * p + j) as u64));
            }
        }
        // Completion order must not matter: shuffle deterministically.
        samples.reverse();
        samples.swap(1, 7);
        let m = aggregate(&samples, &refs, 4);
        assert!((m.pass_at_1 - 5.0 / 12.0).abs() < 1e-12, "{m:?}");
        assert!((m.cons_at_k - 2.0 / 3.0).abs() < 1e-12, "{m:?}");
        // Reasoning tokens 0..3, 100..103, 200..203: mean 101.5.
        assert!((m.mean_reasoning_tokens - 101.5).abs() < 1e-12);
        assert_eq!(m.mean_answer_tokens, 10.0);
        assert_eq!(m.unclosed_think_fraction, 0.0);
    }

    #[test]
    fn failed_samples_count_as_incorrect_but_not_in_token_means() {
        let mut failed = sample(0, 1, None, 5, 0);
        failed.error = Some("HTTP 500".into());
        let mut open = sample(0, 0, None, 5, 40);
        open.unclosed_think = true;
        open.answer_tokens = 0;
        let samples = vec![sample(0, 2, Some(5), 5, 20), failed, open, sample(0, 3, Some(5), 5, 30)];
        let m = aggregate(&samples, &[5], 4);
        assert_eq!(m.pass_at_1, 0.5);
        assert_eq!(m.cons_at_k, 1.0);
        assert_eq!(m.mean_reasoning_tokens, 30.0);
        assert!((m.mean_answer_tokens - 20.0 / 3.0).abs() < 1e-12);
        assert!((m.unclosed_think_fraction - 1.0 / 3.0).abs() < 1e-12);
    }
}
