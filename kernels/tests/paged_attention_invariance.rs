//! `paged_attention` is batch-invariant: a query's output has the same bits whether it
//! is computed in one whole-prompt prefill, in a prefill chunk of any size, as a
//! decode, alone or beside other sequences. (`paged_attention_batch_dependent` makes
//! no such promise; it is only checked against the reference in paged_attention.rs.)

mod common;

use candle_core::{DType, Tensor};
use common::{fixture, seq, Fixture, Heads};
use ponder_kernels::{paged_attention, AttentionMetadata};

/// One sequence's tokens `start..end` as a call (the cache holds all of its positions;
/// the kernel reads only `0..end`).
struct Part {
    seq: usize,
    start: usize,
    end: usize,
}

/// Runs one call over `parts` (in order) and returns each part's output rows as bits.
fn run(fx: &Fixture, parts: &[Part]) -> Vec<Vec<u32>> {
    let first_row = |s: usize| fx.meta.query_start_loc[s] as usize;
    let mut meta = AttentionMetadata { block_size: fx.meta.block_size, query_start_loc: vec![0], ..Default::default() };
    let mut rows = Vec::new();
    for p in parts {
        // Row r of sequence s in the fixture is its position seq_len - q_len + r; every
        // fixture sequence here is a whole prefill (q_len == seq_len), so row == position.
        rows.push(fx.q.narrow(0, first_row(p.seq) + p.start, p.end - p.start).unwrap());
        meta.slot_mapping.extend(std::iter::repeat_n(0, p.end - p.start));
        meta.query_start_loc.push(meta.query_start_loc.last().unwrap() + (p.end - p.start) as u32);
        meta.seq_lens.push(p.end as u32);
        meta.block_tables.push(fx.meta.block_tables[p.seq].clone());
    }
    let q = Tensor::cat(&rows, 0).unwrap();
    let scale = 1.0 / (fx.heads.head_dim as f32).sqrt();
    let out = paged_attention(&q, &fx.k_cache, &fx.v_cache, &meta, scale).unwrap();
    let out: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
    let row = fx.heads.num_heads * fx.heads.head_dim;
    let mut at = 0;
    parts
        .iter()
        .map(|p| {
            let n = (p.end - p.start) * row;
            at += n;
            out[at - n..at].iter().map(|v| v.to_bits()).collect()
        })
        .collect()
}

/// Sequence 0 (`len` tokens) prefilled in chunks of `chunk` beside a decode of
/// sequence 1 in every call: the rows of each chunk, concatenated.
fn chunked(fx: &Fixture, len: usize, chunk: usize, other_len: usize) -> Vec<u32> {
    let mut bits = Vec::new();
    for start in (0..len).step_by(chunk) {
        let end = (start + chunk).min(len);
        let out = run(fx, &[Part { seq: 1, start: other_len - 1, end: other_len }, Part { seq: 0, start, end }]);
        bits.extend_from_slice(&out[1]);
    }
    bits
}

fn check(heads: Heads, block_size: usize, dtype: DType) {
    // 700 positions: three partitions of the kernel's fixed 256-position split.
    let (len, other) = (700, 333);
    let fx = fixture(heads, block_size, &[seq(len, len), seq(other, other)], dtype, 42);
    let what = format!("{heads:?} block {block_size} {dtype:?}");
    let whole = run(&fx, &[Part { seq: 0, start: 0, end: len }]).remove(0);
    for chunk in [1, 7, 16, 100, 256] {
        assert!(chunked(&fx, len, chunk, other) == whole, "{what}: chunks of {chunk} differ from the whole prefill");
    }
    let row = heads.num_heads * heads.head_dim;
    for pos in [0, 5, 255, 256, 300, 511, 512, 699] {
        let want = &whole[pos * row..(pos + 1) * row];
        let alone = run(&fx, &[Part { seq: 0, start: pos, end: pos + 1 }]).remove(0);
        assert!(alone == want, "{what}: decode at {pos} alone differs from the prefill row");
        // Among many decodes (the split-K schedule is not chosen then) and a prefill.
        let mut parts: Vec<Part> = (0..40).map(|i| Part { seq: 1, start: 10 + i * 7, end: 11 + i * 7 }).collect();
        parts.push(Part { seq: 0, start: pos, end: pos + 1 });
        parts.push(Part { seq: 1, start: 0, end: 64 });
        let among = run(&fx, &parts).swap_remove(40);
        assert!(among == want, "{what}: decode at {pos} among 41 others differs from the prefill row");
    }
}

#[test]
fn a_query_has_the_same_bits_in_prefill_chunks_of_any_size_and_as_a_decode() {
    check(Heads { num_heads: 9, num_kv_heads: 3, head_dim: 64 }, 16, DType::F32);
    check(Heads { num_heads: 4, num_kv_heads: 2, head_dim: 40 }, 16, DType::F32);
    check(Heads { num_heads: 4, num_kv_heads: 4, head_dim: 64 }, 1, DType::F32);
    check(Heads { num_heads: 8, num_kv_heads: 2, head_dim: 128 }, 48, DType::F16);
}
