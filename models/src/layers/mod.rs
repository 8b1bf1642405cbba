//! Building blocks of a decoder layer, each over flattened tokens `[num_tokens, ...]`.

mod attention;
mod embedding;
mod linear;
mod mlp;
mod norm;
mod rope;

pub use attention::{Attention, AttentionShape};
pub use embedding::Embedding;
pub use linear::Linear;
pub use mlp::Mlp;
pub use norm::RmsNorm;
pub use rope::RotaryEmbedding;
