//! The tokenizer's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading a tokenizer, encoding, decoding or
/// rendering a chat template. No variant is a panic in disguise: bad files and bad
/// templates are reported with the file or the template error named.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (tokenizer_config.json, generation_config.json) is malformed.
    #[error("malformed {path}: {message}")]
    Config {
        /// The file that failed.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The GGUF file's metadata is unreadable or lacks a key the tokenizer needs.
    #[error("GGUF tokenizer metadata: {0}")]
    Gguf(String),
    /// The GGUF tokenizer kind (`tokenizer.ggml.model`) or pre-tokenizer
    /// (`tokenizer.ggml.pre`) is not one ponder can build.
    #[error("unsupported GGUF tokenizer: {0}")]
    Unsupported(String),
    /// The Hugging Face `tokenizers` library failed (building, encoding, decoding).
    #[error("tokenizer: {0}")]
    Tokenizers(String),
    /// The chat template failed to compile or to render; the message names the
    /// template error (for example a `raise_exception` from the template itself).
    #[error("chat template: {0}")]
    Template(String),
}

impl TokenizerError {
    /// Wraps an error of the `tokenizers` crate.
    pub(crate) fn tokenizers(err: impl std::fmt::Display) -> Self {
        Self::Tokenizers(err.to_string())
    }

    /// Wraps a minijinja error, keeping its full chain (the template line and the
    /// cause) in the message.
    pub(crate) fn template(err: &minijinja::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Template(message)
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, TokenizerError>;
