//! `POST /v1/completions` request: raw prompts (text or token ids).

use serde_json::Value;

use super::fields::Fields;
use super::params::{token_id_list, GenerationParams, MAX_TOP_LOGPROBS};
use crate::error::ApiError;

/// One prompt of a completion request.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptInput {
    /// Text, tokenized with the tokenizer's special tokens (BOS) added.
    Text(String),
    /// Token ids, used as they are.
    Tokens(Vec<u32>),
}

/// A validated completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub model: Option<String>,
    /// At least one prompt; choice `i * n + j` is sample `j` of prompt `i`.
    pub prompts: Vec<PromptInput>,
    pub params: GenerationParams,
}

impl CompletionRequest {
    /// Validates a parsed JSON body.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let f = Fields::new(body)?;
        if f.str("suffix")?.is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::invalid("suffix", "`suffix` (insertion) is not supported by this server."));
        }
        let echo = f.bool("echo")?.unwrap_or(false);
        // `echo` with `max_tokens: 0` scores the prompt alone (vLLM's way to get prompt logprobs).
        let mut params = GenerationParams::parse_with(&f, if echo { 0 } else { 1 })?;
        params.echo = echo;
        params.logprobs = f.int_in("logprobs", 0, MAX_TOP_LOGPROBS)?.map(|k| k as usize);
        Ok(Self { model: f.str("model")?.map(str::to_owned), prompts: parse_prompt(f.get("prompt"))?, params })
    }
}

/// `prompt`: a string, a list of strings, a list of token ids or a list of such lists.
fn parse_prompt(prompt: Option<&Value>) -> Result<Vec<PromptInput>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "prompt",
            "`prompt` must be a string, a list of strings, a list of token ids or a list of lists of token ids.",
        )
    };
    let prompts = match prompt {
        None => return Err(ApiError::invalid("prompt", "`prompt` is required.")),
        Some(Value::String(s)) => vec![PromptInput::Text(s.clone())],
        Some(Value::Array(items)) if items.is_empty() => return Err(ApiError::invalid("prompt", "`prompt` must not be empty.")),
        Some(Value::Array(items)) => match &items[0] {
            Value::Number(_) => vec![PromptInput::Tokens(token_id_list(items).ok_or_else(bad)?)],
            Value::String(_) => items
                .iter()
                .map(|v| v.as_str().map(|s| PromptInput::Text(s.to_owned())).ok_or_else(bad))
                .collect::<Result<_, _>>()?,
            Value::Array(_) => items
                .iter()
                .map(|v| match v {
                    Value::Array(ids) if !ids.is_empty() => token_id_list(ids).map(PromptInput::Tokens).ok_or_else(bad),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prompts(p: Value) -> Result<Vec<PromptInput>, ApiError> {
        CompletionRequest::parse(&json!({ "prompt": p })).map(|r| r.prompts)
    }

    #[test]
    fn all_four_prompt_shapes_are_accepted() {
        assert_eq!(prompts(json!("hi")).unwrap(), vec![PromptInput::Text("hi".into())]);
        assert_eq!(prompts(json!(["a", "b"])).unwrap().len(), 2);
        assert_eq!(prompts(json!([1, 2, 3])).unwrap(), vec![PromptInput::Tokens(vec![1, 2, 3])]);
        assert_eq!(
            prompts(json!([[1], [2, 3]])).unwrap(),
            vec![PromptInput::Tokens(vec![1]), PromptInput::Tokens(vec![2, 3])]
        );
    }

    #[test]
    fn malformed_prompts_are_rejected_naming_prompt() {
        for bad in [json!(null), json!(5), json!([]), json!([1, "a"]), json!([[1], []]), json!([-3]), json!([{}])] {
            let err = prompts(bad.clone()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("prompt"), "{bad}");
        }
    }

    #[test]
    fn legacy_logprobs_and_echo_are_parsed_and_suffix_is_rejected() {
        let err = CompletionRequest::parse(&json!({"prompt": "hi", "suffix": "x"})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("suffix"));
        let req = CompletionRequest::parse(&json!({"prompt": "hi", "echo": true, "logprobs": 3, "max_tokens": 0})).unwrap();
        assert_eq!((req.params.logprobs, req.params.echo, req.params.max_tokens), (Some(3), true, Some(0)));
        assert_eq!(req.params.engine_prompt_logprobs(), Some(3), "echo scores the prompt");
        let req = CompletionRequest::parse(&json!({"prompt": "hi", "logprobs": 0, "prompt_logprobs": 5})).unwrap();
        assert_eq!((req.params.logprobs, req.params.engine_prompt_logprobs()), (Some(0), Some(5)));
        for (field, body) in [
            ("max_tokens", json!({"prompt": "hi", "max_tokens": 0})),
            ("logprobs", json!({"prompt": "hi", "logprobs": 21})),
            ("logprobs", json!({"prompt": "hi", "logprobs": true})),
            ("echo", json!({"prompt": "hi", "echo": "yes"})),
            ("prompt_logprobs", json!({"prompt": "hi", "prompt_logprobs": -1})),
        ] {
            assert_eq!(CompletionRequest::parse(&body).unwrap_err().param.as_deref(), Some(field), "{body}");
        }
    }
}
