use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use candle_core::DType;

use super::*;

const SMOLLM2_JSON: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
  "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
  "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000,
  "rope_scaling": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16"
}"#;

#[test]
fn llama_config_json_is_read_with_derived_head_dim() {
    let c = ModelConfig::from_hf_json(SMOLLM2_JSON).unwrap();
    assert_eq!(c.architecture, Architecture::Llama);
    assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers), (576, 1536, 30));
    assert_eq!((c.num_attention_heads, c.num_key_value_heads, c.head_dim), (9, 3, 64));
    assert_eq!((c.vocab_size, c.max_position_embeddings), (49152, 8192));
    assert_eq!(c.rope_theta, 100_000.0);
    assert_eq!(c.rms_norm_eps, 1e-5);
    assert_eq!(c.rope_scaling, RopeScaling::None);
    assert!(c.tie_word_embeddings && !c.attention_bias);
    assert_eq!(c.torch_dtype, Some(DType::BF16));
    assert_eq!(c.num_queries_per_kv(), 3);
}

#[test]
fn attention_break_even_len_counts_multiply_adds_per_layer() {
    let c = ModelConfig::from_hf_json(SMOLLM2_JSON).unwrap();
    // q/k/v/o: 576 x (2 x 576 + 2 x 192); MLP: 3 x 576 x 1536; per position: 2 x 9 x 64.
    let matmuls = 576 * (2 * 576 + 2 * 192) + 3 * 576 * 1536;
    assert_eq!(matmuls, 3_538_944);
    assert_eq!(c.attention_break_even_len(), matmuls / 1152);
    assert_eq!(c.attention_break_even_len(), 3072);
}

#[test]
fn qwen2_config_json_always_has_qkv_bias() {
    let c = ModelConfig::from_hf_json(
        r#"{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 300, "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "tie_word_embeddings": false, "torch_dtype": "float32"}"#,
    )
    .unwrap();
    assert_eq!(c.architecture, Architecture::Qwen2);
    assert!(c.attention_bias);
    assert_eq!(c.head_dim, 16);
    assert_eq!(c.torch_dtype, Some(DType::F32));
}

#[test]
fn qwen3_config_json_takes_explicit_head_dim_rope_parameters_and_dtype() {
    let c = ModelConfig::from_hf_json(
        r#"{"architectures": ["Qwen3ForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 300,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
        "tie_word_embeddings": true, "attention_bias": false, "dtype": "float16"}"#,
    )
    .unwrap();
    assert_eq!(c.architecture, Architecture::Qwen3);
    assert_eq!(c.head_dim, 32);
    assert_eq!(c.rope_theta, 1_000_000.0);
    assert_eq!(c.rope_scaling, RopeScaling::None);
    assert!(!c.attention_bias);
    assert_eq!(c.torch_dtype, Some(DType::F16));
}

#[test]
fn llama3_rope_scaling_is_parsed() {
    let text = SMOLLM2_JSON.replace(
        r#""rope_scaling": null"#,
        r#""rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"}"#,
    );
    let c = ModelConfig::from_hf_json(&text).unwrap();
    assert_eq!(
        c.rope_scaling,
        RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0
        }
    );
}

#[test]
fn a_missing_field_and_an_unknown_architecture_are_errors() {
    let no_vocab = SMOLLM2_JSON.replace(r#""vocab_size": 49152,"#, "");
    let err = ModelConfig::from_hf_json(&no_vocab).unwrap_err();
    assert!(err.to_string().contains("vocab_size"), "{err}");
    let gpt2 = SMOLLM2_JSON.replace(r#""model_type": "llama""#, r#""model_type": "gpt2""#);
    let err = ModelConfig::from_hf_json(&gpt2).unwrap_err();
    assert!(err.to_string().contains("gpt2"), "{err}");
}

#[test]
fn heads_that_do_not_group_evenly_are_rejected() {
    let bad = SMOLLM2_JSON.replace(r#""num_key_value_heads": 3"#, r#""num_key_value_heads": 4"#);
    assert!(ModelConfig::from_hf_json(&bad).is_err());
}

fn gguf_metadata(arch: &str, extra: &[(&str, Value)]) -> HashMap<String, Value> {
    let mut m = HashMap::new();
    m.insert("general.architecture".to_string(), Value::String(arch.to_string()));
    let k = |s: &str| format!("{arch}.{s}");
    m.insert(k("block_count"), Value::U32(30));
    m.insert(k("embedding_length"), Value::U32(576));
    m.insert(k("feed_forward_length"), Value::U32(1536));
    m.insert(k("attention.head_count"), Value::U32(9));
    m.insert(k("attention.head_count_kv"), Value::U32(3));
    m.insert(k("context_length"), Value::U64(8192));
    m.insert(k("rope.freq_base"), Value::F32(100_000.0));
    m.insert(k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    let tokens = (0..49152).map(|i| Value::String(format!("t{i}"))).collect();
    m.insert("tokenizer.ggml.tokens".to_string(), Value::Array(tokens));
    for (key, value) in extra {
        m.insert(k(key), value.clone());
    }
    m
}

#[test]
fn llama_gguf_metadata_gives_the_same_config_as_its_json() {
    let c = ModelConfig::from_gguf_metadata(&gguf_metadata("llama", &[]), false).unwrap();
    let mut want = ModelConfig::from_hf_json(SMOLLM2_JSON).unwrap();
    want.torch_dtype = None;
    want.rms_norm_eps = 1e-5f32 as f64;
    assert_eq!(c, want);
}

#[test]
fn qwen2_gguf_metadata_has_bias_and_untied_head_when_output_exists() {
    let c = ModelConfig::from_gguf_metadata(&gguf_metadata("qwen2", &[]), true).unwrap();
    assert_eq!(c.architecture, Architecture::Qwen2);
    assert!(c.attention_bias && !c.tie_word_embeddings);
}

#[test]
fn qwen3_gguf_metadata_reads_key_length_as_head_dim() {
    let meta = gguf_metadata("qwen3", &[("attention.key_length", Value::U32(128))]);
    let c = ModelConfig::from_gguf_metadata(&meta, true).unwrap();
    assert_eq!(c.architecture, Architecture::Qwen3);
    assert_eq!(c.head_dim, 128);
    assert!(!c.attention_bias);
}

#[test]
fn gguf_metadata_without_block_count_is_an_error() {
    let mut meta = gguf_metadata("llama", &[]);
    meta.remove("llama.block_count");
    let err = ModelConfig::from_gguf_metadata(&meta, true).unwrap_err();
    assert!(err.to_string().contains("llama.block_count"), "{err}");
}
