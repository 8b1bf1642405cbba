//! Architectures. Llama, Qwen2 and Qwen3 share one decoder ([`DecoderModel`]),
//! parameterized by [`crate::ModelConfig`]: Qwen2 adds q/k/v biases, Qwen3 a per-head
//! RMSNorm on q and k; everything else (RMSNorm, RoPE, SwiGLU, GQA) is common.

mod build;
mod decoder;

pub use decoder::{DecoderLayer, DecoderModel};
