//! ponder-models: configs, weights, architectures, tokenizer and chat template.

pub mod model;

pub use model::{Model, ModelInput};
