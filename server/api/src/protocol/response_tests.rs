use super::*;

fn meta() -> ResponseMeta {
    ResponseMeta { id: "chatcmpl-1".into(), created: 5, model: "m".into(), weight_version: "v0".into() }
}

fn choice() -> ChoiceOutput {
    ChoiceOutput {
        index: 0,
        reasoning: Some("think".into()),
        content: "answer".into(),
        finish: FinishReason::Length,
        token_ids: None,
        logprobs: None,
        weight_versions: None,
        stop_reason: None,
        prompt_logprobs: None,
        legacy_logprobs: None,
        reasoning_tokens: 0,
    }
}

#[test]
fn usage_always_carries_reasoning_tokens_and_the_total() {
    let u = Usage { prompt_tokens: 3, completion_tokens: 4, reasoning_tokens: 0 }.to_json();
    assert_eq!(u["total_tokens"], 7);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[test]
fn the_reasoning_field_flag_picks_the_key_names() {
    let u = Usage::default();
    let body = chat_completion(&meta(), &[choice()], &u, ReasoningField::ReasoningContent, None);
    let msg = &body["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], "think");
    assert!(msg.get("reasoning").is_none());
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert!(body.get("prompt_token_ids").is_none());

    let body = chat_completion(&meta(), &[choice()], &u, ReasoningField::Both, Some(&[1, 2]));
    let msg = &body["choices"][0]["message"];
    assert_eq!((msg["reasoning_content"].as_str(), msg["reasoning"].as_str()), (Some("think"), Some("think")));
    assert_eq!(body["prompt_token_ids"], serde_json::json!([1, 2]));
}

#[test]
fn no_reasoning_section_is_null() {
    let mut c = choice();
    c.reasoning = None;
    let body = chat_completion(&meta(), &[c], &Usage::default(), ReasoningField::Reasoning, None);
    assert!(body["choices"][0]["message"]["reasoning"].is_null());
}

#[test]
fn chunks_carry_role_only_when_asked_and_omit_absent_deltas() {
    let first = chat_chunk(&meta(), &ChunkDelta { role: true, ..Default::default() }, ReasoningField::ReasoningContent);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"], serde_json::json!({"role": "assistant"}));
    let d = ChunkDelta { content: Some("x".into()), finish: Some(FinishReason::Stop), ..Default::default() };
    let c = chat_chunk(&meta(), &d, ReasoningField::ReasoningContent);
    assert_eq!(c["choices"][0]["delta"], serde_json::json!({"content": "x"}));
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
}

#[test]
fn the_usage_chunk_has_no_choices() {
    let c = usage_chunk(&meta(), "chat.completion.chunk", &Usage { prompt_tokens: 1, completion_tokens: 2, reasoning_tokens: 0 });
    assert_eq!(c["choices"], serde_json::json!([]));
    assert_eq!(c["usage"]["total_tokens"], 3);
}

#[test]
fn every_body_names_its_weight_version_and_a_spanning_choice_its_spans() {
    let mut c = choice();
    c.weight_versions = Some(vec![
        WeightSpan { version: "v0".into(), first_token_index: 0 },
        WeightSpan { version: "v1".into(), first_token_index: 3 },
    ]);
    let usage = Usage { prompt_tokens: 3, completion_tokens: 4, reasoning_tokens: 0 };
    let body = completion(&meta(), &[c, choice()], &usage, None);
    assert_eq!(body["weight_version"], "v0");
    assert_eq!(body["choices"][0]["weight_versions"], serde_json::json!([
        {"version": "v0", "first_token_index": 0},
        {"version": "v1", "first_token_index": 3},
    ]));
    assert!(body["choices"][1].get("weight_versions").is_none(), "one span: no field");
}

#[test]
fn stop_reason_is_a_number_for_a_token_a_string_for_text_and_null_otherwise() {
    let u = Usage::default();
    let mut c = choice();
    let body = completion(&meta(), &[c.clone()], &u, None);
    assert_eq!(body["choices"][0]["stop_reason"], Value::Null);
    c.stop_reason = Some(StopReason::Token(7));
    assert_eq!(completion(&meta(), &[c.clone()], &u, None)["choices"][0]["stop_reason"], 7);
    c.stop_reason = Some(StopReason::Text("##".into()));
    assert_eq!(chat_completion(&meta(), &[c], &u, ReasoningField::Reasoning, None)["choices"][0]["stop_reason"], "##");
}
