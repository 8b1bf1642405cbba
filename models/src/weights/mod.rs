//! Weight sources: where a model's tensors come from.
//!
//! A [`WeightSource`] hands out tensors by their role in the decoder ([`WeightName`]),
//! so the architecture code never sees file-format names. Two sources exist:
//! [`SafetensorsWeights`] (HF checkpoints, one file or sharded, converted to f32) and
//! [`GgufWeights`] (llama.cpp files, linear layers kept quantized).

mod gguf;
mod names;
mod safetensors;

pub use gguf::GgufWeights;
pub use names::{LayerWeight, WeightName};
pub use safetensors::SafetensorsWeights;

use candle_core::{Device, Result, Tensor};

use crate::layers::{Embedding, Linear};

/// Hands out a model's weights by role.
///
/// Errors: a missing tensor or an unsupported stored dtype is a `candle_core::Error`
/// naming the tensor.
pub trait WeightSource {
    /// Whether the tensor exists (used for optional biases and `lm_head`).
    fn contains(&self, name: WeightName) -> bool;
    /// A vector weight (norm scale, bias) as f32 on `device()`, `[len]`.
    fn vector(&self, name: WeightName) -> Result<Tensor>;
    /// A linear layer's weight `[out_features, in_features]`, quantized when stored so.
    fn linear(&self, name: WeightName) -> Result<Linear>;
    /// The token embedding `[vocab_size, hidden_size]`.
    fn embedding(&self, name: WeightName) -> Result<Embedding>;
    /// Per-frequency RoPE divisors stored with the weights (GGUF `rope_freqs.weight`).
    fn rope_freq_factors(&self) -> Result<Option<Vec<f32>>>;
    /// Device the weights are loaded onto.
    fn device(&self) -> &Device;
}
