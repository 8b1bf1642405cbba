//! Paged attention and KV cache writes composed of candle tensor ops, for devices
//! without a custom kernel (CUDA until ponder's own `.cu` kernels land). Every op used
//! here (`scatter_set`, `index_select`, `matmul`, `softmax`) has a CUDA implementation
//! in candle, so the same code runs on the GPU; on the CPU it is tested against the
//! custom kernels (`tests/tensor_ops.rs`).
//!
//! It is a correct, slow reference: one gather and a few small matmuls per sequence and
//! layer, the score matrix materialized (`[num_heads, q_len, context]` in f32). The
//! fused kernels of issue 10 (FlashAttention-2 tiles for prefill, flash-decoding
//! split-K for decode) replace it on the GPU.

use candle_core::{DType, Device, Tensor, D};

use crate::AttentionMetadata;

/// [`crate::write_kv_cache`] with `scatter_set`: row `t` of `k`/`v` goes to slot
/// `slot_mapping[t]` of the caches (`[num_blocks, block_size, num_kv_heads, head_dim]`,
/// contiguous), in place. [`crate::write_kv_cache`] calls it for tensors off the CPU,
/// after checking shapes and slots; called directly, an out-of-range slot is candle's
/// error (or undefined on a device that does not check indices).
pub fn write_kv_cache_tensor_ops(k: &Tensor, v: &Tensor, k_cache: &Tensor, v_cache: &Tensor, slot_mapping: &[u32]) -> candle_core::Result<()> {
    if slot_mapping.is_empty() {
        return Ok(());
    }
    let (num_blocks, block_size, num_kv_heads, head_dim) = k_cache.dims4()?;
    let row = num_kv_heads * head_dim;
    let slots = Tensor::from_slice(slot_mapping, slot_mapping.len(), k_cache.device())?;
    let index = slots.reshape((slot_mapping.len(), 1))?.broadcast_as((slot_mapping.len(), row))?.contiguous()?;
    for (src, cache) in [(k, k_cache), (v, v_cache)] {
        // A reshape of a contiguous tensor shares its storage: the write lands in `cache`.
        let flat = cache.reshape((num_blocks * block_size, row))?;
        let src = src.to_dtype(cache.dtype())?.reshape((slot_mapping.len(), row))?.contiguous()?;
        flat.scatter_set(&index, &src, 0)?;
    }
    Ok(())
}

/// [`crate::paged_attention`] composed of tensor ops: for each sequence, gather its
/// context's K/V rows through the block table, `softmax(q k^T * scale + causal mask) v`
/// per query head (query head `h` reads KV head `h / group`), in f32.
///
/// Shapes as [`crate::paged_attention`]; returns `[num_tokens, num_heads, head_dim]` in
/// q's dtype. [`crate::paged_attention`] calls it for tensors off the CPU after checking
/// the metadata; called directly, bad metadata may panic on an out-of-range index.
pub fn paged_attention_tensor_ops(q: &Tensor, k_cache: &Tensor, v_cache: &Tensor, meta: &AttentionMetadata, softmax_scale: f32) -> candle_core::Result<Tensor> {
    let (num_tokens, num_heads, head_dim) = q.dims3()?;
    let (num_blocks, block_size, num_kv_heads, _) = k_cache.dims4()?;
    let group = num_heads / num_kv_heads;
    let device = q.device();
    let k_rows = k_cache.reshape((num_blocks * block_size, num_kv_heads, head_dim))?;
    let v_rows = v_cache.reshape((num_blocks * block_size, num_kv_heads, head_dim))?;
    let mut outs = Vec::with_capacity(meta.num_seqs());
    for i in 0..meta.num_seqs() {
        let (start, end) = (meta.query_start_loc[i] as usize, meta.query_start_loc[i + 1] as usize);
        let (q_len, ctx) = (end - start, meta.seq_lens[i] as usize);
        if q_len == 0 {
            continue;
        }
        let slots: Vec<u32> = (0..ctx).map(|p| meta.block_tables[i][p / block_size] * block_size as u32 + (p % block_size) as u32).collect();
        let slots = Tensor::from_vec(slots, ctx, device)?;
        // [ctx, Hkv, D] -> [Hkv, group, ctx, D] -> [H, ctx, D], f32.
        let expand = |rows: &Tensor| -> candle_core::Result<Tensor> {
            rows.index_select(&slots, 0)?
                .to_dtype(DType::F32)?
                .transpose(0, 1)?
                .unsqueeze(1)?
                .broadcast_as((num_kv_heads, group, ctx, head_dim))?
                .reshape((num_heads, ctx, head_dim))
        };
        let (k, v) = (expand(&k_rows)?, expand(&v_rows)?);
        let qi = q.narrow(0, start, q_len)?.to_dtype(DType::F32)?.transpose(0, 1)?.contiguous()?; // [H, q_len, D]
        let scores = (qi.matmul(&k.t()?.contiguous()?)? * f64::from(softmax_scale))?; // [H, q_len, ctx]
        let scores = scores.broadcast_add(&causal_mask(q_len, ctx, device)?)?;
        let probs = candle_nn_softmax_last_dim(&scores)?;
        outs.push(probs.matmul(&v.contiguous()?)?.transpose(0, 1)?); // [q_len, H, D]
    }
    if outs.is_empty() {
        return Tensor::zeros((num_tokens, num_heads, head_dim), q.dtype(), device);
    }
    Tensor::cat(&outs, 0)?.to_dtype(q.dtype())
}

/// `[q_len, ctx]`: 0 where new token `j` may attend (positions `<= ctx - q_len + j`),
/// `-inf` elsewhere.
fn causal_mask(q_len: usize, ctx: usize, device: &Device) -> candle_core::Result<Tensor> {
    let first = ctx - q_len;
    let mask: Vec<f32> = (0..q_len).flat_map(|j| (0..ctx).map(move |p| if p <= first + j { 0.0 } else { f32::NEG_INFINITY })).collect();
    Tensor::from_vec(mask, (q_len, ctx), device)
}

/// Softmax over the last dimension, max-subtracted (no overflow), in f32.
fn candle_nn_softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Whether `t` lives where only the tensor-op path runs (any device but the CPU).
pub(crate) fn needs_tensor_ops(t: &Tensor) -> bool {
    !t.device().is_cpu()
}
