//! GGUF weights through ponder's loader: every supported tensor type against f32, and
//! llama.cpp's Llama Q/K row permutation against the golden HF logits.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use common::golden::{assert_logits_close, cases, golden_dir};
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
        let got = linear.forward(&x).unwrap();
        let exact = x.matmul(&w.t().unwrap()).unwrap();
        let dequantized = QTensor::quantize(w, dtype).unwrap().dequantize(&dev).unwrap();
        let rounded = x.matmul(&dequantized.t().unwrap()).unwrap();
        let (e_f32, e_deq) = (relative_error(&got, &exact), relative_error(&got, &rounded));
        eprintln!("MEASURE {dtype:?} {lw:?} {e_f32:.3e} {e_deq:.3e}");
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
// dot product: ~0.5% (8 bits, scale amax/127), which is the only error against the
// dequantized weights. Bounds are about 1.5x the expected error.

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

/// Q6_K: 16 values in [-32, 31] times amax/32 ~ 1.8/32: RMS ~1.6%.
#[test]
fn gguf_q6_k_linear_is_within_6_bit_error() {
    check_linear_layers(GgmlDType::Q6K, 7, 2.5e-2, 1e-2);
}
