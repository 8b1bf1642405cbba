//! Errors of the kernels. The public functions return `candle_core::Result` (they are
//! tensor ops); a [`KernelError`] travels inside `candle_core::Error::Wrapped` and
//! its message is the error's `Display`.

use candle_core::DType;

/// What a kernel rejects before touching any memory.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// A tensor's shape does not fit the others or the metadata.
    #[error("{kernel}: `{tensor}` has shape {actual:?}, expected {expected}")]
    Shape {
        kernel: &'static str,
        tensor: &'static str,
        actual: Vec<usize>,
        expected: String,
    },
    /// A tensor's dtype is not one the kernel handles.
    #[error("{kernel}: `{tensor}` has dtype {dtype:?}, expected {expected}")]
    DType {
        kernel: &'static str,
        tensor: &'static str,
        dtype: DType,
        expected: &'static str,
    },
    /// The KV cache must be one contiguous buffer (it may start at an offset).
    #[error("{kernel}: `{tensor}` must be contiguous")]
    NotContiguous {
        kernel: &'static str,
        tensor: &'static str,
    },
    /// A slot mapping entry points past the end of the cache.
    #[error("write_kv_cache: slot {slot} of token {token} is out of range (the cache has {num_slots} slots)")]
    SlotOutOfRange {
        token: usize,
        slot: u32,
        num_slots: usize,
    },
    /// The attention metadata is inconsistent with itself or with the tensors.
    #[error("paged_attention: invalid metadata: {0}")]
    Metadata(String),
    /// A quantized matrix's data or an input does not fit its shape.
    #[error("quantized matmul: {0}")]
    Quantized(String),
}

impl From<KernelError> for candle_core::Error {
    fn from(e: KernelError) -> Self {
        candle_core::Error::wrap(e)
    }
}
