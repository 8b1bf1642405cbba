//! Does the rendered prompt leave a think block open? (API.md: decide from the prompt,
//! not from a model name.)

use super::segment::{CLOSE_TAG, OPEN_TAG};
use super::ThinkTokenIds;

/// Whether the rendered chat prompt ends inside an open think block: its last
/// `<think>` is not followed by a `</think>`. True for the R1-distill template
/// (`…<｜Assistant｜><think>\n`); false for Qwen3 with `enable_thinking: false`
/// (`…<think>\n\n</think>\n\n`) and for prompts without tags.
pub fn prompt_opens_reasoning(prompt: &str) -> bool {
    match prompt.rfind(OPEN_TAG) {
        Some(at) => !prompt[at..].contains(CLOSE_TAG),
        None => false,
    }
}

/// [`prompt_opens_reasoning`] on prompt token ids, for tokenizers with single-token tags.
pub fn prompt_ids_open_reasoning(prompt_ids: &[u32], ids: ThinkTokenIds) -> bool {
    match prompt_ids.iter().rposition(|&id| id == ids.open) {
        Some(at) => !prompt_ids[at..].contains(&ids.close),
        None => false,
    }
}

/// Whether the prompt's last think tag closes a block: the template disabled thinking
/// (Qwen3's `enable_thinking: false` writes `<think>\n\n</think>\n\n`). By id when the
/// tokenizer has single-token tags, else on the text.
pub fn prompt_closes_reasoning(prompt: &str, prompt_ids: &[u32], ids: Option<ThinkTokenIds>) -> bool {
    match ids {
        Some(t) => prompt_ids.iter().rposition(|&id| id == t.close) > prompt_ids.iter().rposition(|&id| id == t.open),
        None => prompt.rfind(CLOSE_TAG) > prompt.rfind(OPEN_TAG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_last_block_means_thinking_was_disabled() {
        let ids = ThinkTokenIds { open: 1, close: 2 };
        assert!(prompt_closes_reasoning("", &[5, 1, 7, 2, 9], Some(ids)));
        assert!(!prompt_closes_reasoning("", &[5, 1, 7], Some(ids)));
        assert!(!prompt_closes_reasoning("", &[5, 9], Some(ids)));
        assert!(prompt_closes_reasoning("assistant\n<think>\n\n</think>\n\n", &[], None));
        assert!(!prompt_closes_reasoning("<｜Assistant｜><think>\n", &[], None));
        assert!(!prompt_closes_reasoning("no tags", &[], None));
    }
}
