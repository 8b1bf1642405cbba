//! Whether a rendered prompt leaves a think block open.
//!
//! Reasoning templates may open the think block themselves (the updated
//! DeepSeek-R1 templates end the prompt with `<｜Assistant｜><think>\n`); the model's
//! output then starts inside reasoning with no opening tag. This is decided from the
//! prompt, never from a model name: the prompt opens reasoning when its last
//! `<think>` comes after its last `</think>`.

/// The think-block tags as text.
pub const THINK_OPEN: &str = "<think>";
/// The closing think tag as text.
pub const THINK_CLOSE: &str = "</think>";

/// Whether `prompt_ids` end inside an open think block, given the ids of the
/// single-token `<think>` and `</think>`.
pub fn ids_open_reasoning(prompt_ids: &[u32], open: u32, close: u32) -> bool {
    let last_open = prompt_ids.iter().rposition(|&id| id == open);
    let last_close = prompt_ids.iter().rposition(|&id| id == close);
    match (last_open, last_close) {
        (Some(o), Some(c)) => o > c,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Whether the rendered prompt text ends inside an open think block.
pub fn text_opens_reasoning(prompt: &str) -> bool {
    match (prompt.rfind(THINK_OPEN), prompt.rfind(THINK_CLOSE)) {
        (Some(o), Some(c)) => o > c,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_ending_after_an_opening_tag_opens_reasoning() {
        assert!(ids_open_reasoning(&[5, 1, 7], 1, 2));
        assert!(ids_open_reasoning(&[1, 2, 9, 1, 8], 1, 2));
        assert!(text_opens_reasoning("<｜Assistant｜><think>\n"));
    }

    #[test]
    fn a_closed_or_absent_think_block_does_not_open_reasoning() {
        assert!(!ids_open_reasoning(&[1, 2], 1, 2));
        assert!(!ids_open_reasoning(&[3, 4], 1, 2));
        assert!(!ids_open_reasoning(&[], 1, 2));
        assert!(!text_opens_reasoning("<think>\n\n</think>\n\n"));
        assert!(!text_opens_reasoning("<|im_start|>assistant\n"));
    }
}
