//! Resolving MODEL (a local HF folder, a `.gguf` file, or an HF repo id) to files on disk.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};


/// Where the model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A Hugging Face folder: `config.json`, tokenizer files, safetensors weights.
    HfFolder(PathBuf),
    /// A single GGUF file (weights, config and tokenizer inside).
    Gguf(PathBuf),
}

impl ModelSource {
    /// The path handed to the model loader.
    pub fn path(&self) -> &Path {
        match self {
            Self::HfFolder(p) | Self::Gguf(p) => p,
        }
    }

    /// The folder holding side files such as `generation_config.json`.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Self::HfFolder(p) => Some(p),
            Self::Gguf(p) => p.parent(),
        }
    }
}

/// Resolves MODEL, returning the source and the default served name (folder or file
/// stem; for a repo id, the repo id itself).
///
/// No MODEL: the embedded tiny reasoner ([`crate::embedded`]).
///
/// Errors: a binary built without the embedded model, a path that is neither a
/// folder nor a `.gguf` file, or an HF repo that cannot be fetched (names the repo id
/// and the endpoint).
pub fn resolve(model: Option<&str>) -> anyhow::Result<(ModelSource, String)> {
    let Some(model) = model else {
        let dir = crate::embedded::default_model_dir()?;
        return Ok((ModelSource::HfFolder(dir), crate::embedded::NAME.to_string()));
    };
    let path = Path::new(model);
    if path.exists() {
        return local(path);
    }
    if looks_like_repo_id(model) {
        let folder = crate::hub::fetch_repo(model)?;
        return Ok((ModelSource::HfFolder(folder), model.to_string()));
    }
    bail!("MODEL {model:?} is not an existing folder or .gguf file, nor a Hugging Face repo id (owner/name)")
}

fn local(path: &Path) -> anyhow::Result<(ModelSource, String)> {
    let path = path.canonicalize().with_context(|| format!("cannot open {}", path.display()))?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    if path.is_dir() {
        if !path.join("config.json").is_file() {
            bail!("{} is a folder without config.json: not a Hugging Face model folder", path.display());
        }
        let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        return Ok((ModelSource::HfFolder(path), name));
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        let name = stem(&path);
        return Ok((ModelSource::Gguf(path), name));
    }
    bail!("{} is neither a model folder nor a .gguf file", path.display())
}

/// `owner/name` with the characters Hugging Face allows.
pub fn looks_like_repo_id(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match s.split_once('/') {
        Some((owner, name)) => ok(owner) && ok(name),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_told_apart_from_paths() {
        assert!(looks_like_repo_id("HuggingFaceTB/SmolLM2-135M-Instruct"));
        assert!(looks_like_repo_id("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"));
        assert!(!looks_like_repo_id("/abs/path"));
        assert!(!looks_like_repo_id("./rel/path"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("noslash"));
    }

    #[test]
    fn a_gguf_file_is_served_under_its_stem() {
        let dir = std::env::temp_dir().join(format!("ponder-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("Tiny-Model.Q4.gguf");
        std::fs::write(&file, b"GGUF").unwrap();
        let (src, name) = resolve(Some(file.to_str().unwrap())).unwrap();
        assert!(matches!(src, ModelSource::Gguf(_)));
        assert_eq!(name, "Tiny-Model.Q4");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_without_config_json_is_rejected() {
        let dir = std::env::temp_dir().join(format!("ponder-src-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = resolve(Some(dir.to_str().unwrap())).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_that_is_neither_path_nor_repo_id_is_rejected() {
        let err = resolve(Some("definitely-not-here.bin")).unwrap_err().to_string();
        assert!(err.contains("repo id"), "{err}");
    }
}
