//! The `Model` trait: one forward pass over a batch of new tokens, with paged attention.

use candle_core::{Device, Result, Tensor};
use ponder_kernels::AttentionMetadata;

/// Inputs of one forward pass, built by the runner from a `ScheduledBatch`.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// Token ids of all new tokens of all sequences, `[num_tokens]`, u32.
    pub input_ids: Tensor,
    /// Absolute position of each new token, `[num_tokens]`, u32.
    pub positions: Tensor,
    /// Where each sequence's tokens and KV blocks are.
    pub attn: AttentionMetadata,
    /// Rows (into the new tokens) whose logits are wanted, `[num_sampled]`, u32.
    pub logits_indices: Tensor,
    /// Run the batch-invariant kernels (the default): every row's logits have the same
    /// bits whatever else is in the step and however its prompt was chunked. `false`
    /// allows the faster batch-dependent paths (see `ponder_kernels`).
    pub batch_invariant: bool,
}

/// A decoder-only language model whose K/V live in a paged cache owned by the caller.
pub trait Model: Send + Sync {
    /// Runs the model over `input`, writing the new tokens' K/V into `kv_caches`
    /// (one `(k, v)` pair per layer, each `[num_blocks, block_size, num_kv_heads, head_dim]`),
    /// and returns f32 logits `[num_sampled, vocab_size]` at `input.logits_indices`.
    fn forward(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> Result<Tensor>;

    /// Number of decoder layers (one KV cache pair each).
    fn num_layers(&self) -> usize;
    /// Number of K/V heads per layer.
    fn num_kv_heads(&self) -> usize;
    /// Dimension of one attention head.
    fn head_dim(&self) -> usize;
    /// Vocabulary size (columns of the logits).
    fn vocab_size(&self) -> usize;
    /// Context window in tokens (`max_position_embeddings` / `context_length`).
    fn max_model_len(&self) -> usize;
    /// Device the weights live on.
    fn device(&self) -> &Device;
}
