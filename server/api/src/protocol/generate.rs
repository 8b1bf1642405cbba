//! SGLang's native `POST /generate` request: `text` or `input_ids` (one prompt or a
//! batch), `sampling_params` under SGLang's names, `return_logprob`,
//! `top_logprobs_num`, `logprob_start_len`, `stream`, `rid`.
//!
//! `sampling_params` is translated to the OpenAI names once and validated by
//! [`GenerationParams::parse`]; an error names the SGLang field
//! (`sampling_params.max_new_tokens`).

use serde_json::{Map, Value};

use super::completion::PromptInput;
use super::fields::{as_integer, Fields};
use super::params::{token_id_list, GenerationParams, MAX_TOP_LOGPROBS};
use crate::error::ApiError;

/// SGLang's default `max_new_tokens`.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 128;

/// SGLang `sampling_params` keys and the OpenAI/vLLM field each becomes.
const SAMPLING_NAMES: &[(&str, &str)] = &[
    ("max_new_tokens", "max_tokens"),
    ("min_new_tokens", "min_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("min_p", "min_p"),
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
    ("repetition_penalty", "repetition_penalty"),
    ("stop", "stop"),
    ("stop_token_ids", "stop_token_ids"),
    ("ignore_eos", "ignore_eos"),
    ("skip_special_tokens", "skip_special_tokens"),
    ("n", "n"),
    ("sampling_seed", "seed"),
    ("seed", "seed"),
    ("logit_bias", "logit_bias"),
];

/// A validated `/generate` request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompts: Vec<PromptInput>,
    /// The body held a list of prompts (the answer is then a list too).
    pub batch: bool,
    pub params: GenerationParams,
    /// `return_logprob`: `output_token_logprobs` (and `input_token_logprobs` from
    /// `logprob_start_len`) in `meta_info`.
    pub return_logprob: bool,
    /// `logprob_start_len` when `return_logprob` and it is `>= 0`: score the prompt from
    /// this position on (SGLang's default -1: not at all).
    pub logprob_start_len: Option<usize>,
    /// `rid`: the request id (the response's `meta_info.id`, usable by `/abort_requests`).
    pub rid: Option<String>,
}

impl GenerateRequest {
    /// Validates a parsed JSON body.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let f = Fields::new(body)?;
        let (prompts, batch) = parse_inputs(&f)?;
        let sampling = match f.get("sampling_params") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(ApiError::invalid("sampling_params", "`sampling_params` must be an object (one for every prompt).")),
        };
        let mut translated = translate(&sampling)?;
        translated.entry("max_tokens").or_insert(Value::from(DEFAULT_MAX_NEW_TOKENS));
        // Checked here, under its own (top-level) name.
        translated.insert("stream".into(), Value::Bool(f.bool("stream")?.unwrap_or(false)));
        let translated = Value::Object(translated);
        let mut params = GenerationParams::parse(&Fields::new(&translated)?).map_err(rename_param)?;
        let return_logprob = f.bool("return_logprob")?.unwrap_or(false);
        let top = f.int_in("top_logprobs_num", 0, MAX_TOP_LOGPROBS)?.unwrap_or(0) as usize;
        params.logprobs = return_logprob.then_some(top);
        let start = f.int_in("logprob_start_len", -1, i64::MAX)?.unwrap_or(-1);
        let logprob_start_len = (return_logprob && start >= 0).then_some(start as usize);
        params.prompt_logprobs = logprob_start_len.map(|_| top);
        params.return_token_ids = true;
        let rid = match f.get("rid") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() && !batch => Some(s.clone()),
            Some(_) => return Err(ApiError::invalid("rid", "`rid` must be a non-empty string (one prompt per request)."))
        };
        Ok(Self { prompts, batch, params, return_logprob, logprob_start_len, rid })
    }
}

/// Exactly one of `text` (a string or a list of strings) and `input_ids` (a list of
/// ids or a list of such lists). Returns the prompts and whether they came as a list.
fn parse_inputs(f: &Fields) -> Result<(Vec<PromptInput>, bool), ApiError> {
    match (f.get("text"), f.get("input_ids")) {
        (Some(_), Some(_)) => Err(ApiError::invalid("input_ids", "Send either `text` or `input_ids`, not both.")),
        (None, None) => Err(ApiError::invalid("text", "`text` or `input_ids` is required.")),
        (Some(Value::String(s)), None) => Ok((vec![PromptInput::Text(s.clone())], false)),
        (Some(Value::Array(items)), None) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(|s| PromptInput::Text(s.to_owned())))
            .collect::<Option<Vec<_>>>()
            .map(|p| (p, true))
            .ok_or_else(|| ApiError::invalid("text", "`text` must be a string or a non-empty list of strings.")),
        (Some(_), None) => Err(ApiError::invalid("text", "`text` must be a string or a non-empty list of strings.")),
        (None, Some(Value::Array(items))) if !items.is_empty() => {
            let bad = || ApiError::invalid("input_ids", "`input_ids` must be a non-empty list of token ids or a list of such lists.");
            if items[0].is_array() {
                let prompts = items
                    .iter()
                    .map(|v| v.as_array().filter(|ids| !ids.is_empty()).and_then(|ids| token_id_list(ids)).map(PromptInput::Tokens))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?;
                Ok((prompts, true))
            } else {
                Ok((vec![PromptInput::Tokens(token_id_list(items).ok_or_else(bad)?)], false))
            }
        }
        (None, Some(_)) => Err(ApiError::invalid("input_ids", "`input_ids` must be a non-empty list of token ids or a list of such lists.")),
    }
}

