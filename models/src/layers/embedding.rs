//! Token embedding lookup, dense or over quantized rows.

use std::sync::Arc;

use candle_core::quantized::{ggml_file::qtensor_from_ggml, QTensor};
use candle_core::{Device, Result, Tensor};

use super::Linear;

/// The token embedding table `[vocab_size, hidden_size]`.
#[derive(Debug, Clone)]
pub enum Embedding {
    /// Dense f32 table.
    Dense(Tensor),
    /// Quantized table on the CPU; only the gathered rows are dequantized.
    Quantized(Arc<QTensor>),
}

impl Embedding {
    /// A dense table from an f32 tensor `[vocab, hidden]`.
    pub fn dense(table: Tensor) -> Self {
        Self::Dense(table)
    }

    /// A table kept quantized on the CPU (rows are independent whole blocks); on other
    /// devices it is dequantized once, since gathering rows needs host access.
    pub fn quantized(table: Arc<QTensor>) -> Result<Self> {
        table.shape().dims2()?;
        match table.device() {
            Device::Cpu => Ok(Self::Quantized(table)),
            dev => Ok(Self::Dense(table.dequantize(&dev)?)),
        }
    }

    /// Number of rows (vocabulary size).
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Dense(t) => t.dims()[0],
            Self::Quantized(q) => q.shape().dims()[0],
        }
    }

    /// Looks up `ids [num_tokens]` (u32) -> `[num_tokens, hidden]` f32.
    /// Errors when an id is out of the vocabulary.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(table) => table.index_select(ids, 0),
            Self::Quantized(table) => gather_quantized_rows(table, &ids.to_vec1::<u32>()?),
        }
    }

    /// The LM head tied to this table (the same matrix as a linear layer, shared).
    pub fn tied_lm_head(&self) -> Result<Linear> {
        match self {
            Self::Dense(t) => Ok(Linear::dense(t.clone())),
            Self::Quantized(q) => Linear::quantized(q.clone()),
        }
    }
}

/// Copies the raw blocks of rows `ids` out of `table` and dequantizes only them.
fn gather_quantized_rows(table: &QTensor, ids: &[u32]) -> Result<Tensor> {
    let (vocab, hidden) = table.shape().dims2()?;
    let dtype = table.dtype();
    let row_bytes = hidden / dtype.block_size() * dtype.type_size();
    let data = table.data()?;
    let mut rows = Vec::with_capacity(ids.len() * row_bytes);
    for &id in ids {
        let id = id as usize;
        if id >= vocab {
            candle_core::bail!("token id {id} is outside the vocabulary of {vocab}");
        }
        rows.extend_from_slice(&data[id * row_bytes..(id + 1) * row_bytes]);
    }
    qtensor_from_ggml(dtype, &rows, vec![ids.len(), hidden], &Device::Cpu)?.dequantize(&Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;

    #[test]
    fn quantized_row_gather_equals_rows_of_the_dequantized_table() {
        let dev = Device::Cpu;
        let table = Tensor::randn(0f32, 1.0, (10, 64), &dev).unwrap();
        let q = Arc::new(QTensor::quantize(&table, GgmlDType::Q4_1).unwrap());
        let full = q.dequantize(&dev).unwrap();
        let ids = Tensor::new(&[7u32, 0, 7, 9], &dev).unwrap();
        let got = Embedding::quantized(q).unwrap().forward(&ids).unwrap();
        let want = full.index_select(&ids, 0).unwrap();
        assert_eq!(got.to_vec2::<f32>().unwrap(), want.to_vec2::<f32>().unwrap());
    }

    #[test]
    fn an_out_of_vocabulary_id_is_an_error() {
        let dev = Device::Cpu;
        let table = Tensor::zeros((4, 32), candle_core::DType::F32, &dev).unwrap();
        let q = Arc::new(QTensor::quantize(&table, GgmlDType::Q8_0).unwrap());
        let ids = Tensor::new(&[4u32], &dev).unwrap();
        assert!(Embedding::quantized(q).unwrap().forward(&ids).is_err());
    }
}
