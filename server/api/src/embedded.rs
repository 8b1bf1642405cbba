//! The default model, embedded in the binary: the tiny reasoner of
//! `models/assets/tiny-reasoner` (a 3M-parameter Qwen2 trained by
//! `models/tiny-reasoner/train.py`). On first use its files are written once to
//! `${PONDER_CACHE:-~/.cache/ponder}/tiny-reasoner-<hash>/` and loaded from there like
//! any Hugging Face folder.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::cli::asset_cache_dir;

#[cfg(ponder_embedded_model)]
macro_rules! asset {
    ($name:literal) => {
        ($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/assets/tiny-reasoner/", $name)).as_slice())
    };
}

#[cfg(ponder_embedded_model)]
const FILES: &[(&str, &[u8])] = &[
    asset!("config.json"),
    asset!("generation_config.json"),
    asset!("model.safetensors"),
    asset!("tokenizer.json"),
    asset!("tokenizer_config.json"),
];

#[cfg(not(ponder_embedded_model))]
const FILES: &[(&str, &[u8])] = &[];

/// The name the embedded model is served under.
pub const NAME: &str = "tiny-reasoner";

/// Whether this binary carries the default model.
pub fn has_default_model() -> bool {
    !FILES.is_empty()
}

/// The folder holding the embedded model's files, written there on first use.
///
/// Errors: the binary was built without the model, or the cache folder is not writable.
pub fn default_model_dir() -> anyhow::Result<PathBuf> {
    if FILES.is_empty() {
        bail!(
            "this ponder was built without its embedded model (models/assets/tiny-reasoner was incomplete): \
             pass MODEL (a model folder, .gguf file or Hugging Face repo id)"
        );
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    FILES.hash(&mut hasher);
    let dir = asset_cache_dir().join(format!("{NAME}-{:016x}", hasher.finish()));
    for (name, bytes) in FILES {
        let path = dir.join(name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            continue;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Write beside, then rename: a concurrent start never sees half a file.
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}
