//! Validation of `paged_attention`'s tensors and metadata, done before any work so a
//! bad call fails with a clear error instead of reading out of bounds.

use candle_core::{DType, Tensor};

use crate::error::KernelError;
use crate::AttentionMetadata;

const KERNEL: &str = "paged_attention";

/// The sizes of one `paged_attention` call, checked against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttnDims {
    pub num_tokens: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub block_size: usize,
    pub num_blocks: usize,
}

impl AttnDims {
    /// Query heads per KV head (the GQA group size).
    pub fn group(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    /// Checks `q` `[num_tokens, num_heads, head_dim]` and both caches
    /// `[num_blocks, block_size, num_kv_heads, head_dim]` (same shape and dtype,
    /// f32/f16/bf16), then the metadata against them.
    pub fn check(
        q: &Tensor,
        k_cache: &Tensor,
        v_cache: &Tensor,
        meta: &AttentionMetadata,
    ) -> Result<Self, KernelError> {
        let cache_dims = k_cache.dims();
        let &[num_blocks, block_size, num_kv_heads, head_dim] = cache_dims else {
            return Err(shape("k_cache", cache_dims, "[num_blocks, block_size, num_kv_heads, head_dim]".into()));
        };
        if v_cache.dims() != cache_dims {
            return Err(shape("v_cache", v_cache.dims(), format!("{cache_dims:?} like k_cache")));
        }
        let &[num_tokens, num_heads, q_head_dim] = q.dims() else {
            return Err(shape("q", q.dims(), "[num_tokens, num_heads, head_dim]".into()));
        };
        if q_head_dim != head_dim || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            let expected = format!("[_, a multiple of {num_kv_heads} kv heads, {head_dim}]");
            return Err(shape("q", q.dims(), expected));
        }
        check_cache_dtypes(k_cache.dtype(), v_cache.dtype())?;
        let dims = Self { num_tokens, num_heads, num_kv_heads, head_dim, block_size, num_blocks };
        check_metadata(meta, &dims)?;
        Ok(dims)
    }
}

fn shape(tensor: &'static str, actual: &[usize], expected: String) -> KernelError {
    KernelError::Shape { kernel: KERNEL, tensor, actual: actual.to_vec(), expected }
}

fn check_cache_dtypes(k: DType, v: DType) -> Result<(), KernelError> {
    let dtype = |tensor, dtype, expected| KernelError::DType { kernel: KERNEL, tensor, dtype, expected };
    if !matches!(k, DType::F32 | DType::F16 | DType::BF16) {
        return Err(dtype("k_cache", k, "f32, f16 or bf16"));
    }
    if v != k {
        return Err(dtype("v_cache", v, "the dtype of k_cache"));
    }
    Ok(())
}

/// Checks the metadata's lengths, that `query_start_loc` runs from 0 to `num_tokens`
/// without going back, that no sequence has more new tokens than context, and that
/// each block table covers its context with existing block ids.
fn check_metadata(meta: &AttentionMetadata, dims: &AttnDims) -> Result<(), KernelError> {
    let bad = |msg: String| Err(KernelError::Metadata(msg));
    let num_seqs = meta.num_seqs();
    if meta.block_size != dims.block_size {
        return bad(format!("block_size {} but the cache has {}", meta.block_size, dims.block_size));
    }
    if meta.query_start_loc.len() != num_seqs + 1 || meta.block_tables.len() != num_seqs {
        return bad(format!(
            "{num_seqs} seq_lens need {} query_start_loc entries and {num_seqs} block tables, got {} and {}",
            num_seqs + 1,
            meta.query_start_loc.len(),
            meta.block_tables.len()
        ));
    }
    let qsl = &meta.query_start_loc;
    if qsl[0] != 0 || qsl[num_seqs] as usize != dims.num_tokens {
        return bad(format!("query_start_loc must run from 0 to {} (q rows), got {qsl:?}", dims.num_tokens));
    }
    for i in 0..num_seqs {
        check_sequence(meta, dims, i)?;
    }
    Ok(())
}

fn check_sequence(meta: &AttentionMetadata, dims: &AttnDims, i: usize) -> Result<(), KernelError> {
    let bad = |msg: String| Err(KernelError::Metadata(format!("sequence {i}: {msg}")));
    let (start, end) = (meta.query_start_loc[i], meta.query_start_loc[i + 1]);
    let seq_len = meta.seq_lens[i] as usize;
    if end < start {
        return bad(format!("query_start_loc goes back from {start} to {end}"));
    }
    if (end - start) as usize > seq_len {
        return bad(format!("{} new tokens but seq_len is {seq_len}", end - start));
    }
    let table = &meta.block_tables[i];
    let needed = seq_len.div_ceil(dims.block_size);
    if table.len() < needed {
        return bad(format!("seq_len {seq_len} needs {needed} blocks, the block table has {}", table.len()));
    }
    if let Some(&b) = table[..needed].iter().find(|&&b| b as usize >= dims.num_blocks) {
        return bad(format!("block id {b} is out of range (the cache has {} blocks)", dims.num_blocks));
    }
    Ok(())
}
