//! The requests of a run: synthetic prompts, a JSONL of prompts, or GRPO-shaped
//! groups (P prompts × n samples).
//!
//! Synthetic prompts are built from common lowercase English words, each one token
//! in the Llama, Qwen and GPT BPE vocabularies when preceded by a space, so a prompt
//! of `len` words is about `len` tokens (plus the chat template's own tokens). The
//! length is approximate; the report gives the server's `usage.prompt_tokens`.

use std::path::Path;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::args::{DatasetKind, LoadArgs};

/// Words of about one token each.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
    "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
    "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so",
    "no", "time", "people", "water", "house", "world", "day", "year", "city", "book", "light", "river", "tree",
];

/// One HTTP request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    /// Index of the prompt in the dataset (GRPO: the group).
    pub prompt_index: usize,
    pub prompt: String,
    /// `max_tokens` of the request.
    pub max_tokens: usize,
    /// Choices requested (`n`); more than 1 only in GRPO mode without `--grpo-split`.
    pub n: usize,
}

/// A JSONL line.
#[derive(Deserialize)]
struct Line {
    prompt: String,
    max_tokens: Option<usize>,
}

/// The requests `args` describe, in sending order. Errors on unreadable or
/// malformed JSONL, a missing `--dataset-path` for `jsonl`, or zero counts.
pub fn build(args: &LoadArgs) -> anyhow::Result<Vec<RequestSpec>> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed_da7a);
    match args.dataset {
        DatasetKind::Synthetic => Ok(synthetic(args, args.num_prompts, &mut rng)),
        DatasetKind::Jsonl => {
            let path = args.dataset_path.as_deref().context("--dataset jsonl needs --dataset-path")?;
            Ok(cycle(read_jsonl(path, args.output_len)?, args.num_prompts))
        }
        DatasetKind::Grpo => {
            anyhow::ensure!(args.grpo_prompts > 0 && args.grpo_samples > 0, "--grpo-prompts and --grpo-samples must be at least 1");
            let prompts = match &args.dataset_path {
                Some(path) => cycle(read_jsonl(path, args.output_len)?, args.grpo_prompts),
                None => synthetic(args, args.grpo_prompts, &mut rng),
            };
            Ok(grpo(prompts, args.grpo_samples, args.grpo_split))
        }
    }
}

/// `count` prompts of about `input_len·(1±range_ratio)` tokens with as many `max_tokens`.
fn synthetic(args: &LoadArgs, count: usize, rng: &mut StdRng) -> Vec<RequestSpec> {
    (0..count)
        .map(|i| {
            let input = uniform_len(args.input_len, args.range_ratio, rng).max(1);
            let output = uniform_len(args.output_len, args.range_ratio, rng).max(1);
            RequestSpec { prompt_index: i, prompt: synthetic_prompt(input, rng), max_tokens: output, n: 1 }
        })
        .collect()
}

/// An integer drawn uniformly from [len·(1−r), len·(1+r)] (vLLM's random dataset).
pub fn uniform_len(len: usize, range_ratio: f64, rng: &mut StdRng) -> usize {
    let lo = (len as f64 * (1.0 - range_ratio)).floor().max(0.0) as usize;
    let hi = (len as f64 * (1.0 + range_ratio)).floor() as usize;
    rng.random_range(lo..=hi)
}

/// `words` random words separated by spaces: about `words` tokens.
pub fn synthetic_prompt(words: usize, rng: &mut StdRng) -> String {
    (0..words).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn read_jsonl(path: &Path, default_max_tokens: usize) -> anyhow::Result<Vec<RequestSpec>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line: Line =
            serde_json::from_str(line).with_context(|| format!("{}:{}: expected {{\"prompt\": str}}", path.display(), i + 1))?;
        let max_tokens = line.max_tokens.unwrap_or(default_max_tokens);
        out.push(RequestSpec { prompt_index: out.len(), prompt: line.prompt, max_tokens, n: 1 });
    }
    anyhow::ensure!(!out.is_empty(), "{} holds no prompt", path.display());
    Ok(out)
}

