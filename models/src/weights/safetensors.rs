//! HF safetensors checkpoints: `model.safetensors`, or shards listed in
//! `model.safetensors.index.json`. Files are memory-mapped; each tensor is converted
//! from its stored dtype (f32, f16, bf16) to the compute dtype when loaded (f32 on the
//! CPU, bf16 on a GPU: see [`crate::compute_dtype`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Result, Tensor};

use super::{WeightName, WeightSource};
use crate::layers::{Embedding, Linear};

/// Memory-mapped safetensors weights of an HF model folder.
pub struct SafetensorsWeights {
    /// All shards, routed by tensor name.
    files: MmapedSafetensors,
    /// Device tensors are loaded onto.
    device: Device,
    /// Dtype every tensor is converted to.
    dtype: DType,
}

impl SafetensorsWeights {
    /// Maps the checkpoint files of the HF model folder `dir`, to be loaded onto
    /// `device` as `dtype` (f32, f16 or bf16).
    ///
    /// Errors when neither `model.safetensors` nor `model.safetensors.index.json` exists,
    /// or a file cannot be mapped or parsed.
    pub fn open(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let files = checkpoint_files(dir)?;
        // SAFETY: the files are opened read-only; as with every mmap-based loader, they
        // must not be truncated while the model is loading.
        let files = unsafe { MmapedSafetensors::multi(&files)? };
        Ok(Self { files, device: device.clone(), dtype })
    }

    /// Loads `name` as `self.dtype` (any stored float dtype is converted).
    fn load(&self, name: WeightName) -> Result<Tensor> {
        let hf = name.hf();
        let stored = self.files.load(&hf, &Device::Cpu).map_err(|e| e.context(format!("weight `{hf}`")))?;
        match stored.dtype() {
            DType::F32 | DType::F16 | DType::BF16 => {}
            other => candle_core::bail!("weight `{hf}`: unsupported dtype {other:?}"),
        }
        // Convert on the CPU (where the mmap is), then move to the target device.
        let tensor = stored.to_dtype(self.dtype)?;
        tensor.to_device(&self.device)
    }
}

/// The safetensors files of `dir`: the single file, or the shards of the index.
fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index_path = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index_path).map_err(|e| {
        candle_core::Error::msg(format!(
            "{}: no model.safetensors and no readable index ({e})",
            dir.display()
        ))
    })?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| candle_core::Error::msg(format!("{}: {e}", index_path.display())))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| candle_core::Error::msg(format!("{}: no weight_map", index_path.display())))?;
    let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
    Ok(shards.into_iter().map(|s| dir.join(s)).collect())
}

impl WeightSource for SafetensorsWeights {
    fn contains(&self, name: WeightName) -> bool {
        self.files.get(&name.hf()).is_ok()
    }

    fn vector(&self, name: WeightName) -> Result<Tensor> {
        self.load(name)
    }

    fn linear(&self, name: WeightName) -> Result<Linear> {
        Ok(Linear::dense(self.load(name)?))
    }

    fn embedding(&self, name: WeightName) -> Result<Embedding> {
        Ok(Embedding::dense(self.load(name)?))
    }

    fn rope_freq_factors(&self) -> Result<Option<Vec<f32>>> {
        Ok(None)
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
