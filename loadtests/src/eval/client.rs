//! One evaluation sample over HTTP: a non-streaming chat completion with `n = 1`, so
//! that every sample carries its own seed.

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Sampling settings shared by every request; `None` leaves the server's default.
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
}

/// The `/chat/completions` body for one sample of `prompt`.
pub fn request_body(sampling: &Sampling, prompt: &str, seed: Option<u64>) -> Value {
    let mut body = json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": sampling.max_tokens,
        "n": 1,
        "stream": false,
    });
    let optional = [
        ("model", sampling.model.as_ref().map(|m| json!(m))),
        ("temperature", sampling.temperature.map(|t| json!(t))),
        ("top_p", sampling.top_p.map(|p| json!(p))),
        ("seed", seed.map(|s| json!(s))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    body
}

/// What the evaluation reads from one response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// `choices[0].message.content`: the answer, the only text answers are taken from.
    pub content: Option<String>,
    /// `choices[0].message.reasoning_content` (or vLLM's newer `reasoning`).
    pub reasoning: Option<String>,
    /// `choices[0].finish_reason`: "stop", "length", ...
    pub finish_reason: Option<String>,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// `usage.completion_tokens_details.reasoning_tokens`; 0 when the server omits it.
    pub reasoning_tokens: u64,
}

impl Completion {
    /// Reads a chat completion response. Errors when it has no choice or no `usage`.
    pub fn from_response(body: &Value) -> anyhow::Result<Self> {
        let choice = &body["choices"][0];
        if choice.is_null() {
            bail!("response has no choices: {body}");
        }
        let message = &choice["message"];
        let text = |key: &str| message[key].as_str().map(str::to_owned);
        let usage = &body["usage"];
        let completion_tokens = usage["completion_tokens"]
            .as_u64()
            .with_context(|| format!("response has no usage.completion_tokens: {body}"))?;
        Ok(Self {
            content: text("content"),
            reasoning: text("reasoning_content").or_else(|| text("reasoning")),
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
            completion_tokens,
            reasoning_tokens: usage["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap_or(0),
        })
    }

    /// Tokens of the answer: `completion_tokens − reasoning_tokens`.
    pub fn answer_tokens(&self) -> u64 {
        self.completion_tokens.saturating_sub(self.reasoning_tokens)
    }

    /// Whether the think block was left open: generation hit `max_tokens`
    /// (`finish_reason == "length"`) with reasoning text but no answer text
    /// (content null or empty). Such a sample has no answer and counts as incorrect.
    pub fn unclosed_think(&self) -> bool {
        let empty = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
        self.finish_reason.as_deref() == Some("length") && empty(&self.content) && !empty(&self.reasoning)
    }
}

/// Sends one request and reads the response. Errors on transport failures, non-2xx
/// statuses (with the body) and malformed responses.
pub async fn complete(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Completion> {
    let resp = client.post(url).json(body).send().await?;
    let status = resp.status();
    if !status.is_success() {
        bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    let json: Value = resp.json().await.context("response is not JSON")?;
    Completion::from_response(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_settings_are_sent_only_when_given() {
        let bare = request_body(&Sampling { max_tokens: 64, ..Default::default() }, "hi", None);
        assert_eq!(
            bare,
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64, "n": 1, "stream": false})
        );
        let sampling = Sampling { model: Some("m".into()), temperature: Some(0.6), top_p: Some(0.95), max_tokens: 8 };
        let full = request_body(&sampling, "hi", Some(7));
        assert_eq!(
            (&full["model"], &full["temperature"], &full["top_p"], &full["seed"]),
            (&json!("m"), &json!(0.6), &json!(0.95), &json!(7))
        );
    }

    #[test]
    fn a_reasoning_response_is_read_with_its_token_split() {
        let body = json!({
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "The answer is 32.", "reasoning_content": "1 + 31 = 32"}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29,
                "completion_tokens_details": {"reasoning_tokens": 14}}
        });
        let c = Completion::from_response(&body).unwrap();
        assert_eq!(c.content.as_deref(), Some("The answer is 32."));
        assert_eq!(c.reasoning.as_deref(), Some("1 + 31 = 32"));
        assert_eq!((c.completion_tokens, c.reasoning_tokens, c.answer_tokens()), (20, 14, 6));
        assert!(!c.unclosed_think());
    }

    #[test]
    fn vllm_reasoning_field_and_missing_details_are_accepted() {
        let body = json!({"choices": [{"finish_reason": "length", "message": {"content": null, "reasoning": "hmm"}}],
            "usage": {"completion_tokens": 5}});
        let c = Completion::from_response(&body).unwrap();
        assert_eq!((c.reasoning.as_deref(), c.reasoning_tokens, c.answer_tokens()), (Some("hmm"), 0, 5));
    }

    #[test]
    fn an_open_think_block_is_length_with_reasoning_and_no_content() {
        let c = |finish: &str, content: Option<&str>, reasoning: Option<&str>| Completion {
            finish_reason: Some(finish.into()),
            content: content.map(Into::into),
            reasoning: reasoning.map(Into::into),
            ..Default::default()
        };
        assert!(c("length", None, Some("thinking")).unclosed_think());
        assert!(c("length", Some(""), Some("thinking")).unclosed_think());
        assert!(!c("length", Some("4"), Some("thinking")).unclosed_think());
        assert!(!c("stop", None, Some("thinking")).unclosed_think());
        assert!(!c("length", None, None).unclosed_think());
    }

    #[test]
    fn responses_without_choices_or_usage_are_errors() {
        assert!(Completion::from_response(&json!({"choices": [], "usage": {"completion_tokens": 1}})).is_err());
        assert!(Completion::from_response(&json!({"choices": [{"message": {"content": "1"}}]})).is_err());
    }
}
