//! Model hyper-parameters, read from an HF `config.json` or from GGUF metadata.
//!
//! One [`ModelConfig`] describes every decoder we run (Llama, Qwen2, Qwen3): they differ
//! only in a few switches (q/k/v bias, per-head q/k RMSNorm, tied embeddings, RoPE
//! scaling). GGUF key names follow llama.cpp's `gguf-py/gguf/constants.py`.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use candle_core::DType;
use serde_json::Value as Json;

use crate::rope_scaling::{parse_rope_scaling, RopeScaling};

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required field is absent.
    #[error("model config: missing field `{0}`")]
    Missing(String),
    /// A field has the wrong type or an impossible value.
    #[error("model config: invalid field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// The architecture is not one ponder implements.
    #[error("model config: unsupported architecture `{0}` (supported: llama, qwen2, qwen3)")]
    UnsupportedArchitecture(String),
    /// The RoPE scaling type is not implemented.
    #[error("model config: unsupported rope scaling `{0}` (supported: default, linear, llama3)")]
    UnsupportedRopeScaling(String),
    /// The config file could not be parsed as JSON.
    #[error("model config: {0}")]
    Json(#[from] serde_json::Error),
}

/// The decoder family; selects weight names and the few per-family switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama (SmolLM2, DeepSeek-R1-Distill-Llama): no bias, no q/k norm.
    Llama,
    /// Qwen2 (DeepSeek-R1-Distill-Qwen, QwQ): bias on q/k/v projections.
    Qwen2,
    /// Qwen3: per-head RMSNorm on q and k before RoPE, no bias.
    Qwen3,
}

impl Architecture {
    /// Parses an HF `model_type` / GGUF `general.architecture` name.
    pub fn from_name(name: &str) -> Result<Self, ConfigError> {
        match name.to_ascii_lowercase().as_str() {
            "llama" | "llamaforcausallm" | "mistral" | "mistralforcausallm" => Ok(Self::Llama),
            "qwen2" | "qwen2forcausallm" => Ok(Self::Qwen2),
            "qwen3" | "qwen3forcausallm" => Ok(Self::Qwen3),
            _ => Err(ConfigError::UnsupportedArchitecture(name.to_string())),
        }
    }
}

/// Hyper-parameters of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Decoder family.
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when < query heads).
    pub num_key_value_heads: usize,
    /// Dimension of one attention head (explicit, or hidden_size / num_attention_heads).
    pub head_dim: usize,
    /// Vocabulary size (rows of the embedding, columns of the logits).
    pub vocab_size: usize,
    /// Context window in tokens.
    pub max_position_embeddings: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// RoPE base frequency θ.
    pub rope_theta: f64,
    /// RoPE frequency scaling, if any.
    pub rope_scaling: RopeScaling,
    /// Whether the LM head reuses the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v projections carry a bias (Qwen2, or Llama with `attention_bias`).
    pub attention_bias: bool,
    /// Dtype the checkpoint was saved in (`torch_dtype` / `dtype`), if stated.
    pub torch_dtype: Option<DType>,
}

