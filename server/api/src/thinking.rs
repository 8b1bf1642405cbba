//! Resolving a request's thinking budget (`max_reasoning_tokens` /
//! `thinking_token_budget`, or `reasoning_effort` through `--reasoning-effort-budgets`)
//! into the engine's [`ThinkingBudget`]: the tag ids to watch and the ids to force.

use std::str::FromStr;

use ponder_engine::ThinkingBudget;
use ponder_models::tokenizer::TextTokenizer;

use crate::protocol::{ReasoningEffort, ReasoningOptions};

/// Text of the tags, for tokenizers without single-token tags.
const OPEN_TAG: &str = "<think>";
const CLOSE_TAG: &str = "</think>";

/// `--reasoning-effort-budgets`: reasoning tokens allowed per `reasoning_effort`.
/// `None`: that level is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffortBudgets {
    pub low: Option<usize>,
    pub medium: Option<usize>,
    pub high: Option<usize>,
}

impl Default for EffortBudgets {
    /// low = 512, medium = 2048, high = unlimited.
    fn default() -> Self {
        Self { low: Some(512), medium: Some(2048), high: None }
    }
}

impl FromStr for EffortBudgets {
    type Err = String;

    /// `low=512,medium=2048,high=none` (levels left out keep their default).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut budgets = Self::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (level, value) = item.split_once('=').ok_or_else(|| format!("`{item}` is not LEVEL=TOKENS"))?;
            let value = match value.trim() {
                "none" | "unlimited" => None,
                v => Some(v.parse::<usize>().map_err(|_| format!("`{v}` is not a token count"))?),
            };
            match level.trim() {
                "low" => budgets.low = value,
                "medium" => budgets.medium = value,
                "high" => budgets.high = value,
                other => return Err(format!("unknown reasoning effort `{other}` (low, medium, high)")),
            }
        }
        Ok(budgets)
    }
}

impl EffortBudgets {
    fn of(&self, effort: ReasoningEffort) -> Option<usize> {
        match effort {
            ReasoningEffort::Low => self.low,
            ReasoningEffort::Medium => self.medium,
            ReasoningEffort::High => self.high,
        }
    }
}

/// The server's thinking-budget settings, resolved once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSettings {
    pub effort_budgets: EffortBudgets,
    /// `--reasoning-budget-message`, tokenized: forced before `</think>`.
    pub message_ids: Vec<u32>,
    /// Ids of `<think>` and `</think>`: one id each when the tokenizer has them as
    /// single tokens, else the tags' encodings.
    pub open_ids: Vec<u32>,
    pub close_ids: Vec<u32>,
}

impl BudgetSettings {
    /// Tokenizes the message and the tags (no special tokens added).
    ///
    /// Errors: the tokenizer cannot encode them.
    pub fn new(tokenizer: &TextTokenizer, effort_budgets: EffortBudgets, message: Option<&str>) -> anyhow::Result<Self> {
        let (open_ids, close_ids) = match tokenizer.think_token_ids() {
            Some((open, close)) => (vec![open], vec![close]),
            None => (tokenizer.encode(OPEN_TAG, false)?, tokenizer.encode(CLOSE_TAG, false)?),
        };
        let message_ids = match message {
            Some(text) if !text.is_empty() => tokenizer.encode(text, false)?,
            _ => Vec::new(),
        };
        Ok(Self { effort_budgets, message_ids, open_ids, close_ids })
    }

    /// The budget of one prompt: `max_reasoning_tokens` wins over `reasoning_effort`;
    /// `None` when neither limits reasoning, unless `track` asks for the reasoning
    /// section to be followed anyway (structured output applies after it): then an
    /// unlimited budget.
    pub fn resolve(&self, options: &ReasoningOptions, starts_in_reasoning: bool, track: bool) -> Option<ThinkingBudget> {
        let limit = options.max_reasoning_tokens.or_else(|| options.effort.and_then(|e| self.effort_budgets.of(e)));
        let max_reasoning_tokens = limit.or(track.then_some(usize::MAX))?;
        Some(ThinkingBudget {
            max_reasoning_tokens,
            starts_in_reasoning,
            start_ids: self.open_ids.clone(),
            end_ids: self.close_ids.clone(),
            forced_ids: self.message_ids.iter().chain(&self.close_ids).copied().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BudgetSettings {
        BudgetSettings { effort_budgets: EffortBudgets::default(), message_ids: vec![5, 6], open_ids: vec![1], close_ids: vec![2] }
    }

    fn options(max: Option<usize>, effort: Option<ReasoningEffort>) -> ReasoningOptions {
        ReasoningOptions { include_reasoning: true, max_reasoning_tokens: max, effort }
    }

    #[test]
    fn effort_budgets_parse_with_defaults_and_none() {
        let b: EffortBudgets = "low=64, high=none".parse().unwrap();
        assert_eq!(b, EffortBudgets { low: Some(64), medium: Some(2048), high: None });
        assert!("low=abc".parse::<EffortBudgets>().is_err());
        assert!("extreme=5".parse::<EffortBudgets>().is_err());
        assert!("low".parse::<EffortBudgets>().is_err());
    }

    #[test]
    fn an_explicit_budget_wins_over_effort_and_forces_message_then_close_tag() {
        let b = settings().resolve(&options(Some(7), Some(ReasoningEffort::Low)), true, false).unwrap();
        assert_eq!(b.max_reasoning_tokens, 7);
        assert_eq!(b.forced_ids, [5, 6, 2]);
        assert_eq!((b.start_ids, b.end_ids, b.starts_in_reasoning), (vec![1], vec![2], true));
        let low = settings().resolve(&options(None, Some(ReasoningEffort::Low)), false, false).unwrap();
        assert_eq!(low.max_reasoning_tokens, 512);
    }

    #[test]
    fn no_budget_and_unlimited_effort_leave_reasoning_free() {
        assert_eq!(settings().resolve(&options(None, None), true, false), None);
        assert_eq!(settings().resolve(&options(None, None), true, true).unwrap().max_reasoning_tokens, usize::MAX);
        assert_eq!(settings().resolve(&options(None, Some(ReasoningEffort::High)), true, false), None);
    }
}
