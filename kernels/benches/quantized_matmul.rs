//! Quantized matmul throughput on the CPU: `cargo bench -p ponder-kernels --bench quantized_matmul`.
//!
//! SmolLM2-135M's MLP up-projection shape (1536 x 576) and its tied LM head
//! (49152 x 576), for a decode step of 1 and of 16 sequences and prefills of 64 to
//! 1,024 tokens, through the block kernels (`forward`) and, for prefills, through the
//! f32 GEMM that `forward_batch_dependent` switches to. Prints ms per call and
//! effective GMAC/s (multiply-adds of the f32 product). `PONDER_CPU_ISA=avx2` runs the
//! AVX2 kernels on a CPU with VNNI.

use std::time::Instant;

use ponder_kernels::quantized::blocks::{BlockQ4_1, BlockQ8_0, QK};
use ponder_kernels::{QuantFormat, QuantizedMatrix};

/// Raw GGUF bytes of a `rows x cols` matrix with pseudo-random blocks.
fn random_bytes(format: QuantFormat, rows: usize, cols: usize) -> Vec<u8> {
    let block = match format {
        QuantFormat::Q4_1 => BlockQ4_1::BYTES,
        QuantFormat::Q8_0 => BlockQ8_0::BYTES,
        QuantFormat::Q4_0 => 18,
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut bytes = Vec::with_capacity(rows * cols / QK * block);
    for _ in 0..rows * cols / QK {
        let scale = half::f16::from_f32(0.01).to_le_bytes();
        bytes.extend_from_slice(&scale);
        if format == QuantFormat::Q4_1 {
            bytes.extend_from_slice(&half::f16::from_f32(-0.05).to_le_bytes());
        }
        while bytes.len() % block != 0 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push((state >> 24) as u8 & if format == QuantFormat::Q8_0 { 0x7F } else { 0xFF });
        }
    }
    bytes
}

fn bench(name: &str, format: QuantFormat, rows: usize, cols: usize, m: usize, batch_dependent: bool) {
    let w = QuantizedMatrix::from_gguf_bytes(format, rows, cols, &random_bytes(format, rows, cols)).unwrap();
    let x: Vec<f32> = (0..m * cols).map(|i| ((i as f32) * 0.37).sin()).collect();
    w.matmul(&x, m);
    let xt = candle_core::Tensor::from_vec(x.clone(), (m, cols), &candle_core::Device::Cpu).unwrap();
    let iters = (2_000_000_000 / (rows * cols * m)).clamp(3, 2000);
    let start = Instant::now();
    for _ in 0..iters {
        // `forward_batch_dependent` switches to the f32 GEMM for many rows.
        std::hint::black_box(if batch_dependent { w.forward_batch_dependent(&xt) } else { w.forward(&xt) }.unwrap());
    }
    let per_call = start.elapsed().as_secs_f64() / iters as f64;
    let gmacs = (rows * cols * m) as f64 / per_call / 1e9;
    let path = if batch_dependent && m >= ponder_kernels::quantized::GEMM_MIN_ROWS { "f32 gemm" } else { "blocks" };
    println!("{name:<20} {format:?} {path:<8} m={m:<4} {:>9.3} ms/call {gmacs:>7.2} GMAC/s", per_call * 1e3);
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    for m in [1, 16, 64, 256, 1024] {
        bench("mlp up 1536x576", QuantFormat::Q4_1, 1536, 576, m, false);
    }
    for m in [64, 256, 1024] {
        bench("mlp up 1536x576", QuantFormat::Q4_1, 1536, 576, m, true);
    }
    for m in [1, 16, 64] {
        bench("lm head 49152x576", QuantFormat::Q8_0, 49152, 576, m, false);
    }
}
