//! The paged KV cache: sizing and allocation.
//!
//! Per layer, one K and one V tensor `[num_blocks, block_size, num_kv_heads, head_dim]`
//! (the layout of `ponder_kernels`); slot `s` is row `s % block_size` of block
//! `s / block_size`.

use candle_core::{DType, Device, Tensor};

use crate::error::RunnerError;

/// How the runner lays out its KV cache.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    /// Tokens per KV block; must equal the scheduler's.
    pub block_size: usize,
    /// Blocks per layer; must equal the scheduler's `num_blocks`.
    pub num_blocks: usize,
    /// Element type of the cached K/V (usually the model's activation dtype).
    pub kv_cache_dtype: DType,
    /// Run the batch-invariant kernels (`ponder serve` default; off with
    /// `--no-batch-invariance`): a sequence's logits, and so its seeded samples and
    /// logprobs, have the same bits whatever else shares its steps.
    pub batch_invariant: bool,
}

impl RunnerConfig {
    /// Checks that the cache is non-empty and that every slot id fits in a `u32`
    /// (the kernels' slot-mapping type).
    pub fn validate(&self) -> Result<(), RunnerError> {
        if self.block_size == 0 || self.num_blocks == 0 {
            return Err(RunnerError::InvalidConfig(format!(
                "block_size ({}) and num_blocks ({}) must be positive",
                self.block_size, self.num_blocks
            )));
        }
        let slots = self.block_size.checked_mul(self.num_blocks);
        if slots.is_none_or(|s| s > u32::MAX as usize + 1) {
            return Err(RunnerError::InvalidConfig(format!(
                "{} blocks of {} tokens exceed the u32 slot range",
                self.num_blocks, self.block_size
            )));
        }
        Ok(())
    }
}

/// Bytes one KV block takes over all layers:
/// `2 (K and V) × num_layers × num_kv_heads × head_dim × dtype.size_in_bytes() × block_size`.
pub fn kv_cache_bytes_per_block(
    num_layers: usize,
    num_kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    dtype: DType,
) -> usize {
    2 * num_layers * num_kv_heads * head_dim * dtype.size_in_bytes() * block_size
}

/// How many whole KV blocks fit in `bytes` of memory (0 when a block would be empty).
pub fn num_blocks_for_memory(
    bytes: usize,
    num_layers: usize,
    num_kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    dtype: DType,
) -> usize {
    let per_block = kv_cache_bytes_per_block(num_layers, num_kv_heads, head_dim, block_size, dtype);
    bytes.checked_div(per_block).unwrap_or(0)
}

/// Zero-filled `(k, v)` per layer, each `[num_blocks, block_size, num_kv_heads, head_dim]`
/// of `cfg.kv_cache_dtype` on `device`.
pub fn allocate_kv_caches(
    cfg: &RunnerConfig,
    num_layers: usize,
    num_kv_heads: usize,
    head_dim: usize,
    device: &Device,
) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
    let shape = (cfg.num_blocks, cfg.block_size, num_kv_heads, head_dim);
    (0..num_layers)
        .map(|_| {
            let k = Tensor::zeros(shape, cfg.kv_cache_dtype, device)?;
            let v = Tensor::zeros(shape, cfg.kv_cache_dtype, device)?;
            Ok((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_block_counts_k_and_v_of_every_layer() {
        // Qwen2.5-7B: 28 layers, 4 KV heads of 128, bf16, 16-token blocks.
        assert_eq!(kv_cache_bytes_per_block(28, 4, 128, 16, DType::BF16), 2 * 28 * 4 * 128 * 2 * 16);
        assert_eq!(kv_cache_bytes_per_block(1, 1, 1, 1, DType::F32), 8);
    }

    #[test]
    fn num_blocks_for_memory_rounds_down_to_whole_blocks() {
        let per_block = kv_cache_bytes_per_block(2, 2, 8, 4, DType::F16);
        assert_eq!(per_block, 512);
        assert_eq!(num_blocks_for_memory(10 * 512 + 511, 2, 2, 8, 4, DType::F16), 10);
        assert_eq!(num_blocks_for_memory(511, 2, 2, 8, 4, DType::F16), 0);
        assert_eq!(num_blocks_for_memory(1 << 20, 0, 2, 8, 4, DType::F16), 0);
    }

    #[test]
    fn config_rejects_empty_caches_and_slot_ids_beyond_u32() {
        let ok = RunnerConfig { block_size: 16, num_blocks: 8, kv_cache_dtype: DType::F32, batch_invariant: true };
        assert!(ok.validate().is_ok());
        assert!(RunnerConfig { block_size: 0, ..ok.clone() }.validate().is_err());
        assert!(RunnerConfig { num_blocks: 0, ..ok.clone() }.validate().is_err());
        assert!(RunnerConfig { num_blocks: 1 << 29, block_size: 16, ..ok }.validate().is_err());
    }

    #[test]
    fn allocated_caches_have_the_paged_layout_and_are_zero() -> candle_core::Result<()> {
        let cfg = RunnerConfig { block_size: 4, num_blocks: 3, kv_cache_dtype: DType::F32, batch_invariant: true };
        let caches = allocate_kv_caches(&cfg, 2, 2, 8, &Device::Cpu)?;
        assert_eq!(caches.len(), 2);
        for (k, v) in &caches {
            assert_eq!(k.dims(), &[3, 4, 2, 8]);
            assert_eq!(v.dims(), &[3, 4, 2, 8]);
            assert_eq!(k.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
        }
        Ok(())
    }
}