impl ModelConfig {
    /// Number of query heads sharing one K/V head.
    pub fn num_queries_per_kv(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// The context length at which one token's attention costs as many multiply-adds
    /// as its weight matmuls: per layer, the q/k/v/o projections and the SwiGLU MLP
    /// (`hidden * (2 * q_dim + 2 * kv_dim) + 3 * hidden * intermediate`) against
    /// `2 * num_heads * head_dim` per context position (QK^T and PV). The LM head is
    /// left out (only sampled rows run it). SmolLM2-135M: 3,072; Qwen2-7B: 32,512.
    /// At least 1.
    pub fn attention_break_even_len(&self) -> usize {
        let q_dim = self.num_attention_heads * self.head_dim;
        let kv_dim = self.num_key_value_heads * self.head_dim;
        let matmuls = self.hidden_size * (2 * q_dim + 2 * kv_dim) + 3 * self.hidden_size * self.intermediate_size;
        (matmuls / (2 * q_dim).max(1)).max(1)
    }

    /// Parses an HF `config.json` text. Accepts `rope_theta` at top level or inside
    /// `rope_parameters` (transformers v5), and `torch_dtype` or `dtype`.
    pub fn from_hf_json(text: &str) -> Result<Self, ConfigError> {
        let json: Json = serde_json::from_str(text)?;
        let arch_name = match json.get("model_type").and_then(Json::as_str) {
            Some(name) => name.to_string(),
            None => json
                .get("architectures")
                .and_then(|a| a.get(0))
                .and_then(Json::as_str)
                .ok_or_else(|| ConfigError::Missing("model_type".into()))?
                .to_string(),
        };
        let architecture = Architecture::from_name(&arch_name)?;
        let hidden_size = json_usize(&json, "hidden_size")?;
        let num_attention_heads = json_usize(&json, "num_attention_heads")?;
        let num_key_value_heads =
            json_opt_usize(&json, "num_key_value_heads")?.unwrap_or(num_attention_heads);
        let head_dim = match json_opt_usize(&json, "head_dim")? {
            Some(d) => d,
            None => hidden_size / num_attention_heads.max(1),
        };
        let rope_params = json.get("rope_parameters");
        let rope_theta = json
            .get("rope_theta")
            .or_else(|| rope_params.and_then(|p| p.get("rope_theta")))
            .and_then(Json::as_f64)
            .unwrap_or(10_000.0);
        let scaling_json = match json.get("rope_scaling") {
            Some(s) if !s.is_null() => Some(s),
            _ => rope_params,
        };
        let config = Self {
            architecture,
            hidden_size,
            intermediate_size: json_usize(&json, "intermediate_size")?,
            num_hidden_layers: json_usize(&json, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size: json_usize(&json, "vocab_size")?,
            max_position_embeddings: json_opt_usize(&json, "max_position_embeddings")?
                .unwrap_or(4096),
            rms_norm_eps: json.get("rms_norm_eps").and_then(Json::as_f64).unwrap_or(1e-6),
            rope_theta,
            rope_scaling: parse_rope_scaling(scaling_json)?,
            tie_word_embeddings: json
                .get("tie_word_embeddings")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            attention_bias: match architecture {
                Architecture::Qwen2 => true,
                _ => json.get("attention_bias").and_then(Json::as_bool).unwrap_or(false),
            },
            torch_dtype: parse_dtype(json.get("torch_dtype").or_else(|| json.get("dtype")))?,
        };
        config.validate()
    }

    /// Reads the config from GGUF metadata (keys `general.architecture`,
    /// `{arch}.block_count`, `{arch}.embedding_length`, ...). `has_output_tensor` tells
    /// whether the file has a separate `output.weight` (otherwise embeddings are tied).
    pub fn from_gguf_metadata(
        metadata: &HashMap<String, Value>,
        has_output_tensor: bool,
    ) -> Result<Self, ConfigError> {
        let arch_name = gguf_str(metadata, "general.architecture")?;
        let architecture = Architecture::from_name(arch_name)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let hidden_size = gguf_usize(metadata, &key("embedding_length"))?;
        let num_attention_heads = gguf_usize(metadata, &key("attention.head_count"))?;
        let num_key_value_heads = gguf_opt_usize(metadata, &key("attention.head_count_kv"))?
            .unwrap_or(num_attention_heads);
        let head_dim = gguf_opt_usize(metadata, &key("attention.key_length"))?
            .unwrap_or(hidden_size / num_attention_heads.max(1));
        let vocab_size = match metadata.get("tokenizer.ggml.tokens") {
            Some(Value::Array(tokens)) => tokens.len(),
            _ => gguf_usize(metadata, &key("vocab_size"))?,
        };
        let config = Self {
            architecture,
            hidden_size,
            intermediate_size: gguf_usize(metadata, &key("feed_forward_length"))?,
            num_hidden_layers: gguf_usize(metadata, &key("block_count"))?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size,
            max_position_embeddings: gguf_opt_usize(metadata, &key("context_length"))?
                .unwrap_or(4096),
            rms_norm_eps: gguf_opt_f64(metadata, &key("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(1e-6),
            rope_theta: gguf_opt_f64(metadata, &key("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_scaling: gguf_rope_scaling(metadata, arch_name)?,
            tie_word_embeddings: !has_output_tensor,
            attention_bias: architecture == Architecture::Qwen2,
            torch_dtype: None,
        };
        config.validate()
    }

    /// Checks the shape relations every decoder relies on.
    fn validate(self) -> Result<Self, ConfigError> {
        let invalid = |field: &str, reason: String| ConfigError::Invalid {
            field: field.to_string(),
            reason,
        };
        for (field, value) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be positive".into()));
            }
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return Err(invalid("head_dim", format!("{} must be even and positive", self.head_dim)));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(invalid(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        Ok(self)
    }
}

/// Parses `torch_dtype` / `dtype` ("float32", "float16", "bfloat16").
fn parse_dtype(value: Option<&Json>) -> Result<Option<DType>, ConfigError> {
    let Some(name) = value.and_then(Json::as_str) else {
        return Ok(None);
    };
    match name {
        "float32" => Ok(Some(DType::F32)),
        "float16" => Ok(Some(DType::F16)),
        "bfloat16" => Ok(Some(DType::BF16)),
        other => Err(ConfigError::Invalid {
            field: "torch_dtype".into(),
            reason: format!("unknown dtype `{other}`"),
        }),
    }
}

fn json_opt_usize(json: &Json, field: &str) -> Result<Option<usize>, ConfigError> {
    match json.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v.as_u64().map(|v| Some(v as usize)).ok_or_else(|| ConfigError::Invalid {
            field: field.to_string(),
            reason: format!("expected a non-negative integer, got {v}"),
        }),
    }
}

fn json_usize(json: &Json, field: &str) -> Result<usize, ConfigError> {
    json_opt_usize(json, field)?.ok_or_else(|| ConfigError::Missing(field.to_string()))
}

fn gguf_str<'a>(metadata: &'a HashMap<String, Value>, key: &str) -> Result<&'a str, ConfigError> {
    match metadata.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ConfigError::Invalid {
            field: key.to_string(),
            reason: format!("expected a string, got {other:?}"),
        }),
        None => Err(ConfigError::Missing(key.to_string())),
    }
}

/// Reads any GGUF integer type as usize.
fn gguf_opt_usize(metadata: &HashMap<String, Value>, key: &str) -> Result<Option<usize>, ConfigError> {
    let value = match metadata.get(key) {
        None => return Ok(None),
        Some(v) => v,
    };
    let n: Option<i128> = match value {
        Value::U8(v) => Some(*v as i128),
        Value::I8(v) => Some(*v as i128),
        Value::U16(v) => Some(*v as i128),
        Value::I16(v) => Some(*v as i128),
        Value::U32(v) => Some(*v as i128),
        Value::I32(v) => Some(*v as i128),
        Value::U64(v) => Some(*v as i128),
        Value::I64(v) => Some(*v as i128),
        _ => None,
    };
    match n {
        Some(n) if n >= 0 => Ok(Some(n as usize)),
        _ => Err(ConfigError::Invalid {
            field: key.to_string(),
            reason: format!("expected a non-negative integer, got {value:?}"),
        }),
    }
}

fn gguf_usize(metadata: &HashMap<String, Value>, key: &str) -> Result<usize, ConfigError> {
    gguf_opt_usize(metadata, key)?.ok_or_else(|| ConfigError::Missing(key.to_string()))
}

pub(crate) fn gguf_opt_f64(
    metadata: &HashMap<String, Value>,
    key: &str,
) -> Result<Option<f64>, ConfigError> {
    match metadata.get(key) {
        None => Ok(None),
        Some(Value::F32(v)) => Ok(Some(*v as f64)),
        Some(Value::F64(v)) => Ok(Some(*v)),
        Some(_) => gguf_opt_usize(metadata, key).map(|v| v.map(|v| v as f64)),
    }
}

/// GGUF `{arch}.rope.scaling.type`: none or linear are supported; llama3-style scaling
/// in GGUF comes as a `rope_freqs.weight` tensor, handled by the weight loader.
fn gguf_rope_scaling(
    metadata: &HashMap<String, Value>,
    arch: &str,
) -> Result<RopeScaling, ConfigError> {
    let kind = match metadata.get(&format!("{arch}.rope.scaling.type")) {
        Some(Value::String(s)) => s.as_str(),
        _ => "none",
    };
    match kind {
        "none" => Ok(RopeScaling::None),
        "linear" => {
            let factor = gguf_opt_f64(metadata, &format!("{arch}.rope.scaling.factor"))?
                .ok_or_else(|| ConfigError::Missing(format!("{arch}.rope.scaling.factor")))?;
            Ok(RopeScaling::Linear { factor })
        }
        other => Err(ConfigError::UnsupportedRopeScaling(other.to_string())),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
