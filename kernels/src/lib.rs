//! ponder-kernels: compute kernels over candle tensors.
//!
//! - [`write_kv_cache`]: scatter the new tokens' K/V into their cache slots, in place
//!   (vLLM's `reshape_and_cache`).
//! - [`QuantizedMatrix`]: `Q4_0`/`Q4_1`/`Q8_0` weight times f32 activations, weight
//!   rows split across threads, AVX2 block dot products (see [`quantized`]).
//! - [`matmul_t`]: `x W^T` for dense f32 weights, batch-invariant (candle's GEMM
//!   sums in an order that depends on the number of rows).
//! - [`paged_attention`]: causal attention of the new tokens over each sequence's
//!   cached context, read through its block table; prefill chunks and decodes in one
//!   call, grouped-query attention.
//!
//! The KV cache layout is `[num_blocks, block_size, num_kv_heads, head_dim]` for K and
//! for V, contiguous, f32 (the CPU default), f16 or bf16. A slot is
//! `block_id * block_size + offset_in_block`.
//!
//! # Paged attention on the CPU
//!
//! **Algorithm.** For each new token and query head, the kernel walks the token's
//! context positions `0..=pos` block by block through the block table, in chunks of
//! up to 32 positions within a block, and keeps the flash-attention running state
//! (Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
//! IO-Awareness"): running max `m`, running sum `l`, unnormalized output `acc`. Per
//! chunk it computes the scores `q·k * scale`, raises `m` to the chunk's max, rescales
//! `l` and `acc` by `exp(m_old - m_new)`, and adds `exp(s - m_new)` and
//! `exp(s - m_new) * v`. The output is `acc / l`. No score matrix is materialized, no
//! exponent overflows, and everything accumulates in f32 (f16/bf16 cache rows are
//! converted to f32 as they are read). Prefill, chunked prefill on top of cached blocks
//! (prefix hits) and decode are the same loop: only the number of new tokens and their
//! positions differ.
//!
//! **Inner loops.** The query heads sharing a KV head (a GQA group) are processed
//! together, so each K/V row is read and converted once per group. Dot products keep
//! 16 partial sums and `exp` is a branch-free polynomial, so the loops over `head_dim`
//! and over a chunk's scores vectorize (AVX2 + FMA with the repo's
//! `-C target-cpu=x86-64-v3`).
//!
//! **Threading.** Work items run on rayon's global pool. An item is one (new token,
//! KV head) pair, which writes its group's output rows directly: a prefill of `T`
//! tokens gives `T * num_kv_heads` items. When there are fewer items than 4 per
//! thread (a small decode batch; one decode with 2 KV heads is 2 items), each context
//! is also cut into partitions of whole blocks (at least 128 positions), computed as
//! separate items and merged with the same max/sum rescaling (flash-decoding's
//! split-K, Dao et al. 2023). So one long decode and one long prefill both use every
//! core.
//!
//! # Devices
//!
//! Every kernel has a CPU implementation, tested against a naive dense reference. The
//! kernels are candle custom ops (`CustomOp3`, `InplaceOp2`). On any other device
//! (CUDA), [`write_kv_cache`] and [`paged_attention`] run a portable path composed of
//! candle tensor ops ([`paged_attention_tensor_ops`], [`write_kv_cache_tensor_ops`]:
//! gather through the block table, masked softmax, matmuls), tested on the CPU against
//! the custom kernels; fused CUDA kernels are still to come. [`matmul_t`] and
//! [`QuantizedMatrix`] are CPU-only (the model uses candle's GEMM and quantized
//! matmul elsewhere).

mod dense;
mod elem;
mod error;
mod kv_cache_write;
pub mod metadata;
mod paged_attention;
pub mod quantized;
mod simd;
mod tensor_ops;

pub use dense::matmul_t;
pub use error::KernelError;
pub use kv_cache_write::write_kv_cache;
pub use metadata::AttentionMetadata;
pub use paged_attention::{paged_attention, paged_attention_batch_dependent};
pub use quantized::{QuantFormat, QuantizedMatrix};
pub use tensor_ops::{paged_attention_tensor_ops, write_kv_cache_tensor_ops};
