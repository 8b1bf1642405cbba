//! `write_kv_cache`: every slot in the slot mapping written, every other slot untouched,
//! in place, and bad calls rejected before anything is written.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{rounded, uniform};
use ponder_kernels::write_kv_cache;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const NUM_BLOCKS: usize = 6;
const BLOCK_SIZE: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 8;
const ROW: usize = KV_HEADS * HEAD_DIM;
const NUM_SLOTS: usize = NUM_BLOCKS * BLOCK_SIZE;

fn cache_from(data: &[f32], dtype: DType) -> Tensor {
    let t = Tensor::from_slice(data, (NUM_BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM), &Device::Cpu).unwrap();
    t.to_dtype(dtype).unwrap()
}

fn rows(data: &[f32], num_tokens: usize) -> Tensor {
    Tensor::from_slice(data, (num_tokens, KV_HEADS, HEAD_DIM), &Device::Cpu).unwrap()
}

fn read(cache: &Tensor) -> Vec<f32> {
    cache.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// The expected cache after writing `new` (`[slots.len(), ROW]`) into `slots` of `old`.
fn scattered(old: &[f32], new: &[f32], slots: &[u32]) -> Vec<f32> {
    let mut want = old.to_vec();
    for (row, &slot) in new.chunks_exact(ROW).zip(slots) {
        want[slot as usize * ROW..][..ROW].copy_from_slice(row);
    }
    want
}

#[test]
fn every_mapped_slot_is_written_and_every_other_slot_is_untouched() {
    let mut rng = StdRng::seed_from_u64(1);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let (old_k, old_v) = (uniform(&mut rng, NUM_SLOTS * ROW, 1.0), uniform(&mut rng, NUM_SLOTS * ROW, 1.0));
        let (k_cache, v_cache) = (cache_from(&old_k, dtype), cache_from(&old_v, dtype));
        let mut slots: Vec<u32> = (0..NUM_SLOTS as u32).collect();
        slots.shuffle(&mut rng);
        slots.truncate(13);
        let (k, v) = (uniform(&mut rng, 13 * ROW, 1.0), uniform(&mut rng, 13 * ROW, 1.0));
        write_kv_cache(&rows(&k, 13), &rows(&v, 13), &k_cache, &v_cache, &slots).unwrap();
        let want_k = scattered(&rounded(&old_k, dtype), &rounded(&k, dtype), &slots);
        let want_v = scattered(&rounded(&old_v, dtype), &rounded(&v, dtype), &slots);
        assert_eq!(read(&k_cache), want_k, "{dtype:?} k cache");
        assert_eq!(read(&v_cache), want_v, "{dtype:?} v cache");
    }
}

#[test]
fn the_write_lands_in_the_cache_storage_itself_seen_through_a_view_of_a_larger_tensor() {
    // A per-layer cache as a view into one [2 layers, ...] allocation, starting at an offset.
    let all = Tensor::zeros((2, NUM_BLOCKS, BLOCK_SIZE, KV_HEADS, HEAD_DIM), DType::F32, &Device::Cpu).unwrap();
    let layer1 = all.get(1).unwrap();
    let alias = layer1.clone();
    let k: Vec<f32> = (1..=2 * ROW).map(|x| x as f32).collect();
    write_kv_cache(&rows(&k, 2), &rows(&k, 2), &layer1, &layer1, &[5, 22]).unwrap();
    let whole = read(&all);
    let layer1_start = NUM_SLOTS * ROW;
    assert!(whole[..layer1_start].iter().all(|&x| x == 0.0), "layer 0 must stay zero");
    assert_eq!(&whole[layer1_start + 5 * ROW..][..ROW], &k[..ROW]);
    assert_eq!(&whole[layer1_start + 22 * ROW..][..ROW], &k[ROW..]);
    assert_eq!(read(&alias), read(&layer1));
}

#[test]
fn f16_rows_are_converted_into_an_f32_cache() {
    let cache = cache_from(&vec![0.0; NUM_SLOTS * ROW], DType::F32);
    let k: Vec<f32> = (0..ROW).map(|x| x as f32 * 0.5).collect();
    let k16 = rows(&k, 1).to_dtype(DType::F16).unwrap();
    write_kv_cache(&k16, &k16, &cache, &cache, &[3]).unwrap();
    assert_eq!(&read(&cache)[3 * ROW..4 * ROW], &k[..]);
}

fn expect_error(k: &Tensor, v: &Tensor, k_cache: &Tensor, v_cache: &Tensor, slots: &[u32], needle: &str) {
    let before = (read(k_cache), read(v_cache));
    let err = write_kv_cache(k, v, k_cache, v_cache, slots).expect_err(needle).to_string();
    assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    assert_eq!((read(k_cache), read(v_cache)), before, "a rejected write must not touch the cache");
}

#[test]
fn an_out_of_range_slot_is_rejected_and_nothing_is_written() {
    let (kc, vc) = (cache_from(&vec![0.0; NUM_SLOTS * ROW], DType::F32), cache_from(&vec![0.0; NUM_SLOTS * ROW], DType::F32));
    let k = rows(&[1.0; 2 * ROW], 2);
    expect_error(&k, &k, &kc, &vc, &[0, NUM_SLOTS as u32], "slot 24 of token 1 is out of range");
}

#[test]
fn mismatched_shapes_and_bad_caches_are_rejected_and_nothing_is_written() {
    let zeros = vec![0.0; NUM_SLOTS * ROW];
    let (kc, vc) = (cache_from(&zeros, DType::F32), cache_from(&zeros, DType::F32));
    let k = rows(&[1.0; 2 * ROW], 2);
    let wrong_dim = Tensor::ones((2, KV_HEADS, HEAD_DIM / 2), DType::F32, &Device::Cpu).unwrap();
    expect_error(&wrong_dim, &k, &kc, &vc, &[0, 1], "`k` has shape [2, 2, 4]");
    expect_error(&k, &wrong_dim, &kc, &vc, &[0, 1], "`v` has shape");
    expect_error(&k, &k, &kc, &vc, &[0, 1, 2], "slot_mapping.len()");
    let small_v = Tensor::zeros((NUM_BLOCKS - 1, BLOCK_SIZE, KV_HEADS, HEAD_DIM), DType::F32, &Device::Cpu).unwrap();
    expect_error(&k, &k, &kc, &small_v, &[0, 1], "`v_cache` has shape");
    let flat = kc.flatten_all().unwrap();
    expect_error(&k, &k, &flat, &flat, &[0, 1], "`k_cache` has shape");
    let c64 = cache_from(&zeros, DType::F64);
    expect_error(&k, &k, &c64, &c64, &[0, 1], "`k_cache` has dtype F64");
    let swapped = Tensor::zeros((BLOCK_SIZE, NUM_BLOCKS, KV_HEADS, HEAD_DIM), DType::F32, &Device::Cpu).unwrap();
    let strided = swapped.transpose(0, 1).unwrap();
    expect_error(&k, &k, &strided, &strided, &[0, 1], "`k_cache` must be contiguous");
}

#[test]
fn an_empty_slot_mapping_writes_nothing() {
    let zeros = vec![0.0; NUM_SLOTS * ROW];
    let cache = cache_from(&zeros, DType::BF16);
    let none = rows(&[], 0);
    write_kv_cache(&none, &none, &cache, &cache, &[]).unwrap();
    assert_eq!(read(&cache), zeros);
}
