//! `POST /v1/completions` request: raw prompts (text or token ids).

use serde_json::Value;

use super::fields::Fields;
use super::params::{token_id_list, GenerationParams};
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
        reject_unsupported(&f)?;
        Ok(Self {
            model: f.str("model")?.map(str::to_owned),
            prompts: parse_prompt(f.get("prompt"))?,
            params: GenerationParams::parse(&f)?,
        })
    }
}

/// `echo`, `suffix` and the legacy integer `logprobs` are not implemented: say so.
fn reject_unsupported(f: &Fields) -> Result<(), ApiError> {
    if f.bool("echo")?.unwrap_or(false) {
        return Err(ApiError::invalid("echo", "`echo` is not supported by this server."));
    }
    if f.str("suffix")?.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid("suffix", "`suffix` is not supported by this server."));
    }
    if f.get("logprobs").is_some() {
        return Err(ApiError::invalid(
            "logprobs",
            "Legacy completion `logprobs` are not supported by this server; use /v1/chat/completions with `logprobs: true`.",
        ));
    }
    Ok(())
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
    fn echo_suffix_and_legacy_logprobs_are_rejected_as_not_supported() {
        for (field, value) in [("echo", json!(true)), ("suffix", json!("x")), ("logprobs", json!(2))] {
            let mut body = json!({"prompt": "hi"});
            body[field] = value;
            let err = CompletionRequest::parse(&body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(field));
            assert!(err.message.contains("not supported"));
        }
        assert!(CompletionRequest::parse(&json!({"prompt": "hi", "echo": false, "logprobs": null})).is_ok());
    }
}
