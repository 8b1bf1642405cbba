//! `paged_attention` against a naive dense f64 reference.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, fixture, reference, rounded, seq, Fixture, Heads, Seq};
use ponder_kernels::paged_attention;

const F32_TOL: f64 = 1e-4;

fn scale_for(heads: Heads) -> f32 {
    1.0 / (heads.head_dim as f32).sqrt()
}

/// Runs the kernel on `fx` and compares with the reference over the cache's own
/// (possibly rounded) values at f32 tolerance, and over the unrounded values at `raw_tol`.
fn check(fx: &Fixture, dtype: DType, softmax_scale: f32, raw_tol: f64, what: &str) {
    let out = paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, softmax_scale).unwrap();
    assert_eq!(out.dims(), fx.q.dims(), "{what}: output shape");
    let round_all = |ctx: &[Vec<f32>]| ctx.iter().map(|c| rounded(c, dtype)).collect::<Vec<_>>();
    let want = reference(fx, &round_all(&fx.k_ctx), &round_all(&fx.v_ctx), softmax_scale);
    assert_close(&out, &want, F32_TOL, what);
    let want_raw = reference(fx, &fx.k_ctx, &fx.v_ctx, softmax_scale);
    assert_close(&out, &want_raw, raw_tol, what);
}

fn check_f32(heads: Heads, block_size: usize, seqs: &[Seq], seed: u64, what: &str) {
    let fx = fixture(heads, block_size, seqs, DType::F32, seed);
    check(&fx, DType::F32, scale_for(heads), F32_TOL, what);
}

const GQA2_D64: Heads = Heads { num_heads: 4, num_kv_heads: 2, head_dim: 64 };

/// Sequence lengths around the block size 16: 1, 15, 16, 17 and several blocks.
const BOUNDARY_LENS: [usize; 6] = [1, 15, 16, 17, 48, 83];

#[test]
fn decodes_match_the_reference_at_block_boundaries() {
    let seqs: Vec<Seq> = BOUNDARY_LENS.iter().map(|&n| seq(n, 1)).collect();
    check_f32(GQA2_D64, 16, &seqs, 1, "decodes");
}

#[test]
fn whole_prompt_prefills_match_the_reference_at_block_boundaries() {
    for (i, &n) in BOUNDARY_LENS.iter().enumerate() {
        check_f32(GQA2_D64, 16, &[seq(n, n)], 10 + i as u64, &format!("prefill of {n}"));
    }
}

#[test]
fn prefill_chunks_on_top_of_cached_blocks_match_the_reference() {
    // Cached context ending inside a block, on a block boundary, and a chunk of one.
    let seqs = [seq(40, 9), seq(48, 16), seq(64, 33), seq(17, 1), seq(100, 2)];
    check_f32(GQA2_D64, 16, &seqs, 2, "chunked prefill");
}

/// A step as the scheduler builds it: a fresh prefill, a prefill chunk on cached
/// context, decodes of several lengths, a prefill that fills exactly one block.
const MIXED_BATCH: [Seq; 7] = [
    seq(37, 37),
    seq(70, 20),
    seq(33, 1),
    seq(1, 1),
    seq(200, 1),
    seq(16, 16),
    seq(18, 3),
];

#[test]
fn a_mixed_batch_matches_the_reference_for_gqa_ratios_1_2_7_and_head_dims_40_64_128() {
    // Head dims that are and are not a multiple of the kernel's 16-wide panels.
    for (num_heads, num_kv_heads) in [(4, 4), (8, 4), (14, 2)] {
        for head_dim in [40, 64, 128] {
            let heads = Heads { num_heads, num_kv_heads, head_dim };
            let what = format!("{num_heads} heads / {num_kv_heads} kv heads, head_dim {head_dim}");
            check_f32(heads, 16, &MIXED_BATCH, num_heads as u64 * 1000 + head_dim as u64, &what);
        }
    }
}

#[test]
fn a_mixed_batch_matches_the_reference_with_block_size_1_and_block_size_64() {
    let heads = Heads { num_heads: 6, num_kv_heads: 3, head_dim: 64 };
    check_f32(heads, 1, &MIXED_BATCH, 3, "block size 1");
    check_f32(heads, 64, &MIXED_BATCH, 4, "block size 64");
}

#[test]
fn f16_and_bf16_caches_match_the_reference_of_their_rounded_values() {
    let heads = Heads { num_heads: 14, num_kv_heads: 2, head_dim: 128 };
    for (dtype, raw_tol) in [(DType::F16, 3e-3), (DType::BF16, 2e-2)] {
        let fx = fixture(heads, 16, &MIXED_BATCH, dtype, 5);
        assert_eq!(fx.k_cache.dtype(), dtype);
        check(&fx, dtype, scale_for(heads), raw_tol, &format!("{dtype:?} cache"));
    }
}

