use super::*;
use serde_json::json;

fn parse(body: Value) -> Result<GenerationParams, ApiError> {
    GenerationParams::parse(&Fields::new(&body).unwrap())
}

fn param_of(body: Value) -> String {
    parse(body).unwrap_err().param.unwrap_or_default()
}

#[test]
fn an_empty_body_gives_openai_defaults() {
    let p = parse(json!({})).unwrap();
    assert_eq!(p.n, 1);
    assert_eq!(p.max_tokens, None);
    assert!(p.skip_special_tokens);
    assert!(p.reasoning.include_reasoning);
    let sp = p.sampling_params(&SamplingDefaults::default(), 10, 7, None);
    assert_eq!((sp.temperature, sp.top_p, sp.top_k, sp.max_tokens, sp.seed), (1.0, 1.0, None, 10, 7));
}

#[test]
fn out_of_range_values_are_rejected_naming_the_field() {
    assert_eq!(param_of(json!({"temperature": "hot"})), "temperature");
    assert_eq!(param_of(json!({"temperature": 2.5})), "temperature");
    assert_eq!(param_of(json!({"top_p": 0})), "top_p");
    assert_eq!(param_of(json!({"top_k": -2})), "top_k");
    assert_eq!(param_of(json!({"min_p": 1.5})), "min_p");
    assert_eq!(param_of(json!({"presence_penalty": 3})), "presence_penalty");
    assert_eq!(param_of(json!({"frequency_penalty": -2.5})), "frequency_penalty");
    assert_eq!(param_of(json!({"repetition_penalty": 0})), "repetition_penalty");
    // Values that pass as f64 but round to 0 or overflow in the sampler's f32.
    assert_eq!(param_of(json!({"top_p": 1e-300})), "top_p");
    assert_eq!(param_of(json!({"repetition_penalty": 1e39})), "repetition_penalty");
    assert_eq!(param_of(json!({"repetition_penalty": 1e-300})), "repetition_penalty");
    // A finished grammar allows only EOS: these would pad the answer with hidden EOS.
    assert_eq!(param_of(json!({"response_format": {"type": "json_object"}, "min_tokens": 5})), "min_tokens");
    assert_eq!(param_of(json!({"response_format": {"type": "json_object"}, "ignore_eos": true})), "ignore_eos");
    assert_eq!(param_of(json!({"n": 0})), "n");
    assert_eq!(param_of(json!({"n": 129})), "n");
    assert_eq!(param_of(json!({"max_tokens": -1})), "max_tokens");
    assert_eq!(param_of(json!({"max_completion_tokens": 0})), "max_completion_tokens");
    assert_eq!(param_of(json!({"stop": 3})), "stop");
    assert_eq!(param_of(json!({"stop": ["a", "b", "c", "d", "e"]})), "stop");
    assert_eq!(param_of(json!({"stop_token_ids": [-1]})), "stop_token_ids");
    assert_eq!(param_of(json!({"logit_bias": {"12": 101}})), "logit_bias");
    assert_eq!(param_of(json!({"logit_bias": {"x": 1}})), "logit_bias");
    assert_eq!(param_of(json!({"stream": "yes"})), "stream");
    assert_eq!(param_of(json!({"stream_options": {"include_usage": 1}})), "stream_options.include_usage");
    assert_eq!(param_of(json!({"include_reasoning": 1})), "include_reasoning");
    assert_eq!(param_of(json!({"max_reasoning_tokens": -5})), "max_reasoning_tokens");
    assert_eq!(param_of(json!({"thinking_token_budget": "many"})), "thinking_token_budget");
    assert_eq!(param_of(json!({"reasoning_effort": "max"})), "reasoning_effort");
    assert_eq!(param_of(json!({"chat_template_kwargs": []})), "chat_template_kwargs");
    assert_eq!(param_of(json!({"return_token_ids": "no"})), "return_token_ids");
    assert_eq!(param_of(json!({"min_tokens": 5, "max_tokens": 2})), "min_tokens");
    assert_eq!(param_of(json!({"user": 5})), "user");
}

#[test]
fn top_k_minus_one_and_zero_disable_top_k() {
    assert_eq!(parse(json!({"top_k": -1})).unwrap().top_k, Some(None));
    assert_eq!(parse(json!({"top_k": 0})).unwrap().top_k, Some(None));
    assert_eq!(parse(json!({"top_k": 40})).unwrap().top_k, Some(Some(40)));
    let d = SamplingDefaults { temperature: 0.6, top_p: 0.95, top_k: Some(20), ..Default::default() };
    let p = parse(json!({"top_k": -1})).unwrap();
    assert_eq!(p.sampling_params(&d, 1, 0, None).top_k, None, "an explicit -1 overrides the model default");
}

