//! Test driver: a paged KV cache with a bump block allocator, and batched forward steps
//! built the way the runner builds them (slot mapping, block tables, query offsets).
#![allow(dead_code)]

pub mod golden;
pub mod random;
pub mod scratch;

use candle_core::{DType, Device, Tensor};
use ponder_kernels::AttentionMetadata;
use ponder_models::{Model, ModelInput};

/// One sequence: all its tokens, how many already have K/V in the cache, its blocks.
#[derive(Debug, Clone)]
pub struct Seq {
    pub tokens: Vec<u32>,
    pub num_computed: usize,
    pub block_table: Vec<u32>,
}

impl Seq {
    pub fn new(prompt: &[u32]) -> Self {
        Self { tokens: prompt.to_vec(), num_computed: 0, block_table: Vec::new() }
    }
}

/// Per-layer K/V caches `[num_blocks, block_size, num_kv_heads, head_dim]` and a bump
/// allocator over their blocks (blocks are handed out in a scrambled order so that a
/// sequence's blocks are not contiguous).
pub struct PagedCache {
    pub caches: Vec<(Tensor, Tensor)>,
    pub block_size: usize,
    num_blocks: usize,
    next: usize,
}

impl PagedCache {
    pub fn new(model: &dyn Model, num_blocks: usize, block_size: usize) -> Self {
        let shape = (num_blocks, block_size, model.num_kv_heads(), model.head_dim());
        let caches = (0..model.num_layers())
            .map(|_| {
                let k = Tensor::zeros(shape, DType::F32, model.device()).unwrap();
                let v = Tensor::zeros(shape, DType::F32, model.device()).unwrap();
                (k, v)
            })
            .collect();
        Self { caches, block_size, num_blocks, next: 0 }
    }

    fn allocate(&mut self) -> u32 {
        assert!(self.next < self.num_blocks, "test cache out of blocks");
        // A permutation of 0..num_blocks (7 is coprime with the even block counts used).
        let id = (self.next * 7 + 3) % self.num_blocks;
        self.next += 1;
        id as u32
    }
}

/// Runs one forward over the not-yet-computed tokens of every sequence in `seqs` and
/// returns the logits of each sequence's last token, `[num_seqs, vocab]` as rows.
pub fn step(model: &dyn Model, cache: &mut PagedCache, seqs: &mut [Seq]) -> Vec<Vec<f32>> {
    let bs = cache.block_size;
    let mut attn = AttentionMetadata { block_size: bs, query_start_loc: vec![0], ..Default::default() };
    let (mut ids, mut positions, mut logits_indices) = (Vec::new(), Vec::new(), Vec::new());
    for seq in seqs.iter_mut() {
        let len = seq.tokens.len();
        while seq.block_table.len() * bs < len {
            seq.block_table.push(cache.allocate());
        }
        for pos in seq.num_computed..len {
            ids.push(seq.tokens[pos]);
            positions.push(pos as u32);
            attn.slot_mapping.push(seq.block_table[pos / bs] * bs as u32 + (pos % bs) as u32);
        }
        logits_indices.push(ids.len() as u32 - 1);
        attn.query_start_loc.push(ids.len() as u32);
        attn.seq_lens.push(len as u32);
        attn.block_tables.push(seq.block_table.clone());
        seq.num_computed = len;
    }
    let dev = model.device();
    let input = ModelInput {
        input_ids: Tensor::new(ids.as_slice(), dev).unwrap(),
        positions: Tensor::new(positions.as_slice(), dev).unwrap(),
        attn,
        logits_indices: Tensor::new(logits_indices.as_slice(), dev).unwrap(),
        batch_invariant: true,
    };
    let logits = model.forward(&input, &cache.caches).unwrap();
    assert_eq!(logits.dims(), &[seqs.len(), model.vocab_size()]);
    logits.to_vec2::<f32>().unwrap()
}

/// Index of the largest value (first one on ties).
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Prefills every sequence together, then decodes `n` greedy tokens for all of them,
/// one batched forward per step. Returns the prefill logits and the new ids per sequence.
pub fn greedy_batch(model: &dyn Model, cache: &mut PagedCache, prompts: &[Vec<u32>], n: usize) -> (Vec<Vec<f32>>, Vec<Vec<u32>>) {
    let mut seqs: Vec<Seq> = prompts.iter().map(|p| Seq::new(p)).collect();
    let mut out = vec![Vec::new(); prompts.len()];
    let mut logits = step(model, cache, &mut seqs);
    let prefill_logits = logits.clone();
    for i in 0..n {
        for (s, row) in logits.iter().enumerate() {
            let id = argmax(row);
            out[s].push(id);
            seqs[s].tokens.push(id);
        }
        if i + 1 < n {
            logits = step(model, cache, &mut seqs);
        }
    }
    (prefill_logits, out)
}

/// The `Device` tests run on.
pub fn device() -> Device {
    Device::Cpu
}

/// Folder of the real test assets (`PONDER_CACHE` or `$HOME/.cache/ponder`).
pub fn asset_cache() -> std::path::PathBuf {
    match std::env::var_os("PONDER_CACHE") {
        Some(p) => p.into(),
        None => std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/ponder"),
    }
}
