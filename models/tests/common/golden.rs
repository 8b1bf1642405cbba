//! The golden fixtures of `models/tests/golden/{llama,qwen2,qwen3}` (see its README):
//! reference prompts, greedy ids and last-position logits from HF transformers.

use std::path::{Path, PathBuf};

use ponder_models::load_model;

use super::{greedy_batch, PagedCache};

/// One reference prompt with transformers' outputs.
pub struct Case {
    /// Prompt token ids.
    pub input_ids: Vec<u32>,
    /// Greedy continuation (16 tokens).
    pub greedy_ids: Vec<u32>,
    /// Logits at the prompt's last position, `[vocab]`.
    pub last_logits: Vec<f32>,
}

/// Folder of the golden checkpoint of `arch` (`llama`, `qwen2`, `qwen3`).
pub fn golden_dir(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(arch)
}

/// The cases of `golden/<arch>/golden.json`.
pub fn cases(arch: &str) -> Vec<Case> {
    let path = golden_dir(arch).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ints = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            input_ids: ints(&c["input_ids"]),
            greedy_ids: ints(&c["greedy_ids"]),
            last_logits: c["last_logits"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
        })
        .collect()
}

/// Asserts `|got - want| <= 1e-4 * max(1, |want|)` for every logit (f32 vs PyTorch f32).
pub fn assert_logits_close(what: &str, case: usize, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what} case {case} logit {i}: got {g}, want {w}");
    }
}

/// Prefill logits `[vocab]` of each case, one sequence at a time, from the model at
/// `path` (HF folder or `.gguf`) on the test device.
pub fn prefill_logits(path: &Path, cases: &[Case]) -> Vec<Vec<f32>> {
    let model = load_model(path, &super::device()).unwrap();
    cases
        .iter()
        .map(|case| {
            let mut cache = PagedCache::new(model.as_ref(), 32, 4);
            greedy_batch(model.as_ref(), &mut cache, std::slice::from_ref(&case.input_ids), 0).0.remove(0)
        })
        .collect()
}
