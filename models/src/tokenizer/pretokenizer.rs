//! The pre-tokenizer (and normalizer) for a GGUF byte-level BPE vocabulary, chosen
//! by its `tokenizer.ggml.pre` name.
//!
//! llama.cpp's converter records which Hugging Face tokenizer a GGUF vocabulary came
//! from as `tokenizer.ggml.pre`; `llama-vocab.cpp` (`llm_tokenizer_bpe`) maps each
//! name to the split regexes of that tokenizer. This module maps the same names to
//! the original `tokenizer.json` pre-tokenizers, so that a GGUF model tokenizes
//! exactly like its Hugging Face tokenizer: a chain of `Split` (Isolated) steps
//! followed by a ByteLevel step, or GPT-2's ByteLevel with its built-in regex.
//!
//! Qwen's split regex differs from GPT-2's: digits are split one by one (`\p{N}`),
//! contractions are case-insensitive, and a letter run takes one leading
//! non-letter (`[^\r\n\p{L}\p{N}]?\p{L}+`).

use tokenizers::normalizers::unicode::NFC;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

use super::error::{Result, TokenizerError};

/// Qwen2 / Qwen2.5 / Qwen3 / DeepSeek-R1-Distill-Qwen (from their tokenizer.json).
pub const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3 (from its tokenizer.json): like Qwen2's but digits in groups of up to 3.
pub const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// DeepSeek-V3 / R1 (from their tokenizer.json), applied in this order.
pub const DEEPSEEK_V3_REGEXES: [&str; 3] = [
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];

/// What a GGUF `tokenizer.ggml.pre` name asks for.
pub struct PreTokenizerSpec {
    /// Unicode normalization before splitting (NFC for Qwen vocabularies).
    pub normalizer: Option<NormalizerWrapper>,
    /// The split and byte-level steps.
    pub pre_tokenizer: PreTokenizerWrapper,
    /// Whether a whole pre-token found in the vocabulary skips the merges (Llama 3).
    pub ignore_merges: bool,
}

/// The pre-tokenizer for `tokenizer.ggml.pre` (`None` when the key is absent: the
/// original GPT-2 tokenizer, which is what `tokenizer.ggml.model = "gpt2"` meant
/// before the key existed).
///
/// Errors with [`TokenizerError::Unsupported`] naming the value when it is not one
/// of the known families.
pub fn for_gguf_pre(pre: Option<&str>) -> Result<PreTokenizerSpec> {
    let name = pre.unwrap_or("gpt2");
    let spec = match name {
        "qwen2" | "deepseek-r1-qwen" | "megrez" | "kormo" => {
            with_nfc(split_then_byte_level(&[QWEN2_REGEX])?)
        }
        "stablelm2" => plain(split_then_byte_level(&[QWEN2_REGEX])?),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" => PreTokenizerSpec {
            ignore_merges: true,
            ..plain(split_then_byte_level(&[LLAMA3_REGEX])?)
        },
        "dbrx" | "smaug-bpe" => plain(split_then_byte_level(&[LLAMA3_REGEX])?),
        "deepseek-v3" => plain(split_then_byte_level(&DEEPSEEK_V3_REGEXES)?),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
        | "minerva-7b" => plain(
            Sequence::new(vec![Digits::new(true).into(), gpt2_byte_level().into()]).into(),
        ),
        "gpt2" | "gpt-2" | "default" | "phi-2" | "mpt" | "olmo" | "jais" | "exaone4"
        | "roberta-bpe" => plain(gpt2_byte_level().into()),
        other => {
            return Err(TokenizerError::Unsupported(format!(
                "tokenizer.ggml.pre = {other:?} is not a known pre-tokenizer \
                 (known: qwen2, deepseek-r1-qwen, llama-bpe, deepseek-v3, smollm, gpt2 and \
                 their aliases)"
            )))
        }
    };
    Ok(spec)
}

/// GPT-2's ByteLevel pre-tokenizer with its built-in split regex.
fn gpt2_byte_level() -> ByteLevel {
    ByteLevel::new(false, true, true)
}

/// `Split(regex, Isolated)` for each regex in order, then ByteLevel without regex.
fn split_then_byte_level(regexes: &[&str]) -> Result<PreTokenizerWrapper> {
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
    for regex in regexes {
        let split = Split::new(
            SplitPattern::Regex((*regex).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(TokenizerError::tokenizers)?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

fn plain(pre_tokenizer: PreTokenizerWrapper) -> PreTokenizerSpec {
    PreTokenizerSpec {
        normalizer: None,
        pre_tokenizer,
        ignore_merges: false,
    }
}

fn with_nfc(pre_tokenizer: PreTokenizerWrapper) -> PreTokenizerSpec {
    PreTokenizerSpec {
        normalizer: Some(NFC.into()),
        ..plain(pre_tokenizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_pre_name_compiles_its_regexes() {
        for name in [
            "qwen2",
            "deepseek-r1-qwen",
            "llama-bpe",
            "deepseek-v3",
            "smollm",
            "gpt2",
            "stablelm2",
            "dbrx",
        ] {
            assert!(for_gguf_pre(Some(name)).is_ok(), "{name}");
        }
        assert!(for_gguf_pre(None).is_ok());
    }

    #[test]
    fn an_unknown_pre_name_is_an_error_that_names_it() {
        let err = for_gguf_pre(Some("klingon-bpe")).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("klingon-bpe")));
    }
}
