//! GGUF weights through ponder's loader: every supported tensor type against f32, and
//! llama.cpp's Llama Q/K row permutation against the golden HF logits.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use common::golden::{assert_logits_close, cases, golden_dir, prefill_logits};
use common::scratch::ScratchDir;
use common::{greedy_batch, PagedCache};
use ponder_models::load_model;
use ponder_models::weights::{GgufWeights, LayerWeight, WeightName, WeightSource};

/// Writes a GGUF file (candle's writer, format v2) with `metadata` and `tensors`.
fn write_gguf(path: &Path, metadata: &[(&str, Value)], tensors: &[(String, QTensor)]) {
    let mut file = std::fs::File::create(path).unwrap();
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}

/// llama.cpp's `LlamaModel.permute` (convert_hf_to_gguf.py) on an HF Q or K weight
/// `[n_head * head_dim, cols]`: `w.reshape(n_head, 2, head_dim / 2, cols)
/// .swapaxes(1, 2).reshape(w.shape)`.
fn llama_cpp_permute(w: &Tensor, n_head: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    w.reshape((n_head, 2, rows / n_head / 2, cols))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((rows, cols))
        .unwrap()
}

/// `||got - want|| / ||want||` over all elements.
fn relative_error(got: &Tensor, want: &Tensor) -> f64 {
    let diff = (got - want).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    let norm = want.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    (diff / norm).sqrt()
}

/// Input width of the test layers: a multiple of 256, the K-quant super-block.
const IN: usize = 256;
/// Query heads / KV heads / head_dim of the test file's attention (for the permutation).
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 16;
/// Rows of the (unpermuted) MLP up projection.
const FFN: usize = 96;

/// Writes a one-layer Llama GGUF whose `attn_q`, `attn_k` (llama.cpp-permuted) and
/// `ffn_up` are random N(0, 1) matrices quantized to `dtype`; loads each of them with
/// [`GgufWeights`] (the loader's linear-layer path) and multiplies a random input
/// `[8, IN]`. Checks against `x W^T` with W the f32 matrix (`tol_vs_f32`, the format's
/// error) and with W the dequantized matrix (`tol_vs_dequantized`, the error of
/// quantizing the activations for the block dot product only).
fn check_linear_layers(dtype: GgmlDType, seed: u64, tol_vs_f32: f64, tol_vs_dequantized: f64) {
    let dev = Device::Cpu;
    let layers = [
        (LayerWeight::Q, HEADS * HEAD_DIM, Some(HEADS)),
        (LayerWeight::K, KV_HEADS * HEAD_DIM, Some(KV_HEADS)),
        (LayerWeight::Up, FFN, None),
    ];
    let mut tensors = Vec::new();
    let mut weights_f32 = Vec::new();
    for (i, &(lw, rows, permuted_heads)) in layers.iter().enumerate() {
        let w = common::random::normal(seed * 10 + i as u64, rows, IN);
        // llama.cpp permutes the f32/f16 rows first, then quantizes (rows are whole blocks).
        let stored = match permuted_heads {
            Some(n_head) => llama_cpp_permute(&w, n_head),
            None => w.clone(),
        };
        tensors.push((WeightName::Layer(0, lw).gguf(), QTensor::quantize(&stored, dtype).unwrap()));
        weights_f32.push(w);
    }
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(1)),
        ("llama.embedding_length", Value::U32(IN as u32)),
        ("llama.feed_forward_length", Value::U32(FFN as u32)),
        ("llama.attention.head_count", Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("llama.attention.key_length", Value::U32(HEAD_DIM as u32)),
        ("llama.vocab_size", Value::U32(32)),
    ];
    let dir = ScratchDir::new("gguf-linear");
    let path = dir.path().join(format!("{dtype:?}.gguf"));
    write_gguf(&path, &metadata, &tensors);

    let (weights, _config) = GgufWeights::open(&path, &dev).unwrap();
    let x = common::random::normal(seed * 10 + 9, 8, IN);
    for (&(lw, _, _), w) in layers.iter().zip(&weights_f32) {
        let linear = weights.linear(WeightName::Layer(0, lw)).unwrap();
        if !matches!(dtype, GgmlDType::F32 | GgmlDType::F16) {
            assert_eq!(linear.quantized_dtype(), Some(dtype), "{dtype:?} {lw:?} was dequantized");
        }
        let got = linear.forward(&x, true).unwrap();
        let exact = x.matmul(&w.t().unwrap()).unwrap();
        let dequantized = QTensor::quantize(w, dtype).unwrap().dequantize(&dev).unwrap();
        let rounded = x.matmul(&dequantized.t().unwrap()).unwrap();
        let (e_f32, e_deq) = (relative_error(&got, &exact), relative_error(&got, &rounded));
        assert!(e_f32 <= tol_vs_f32, "{dtype:?} {lw:?}: relative error {e_f32:.2e} vs f32 > {tol_vs_f32:.0e}");
        assert!(
            e_deq <= tol_vs_dequantized,
            "{dtype:?} {lw:?}: relative error {e_deq:.2e} vs dequantized > {tol_vs_dequantized:.0e}"
        );
    }
}

