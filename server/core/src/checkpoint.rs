//! Loading new weights for `/update_weights_from_disk`, off the engine thread, and
//! checking them against the served model before the engine sees them.

use std::path::Path;

use candle_core::Device;
use ponder_models::{load_config, load_model, model_format, ModelConfig, ModelFormat};

use crate::executor::NewWeights;

/// Why a checkpoint cannot replace the served weights. The message names the problem;
/// the old weights keep serving.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("model_path {0:?} does not exist")]
    Missing(String),
    #[error("model_path {path:?} is {found:?}, but the served model is {served:?}: give the same format")]
    Format { path: String, found: ModelFormat, served: ModelFormat },
    #[error("model_path {path:?} has another architecture: {field} is {found} where the served model has {served}")]
    Architecture { path: String, field: &'static str, found: String, served: String },
    #[error("cannot load model_path {path:?}: {message}")]
    Load { path: String, message: String },
}

/// Loads the checkpoint at `path` (an HF folder for a folder-served model, a `.gguf`
/// for a GGUF-served one) onto `device`, after checking that its configuration has the
/// served model's shape (`served`; the saved dtype may differ). Blocking: run it on a
/// blocking pool, never on the engine thread.
///
/// Errors: a missing path, another format or architecture, or a load failure (missing
/// or misshapen tensor, truncated file), each naming the problem.
pub fn load_checkpoint(path: &Path, served_format: ModelFormat, served: &ModelConfig, device: &Device) -> Result<NewWeights, CheckpointError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(CheckpointError::Missing(shown));
    }
    let load_err = |e: anyhow::Error| CheckpointError::Load { path: shown.clone(), message: format!("{e:#}") };
    let found = model_format(path).map_err(load_err)?;
    if found != served_format {
        return Err(CheckpointError::Format { path: shown, found, served: served_format });
    }
    let config = load_config(path).map_err(load_err)?;
    check_same_shape(&config, served).map_err(|(field, found, served)| CheckpointError::Architecture {
        path: shown.clone(),
        field,
        found,
        served,
    })?;
    let model = load_model(path, device).map_err(load_err)?;
    Ok(NewWeights(model))
}

/// The first hyper-parameter where `new` differs from `served`, as
/// `(field, new value, served value)`. The dtype it was saved in does not count.
fn check_same_shape(new: &ModelConfig, served: &ModelConfig) -> Result<(), (&'static str, String, String)> {
    let fields: [(&'static str, String, String); 11] = [
        ("architecture", format!("{:?}", new.architecture), format!("{:?}", served.architecture)),
        ("hidden_size", new.hidden_size.to_string(), served.hidden_size.to_string()),
        ("intermediate_size", new.intermediate_size.to_string(), served.intermediate_size.to_string()),
        ("num_hidden_layers", new.num_hidden_layers.to_string(), served.num_hidden_layers.to_string()),
        ("num_attention_heads", new.num_attention_heads.to_string(), served.num_attention_heads.to_string()),
        ("num_key_value_heads", new.num_key_value_heads.to_string(), served.num_key_value_heads.to_string()),
        ("head_dim", new.head_dim.to_string(), served.head_dim.to_string()),
        ("vocab_size", new.vocab_size.to_string(), served.vocab_size.to_string()),
        ("tie_word_embeddings", new.tie_word_embeddings.to_string(), served.tie_word_embeddings.to_string()),
        ("attention_bias", new.attention_bias.to_string(), served.attention_bias.to_string()),
        ("rope_theta", new.rope_theta.to_string(), served.rope_theta.to_string()),
    ];
    match fields.into_iter().find(|(_, a, b)| a != b) {
        Some(diff) => Err(diff),
        None => Ok(()),
    }
}
