//! `POST /v1/chat/completions` request: messages plus generation parameters.

use serde_json::{Map, Value};

use super::fields::Fields;
use super::params::{GenerationParams, MAX_TOP_LOGPROBS};
use crate::error::ApiError;

/// Most messages one request may carry (OpenAI's limit).
pub const MAX_MESSAGES: usize = 2048;

/// Roles a message may have (`developer` is OpenAI's newer name for `system`).
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// A validated chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// `model` as sent (`None`: the served model).
    pub model: Option<String>,
    /// Messages ready for the chat template: content flattened to a string, reasoning
    /// fields of earlier assistant turns dropped.
    pub messages: Vec<Value>,
    pub params: GenerationParams,
    /// Extra template variables: `chat_template_kwargs`, plus `tools` when sent.
    pub template_kwargs: Map<String, Value>,
}

impl ChatRequest {
    /// Validates a parsed JSON body.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let f = Fields::new(body)?;
        let mut params = GenerationParams::parse(&f)?;
        params.logprobs = parse_logprobs(&f)?;
        let mut template_kwargs = f.object("chat_template_kwargs")?.cloned().unwrap_or_default();
        if let Some(tools) = f.array("tools")? {
            template_kwargs.insert("tools".into(), Value::Array(tools.clone()));
        }
        Ok(Self {
            model: f.str("model")?.map(str::to_owned),
            messages: parse_messages(&f)?,
            params,
            template_kwargs,
        })
    }
}

/// Chat `logprobs` (bool) and `top_logprobs` (0..=20, needs `logprobs: true`).
fn parse_logprobs(f: &Fields) -> Result<Option<usize>, ApiError> {
    let top = f.int_in("top_logprobs", 0, MAX_TOP_LOGPROBS)?;
    match (f.bool("logprobs")?.unwrap_or(false), top) {
        (true, top) => Ok(Some(top.unwrap_or(0) as usize)),
        (false, Some(t)) if t > 0 => Err(ApiError::invalid("top_logprobs", "`top_logprobs` needs `logprobs: true`.")),
        (false, _) => Ok(None),
    }
}

pub(crate) fn parse_messages(f: &Fields) -> Result<Vec<Value>, ApiError> {
    let Some(items) = f.array("messages")? else {
        return Err(ApiError::invalid("messages", "`messages` is required."));
    };
    if items.is_empty() {
        return Err(ApiError::invalid("messages", "`messages` must not be empty."));
    }
    if items.len() > MAX_MESSAGES {
        return Err(ApiError::invalid("messages", format!("`messages` may hold at most {MAX_MESSAGES} messages, got {}.", items.len())));
    }
    items.iter().enumerate().map(|(i, m)| parse_message(i, m)).collect()
}

/// One message, normalized for the template.
fn parse_message(index: usize, message: &Value) -> Result<Value, ApiError> {
    let param = |field: &str| format!("messages[{index}].{field}");
    let Value::Object(map) = message else {
        return Err(ApiError::invalid(format!("messages[{index}]"), "Each message must be an object."));
    };
    let role = match map.get("role") {
        Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.clone(),
        Some(Value::String(r)) => {
            return Err(ApiError::invalid(param("role"), format!("Unknown role {r:?}; expected one of {ROLES:?}.")))
        }
        _ => return Err(ApiError::invalid(param("role"), "Each message needs a string `role`.")),
    };
    let mut out = map.clone();
    out.remove("reasoning_content");
    out.remove("reasoning");
    let content = match map.get("content") {
        None | Some(Value::Null) if role == "assistant" || role == "tool" => Value::String(String::new()),
        None | Some(Value::Null) => return Err(ApiError::invalid(param("content"), "`content` is required.")),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(parts)) => Value::String(flatten_parts(parts).map_err(|m| ApiError::invalid(param("content"), m))?),
        Some(_) => return Err(ApiError::invalid(param("content"), "`content` must be a string or a list of text parts.")),
    };
    out.insert("role".into(), Value::String(role));
    out.insert("content".into(), content);
    Ok(Value::Object(out))
}

/// Joins `[{"type": "text", "text": ...}]` parts with newlines (as vLLM does).
fn flatten_parts(parts: &[Value]) -> Result<String, String> {
    let texts = parts
        .iter()
        .map(|p| match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
            (Some("text"), Some(t)) => Ok(t),
            (Some(kind), _) if kind != "text" => Err(format!("Content parts of type {kind:?} are not supported; only text.")),
            _ => Err("Each content part must be {\"type\": \"text\", \"text\": string}.".to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(texts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param_of(body: Value) -> String {
        ChatRequest::parse(&body).unwrap_err().param.unwrap_or_default()
    }

    #[test]
    fn missing_or_malformed_messages_are_rejected_naming_the_field() {
        assert_eq!(param_of(json!({"model": "m"})), "messages");
        assert_eq!(param_of(json!({"messages": []})), "messages");
        assert_eq!(param_of(json!({"messages": "hi"})), "messages");
        assert_eq!(param_of(json!({"messages": [{"role": "wizard", "content": "x"}]})), "messages[0].role");
        assert_eq!(param_of(json!({"messages": [{"role": "user"}]})), "messages[0].content");
        assert_eq!(param_of(json!({"messages": [{"role": "user", "content": 5}]})), "messages[0].content");
        let image = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]});
        assert_eq!(param_of(image), "messages[0].content");
        let many = vec![json!({"role": "user", "content": "x"}); MAX_MESSAGES + 1];
        assert_eq!(param_of(json!({ "messages": many })), "messages");
        assert!(ChatRequest::parse(&json!({ "messages": vec![json!({"role": "user", "content": "x"}); MAX_MESSAGES] })).is_ok());
    }

    #[test]
    fn reasoning_fields_of_earlier_turns_are_dropped_not_rejected() {
        let body = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", "reasoning_content": "greet", "reasoning": "greet"},
            {"role": "user", "content": "again"}
        ]});
        let req = ChatRequest::parse(&body).unwrap();
        assert_eq!(req.messages[1], json!({"role": "assistant", "content": "hello"}));
    }

    #[test]
    fn text_parts_are_flattened_into_one_string() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
        assert_eq!(ChatRequest::parse(&body).unwrap().messages[0]["content"], "a\nb");
    }

    #[test]
    fn logprobs_and_top_logprobs_are_validated_together() {
        let base = |extra: Value| {
            let mut b = json!({"messages": [{"role": "user", "content": "x"}]});
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            b
        };
        assert_eq!(ChatRequest::parse(&base(json!({"logprobs": true, "top_logprobs": 3}))).unwrap().params.logprobs, Some(3));
        assert_eq!(ChatRequest::parse(&base(json!({"logprobs": true}))).unwrap().params.logprobs, Some(0));
        assert_eq!(ChatRequest::parse(&base(json!({}))).unwrap().params.logprobs, None);
        assert_eq!(param_of(base(json!({"top_logprobs": 21, "logprobs": true}))), "top_logprobs");
        assert_eq!(param_of(base(json!({"top_logprobs": 2}))), "top_logprobs");
        assert_eq!(param_of(base(json!({"logprobs": 2}))), "logprobs");
    }

    #[test]
    fn template_kwargs_and_tools_reach_the_template() {
        let body = json!({"messages": [{"role": "user", "content": "x"}],
            "chat_template_kwargs": {"enable_thinking": false}, "tools": [{"type": "function"}]});
        let req = ChatRequest::parse(&body).unwrap();
        assert_eq!(req.template_kwargs["enable_thinking"], false);
        assert!(req.template_kwargs["tools"].is_array());
    }
}