#[test]
fn a_single_long_decode_split_across_threads_matches_the_reference() {
    // 1 token x 2 KV heads is fewer items than threads: the context is partitioned.
    let heads = Heads { num_heads: 14, num_kv_heads: 2, head_dim: 128 };
    check_f32(heads, 16, &[seq(3001, 1)], 6, "long decode");
    check_f32(heads, 16, &[seq(2500, 1), seq(700, 1)], 7, "two long decodes");
    let fx = fixture(heads, 16, &[seq(3001, 1)], DType::BF16, 8);
    check(&fx, DType::BF16, scale_for(heads), 2e-2, "long bf16 decode");
}

#[test]
fn large_scores_do_not_overflow_the_softmax() {
    // Scores of several hundred: a softmax without the running max would give inf/NaN.
    let fx = fixture(GQA2_D64, 16, &[seq(90, 30), seq(500, 1)], DType::F32, 9);
    check(&fx, DType::F32, 40.0, F32_TOL, "softmax scale 40");
}

#[test]
fn a_strided_f16_query_gives_the_same_output_as_its_contiguous_f32_copy() {
    let fx = fixture(GQA2_D64, 16, &MIXED_BATCH, DType::F32, 11);
    let scale = scale_for(GQA2_D64);
    let want = paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
    let (t, h, d) = fx.q.dims3().unwrap();
    let strided = Tensor::cat(&[&fx.q, &fx.q], 2).unwrap().narrow(2, 0, d).unwrap();
    assert!(!strided.is_contiguous());
    let got = paged_attention(&strided, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
    let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(diff, 0.0);
    let q16 = fx.q.to_dtype(DType::F16).unwrap();
    let out16 = paged_attention(&q16, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
    assert_eq!((out16.dtype(), out16.dims3().unwrap()), (DType::F32, (t, h, d)));
}

#[test]
fn an_empty_step_gives_an_empty_output() {
    let fx = fixture(GQA2_D64, 16, &[], DType::F32, 12);
    let out = paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, 0.125).unwrap();
    assert_eq!(out.dims(), &[0, 4, 64]);
}

#[test]
fn output_is_deterministic_across_calls() {
    let fx = fixture(GQA2_D64, 16, &[seq(3001, 1), seq(40, 40)], DType::F32, 13);
    let run = || paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, 0.125).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(run(), run());
}

fn expect_error(fx: &Fixture, q: &Tensor, k: &Tensor, v: &Tensor, needle: &str) {
    let err = paged_attention(q, k, v, &fx.meta, 0.125).expect_err(needle).to_string();
    assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
}

#[test]
fn inconsistent_metadata_is_rejected_with_an_error() {
    let cases: [(&str, fn(&mut Fixture)); 6] = [
        ("needs 3 blocks", |fx| fx.meta.block_tables[0].truncate(2)),
        ("out of range", |fx| fx.meta.block_tables[1][0] = 10_000),
        ("new tokens but seq_len", |fx| fx.meta.seq_lens[1] = 0),
        ("block_size 8", |fx| fx.meta.block_size = 8),
        ("query_start_loc must run from 0", |fx| fx.meta.query_start_loc[2] = 9),
        ("block tables", |fx| {
            fx.meta.block_tables.pop();
        }),
    ];
    for (needle, break_it) in cases {
        let mut fx = fixture(GQA2_D64, 16, &[seq(40, 9), seq(20, 1)], DType::F32, 14);
        break_it(&mut fx);
        expect_error(&fx, &fx.q, &fx.k_cache, &fx.v_cache, needle);
    }
}

#[test]
fn mismatched_shapes_and_dtypes_are_rejected_with_an_error() {
    let fx = fixture(GQA2_D64, 16, &[seq(40, 9)], DType::F32, 15);
    let q3 = Tensor::zeros((9, 3, 64), DType::F32, &Device::Cpu).unwrap();
    expect_error(&fx, &q3, &fx.k_cache, &fx.v_cache, "multiple of 2 kv heads");
    let q_d = Tensor::zeros((9, 4, 32), DType::F32, &Device::Cpu).unwrap();
    expect_error(&fx, &q_d, &fx.k_cache, &fx.v_cache, "`q` has shape");
    let v16 = fx.v_cache.to_dtype(DType::F16).unwrap();
    expect_error(&fx, &fx.q, &fx.k_cache, &v16, "`v_cache` has dtype F16");
    let k64 = fx.k_cache.to_dtype(DType::F64).unwrap();
    expect_error(&fx, &fx.q, &k64, &k64, "`k_cache` has dtype F64");
    let k3 = fx.k_cache.flatten_from(2).unwrap();
    expect_error(&fx, &fx.q, &k3, &k3, "`k_cache` has shape");
    let v_t = fx.v_cache.transpose(0, 1).unwrap();
    expect_error(&fx, &fx.q, &fx.k_cache, &v_t, "`v_cache` has shape");
}
