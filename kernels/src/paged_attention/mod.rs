//! Paged attention on the CPU: causal attention of each step's new tokens over their
//! sequences' cached K/V, read through block tables. See the crate docs for the
//! algorithm and threading.

mod cpu;
mod online_softmax;
mod panel;
mod plan;
mod shapes;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use crate::elem::CacheElem;
use crate::error::KernelError;
use crate::AttentionMetadata;
use online_softmax::CacheView;
use shapes::AttnDims;

/// Causal attention of the step's new tokens over each sequence's context in the paged
/// KV cache; prefill chunks (with or without cached context) and decodes in one call.
///
/// - `q`: `[num_tokens, num_heads, head_dim]`, f32 (f16/bf16 are converted), any strides.
/// - `k_cache`, `v_cache`: `[num_blocks, block_size, num_kv_heads, head_dim]`, contiguous,
///   both f32, both f16 or both bf16, already holding this step's K/V
///   ([`crate::write_kv_cache`]).
/// - `meta`: sequence `i`'s new tokens are rows `query_start_loc[i]..query_start_loc[i+1]`
///   of q; its context after this step is `seq_lens[i]` positions, read through
///   `block_tables[i]`. `slot_mapping` is not read.
/// - `softmax_scale`: multiplies `q·k`, usually `1 / sqrt(head_dim)`.
///
/// Query head `h` uses KV head `h / (num_heads / num_kv_heads)` (grouped-query
/// attention). New token `j` of `q_len` attends to positions `0..=seq_lens[i]-q_len+j`.
///
/// Returns `[num_tokens, num_heads, head_dim]`, f32, on q's device.
///
/// Batch-invariant: a token's output row has the same bits whatever else is in the
/// call and however its sequence's prompt was chunked, because every token's context
/// is cut into the same fixed partitions, folded and merged in position order, and
/// every tile computes its scores with the same reduction order (see
/// [`paged_attention_batch_dependent`] for the faster variant).
///
/// # Errors
/// A [`KernelError`] (wrapped) when the shapes, dtypes or metadata disagree (a block
/// table too short or with an out-of-range block id, more new tokens than context,
/// `num_heads` not a multiple of `num_kv_heads`, ...).
///
/// Off the CPU, [`crate::paged_attention_tensor_ops`] computes it (same math, q's dtype
/// out, batch-invariance not guaranteed by candle's device kernels).
pub fn paged_attention(
    q: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    meta: &AttentionMetadata,
    softmax_scale: f32,
) -> candle_core::Result<Tensor> {
    run(q, k_cache, v_cache, meta, softmax_scale, true)
}

/// [`paged_attention`] with the schedule chosen per call for speed: a small decode
/// batch splits each context into as many partitions as keep the threads busy, and a
/// prefill folds each tile's context in one pass. The result equals the reference as
/// closely, but a token's bits may then depend on the batch around it (`ponder serve
/// --no-batch-invariance`).
pub fn paged_attention_batch_dependent(
    q: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    meta: &AttentionMetadata,
    softmax_scale: f32,
) -> candle_core::Result<Tensor> {
    run(q, k_cache, v_cache, meta, softmax_scale, false)
}

fn run(
    q: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    meta: &AttentionMetadata,
    softmax_scale: f32,
    batch_invariant: bool,
) -> candle_core::Result<Tensor> {
    if crate::tensor_ops::needs_tensor_ops(q) {
        AttnDims::check(q, k_cache, v_cache, meta)?; // shapes only: no dtype copy of q
        return crate::paged_attention_tensor_ops(q, k_cache, v_cache, meta, softmax_scale);
    }
    let q = q.to_dtype(DType::F32)?.contiguous()?;
    let dims = AttnDims::check(&q, k_cache, v_cache, meta)?;
    q.apply_op3_no_bwd(k_cache, v_cache, &PagedAttention { meta, dims, softmax_scale, batch_invariant })
}

/// The candle op: q, K cache, V cache -> attention output.
struct PagedAttention<'a> {
    meta: &'a AttentionMetadata,
    dims: AttnDims,
    softmax_scale: f32,
    batch_invariant: bool,
}

impl PagedAttention<'_> {
    fn run_typed<T: CacheElem>(&self, q: &[f32], k: &[T], v: &[T]) -> Vec<f32> {
        let d = &self.dims;
        let cache = CacheView { k, v, block_size: d.block_size, num_kv_heads: d.num_kv_heads, head_dim: d.head_dim };
        cpu::run(q, cache, self.meta, self.dims, self.softmax_scale, self.batch_invariant)
    }
}

/// The contiguous elements of a tensor's storage.
fn contiguous_slice<'s, T: CacheElem>(
    s: &'s CpuStorage,
    l: &Layout,
    tensor: &'static str,
) -> candle_core::Result<&'s [T]> {
    if !l.is_contiguous() {
        return Err(KernelError::NotContiguous { kernel: "paged_attention", tensor }.into());
    }
    let start = l.start_offset();
    Ok(&s.as_slice::<T>()?[start..start + l.shape().elem_count()])
}

impl CustomOp3 for PagedAttention<'_> {
    fn name(&self) -> &'static str {
        "paged_attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_l: &Layout,
        k: &CpuStorage,
        k_l: &Layout,
        v: &CpuStorage,
        v_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let q = contiguous_slice::<f32>(q, q_l, "q")?;
        let out = match k.dtype() {
            DType::F32 => self.run_typed::<f32>(q, contiguous_slice(k, k_l, "k_cache")?, contiguous_slice(v, v_l, "v_cache")?),
            DType::F16 => self.run_typed::<half::f16>(q, contiguous_slice(k, k_l, "k_cache")?, contiguous_slice(v, v_l, "v_cache")?),
            DType::BF16 => self.run_typed::<half::bf16>(q, contiguous_slice(k, k_l, "k_cache")?, contiguous_slice(v, v_l, "v_cache")?),
            dtype => {
                let e = KernelError::DType { kernel: "paged_attention", tensor: "k_cache", dtype, expected: "f32, f16 or bf16" };
                return Err(e.into());
            }
        };
        let d = &self.dims;
        Ok((CpuStorage::F32(out), Shape::from((d.num_tokens, d.num_heads, d.head_dim))))
    }
}
