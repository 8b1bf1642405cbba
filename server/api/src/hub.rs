//! Fetching a model folder from the Hugging Face Hub (or a mirror set with
//! `HF_ENDPOINT`) into the local HF cache, with the `hf-hub` crate's sync API.
//!
//! Files already in the cache are used without any network access.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use hf_hub::api::sync::{ApiBuilder, ApiRepo};

/// The endpoint `hf-hub` talks to.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string())
}

/// Fetches config, tokenizer and safetensors weights of `repo_id` and returns the
/// snapshot folder. Errors name the repo id and the endpoint.
pub fn fetch_repo(repo_id: &str) -> anyhow::Result<PathBuf> {
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .with_retries(0)
        .build()
        .with_context(|| format!("cannot set up the Hugging Face client for {repo_id}"))?;
    let repo = api.model(repo_id.to_string());
    let get = |file: &str| {
        repo.get(file).map_err(|e| {
            anyhow!("cannot fetch {file} of Hugging Face repo {repo_id} from {}: {e}", endpoint())
        })
    };
    let config = get("config.json")?;
    get("tokenizer.json")?;
    for optional in ["tokenizer_config.json", "generation_config.json"] {
        let _ = repo.get(optional);
    }
    fetch_weights(&repo, repo_id)?;
    config
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("the cached config.json of {repo_id} has no parent folder"))
}

/// Sharded weights (`model.safetensors.index.json`) or a single `model.safetensors`.
fn fetch_weights(repo: &ApiRepo, repo_id: &str) -> anyhow::Result<()> {
    let Ok(index) = repo.get("model.safetensors.index.json") else {
        repo.get("model.safetensors")
            .map_err(|e| anyhow!("cannot fetch model.safetensors of {repo_id} from {}: {e}", endpoint()))?;
        return Ok(());
    };
    let text = std::fs::read_to_string(&index)?;
    let json: serde_json::Value = serde_json::from_str(&text).context("bad model.safetensors.index.json")?;
    let mut shards: Vec<&str> = json["weight_map"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    shards.sort_unstable();
    shards.dedup();
    for shard in shards {
        repo.get(shard).map_err(|e| anyhow!("cannot fetch {shard} of {repo_id} from {}: {e}", endpoint()))?;
    }
    Ok(())
}
