//! Paged attention throughput on the CPU: `cargo bench -p ponder-kernels`.
//!
//! Prints the mean time per call and the K/V bytes read per second for decode batches,
//! a whole 512-token prefill and a 256-token prefill chunk on 3,840 cached positions,
//! at SmolLM2-135M's attention shape (9 query heads, 3 KV heads, head_dim 64) and at a
//! Qwen2-7B-like shape (28 heads, 4 KV heads, head_dim 128). Decode cases run with an
//! f32 and an f16 cache (`--kv-cache-dtype`): decode reads every cached K/V row once per
//! step, so its time follows the cache's bytes.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use ponder_kernels::{paged_attention, AttentionMetadata};

struct Shape {
    name: &'static str,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

const BLOCK_SIZE: usize = 16;

/// `num_seqs` sequences of `context` positions each, `q_len` new tokens per sequence,
/// blocks laid out one sequence after another.
fn metadata(num_seqs: usize, context: usize, q_len: usize) -> AttentionMetadata {
    let blocks_per_seq = context.div_ceil(BLOCK_SIZE);
    let mut meta = AttentionMetadata { block_size: BLOCK_SIZE, query_start_loc: vec![0], ..Default::default() };
    for s in 0..num_seqs {
        let table: Vec<u32> = (0..blocks_per_seq).map(|b| (s * blocks_per_seq + b) as u32).collect();
        for pos in context - q_len..context {
            meta.slot_mapping.push(table[pos / BLOCK_SIZE] * BLOCK_SIZE as u32 + (pos % BLOCK_SIZE) as u32);
        }
        meta.block_tables.push(table);
        meta.seq_lens.push(context as u32);
        meta.query_start_loc.push(((s + 1) * q_len) as u32);
    }
    meta
}

fn run(shape: &Shape, label: &str, num_seqs: usize, context: usize, q_len: usize, dtype: DType) -> candle_core::Result<()> {
    // PONDER_BENCH_FILTER=text runs only the cases whose name contains it (for perf).
    if std::env::var("PONDER_BENCH_FILTER").is_ok_and(|f| !format!("{} {label}", shape.name).contains(&f)) {
        return Ok(());
    }
    let dev = Device::Cpu;
    let num_blocks = num_seqs * context.div_ceil(BLOCK_SIZE);
    let cache_shape = (num_blocks, BLOCK_SIZE, shape.num_kv_heads, shape.head_dim);
    let k = Tensor::randn(0f32, 1.0, cache_shape, &dev)?.to_dtype(dtype)?;
    let v = Tensor::randn(0f32, 1.0, cache_shape, &dev)?.to_dtype(dtype)?;
    let q = Tensor::randn(0f32, 1.0, (num_seqs * q_len, shape.num_heads, shape.head_dim), &dev)?;
    let meta = metadata(num_seqs, context, q_len);
    let scale = 1.0 / (shape.head_dim as f32).sqrt();
    paged_attention(&q, &k, &v, &meta, scale)?; // warm-up
    let iters = std::env::var("PONDER_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let start = Instant::now();
    for _ in 0..iters {
        paged_attention(&q, &k, &v, &meta, scale)?;
    }
    let per_call = start.elapsed().as_secs_f64() / iters as f64;
    let kv_bytes = 2.0 * (num_seqs * context * shape.num_kv_heads * shape.head_dim * dtype.size_in_bytes()) as f64;
    println!(
        "{:<10} {:<28} {:<4} {:>9.3} ms/call {:>8.2} GB/s of K/V",
        shape.name,
        label,
        dtype.as_str(),
        per_call * 1e3,
        kv_bytes / per_call / 1e9
    );
    Ok(())
}

fn main() -> candle_core::Result<()> {
    println!("rayon threads: {}", rayon::current_num_threads());
    let shapes = [
        Shape { name: "smollm2", num_heads: 9, num_kv_heads: 3, head_dim: 64 },
        Shape { name: "qwen2-7b", num_heads: 28, num_kv_heads: 4, head_dim: 128 },
    ];
    for shape in &shapes {
        for dtype in [DType::F32, DType::F16] {
            run(shape, "decode 1 seq x 4096 ctx", 1, 4096, 1, dtype)?;
            run(shape, "decode 16 seqs x 1024 ctx", 16, 1024, 1, dtype)?;
            run(shape, "decode 32 seqs x 2048 ctx", 32, 2048, 1, dtype)?;
        }
        run(shape, "prefill 1 seq x 512 tokens", 1, 512, 512, DType::F32)?;
        run(shape, "chunk of 256 at 4096 ctx", 1, 4096, 256, DType::F32)?;
    }
    Ok(())
}
