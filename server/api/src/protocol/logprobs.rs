//! The two log-probability formats beside OpenAI chat's `logprobs.content`: the legacy
//! completions object (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`, as
//! the OpenAI SDK's `Logprobs` type and vLLM return it) and vLLM's `prompt_logprobs`
//! (one id-keyed dict per prompt position, `null` for the first).

use serde_json::{json, Map, Value};

use super::response::TokenLogprob;

/// Completions' legacy `logprobs` for a run of tokens. Entry `i` of every list is token
/// `i`; a token without a score (the first echoed prompt token) has `None` in
/// `token_logprobs` and `top_logprobs`, serialized as `null`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegacyLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<Option<f32>>,
    /// `{token text: logprob}` of the top alternatives, plus the token itself (vLLM's).
    pub top_logprobs: Vec<Option<Vec<(String, f32)>>>,
    /// Character offset of each token in the choice's text (echoed prompt included).
    pub text_offset: Vec<usize>,
}

impl LegacyLogprobs {
    /// Appends one token whose text starts at character `offset`.
    pub fn push(&mut self, offset: usize, token: String, scored: Option<&TokenLogprob>) {
        self.tokens.push(token);
        self.token_logprobs.push(scored.map(|s| s.logprob));
        self.top_logprobs.push(scored.map(|s| {
            let mut top: Vec<(String, f32)> = s.top_logprobs.iter().map(|t| (t.token.clone(), t.logprob)).collect();
            if !top.iter().any(|(t, _)| *t == s.token) {
                top.push((s.token.clone(), s.logprob));
            }
            top
        }));
        self.text_offset.push(offset);
    }

    /// Appends `other`'s tokens (a later chunk of the same choice).
    pub fn extend(&mut self, other: LegacyLogprobs) {
        self.tokens.extend(other.tokens);
        self.token_logprobs.extend(other.token_logprobs);
        self.top_logprobs.extend(other.top_logprobs);
        self.text_offset.extend(other.text_offset);
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The OpenAI object. Top alternatives that decode to the same text keep the
    /// likelier one (a JSON object has one value per key).
    pub fn to_json(&self) -> Value {
        let top: Vec<Value> = self
            .top_logprobs
            .iter()
            .map(|entry| {
                entry.as_ref().map_or(Value::Null, |pairs| {
                    let mut m = Map::new();
                    for (token, logprob) in pairs {
                        m.entry(token.clone()).or_insert(json!(logprob));
                    }
                    Value::Object(m)
                })
            })
            .collect();
        json!({
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": top,
            "text_offset": self.text_offset,
        })
    }
}

/// vLLM's `prompt_logprobs` for scores of prompt tokens `1..` (`scores[i]` is prompt
/// token `i + 1`): `[null, {"<id>": {"logprob", "rank", "decoded_token"}, ...}, ...]`,
/// each dict holding the prompt token and its top alternatives (ranked 1, 2, ...).
pub fn prompt_logprobs_json(scores: &[TokenLogprob]) -> Value {
    let mut positions = vec![Value::Null];
    for s in scores {
        let mut m = Map::new();
        for (i, top) in s.top_logprobs.iter().enumerate() {
            m.insert(top.token_id.to_string(), json!({"logprob": top.logprob, "rank": i + 1, "decoded_token": top.token}));
        }
        m.insert(s.token_id.to_string(), json!({"logprob": s.logprob, "rank": s.rank, "decoded_token": s.token}));
        positions.push(Value::Object(m));
    }
    Value::Array(positions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::response::TopLogprob;

    fn scored(id: u32, token: &str, logprob: f32, top: &[(u32, &str, f32)]) -> TokenLogprob {
        TokenLogprob {
            token_id: id,
            rank: Some(2),
            token: token.into(),
            logprob,
            bytes: token.as_bytes().to_vec(),
            top_logprobs: top
                .iter()
                .map(|&(token_id, t, logprob)| TopLogprob { token_id, token: t.into(), logprob, bytes: t.as_bytes().to_vec() })
                .collect(),
        }
    }

    #[test]
    fn legacy_object_has_nulls_for_the_unscored_token_and_the_token_among_its_top() {
        let mut l = LegacyLogprobs::default();
        l.push(0, "Hi".into(), None);
        l.push(2, " there".into(), Some(&scored(5, " there", -1.5, &[(7, " you", -0.5)])));
        assert_eq!(
            l.to_json(),
            json!({
                "tokens": ["Hi", " there"],
                "token_logprobs": [null, -1.5],
                "top_logprobs": [null, {" you": -0.5, " there": -1.5}],
                "text_offset": [0, 2],
            })
        );
    }

    #[test]
    fn prompt_logprobs_are_id_keyed_with_a_leading_null() {
        let v = prompt_logprobs_json(&[scored(5, "b", -2.0, &[(7, "c", -0.25)])]);
        assert_eq!(
            v,
            json!([null, {"7": {"logprob": -0.25, "rank": 1, "decoded_token": "c"}, "5": {"logprob": -2.0, "rank": 2, "decoded_token": "b"}}])
        );
    }
}
