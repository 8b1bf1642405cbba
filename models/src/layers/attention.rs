//! Self-attention of one decoder layer over a paged KV cache.
//!
//! ```text
//! x [T, hidden] -> q [T, H, D], k/v [T, Hkv, D] -> (Qwen3: per-head RMSNorm on q, k)
//!   -> RoPE(q, k) -> write k/v into their cache slots -> paged attention -> o_proj
//! ```

use candle_core::{Result, Tensor};
use ponder_kernels::AttentionMetadata;

use super::{Linear, RmsNorm, RotaryEmbedding};

/// Head counts of an attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (divides `num_heads`).
    pub num_kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
}

/// Projections and optional q/k norms of one attention layer.
#[derive(Debug, Clone)]
pub struct Attention {
    /// `[H*D, hidden]`, with bias for Qwen2.
    pub q_proj: Linear,
    /// `[Hkv*D, hidden]`.
    pub k_proj: Linear,
    /// `[Hkv*D, hidden]`.
    pub v_proj: Linear,
    /// `[hidden, H*D]`.
    pub o_proj: Linear,
    /// Per-head RMSNorm of q, `[D]` (Qwen3).
    pub q_norm: Option<RmsNorm>,
    /// Per-head RMSNorm of k, `[D]` (Qwen3).
    pub k_norm: Option<RmsNorm>,
    /// Head counts.
    pub shape: AttentionShape,
}

impl Attention {
    /// Attends `x [T, hidden]` (the step's new tokens) over the cached context, writing
    /// the new K/V into `kv_cache` (`[num_blocks, block_size, Hkv, D]` each) at
    /// `attn.slot_mapping`. `cos`/`sin` are `[T, D/2]`. Returns `[T, hidden]`.
    /// `batch_invariant` picks `ponder_kernels::paged_attention` over
    /// `paged_attention_batch_dependent` (and see [`Linear::forward`]).
    pub fn forward(
        &self,
        x: &Tensor,
        rope: (&Tensor, &Tensor),
        attn: &AttentionMetadata,
        kv_cache: &(Tensor, Tensor),
        batch_invariant: bool,
    ) -> Result<Tensor> {
        let AttentionShape { num_heads, num_kv_heads, head_dim } = self.shape;
        let t = x.dim(0)?;
        let mut q = self.q_proj.forward(x, batch_invariant)?.reshape((t, num_heads, head_dim))?;
        let mut k = self.k_proj.forward(x, batch_invariant)?.reshape((t, num_kv_heads, head_dim))?;
        let v = self.v_proj.forward(x, batch_invariant)?.reshape((t, num_kv_heads, head_dim))?;
        if let Some(norm) = &self.q_norm {
            q = norm.forward(&q)?;
        }
        if let Some(norm) = &self.k_norm {
            k = norm.forward(&k)?;
        }
        let q = RotaryEmbedding::apply(&q, rope.0, rope.1)?;
        let k = RotaryEmbedding::apply(&k, rope.0, rope.1)?;
        let (k_cache, v_cache) = kv_cache;
        ponder_kernels::write_kv_cache(&k, &v.contiguous()?, k_cache, v_cache, &attn.slot_mapping)?;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let out = if batch_invariant {
            ponder_kernels::paged_attention(&q, k_cache, v_cache, attn, scale)?
        } else {
            ponder_kernels::paged_attention_batch_dependent(&q, k_cache, v_cache, attn, scale)?
        };
        // The CPU kernel answers in f32: back to the activations' dtype.
        let out = out.to_dtype(x.dtype())?.reshape((t, num_heads * head_dim))?;
        self.o_proj.forward(&out, batch_invariant)
    }
}