// Tolerances: for N(0, 1) weights the output's relative error is about the weights'
// relative RMS rounding error (errors of independent weights add in quadrature, as
// do the products' norms). A format rounding to a step `s` has RMS error `s/sqrt(12)`.
// Block formats also quantize the activations (Q8_0 / Q8_1 / Q8_K) for the integer
// dot product: ~0.5-0.7% (8 bits, scale amax/127), which is the only error against
// the dequantized weights. Bounds are about 1.5x the expected error (the data is
// seeded; measured: F16 2.5e-4, Q8_0 0.75%, Q4_0 9.1%, Q4_1 7.9%, Q4_K 7.2%,
// Q6_K 2.1%; against the dequantized weights at most 0.73%).

#[test]
fn gguf_f32_linear_is_exact() {
    check_linear_layers(GgmlDType::F32, 1, 1e-6, 1e-6);
}

/// f16 keeps 11 significant bits: relative step 2^-10, RMS ~2^-10/sqrt(12) ~ 3e-4.
#[test]
fn gguf_f16_linear_is_within_f16_rounding() {
    check_linear_layers(GgmlDType::F16, 2, 1e-3, 1e-6);
}

/// Q8_0: 32 values, step amax/127 ~ 2.1/127 -> RMS ~0.5% of the weights' std, plus
/// ~0.5% from the Q8_0 activations: ~0.7%.
#[test]
fn gguf_q8_0_linear_is_within_8_bit_error() {
    check_linear_layers(GgmlDType::Q8_0, 3, 1.2e-2, 1e-2);
}

/// Q4_0: 32 values in [-8, 7] times amax/8: step ~0.26, RMS ~7.5%.
#[test]
fn gguf_q4_0_linear_is_within_4_bit_error() {
    check_linear_layers(GgmlDType::Q4_0, 4, 0.12, 1e-2);
}

/// Q4_1: 32 values, min + 16 steps of (max - min)/15 ~ 0.27: RMS ~7.5%.
#[test]
fn gguf_q4_1_linear_is_within_4_bit_error() {
    check_linear_layers(GgmlDType::Q4_1, 5, 0.12, 1e-2);
}

/// Q4_K: like Q4_1 on 32-value sub-blocks, with 6-bit sub-block scales and mins.
#[test]
fn gguf_q4_k_linear_is_within_4_bit_error() {
    check_linear_layers(GgmlDType::Q4K, 6, 0.12, 1e-2);
}

/// Q6_K: 16 values in [-32, 31] times amax/32 ~ 1.8/32: RMS ~1.6%, ~1.8% with the
/// Q8_K activations.
#[test]
fn gguf_q6_k_linear_is_within_6_bit_error() {
    check_linear_layers(GgmlDType::Q6K, 7, 3e-2, 1e-2);
}

/// HF -> GGUF tensor names of a Llama checkpoint (llama.cpp `gguf-py/gguf/tensor_mapping.py`),
/// written out here rather than taken from ponder's own mapping.
fn llama_cpp_name(hf: &str) -> String {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, gguf)) = fixed.iter().find(|(h, _)| *h == hf) {
        return gguf.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").unwrap_or_else(|| panic!("unexpected tensor `{hf}`"));
    let (layer, suffix) = rest.split_once('.').unwrap();
    let gguf = match suffix {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        other => panic!("unexpected tensor `{other}`"),
    };
    format!("blk.{layer}.{gguf}")
}

