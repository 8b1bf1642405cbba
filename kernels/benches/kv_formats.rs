//! What one decode step's attention costs per K/V storage format:
//! `cargo bench -p ponder-kernels --bench kv_formats`.
//!
//! A measurement of the cache formats, not of ponder's kernels: every variant runs the
//! same plain loop (per sequence and KV head, the group's query heads score every
//! cached K row, a softmax over the whole context, then the weighted V sum), in
//! parallel over (sequence, KV head), and differs only in how a K/V row is read:
//! - `f32`: in place (ponder's CPU default);
//! - `f16`: widened with `half`'s F16C slice conversion (`--kv-cache-dtype f16`);
//! - `q8_0 dequant`: `Q8_0` blocks (32 values, one scale: 36 bytes instead of 128)
//!   dequantized to f32 before the f32 dot and axpy;
//! - `q8_0 int8 q`: as llama.cpp's CPU attention reads a `q8_0` K cache: the query is
//!   quantized to `Q8_0` once per head and each score is an integer block dot product
//!   (`dot_q8_0_q8_0`, VNNI where present); V rows are dequantized as above.
//!
//! Shapes: SmolLM2-135M (9 heads, 3 KV heads, head_dim 64) and Qwen2-7B (28, 4, 128),
//! 16 sequences of 1,024 positions and 32 of 2,048. Prints ms per call (one layer)
//! and the cache bytes read per second.

use std::time::Instant;

use half::f16;
use half::slice::HalfFloatSliceExt;
use ponder_kernels::quantized::blocks::{BlockQ8_0, QK};
use ponder_kernels::quantized::dot::dot_q8_0_q8_0;
use rand::Rng;
use rayon::prelude::*;

struct Shape {
    name: &'static str,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

/// One cache in each format, `[num_seqs, ctx, num_kv_heads, head_dim]` row-major.
struct Caches {
    f32: Vec<f32>,
    f16: Vec<f16>,
    /// `head_dim / QK` blocks per row.
    q8: Vec<BlockQ8_0>,
}

impl Caches {
    fn random(len: usize, rng: &mut impl Rng) -> Self {
        let f32: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let f16 = f32.iter().map(|&x| f16::from_f32(x)).collect();
        let q8 = f32.chunks_exact(QK).map(BlockQ8_0::quantize).collect();
        Self { f32, f16, q8 }
    }
}

#[derive(Clone, Copy, Debug)]
enum Format {
    F32,
    F16,
    Q8Dequant,
    Q8Int8Query,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum()
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = a.mul_add(*x, *y);
    }
}

fn dequantize_into(blocks: &[BlockQ8_0], out: &mut [f32]) {
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
        for (o, &q) in o.iter_mut().zip(&b.qs) {
            *o = b.d * q as f32;
        }
    }
}

/// Attention output of every (sequence, query head), `[num_seqs, num_heads, head_dim]`.
fn decode(shape: &Shape, caches: (&Caches, &Caches), q: &[f32], num_seqs: usize, ctx: usize, format: Format) -> Vec<f32> {
    let (kc, vc) = caches;
    let (h, kvh, d) = (shape.num_heads, shape.num_kv_heads, shape.head_dim);
    let g = h / kvh;
    let blocks_per_row = d / QK;
    let items: Vec<(usize, usize)> = (0..num_seqs).flat_map(|s| (0..kvh).map(move |k| (s, k))).collect();
    let outs: Vec<Vec<f32>> = items
        .par_iter()
        .map(|&(s, kv)| {
            let mut out = vec![0f32; g * d];
            let mut scores = vec![0f32; ctx];
            let mut row = vec![0f32; d];
            for qi in 0..g {
                let qrow = &q[(s * h + kv * g + qi) * d..][..d];
                let qq: Vec<BlockQ8_0> = qrow.chunks_exact(QK).map(BlockQ8_0::quantize).collect();
                for (p, score) in scores.iter_mut().enumerate() {
                    let at = (s * ctx + p) * kvh + kv;
                    *score = match format {
                        Format::F32 => dot(qrow, &kc.f32[at * d..][..d]),
                        Format::F16 => {
                            kc.f16[at * d..][..d].convert_to_f32_slice(&mut row);
                            dot(qrow, &row)
                        }
                        Format::Q8Dequant => {
                            dequantize_into(&kc.q8[at * blocks_per_row..][..blocks_per_row], &mut row);
                            dot(qrow, &row)
                        }
                        Format::Q8Int8Query => dot_q8_0_q8_0(&kc.q8[at * blocks_per_row..][..blocks_per_row], &qq),
                    };
                }
                let m = scores.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let mut sum = 0.0;
                for x in scores.iter_mut() {
                    *x = (*x - m).exp();
                    sum += *x;
                }
                let acc = &mut out[qi * d..(qi + 1) * d];
                for (p, &w) in scores.iter().enumerate() {
                    let at = (s * ctx + p) * kvh + kv;
                    let v: &[f32] = match format {
                        Format::F32 => &vc.f32[at * d..][..d],
                        Format::F16 => {
                            vc.f16[at * d..][..d].convert_to_f32_slice(&mut row);
                            &row
                        }
                        Format::Q8Dequant | Format::Q8Int8Query => {
                            dequantize_into(&vc.q8[at * blocks_per_row..][..blocks_per_row], &mut row);
                            &row
                        }
                    };
                    axpy(acc, w / sum, v);
                }
            }
            out
        })
        .collect();
    let mut result = vec![0f32; num_seqs * h * d];
    for ((s, kv), out) in items.iter().zip(outs) {
        result[(s * h + kv * g) * d..][..g * d].copy_from_slice(&out);
    }
    result
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    let shapes = [
        Shape { name: "smollm2", num_heads: 9, num_kv_heads: 3, head_dim: 64 },
        Shape { name: "qwen2-7b", num_heads: 28, num_kv_heads: 4, head_dim: 128 },
    ];
    let iters: usize = std::env::var("PONDER_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut rng = rand::rng();
    for shape in &shapes {
        for (num_seqs, ctx) in [(16, 1024), (32, 2048)] {
            let len = num_seqs * ctx * shape.num_kv_heads * shape.head_dim;
            let (k, v) = (Caches::random(len, &mut rng), Caches::random(len, &mut rng));
            let q: Vec<f32> = (0..num_seqs * shape.num_heads * shape.head_dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            let exact = decode(shape, (&k, &v), &q, num_seqs, ctx, Format::F32);
            for (format, bytes_per_value) in
                [(Format::F32, 4.0), (Format::F16, 2.0), (Format::Q8Dequant, 36.0 / 32.0), (Format::Q8Int8Query, 36.0 / 32.0)]
            {
                let out = decode(shape, (&k, &v), &q, num_seqs, ctx, format); // warm-up
                let err = out.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(decode(shape, (&k, &v), &q, num_seqs, ctx, format));
                }
                let per_call = start.elapsed().as_secs_f64() / iters as f64;
                let bytes = 2.0 * len as f64 * bytes_per_value;
                println!(
                    "{:<9} decode {num_seqs:>2} seqs x {ctx:>4} ctx  {:<12} {:>8.3} ms/call {:>6.2} GB/s  max |out - f32| {err:.1e}",
                    shape.name,
                    format!("{format:?}"),
                    per_call * 1e3,
                    bytes / per_call / 1e9
                );
            }
        }
    }
}
