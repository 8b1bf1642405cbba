//! ponder-kernels: compute kernels over candle tensors.
//!
//! - [`write_kv_cache`]: scatter the new tokens' K/V into their cache slots
//!   (vLLM's `reshape_and_cache`).
//! - [`paged_attention`]: causal attention of the new tokens over each sequence's
//!   cached context, read through its block table; prefill chunks and decodes in one
//!   call, grouped-query attention.
//!
//! The KV cache layout is `[num_blocks, block_size, num_kv_heads, head_dim]` for K and
//! for V. A slot is `block_id * block_size + offset_in_block`.
//!
//! Every kernel has a CPU implementation, tested against a naive dense reference; CUDA
//! implementations live behind the `cuda` feature.

pub mod metadata;

pub use metadata::AttentionMetadata;