/// Converts the golden Llama checkpoint to a GGUF file the way llama.cpp's converter
/// does: `llama.*` metadata (no tokenizer: the model loader does not read one), tensors
/// renamed, Q/K rows permuted when `permute_qk`, matrices stored as `matrix_dtype` and
/// norm vectors as F32.
fn golden_llama_gguf(path: &Path, permute_qk: bool, matrix_dtype: GgmlDType) {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir("llama").join("config.json")).unwrap()).unwrap();
    let get = |k: &str| config[k].as_u64().unwrap_or_else(|| panic!("config.json: {k}")) as u32;
    let (n_head, n_kv_head) = (get("num_attention_heads") as usize, get("num_key_value_heads") as usize);
    let metadata = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(get("num_hidden_layers"))),
        ("llama.context_length", Value::U32(get("max_position_embeddings"))),
        ("llama.embedding_length", Value::U32(get("hidden_size"))),
        ("llama.feed_forward_length", Value::U32(get("intermediate_size"))),
        ("llama.attention.head_count", Value::U32(n_head as u32)),
        ("llama.attention.head_count_kv", Value::U32(n_kv_head as u32)),
        ("llama.attention.key_length", Value::U32(get("head_dim"))),
        ("llama.attention.value_length", Value::U32(get("head_dim"))),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(config["rms_norm_eps"].as_f64().unwrap() as f32)),
        ("llama.rope.freq_base", Value::F32(config["rope_theta"].as_f64().unwrap() as f32)),
        ("llama.vocab_size", Value::U32(get("vocab_size"))),
    ];
    let hf: HashMap<String, Tensor> =
        candle_core::safetensors::load(golden_dir("llama").join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = hf.keys().collect();
    names.sort();
    let tensors: Vec<(String, QTensor)> = names
        .into_iter()
        .map(|name| {
            let t = &hf[name];
            let t = match (permute_qk, name.ends_with("q_proj.weight"), name.ends_with("k_proj.weight")) {
                (true, true, _) => llama_cpp_permute(t, n_head),
                // The converter calls permute(k, n_head, n_kv_head), which uses n_kv_head.
                (true, _, true) => llama_cpp_permute(t, n_kv_head),
                _ => t.clone(),
            };
            let dtype = if t.rank() == 2 { matrix_dtype } else { GgmlDType::F32 };
            (llama_cpp_name(name), QTensor::quantize(&t, dtype).unwrap())
        })
        .collect();
    write_gguf(path, &metadata, &tensors);
}

#[test]
fn llama_gguf_with_permuted_qk_matches_transformers_logits() {
    let dir = ScratchDir::new("gguf-llama");
    let path = dir.path().join("llama-f32.gguf");
    golden_llama_gguf(&path, true, GgmlDType::F32);
    let model = load_model(&path, &common::device()).unwrap();
    for (i, case) in cases("llama").iter().enumerate() {
        let mut cache = PagedCache::new(model.as_ref(), 32, 4);
        let (logits, ids) = greedy_batch(model.as_ref(), &mut cache, std::slice::from_ref(&case.input_ids), case.greedy_ids.len());
        assert_logits_close("llama gguf", i, &logits[0], &case.last_logits);
        assert_eq!(ids[0], case.greedy_ids, "llama gguf case {i} greedy ids");
    }
}

/// Control for the test above: the same file without llama.cpp's permutation is read
/// wrongly (the loader un-permutes it anyway), so the golden match depends on it.
#[test]
fn llama_gguf_without_the_converter_permutation_does_not_match() {
    let dir = ScratchDir::new("gguf-llama-unpermuted");
    let path = dir.path().join("llama-f32-unpermuted.gguf");
    golden_llama_gguf(&path, false, GgmlDType::F32);
    let all = cases("llama");
    let logits = prefill_logits(&path, &all);
    let worst = all
        .iter()
        .zip(&logits)
        .flat_map(|(case, got)| case.last_logits.iter().zip(got).map(|(w, g)| (w - g).abs()))
        .fold(0f32, f32::max);
    assert!(worst > 0.1, "un-permuting an unpermuted file changed logits by only {worst}");
}

/// The whole quantized path (Q8_0 embedding rows, Q/K un-permuted on Q8_0 blocks, Q8_0
/// matmuls, Q8_0 LM head) against transformers' f32 logits. The random fixture
/// amplifies weight rounding (its attention is sharp): the f32 model of the
/// Q8_0-rounded weights is already 2.3-4.8% off in relative RMS, and quantizing the
/// activations adds as much; measured 2.9-7.6%. Bound: 12%, and the same top-1 id.
#[test]
fn llama_q8_0_gguf_stays_near_transformers_logits() {
    let dir = ScratchDir::new("gguf-llama-q8");
    let path = dir.path().join("llama-q8_0.gguf");
    golden_llama_gguf(&path, true, GgmlDType::Q8_0);
    let all = cases("llama");
    for (i, (case, got)) in all.iter().zip(prefill_logits(&path, &all)).enumerate() {
        let want = Tensor::new(case.last_logits.as_slice(), &Device::Cpu).unwrap();
        let error = relative_error(&Tensor::new(got.as_slice(), &Device::Cpu).unwrap(), &want);
        assert!(error <= 0.12, "case {i}: relative RMS error {error:.3} of the Q8_0 logits > 0.12");
        assert_eq!(common::argmax(&got), common::argmax(&case.last_logits), "case {i}: top-1 id");
    }
}
