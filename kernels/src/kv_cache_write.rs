//! Writing the new tokens' K/V into their cache slots (vLLM's `reshape_and_cache`).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor};

use crate::error::KernelError;

const KERNEL: &str = "write_kv_cache";

/// Writes row `t` of `k` and `v` into slot `slot_mapping[t]` of `k_cache` and
/// `v_cache`, in place: the caches' storage is modified, never copied.
///
/// - `k`, `v`: `[num_tokens, num_kv_heads, head_dim]`, any of f32/f16/bf16, any
///   strides; converted to the cache dtype before the write.
/// - `k_cache`, `v_cache`: `[num_blocks, block_size, num_kv_heads, head_dim]`,
///   contiguous (a view starting at an offset is fine), f32, f16 or bf16.
/// - `slot_mapping`: `len == num_tokens`; slot = `block_id * block_size + offset`.
///
/// ```text
/// k row t ──> k_cache[slot / block_size, slot % block_size, :, :]
/// ```
///
/// # Errors
/// A [`KernelError`] (wrapped) when shapes disagree, a cache is not contiguous or has
/// an unsupported dtype, or a slot is `>= num_blocks * block_size`; nothing is written
/// then. Off the CPU, [`crate::write_kv_cache_tensor_ops`] does the write.
pub fn write_kv_cache(
    k: &Tensor,
    v: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    slot_mapping: &[u32],
) -> candle_core::Result<()> {
    let num_slots = check_shapes(k, v, k_cache, v_cache, slot_mapping)?;
    if let Some((token, &slot)) = slot_mapping
        .iter()
        .enumerate()
        .find(|(_, &s)| s as usize >= num_slots)
    {
        return Err(KernelError::SlotOutOfRange { token, slot, num_slots }.into());
    }
    if crate::tensor_ops::needs_tensor_ops(k_cache) {
        return crate::write_kv_cache_tensor_ops(k, v, k_cache, v_cache, slot_mapping);
    }
    let op = WriteSlots { slot_mapping };
    for (src, cache) in [(k, k_cache), (v, v_cache)] {
        let src = src.to_dtype(cache.dtype())?.contiguous()?;
        cache.inplace_op2(&src, &op)?;
    }
    Ok(())
}

/// Checks every shape and dtype up front (so a bad call writes nothing) and returns
/// the number of slots in the cache.
fn check_shapes(
    k: &Tensor,
    v: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    slot_mapping: &[u32],
) -> Result<usize, KernelError> {
    let cache_dims = k_cache.dims();
    let [num_blocks, block_size, num_kv_heads, head_dim] = *cache_dims else {
        return Err(shape_error("k_cache", cache_dims, "4 dims [num_blocks, block_size, num_kv_heads, head_dim]"));
    };
    if v_cache.dims() != cache_dims {
        return Err(shape_error("v_cache", v_cache.dims(), format!("{cache_dims:?} like k_cache")));
    }
    let row = [slot_mapping.len(), num_kv_heads, head_dim];
    for (name, t) in [("k", k), ("v", v)] {
        if t.dims() != row {
            let expected = format!("{row:?} = [slot_mapping.len(), num_kv_heads, head_dim]");
            return Err(shape_error(name, t.dims(), expected));
        }
    }
    for (name, cache) in [("k_cache", k_cache), ("v_cache", v_cache)] {
        if !matches!(cache.dtype(), DType::F32 | DType::F16 | DType::BF16) {
            return Err(KernelError::DType {
                kernel: KERNEL,
                tensor: name,
                dtype: cache.dtype(),
                expected: "f32, f16 or bf16",
            });
        }
        if !cache.is_contiguous() {
            return Err(KernelError::NotContiguous { kernel: KERNEL, tensor: name });
        }
    }
    Ok(num_blocks * block_size)
}

fn shape_error(tensor: &'static str, actual: &[usize], expected: impl Into<String>) -> KernelError {
    KernelError::Shape { kernel: KERNEL, tensor, actual: actual.to_vec(), expected: expected.into() }
}

/// The in-place scatter on one cache tensor; the source has the cache's dtype and is
/// contiguous `[num_tokens, num_kv_heads, head_dim]` (ensured by [`write_kv_cache`]).
struct WriteSlots<'a> {
    slot_mapping: &'a [u32],
}

impl WriteSlots<'_> {
    fn scatter<T: Copy>(&self, cache: &mut [T], src: &[T]) -> candle_core::Result<()> {
        let rows = self.slot_mapping.len();
        if rows == 0 {
            return Ok(());
        }
        let row_len = src.len() / rows;
        for (row, &slot) in src.chunks_exact(row_len).zip(self.slot_mapping) {
            let start = slot as usize * row_len;
            let dst = cache.get_mut(start..start + row_len).ok_or_else(|| {
                candle_core::Error::msg(format!("{KERNEL}: slot {slot} is outside the cache"))
            })?;
            dst.copy_from_slice(row);
        }
        Ok(())
    }
}

impl InplaceOp2 for WriteSlots<'_> {
    fn name(&self) -> &'static str {
        KERNEL
    }

    fn cpu_fwd(
        &self,
        cache: &mut CpuStorage,
        cache_layout: &Layout,
        src: &CpuStorage,
        src_layout: &Layout,
    ) -> candle_core::Result<()> {
        let src_range = src_layout.start_offset()..src_layout.start_offset() + src_layout.shape().elem_count();
        let cache_range = cache_layout.start_offset()..cache_layout.start_offset() + cache_layout.shape().elem_count();
        match (cache, src) {
            (CpuStorage::F32(c), CpuStorage::F32(s)) => self.scatter(&mut c[cache_range], &s[src_range]),
            (CpuStorage::F16(c), CpuStorage::F16(s)) => self.scatter(&mut c[cache_range], &s[src_range]),
            (CpuStorage::BF16(c), CpuStorage::BF16(s)) => self.scatter(&mut c[cache_range], &s[src_range]),
            (c, s) => Err(candle_core::Error::msg(format!(
                "{KERNEL}: cache dtype {:?} and source dtype {:?} differ",
                c.dtype(),
                s.dtype()
            ))),
        }
    }
}
