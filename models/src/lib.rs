//! ponder-models: configs, weights, architectures, tokenizer and chat template.
//!
//! - [`config`]: [`ModelConfig`] from HF `config.json` or GGUF metadata.
//! - [`weights`]: safetensors (single or sharded) and GGUF weight sources.
//! - [`layers`]: RMSNorm, RoPE, linear (dense or quantized), SwiGLU, paged attention.
//! - [`arch`]: the Llama / Qwen2 / Qwen3 decoder implementing [`Model`].
//! - [`loader`]: [`load_model`] / [`load_config`] for a folder or a `.gguf` file.

pub mod arch;
pub mod config;
pub mod layers;
pub mod loader;
pub mod model;
pub mod rope_scaling;
pub mod tokenizer;
pub mod weights;

pub use arch::DecoderModel;
pub use config::{Architecture, ConfigError, ModelConfig};
pub use loader::{compute_dtype, load_config, load_decoder, load_model, model_format, ModelFormat};
pub use model::{Model, ModelInput};
pub use rope_scaling::RopeScaling;
