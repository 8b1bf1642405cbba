//! The portable tensor-op path (what runs on CUDA until fused kernels land) against
//! the CPU custom kernels and the f64 reference, on the CPU: random shapes, block
//! boundaries, GQA ratios 1/2/7, head_dim 64/128, f32 and bf16 caches.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, fixture, reference, rounded, seq, uniform, Heads, Seq};
use ponder_kernels::{paged_attention, paged_attention_tensor_ops, write_kv_cache, write_kv_cache_tensor_ops};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const STEP: [Seq; 6] = [seq(37, 37), seq(48, 16), seq(17, 1), seq(1, 1), seq(83, 2), seq(130, 1)];

#[test]
fn attention_matches_the_cpu_kernel_and_the_reference() {
    let heads = [
        Heads { num_heads: 4, num_kv_heads: 4, head_dim: 64 },
        Heads { num_heads: 4, num_kv_heads: 2, head_dim: 128 },
        Heads { num_heads: 7, num_kv_heads: 1, head_dim: 64 },
    ];
    for (i, h) in heads.into_iter().enumerate() {
        for dtype in [DType::F32, DType::BF16] {
            let fx = fixture(h, 16, &STEP, dtype, 40 + i as u64);
            let scale = 1.0 / (h.head_dim as f32).sqrt();
            let ops = paged_attention_tensor_ops(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
            assert_eq!((ops.dims(), ops.dtype()), (fx.q.dims(), fx.q.dtype()));
            let kernel = paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
            let kernel: Vec<f64> = kernel.flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f64::from).collect();
            let what = format!("{h:?} {dtype:?}");
            assert_close(&ops, &kernel, 1e-5, &format!("{what} vs the CPU kernel"));
            let round_all = |ctx: &[Vec<f32>]| ctx.iter().map(|c| rounded(c, dtype)).collect::<Vec<_>>();
            let want = reference(&fx, &round_all(&fx.k_ctx), &round_all(&fx.v_ctx), scale);
            assert_close(&ops, &want, 1e-4, &format!("{what} vs the reference"));
        }
    }
}

#[test]
fn kv_writes_match_the_cpu_kernel_in_place() {
    let (num_blocks, block_size, kv_heads, head_dim) = (6, 4, 2, 8);
    let n_slots = num_blocks * block_size;
    let mut rng = StdRng::seed_from_u64(9);
    for dtype in [DType::F32, DType::BF16] {
        let old = uniform(&mut rng, n_slots * kv_heads * head_dim, 1.0);
        let mut slots: Vec<u32> = (0..n_slots as u32).collect();
        slots.shuffle(&mut rng);
        slots.truncate(9);
        let new_k = uniform(&mut rng, slots.len() * kv_heads * head_dim, 1.0);
        let new_v = uniform(&mut rng, slots.len() * kv_heads * head_dim, 1.0);
        let cache = || Tensor::from_slice(&old, (num_blocks, block_size, kv_heads, head_dim), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        let rows = |d: &[f32]| Tensor::from_slice(d, (slots.len(), kv_heads, head_dim), &Device::Cpu).unwrap();
        let (k1, v1, k2, v2) = (cache(), cache(), cache(), cache());
        write_kv_cache(&rows(&new_k), &rows(&new_v), &k1, &v1, &slots).unwrap();
        write_kv_cache_tensor_ops(&rows(&new_k), &rows(&new_v), &k2, &v2, &slots).unwrap();
        let read = |t: &Tensor| t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(read(&k2), read(&k1), "{dtype:?} K");
        assert_eq!(read(&v2), read(&v1), "{dtype:?} V");
        assert_ne!(read(&k2), read(&cache()), "the write landed in the cache itself");
    }
}