#[test]
fn model_defaults_apply_only_when_the_request_is_silent() {
    let d = SamplingDefaults { temperature: 0.6, top_p: 0.95, top_k: None, ..Default::default() };
    let sp = parse(json!({})).unwrap().sampling_params(&d, 1, 0, None);
    assert_eq!((sp.temperature, sp.top_p), (0.6, 0.95));
    let sp = parse(json!({"temperature": 0})).unwrap().sampling_params(&d, 1, 0, None);
    assert_eq!(sp.temperature, 0.0);
}

#[test]
fn stop_accepts_a_string_or_a_list_and_nulls_are_absent() {
    assert_eq!(parse(json!({"stop": "\n"})).unwrap().stop, vec!["\n"]);
    assert_eq!(parse(json!({"stop": ["a", "b"]})).unwrap().stop, vec!["a", "b"]);
    assert!(parse(json!({"stop": null})).unwrap().stop.is_empty());
}

#[test]
fn request_size_limits_name_their_field() {
    let bias: serde_json::Map<String, Value> = (0..301).map(|i| (i.to_string(), json!(1))).collect();
    assert_eq!(parse(json!({"logit_bias": bias})).unwrap_err().param.as_deref(), Some("logit_bias"));
    let p = parse(json!({"n": 128})).unwrap();
    assert!(p.check_num_seqs(8).is_ok());
    assert_eq!(p.check_num_seqs(9).unwrap_err().param.as_deref(), Some("n"), "9 × 128 > 1024");
}

#[test]
fn unknown_fields_are_ignored() {
    assert!(parse(json!({"frobnicate": {"x": 1}, "bestof": "x"})).is_ok());
}

#[test]
fn fields_of_the_peers_that_ponder_lacks_are_a_400_unless_left_at_their_default() {
    for (field, value) in [
        ("best_of", json!(4)),
        ("use_beam_search", json!(true)),
        ("length_penalty", json!(0.5)),
        ("include_stop_str_in_output", json!(true)),
        ("truncate_prompt_tokens", json!(100)),
        ("bad_words", json!(["x"])),
        ("allowed_token_ids", json!([1, 2])),
        ("guided_json", json!({"type": "object"})),
        ("spaces_between_special_tokens", json!(false)),
    ] {
        let mut body = json!({});
        body[field] = value;
        let err = parse(body).unwrap_err();
        assert_eq!(err.param.as_deref(), Some(field));
        assert!(err.message.contains("not supported"), "{}", err.message);
    }
    let defaults = json!({"best_of": 1, "use_beam_search": false, "length_penalty": 1.0, "bad_words": [],
        "spaces_between_special_tokens": true, "guided_json": null, "truncate_prompt_tokens": null});
    assert!(parse(defaults).is_ok());
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() {
    let p = parse(json!({"max_tokens": 5, "max_completion_tokens": 9})).unwrap();
    assert_eq!(p.max_tokens, Some(9));
}

#[test]
fn thinking_token_budget_is_an_alias_of_max_reasoning_tokens() {
    let p = parse(json!({"thinking_token_budget": 64})).unwrap();
    assert_eq!(p.reasoning.max_reasoning_tokens, Some(64));
}

#[test]
fn token_ids_outside_the_vocabulary_are_rejected() {
    let p = parse(json!({"stop_token_ids": [5, 100]})).unwrap();
    assert_eq!(p.check_vocab(50).unwrap_err().param.as_deref(), Some("stop_token_ids"));
    let p = parse(json!({"logit_bias": {"70": 5}})).unwrap();
    assert_eq!(p.check_vocab(50).unwrap_err().param.as_deref(), Some("logit_bias"));
    assert!(p.check_vocab(100).is_ok());
}

#[test]
fn oversize_stop_strings_and_schemas_are_refused_before_any_compilation() {
    let long_stop = "x".repeat(MAX_STOP_STRING_BYTES + 1);
    assert_eq!(param_of(json!({"stop": [long_stop]})), "stop");
    assert!(parse(json!({"stop": ["x".repeat(MAX_STOP_STRING_BYTES)]})).is_ok());
    let schema = |s: Value| json!({"response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": s}}});
    // Depth 33: {"items": {"items": ... {}}}.
    let mut deep = json!({});
    for _ in 0..MAX_SCHEMA_DEPTH {
        deep = json!({"items": deep});
    }
    let err = parse(schema(deep.clone())).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("response_format"));
    assert!(err.message.contains("deeper"), "{}", err.message);
    assert!(parse(schema(deep["items"].clone())).is_ok(), "depth 32 is allowed");
    let wide: serde_json::Map<String, Value> =
        (0..5000).map(|i| (format!("field_{i}"), json!({"type": "integer"}))).collect();
    let err = parse(schema(json!({"type": "object", "properties": wide}))).unwrap_err();
    assert!(err.message.contains("bytes"), "{}", err.message);
}
