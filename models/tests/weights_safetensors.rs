//! Safetensors checkpoints through ponder's loader: sharded (`model.safetensors.index.json`)
//! and stored in f16 / bf16, against the golden HF logits (models/tests/golden/qwen2).

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::argmax;
use common::golden::{assert_logits_close, cases, golden_dir, prefill_logits};
use common::scratch::ScratchDir;

const ARCH: &str = "qwen2";

/// The golden checkpoint's tensors, by HF name.
fn golden_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(golden_dir(ARCH).join("model.safetensors"), &Device::Cpu).unwrap()
}

/// Writes an HF folder at `dir`: the golden `config.json` and `tensors` in `shards`
/// files (`model-0000i-of-0000n.safetensors`, names split in sorted order, plus
/// `model.safetensors.index.json`), or one `model.safetensors` when `shards == 1`.
fn write_checkpoint(dir: &Path, tensors: &HashMap<String, Tensor>, shards: usize) {
    std::fs::copy(golden_dir(ARCH).join("config.json"), dir.join("config.json")).unwrap();
    if shards == 1 {
        candle_core::safetensors::save(tensors, dir.join("model.safetensors")).unwrap();
        return;
    }
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let per_shard = names.len().div_ceil(shards);
    let mut weight_map = serde_json::Map::new();
    let mut total_size = 0;
    for (s, chunk) in names.chunks(per_shard).enumerate() {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", s + 1);
        let shard: HashMap<&str, Tensor> = chunk.iter().map(|n| (n.as_str(), tensors[*n].clone())).collect();
        candle_core::safetensors::save(&shard, dir.join(&file)).unwrap();
        for (name, t) in &shard {
            weight_map.insert(name.to_string(), file.clone().into());
            total_size += t.elem_count() * t.dtype().size_in_bytes();
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": total_size}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

/// `tensors` converted to `dtype`.
fn cast(tensors: &HashMap<String, Tensor>, dtype: DType) -> HashMap<String, Tensor> {
    tensors.iter().map(|(k, t)| (k.clone(), t.to_dtype(dtype).unwrap())).collect()
}

#[test]
fn sharded_f32_checkpoint_matches_transformers_logits() {
    let dir = ScratchDir::new("st-sharded");
    write_checkpoint(dir.path(), &golden_tensors(), 2);
    assert!(!dir.path().join("model.safetensors").exists());
    let all = cases(ARCH);
    for (i, (case, got)) in all.iter().zip(prefill_logits(dir.path(), &all)).enumerate() {
        assert_logits_close("qwen2 sharded", i, &got, &case.last_logits);
    }
}

/// A half-precision checkpoint must load to exactly the f32 model of its rounded
/// weights (the loader only widens), and stay near the f32 golden logits.
///
/// `max_rel` bounds `max |logit - golden| / max |golden|`. Rounding every weight to
/// `p` significant bits perturbs it by ~2^-p/sqrt(12) relative RMS, and the logits move
/// by a similar relative RMS; the max over 256 logits is a few times that. Measured on
/// the fixture: f16 (11 bits) at most 2.2e-3, bf16 (8 bits) 2.1e-2, 8x more for 3
/// fewer bits as expected. Bounds: 5e-3 for f16, 8x that for bf16.
fn check_half_precision(dtype: DType, sharded: bool, max_rel: f32) {
    let golden = golden_tensors();
    let all = cases(ARCH);
    let shards = if sharded { 2 } else { 1 };

    let half_dir = ScratchDir::new("st-half");
    write_checkpoint(half_dir.path(), &cast(&golden, dtype), shards);
    let got = prefill_logits(half_dir.path(), &all);

    let rounded_dir = ScratchDir::new("st-rounded");
    write_checkpoint(rounded_dir.path(), &cast(&cast(&golden, dtype), DType::F32), 1);
    let want = prefill_logits(rounded_dir.path(), &all);

    for (i, case) in all.iter().enumerate() {
        assert_eq!(got[i], want[i], "{dtype:?} case {i}: differs from the f32 model of the same rounded weights");
        let scale = case.last_logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = got[i].iter().zip(&case.last_logits).fold(0f32, |m, (g, w)| m.max((g - w).abs()));
        assert!(worst <= max_rel * scale, "{dtype:?} case {i}: max |diff| {worst} > {max_rel} * {scale}");
        assert_eq!(argmax(&got[i]), argmax(&case.last_logits), "{dtype:?} case {i}: top-1 id");
    }
}

#[test]
fn f16_checkpoint_loads_as_its_rounded_f32_weights_near_golden() {
    check_half_precision(DType::F16, false, 5e-3);
}

#[test]
fn sharded_bf16_checkpoint_loads_as_its_rounded_f32_weights_near_golden() {
    check_half_precision(DType::BF16, true, 4e-2);
}
