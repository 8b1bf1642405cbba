//! Loading a model from disk: an HF folder (`config.json` + safetensors) or a `.gguf` file.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device};

use crate::arch::DecoderModel;
use crate::config::ModelConfig;
use crate::model::Model;
use crate::weights::{GgufWeights, SafetensorsWeights, WeightName};

/// The on-disk format of a model path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// An HF folder with `config.json` and safetensors.
    HfFolder,
    /// A llama.cpp `.gguf` file.
    Gguf,
}

/// Tells the format of `path`. Errors when it is neither a folder nor a `.gguf` file.
pub fn model_format(path: &Path) -> anyhow::Result<ModelFormat> {
    if path.is_dir() {
        Ok(ModelFormat::HfFolder)
    } else if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        Ok(ModelFormat::Gguf)
    } else {
        anyhow::bail!("{}: not a model folder or a .gguf file", path.display())
    }
}

/// Reads only the configuration of the model at `path` (HF folder or `.gguf`).
pub fn load_config(path: &Path) -> anyhow::Result<ModelConfig> {
    match model_format(path)? {
        ModelFormat::HfFolder => {
            let config_path = path.join("config.json");
            let text = std::fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?;
            ModelConfig::from_hf_json(&text).with_context(|| config_path.display().to_string())
        }
        ModelFormat::Gguf => {
            let mut file = File::open(path).with_context(|| path.display().to_string())?;
            let content = gguf_file::Content::read(&mut file).with_context(|| path.display().to_string())?;
            let has_output = content.tensor_infos.contains_key(&WeightName::LmHead.gguf());
            ModelConfig::from_gguf_metadata(&content.metadata, has_output)
                .with_context(|| path.display().to_string())
        }
    }
}

/// The dtype policy: activations and dense weights are f32 on the CPU (its kernels
/// are f32) and bf16 on any other device (GPUs, where bf16 halves the bytes every
/// decode step reads); GGUF models keep quantized weights and f32 activations
/// everywhere. Logits leave the model as f32 and the KV cache follows
/// `--kv-cache-dtype`.
pub fn compute_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Loads the model at `path` onto `device`: an HF folder (weights in the device's
/// [`compute_dtype`]) or a `.gguf` file (linear layers kept quantized).
pub fn load_model(path: &Path, device: &Device) -> anyhow::Result<Box<dyn Model>> {
    Ok(Box::new(load_decoder(path, device, compute_dtype(device))?))
}

/// Like [`load_model`] with an explicit dtype for an HF folder's weights and
/// activations (f32, f16 or bf16; a `.gguf` ignores it), returning the decoder.
pub fn load_decoder(path: &Path, device: &Device, dtype: DType) -> anyhow::Result<DecoderModel> {
    let model = match model_format(path)? {
        ModelFormat::HfFolder => {
            let config = load_config(path)?;
            let weights = SafetensorsWeights::open(path, device, dtype)?;
            DecoderModel::from_weights(&config, &weights)
        }
        ModelFormat::Gguf => {
            let (weights, config) = GgufWeights::open(path, device)?;
            DecoderModel::from_weights(&config, &weights)
        }
    };
    model.with_context(|| format!("loading {}", path.display()))
}
