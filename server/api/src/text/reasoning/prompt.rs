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