/// The first `count` of `specs`, reused cyclically when there are fewer.
fn cycle(specs: Vec<RequestSpec>, count: usize) -> Vec<RequestSpec> {
    specs.iter().cycle().take(count).enumerate().map(|(i, s)| RequestSpec { prompt_index: i, ..s.clone() }).collect()
}

/// Each prompt as one request with `n` choices, or (`split`) as `n` requests.
fn grpo(prompts: Vec<RequestSpec>, n: usize, split: bool) -> Vec<RequestSpec> {
    if !split {
        return prompts.into_iter().map(|p| RequestSpec { n, ..p }).collect();
    }
    prompts.into_iter().flat_map(|p| std::iter::repeat_n(p, n)).collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadArgs,
    }

    fn args(argv: &[&str]) -> LoadArgs {
        Cli::try_parse_from(std::iter::once("load").chain(argv.iter().copied())).unwrap().args
    }

    #[test]
    fn synthetic_prompts_have_the_requested_word_counts() {
        let specs = build(&args(&["--num-prompts", "50", "--input-len", "100", "--output-len", "20"])).unwrap();
        assert_eq!(specs.len(), 50);
        for s in &specs {
            assert_eq!(s.prompt.split(' ').count(), 100);
            assert!(s.prompt.split(' ').all(|w| WORDS.contains(&w)));
            assert_eq!((s.max_tokens, s.n), (20, 1));
        }
        assert_ne!(specs[0].prompt, specs[1].prompt);
    }

    #[test]
    fn range_ratio_spreads_lengths_uniformly_within_bounds() {
        let specs = build(&args(&["--num-prompts", "400", "--input-len", "100", "--range-ratio", "0.5"])).unwrap();
        let lens: Vec<usize> = specs.iter().map(|s| s.prompt.split(' ').count()).collect();
        assert!(lens.iter().all(|l| (50..=150).contains(l)));
        let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        assert!((mean - 100.0).abs() < 5.0, "mean {mean}");
        assert!(lens.iter().any(|l| *l < 60) && lens.iter().any(|l| *l > 140));
        assert!(specs.iter().all(|s| (64..=192).contains(&s.max_tokens)));
    }

    #[test]
    fn jsonl_lines_are_read_and_cycled_and_grpo_groups_them() {
        let path = std::env::temp_dir().join(format!("ponder-bench-load-ds-{}.jsonl", std::process::id()));
        std::fs::write(&path, "{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\", \"max_tokens\": 7}\n").unwrap();
        let p = path.to_str().unwrap();
        let specs = build(&args(&["--dataset", "jsonl", "--dataset-path", p, "--num-prompts", "3"])).unwrap();
        let got: Vec<(&str, usize, usize)> = specs.iter().map(|s| (s.prompt.as_str(), s.max_tokens, s.prompt_index)).collect();
        assert_eq!(got, vec![("a", 128, 0), ("b", 7, 1), ("a", 128, 2)]);

        let grpo = ["--dataset", "grpo", "--dataset-path", p, "--grpo-prompts", "2", "--grpo-samples", "4"];
        let specs = build(&args(&grpo)).unwrap();
        assert_eq!(specs.iter().map(|s| (s.prompt.as_str(), s.n)).collect::<Vec<_>>(), vec![("a", 4), ("b", 4)]);
        let split = build(&args(&[&grpo[..], &["--grpo-split"]].concat())).unwrap();
        assert_eq!(split.len(), 8);
        assert!(split.iter().all(|s| s.n == 1) && split[3].prompt == "a" && split[4].prompt == "b");
        std::fs::remove_file(&path).unwrap();
        assert!(build(&args(&["--dataset", "jsonl"])).is_err());
    }
}
