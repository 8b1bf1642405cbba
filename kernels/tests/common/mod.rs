//! Shared test fixtures: random paged KV caches with shuffled block tables, and a naive
//! dense attention reference in f64.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use ponder_kernels::{write_kv_cache, AttentionMetadata};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Head layout of a test case.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

/// One sequence of a step: its context length after the step and its new tokens.
#[derive(Debug, Clone, Copy)]
pub struct Seq {
    pub seq_len: usize,
    pub q_len: usize,
}

pub const fn seq(seq_len: usize, q_len: usize) -> Seq {
    Seq { seq_len, q_len }
}

/// A filled paged cache plus the dense copies the reference reads.
pub struct Fixture {
    pub heads: Heads,
    pub q: Tensor,
    pub k_cache: Tensor,
    pub v_cache: Tensor,
    pub meta: AttentionMetadata,
    /// Per sequence, `[seq_len, num_kv_heads, head_dim]` as generated (f32).
    pub k_ctx: Vec<Vec<f32>>,
    pub v_ctx: Vec<Vec<f32>>,
}

pub fn uniform(rng: &mut StdRng, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-amplitude..amplitude)).collect()
}

/// Builds random q, K and V for `seqs`; writes every context position of every
/// sequence into a cache of `dtype` (initialized to NaN, so a read of any slot the
/// kernel should not touch poisons the output) through block tables made of shuffled
/// block ids, some with an unused spare block at the end.
pub fn fixture(heads: Heads, block_size: usize, seqs: &[Seq], dtype: DType, seed: u64) -> Fixture {
    let mut rng = StdRng::seed_from_u64(seed);
    let row = heads.num_kv_heads * heads.head_dim;
    let needed: Vec<usize> = seqs.iter().map(|s| s.seq_len.div_ceil(block_size)).collect();
    let num_blocks = needed.iter().sum::<usize>() + 2 * seqs.len() + 3;
    let mut ids: Vec<u32> = (0..num_blocks as u32).collect();
    ids.shuffle(&mut rng);
    let mut ids = ids.into_iter();
    let mut meta = AttentionMetadata { block_size, query_start_loc: vec![0], ..Default::default() };
    let (mut all_k, mut all_v, mut all_slots) = (Vec::new(), Vec::new(), Vec::new());
    let (mut k_ctx, mut v_ctx) = (Vec::new(), Vec::new());
    for (i, s) in seqs.iter().enumerate() {
        let extra = usize::from(i % 2 == 1);
        let table: Vec<u32> = ids.by_ref().take(needed[i] + extra).collect();
        let slots: Vec<u32> = (0..s.seq_len)
            .map(|p| table[p / block_size] * block_size as u32 + (p % block_size) as u32)
            .collect();
        meta.slot_mapping.extend_from_slice(&slots[s.seq_len - s.q_len..]);
        meta.query_start_loc.push(meta.query_start_loc.last().unwrap() + s.q_len as u32);
        meta.seq_lens.push(s.seq_len as u32);
        meta.block_tables.push(table);
        let (k, v) = (uniform(&mut rng, s.seq_len * row, 1.0), uniform(&mut rng, s.seq_len * row, 1.0));
        all_k.extend_from_slice(&k);
        all_v.extend_from_slice(&v);
        all_slots.extend(slots);
        k_ctx.push(k);
        v_ctx.push(v);
    }
    let cache_shape = (num_blocks, block_size, heads.num_kv_heads, heads.head_dim);
    let nan = || Tensor::full(f32::NAN, cache_shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
    let (k_cache, v_cache) = (nan(), nan());
    let rows = |data: Vec<f32>| Tensor::from_vec(data, (all_slots.len(), heads.num_kv_heads, heads.head_dim), &Device::Cpu).unwrap();
    write_kv_cache(&rows(all_k), &rows(all_v), &k_cache, &v_cache, &all_slots).unwrap();
    let num_tokens = meta.num_tokens();
    let q_data = uniform(&mut rng, num_tokens * heads.num_heads * heads.head_dim, 1.0);
    let q = Tensor::from_vec(q_data, (num_tokens, heads.num_heads, heads.head_dim), &Device::Cpu).unwrap();
    Fixture { heads, q, k_cache, v_cache, meta, k_ctx, v_ctx }
}

/// `data` rounded to `dtype` and back, as the cache stores it.
pub fn rounded(data: &[f32], dtype: DType) -> Vec<f32> {
    let t = Tensor::from_slice(data, data.len(), &Device::Cpu).unwrap();
    t.to_dtype(dtype).unwrap().to_dtype(DType::F32).unwrap().to_vec1().unwrap()
}

/// Naive dense causal attention in f64: per sequence, the K/V of its context as
/// contiguous arrays, full softmax over positions `0..=pos` for each new token.
/// Returns `[num_tokens, num_heads, head_dim]`.
pub fn reference(fx: &Fixture, k_ctx: &[Vec<f32>], v_ctx: &[Vec<f32>], softmax_scale: f32) -> Vec<f64> {
    let Heads { num_heads, num_kv_heads, head_dim: d } = fx.heads;
    let q: Vec<f32> = fx.q.flatten_all().unwrap().to_vec1().unwrap();
    let group = num_heads / num_kv_heads;
    let mut out = Vec::with_capacity(q.len());
    for (i, &seq_len) in fx.meta.seq_lens.iter().enumerate() {
        let (start, end) = (fx.meta.query_start_loc[i] as usize, fx.meta.query_start_loc[i + 1] as usize);
        let k_at = |p: usize, kvh: usize| &k_ctx[i][(p * num_kv_heads + kvh) * d..][..d];
        let v_at = |p: usize, kvh: usize| &v_ctx[i][(p * num_kv_heads + kvh) * d..][..d];
        for t in start..end {
            let pos = seq_len as usize - (end - start) + (t - start);
            for h in 0..num_heads {
                let qh = &q[(t * num_heads + h) * d..][..d];
                let scores: Vec<f64> = (0..=pos)
                    .map(|p| {
                        let k = k_at(p, h / group);
                        qh.iter().zip(k).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * softmax_scale as f64
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                out.extend((0..d).map(|j| {
                    (0..=pos).map(|p| weights[p] * v_at(p, h / group)[j] as f64).sum::<f64>() / total
                }));
            }
        }
    }
    out
}

/// Asserts `|got - want| <= tol * max(1, |want|)` everywhere.
pub fn assert_close(got: &Tensor, want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.dtype(), DType::F32, "{what}: output dtype");
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: output length");
    let bad: Vec<(usize, f32, f64)> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| !((**g as f64 - **w).abs() <= tol * w.abs().max(1.0)))
        .map(|(i, (g, w))| (i, *g, *w))
        .collect();
    assert!(bad.is_empty(), "{what}: {} of {} values off by more than {tol}, first: {:?}", bad.len(), got.len(), &bad[..bad.len().min(5)]);
}
