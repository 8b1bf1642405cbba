//! llama.cpp GGUF files: metadata and tensors, linear layers kept quantized.
//!
//! llama.cpp's converter (`convert_hf_to_gguf.py`, `LlamaModel.permute`) reorders the
//! rows of Llama's Q and K projections (weights and biases) within each head from HF's
//! half-rotation RoPE layout to the interleaved (GPT-J) one. We undo that permutation
//! on the raw quantized rows at load time (rows are independent and each is a whole
//! number of blocks), so every architecture runs the same HF-layout RoPE. Qwen2/Qwen3
//! files are not permuted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::quantized::{ggml_file::qtensor_from_ggml, gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};

use super::{LayerWeight, WeightName, WeightSource};
use crate::config::{Architecture, ModelConfig};
use crate::layers::{Embedding, Linear};

/// Tensors of one GGUF file, read on demand.
pub struct GgufWeights {
    /// Parsed header: metadata, tensor infos, data offset.
    content: gguf_file::Content,
    /// The open file, positioned anywhere (every read seeks first).
    file: Mutex<File>,
    /// Whether Q/K rows must be un-permuted (Llama only).
    unpermute_qk: bool,
    /// Query heads (for the Q permutation).
    num_heads: usize,
    /// Key/value heads (for the K permutation).
    num_kv_heads: usize,
    /// Device tensors are loaded onto.
    device: Device,
}

impl GgufWeights {
    /// Opens `path` and reads its header. Errors when the file is not GGUF.
    pub fn open(path: &Path, device: &Device) -> Result<(Self, ModelConfig)> {
        let mut file = File::open(path).map_err(|e| candle_core::Error::from(e).with_path(path))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| e.with_path(path))?;
        let has_output = content.tensor_infos.contains_key(&WeightName::LmHead.gguf());
        let config = ModelConfig::from_gguf_metadata(&content.metadata, has_output)
            .map_err(candle_core::Error::wrap)?;
        let weights = Self {
            content,
            file: Mutex::new(file),
            unpermute_qk: config.architecture == Architecture::Llama,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            device: device.clone(),
        };
        Ok((weights, config))
    }

    /// The file's metadata (tokenizer and chat template keys included).
    pub fn metadata(&self) -> &HashMap<String, gguf_file::Value> {
        &self.content.metadata
    }

    /// Reads the raw bytes of tensor `name`: `(dtype, dims [rows.., cols], bytes)`.
    fn read_raw(&self, name: &str) -> Result<(GgmlDType, Vec<usize>, Vec<u8>)> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| candle_core::Error::msg(format!("gguf: no tensor `{name}`")))?;
        let dims = info.shape.dims().to_vec();
        let elems = info.shape.elem_count();
        let block = info.ggml_dtype.block_size();
        if elems % block != 0 {
            candle_core::bail!("gguf: tensor `{name}` of {elems} elements is not whole blocks of {block}");
        }
        let mut bytes = vec![0u8; elems / block * info.ggml_dtype.type_size()];
        let mut file = self.file.lock().map_err(|_| candle_core::Error::msg("gguf: file lock poisoned"))?;
        file.seek(SeekFrom::Start(self.content.tensor_data_offset + info.offset))?;
        file.read_exact(&mut bytes)
            .map_err(|e| candle_core::Error::msg(format!("gguf: tensor `{name}` is cut off ({e})")))?;
        Ok((info.ggml_dtype, dims, bytes))
    }

    /// Reads `name` as a QTensor, un-permuting Llama Q/K rows.
    fn qtensor(&self, name: WeightName) -> Result<QTensor> {
        let gguf = name.gguf();
        let (dtype, dims, mut bytes) = self.read_raw(&gguf)?;
        if let Some(n_head) = self.permuted_heads(name) {
            let rows = dims[0];
            bytes = unpermute_rows(&bytes, rows, bytes.len() / rows.max(1), n_head)
                .map_err(|e| e.context(format!("gguf: tensor `{gguf}`")))?;
        }
        qtensor_from_ggml(dtype, &bytes, dims, &self.device)
    }

    /// Number of heads whose rows llama.cpp permuted in `name`, if it did.
    fn permuted_heads(&self, name: WeightName) -> Option<usize> {
        if !self.unpermute_qk {
            return None;
        }
        match name {
            WeightName::Layer(_, LayerWeight::Q | LayerWeight::QBias) => Some(self.num_heads),
            WeightName::Layer(_, LayerWeight::K | LayerWeight::KBias) => Some(self.num_kv_heads),
            _ => None,
        }
    }
}

/// Undoes llama.cpp's Q/K row permutation: within each of `n_head` heads of
/// `head_dim = rows / n_head` rows, GGUF row `2i + j` holds HF row `j * head_dim/2 + i`.
/// `row_bytes` is the byte size of one row (a whole number of quantized blocks).
pub fn unpermute_rows(data: &[u8], rows: usize, row_bytes: usize, n_head: usize) -> Result<Vec<u8>> {
    if n_head == 0 || !rows.is_multiple_of(n_head) || !(rows / n_head).is_multiple_of(2) || data.len() != rows * row_bytes {
        candle_core::bail!("cannot un-permute {rows} rows of {row_bytes} bytes into {n_head} heads");
    }
    let head_dim = rows / n_head;
    let half = head_dim / 2;
    let mut out = vec![0u8; data.len()];
    for hf_row in 0..rows {
        let (h, r) = (hf_row / head_dim, hf_row % head_dim);
        let (j, i) = (r / half, r % half);
        let src = h * head_dim + 2 * i + j;
        out[hf_row * row_bytes..(hf_row + 1) * row_bytes]
            .copy_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
    }
    Ok(out)
}

impl WeightSource for GgufWeights {
    fn contains(&self, name: WeightName) -> bool {
        self.content.tensor_infos.contains_key(&name.gguf())
    }

    fn vector(&self, name: WeightName) -> Result<Tensor> {
        self.qtensor(name)?.dequantize(&self.device)
    }

    fn linear(&self, name: WeightName) -> Result<Linear> {
        Linear::quantized(Arc::new(self.qtensor(name)?))
    }

    fn embedding(&self, name: WeightName) -> Result<Embedding> {
        Embedding::quantized(Arc::new(self.qtensor(name)?))
    }

    fn rope_freq_factors(&self) -> Result<Option<Vec<f32>>> {
        if !self.content.tensor_infos.contains_key("rope_freqs.weight") {
            return Ok(None);
        }
        let (dtype, dims, bytes) = self.read_raw("rope_freqs.weight")?;
        let t = qtensor_from_ggml(dtype, &bytes, dims, &Device::Cpu)?.dequantize(&Device::Cpu)?;
        Ok(Some(t.flatten_all()?.to_vec1::<f32>()?))
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