/// SGLang names to OpenAI names; an unknown key is a 400 naming it.
fn translate(sampling: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, value) in sampling {
        if value.is_null() {
            continue;
        }
        if key == "json_schema" {
            let schema: Value = match value {
                Value::String(s) => serde_json::from_str(s)
                    .map_err(|e| ApiError::invalid("sampling_params.json_schema", format!("`json_schema` is not valid JSON: {e}")))?,
                other => other.clone(),
            };
            out.insert("response_format".into(), serde_json::json!({"type": "json_schema", "json_schema": {"name": "schema", "schema": schema}}));
            continue;
        }
        let Some(&(_, name)) = SAMPLING_NAMES.iter().find(|(sglang, _)| sglang == key) else {
            return Err(ApiError::invalid(format!("sampling_params.{key}"), format!("`sampling_params.{key}` is not supported by this server.")));
        };
        if name == "top_k" && as_integer(value) == Some(-1) {
            continue; // SGLang's "disabled"
        }
        out.insert(name.into(), value.clone());
    }
    Ok(out)
}

/// Names an error's field as SGLang spells it.
fn rename_param(mut e: ApiError) -> ApiError {
    if let Some(param) = e.param.take() {
        let sglang = SAMPLING_NAMES.iter().find(|(_, ours)| *ours == param).map_or(param.as_str(), |(s, _)| s);
        let sglang = if param == "response_format" { "json_schema" } else { sglang };
        e.message = e.message.replace(&format!("`{param}`"), &format!("`{sglang}`"));
        e.param = Some(format!("sampling_params.{sglang}"));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sglang_names_become_generation_params() {
        let req = GenerateRequest::parse(&json!({
            "text": "hi",
            "sampling_params": {"max_new_tokens": 7, "temperature": 0, "top_k": -1, "stop_token_ids": [3], "n": 2, "ignore_eos": true},
            "return_logprob": true, "top_logprobs_num": 2,
        }))
        .unwrap();
        assert!(!req.batch);
        assert_eq!(req.prompts, vec![PromptInput::Text("hi".into())]);
        let p = &req.params;
        assert_eq!((p.max_tokens, p.temperature, p.top_k, p.n, p.ignore_eos), (Some(7), Some(0.0), None, 2, true));
        assert_eq!((p.stop_token_ids.clone(), p.logprobs, p.prompt_logprobs), (vec![3], Some(2), None));
    }

    #[test]
    fn defaults_batches_and_prompt_scoring() {
        let req = GenerateRequest::parse(&json!({"input_ids": [[1, 2], [3]], "return_logprob": true, "logprob_start_len": 0})).unwrap();
        assert!(req.batch);
        assert_eq!(req.params.max_tokens, Some(DEFAULT_MAX_NEW_TOKENS));
        assert_eq!((req.logprob_start_len, req.params.prompt_logprobs, req.params.logprobs), (Some(0), Some(0), Some(0)));
    }

    #[test]
    fn errors_name_the_sglang_field() {
        for (body, param) in [
            (json!({"text": "hi", "sampling_params": {"max_new_tokens": 0}}), "sampling_params.max_new_tokens"),
            (json!({"text": "hi", "sampling_params": {"temperature": -1}}), "sampling_params.temperature"),
            (json!({"text": "hi", "sampling_params": {"regex": "a+"}}), "sampling_params.regex"),
            (json!({"text": "hi", "sampling_params": [{}]}), "sampling_params"),
            (json!({"text": "hi", "input_ids": [1]}), "input_ids"),
            (json!({"input_ids": [[1], []]}), "input_ids"),
            (json!({"sampling_params": {}}), "text"),
            (json!({"text": "hi", "top_logprobs_num": 99}), "top_logprobs_num"),
            (json!({"text": "hi", "stream": "x"}), "stream"),
        ] {
            let err = GenerateRequest::parse(&body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
        }
        let err = GenerateRequest::parse(&json!({"text": "hi", "sampling_params": {"max_new_tokens": 0}})).unwrap_err();
        assert!(err.message.contains("`max_new_tokens`"), "{}", err.message);
    }
}
