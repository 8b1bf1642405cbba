//! Sampling defaults from a model folder's `generation_config.json` (HF transformers).

use std::path::Path;

use crate::protocol::SamplingDefaults;

/// Reads `temperature`, `top_p` and `top_k` from `folder/generation_config.json`.
/// A missing file or field keeps OpenAI's default; values out of the API's range are
/// ignored (with a warning) rather than trusted.
pub fn sampling_defaults(folder: Option<&Path>) -> SamplingDefaults {
    let mut d = SamplingDefaults::default();
    let Some(path) = folder.map(|f| f.join("generation_config.json")) else { return d };
    let Ok(text) = std::fs::read_to_string(&path) else { return d };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            return d;
        }
    };
    apply(&mut d, &json);
    d
}

fn apply(d: &mut SamplingDefaults, json: &serde_json::Value) {
    if let Some(t) = json["temperature"].as_f64().filter(|t| (0.0..=2.0).contains(t)) {
        d.temperature = t as f32;
    }
    if let Some(p) = json["top_p"].as_f64().filter(|p| *p > 0.0 && *p <= 1.0) {
        d.top_p = p as f32;
    }
    if let Some(k) = json["top_k"].as_u64() {
        d.top_k = (k > 0).then_some(k as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generation_config_fields_override_openai_defaults() {
        let mut d = SamplingDefaults::default();
        apply(&mut d, &json!({"temperature": 0.6, "top_p": 0.95, "top_k": 20, "do_sample": true}));
        assert_eq!(d, SamplingDefaults { temperature: 0.6, top_p: 0.95, top_k: Some(20), ..Default::default() });
    }

    #[test]
    fn out_of_range_or_missing_fields_keep_the_defaults() {
        let mut d = SamplingDefaults::default();
        apply(&mut d, &json!({"temperature": 7, "top_p": 0}));
        assert_eq!(d, SamplingDefaults::default());
        assert_eq!(sampling_defaults(Some(Path::new("/nonexistent"))), SamplingDefaults::default());
    }
}
