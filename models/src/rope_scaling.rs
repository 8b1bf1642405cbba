//! RoPE inverse frequencies and their scaling variants.
//!
//! Rotary position embedding (Su et al. 2021, "RoFormer", arXiv:2104.09864) rotates
//! pairs of q/k dimensions by `position * inv_freq[i]`, with
//! `inv_freq[i] = theta^(-2i/head_dim)`. Scaling variants follow HF transformers'
//! `modeling_rope_utils.py` (`linear`, `llama3`) and llama.cpp's `rope_freqs` tensor.

use serde_json::Value as Json;

use crate::config::ConfigError;

/// How RoPE frequencies are rescaled for context extension.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE (`rope_type` "default" or absent).
    None,
    /// Position interpolation: every frequency divided by `factor`.
    Linear { factor: f64 },
    /// Llama 3.1 scaling (`rope_type` "llama3"): low frequencies divided by `factor`,
    /// high ones kept, a smooth blend in between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
    /// Per-frequency divisors, `len == head_dim / 2` (llama.cpp's `rope_freqs.weight`,
    /// which is how GGUF files carry llama3 scaling).
    FreqFactors(Vec<f32>),
}

/// Parses an HF `rope_scaling` / `rope_parameters` object (`rope_type` or `type`).
pub(crate) fn parse_rope_scaling(value: Option<&Json>) -> Result<RopeScaling, ConfigError> {
    let Some(obj) = value.filter(|v| !v.is_null()) else {
        return Ok(RopeScaling::None);
    };
    let kind = obj
        .get("rope_type")
        .or_else(|| obj.get("type"))
        .and_then(Json::as_str)
        .unwrap_or("default");
    let num = |field: &str| -> Result<f64, ConfigError> {
        obj.get(field)
            .and_then(Json::as_f64)
            .ok_or_else(|| ConfigError::Missing(format!("rope_scaling.{field}")))
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear { factor: num("factor")? }),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: num("factor")?,
            low_freq_factor: num("low_freq_factor")?,
            high_freq_factor: num("high_freq_factor")?,
            original_max_position_embeddings: num("original_max_position_embeddings")?,
        }),
        other => Err(ConfigError::UnsupportedRopeScaling(other.to_string())),
    }
}

/// Inverse frequencies `[head_dim / 2]` of RoPE with base `theta` and `scaling`,
/// computed in f32 as HF transformers does (so logits match its reference).
///
/// Errors when `FreqFactors` has the wrong length.
pub fn inv_freq(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Result<Vec<f32>, ConfigError> {
    let half = head_dim / 2;
    let base: Vec<f32> = (0..half)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    match scaling {
        RopeScaling::None => Ok(base),
        RopeScaling::Linear { factor } => Ok(base.iter().map(|f| f / *factor as f32).collect()),
        RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } => {
            Ok(base
                .iter()
                .map(|&f| {
                    llama3_scale(f as f64, *factor, *low_freq_factor, *high_freq_factor, *original_max_position_embeddings) as f32
                })
                .collect())
        }
        RopeScaling::FreqFactors(factors) => {
            if factors.len() != half {
                return Err(ConfigError::Invalid {
                    field: "rope_freqs".into(),
                    reason: format!("{} factors for head_dim {head_dim}", factors.len()),
                });
            }
            Ok(base.iter().zip(factors).map(|(f, d)| f / d).collect())
        }
    }
}

/// Llama 3.1 frequency rescaling of one inverse frequency (HF `_compute_llama3_parameters`).
fn llama3_scale(inv_freq: f64, factor: f64, low: f64, high: f64, old_ctx: f64) -> f64 {
    let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
    let low_freq_wavelen = old_ctx / low;
    let high_freq_wavelen = old_ctx / high;
    if wavelen > low_freq_wavelen {
        inv_freq / factor
    } else if wavelen < high_freq_wavelen {
        inv_freq
    } else {
        let smooth = (old_ctx / wavelen - low) / (high - low);
        (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_inverse_frequencies_follow_theta_powers() {
        let f = inv_freq(8, 10_000.0, &RopeScaling::None).unwrap();
        let want = [1.0f32, 0.1, 0.01, 0.001];
        for (a, b) in f.iter().zip(want) {
            assert!((a - b).abs() < 1e-6 * b.max(1e-3), "{a} vs {b}");
        }
    }

    #[test]
    fn llama3_scaling_divides_low_frequencies_and_keeps_high_ones() {
        let scaling = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0,
        };
        let plain = inv_freq(128, 500_000.0, &RopeScaling::None).unwrap();
        let scaled = inv_freq(128, 500_000.0, &scaling).unwrap();
        assert_eq!(scaled[0], plain[0], "highest frequency is kept");
        let last = plain.len() - 1;
        assert!((scaled[last] - plain[last] / 8.0).abs() < 1e-12, "lowest frequency divided");
        for (s, p) in scaled.iter().zip(&plain) {
            assert!(*s <= *p && *s >= *p / 8.0 * 0.999_999);
        }
    }

    #[test]
    fn yarn_scaling_is_rejected_with_a_clear_error() {
        let json: Json = serde_json::json!({"rope_type": "yarn", "factor": 4.0});
        let err = parse_rope_scaling(Some(&json)).unwrap_err();
        assert!(err.to_string().contains("yarn"), "{err}");
    }

    #[test]
    fn freq_factors_of_the_wrong_length_are_an_error() {
        assert!(inv_freq(8, 10_000.0, &RopeScaling::FreqFactors(vec![1.0; 3])).is_err());
    }
}
