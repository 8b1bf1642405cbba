//! Helpers shared by the integration tests: sample specs, a recording mock model, and
//! ([`engine`]) a real scheduler + runner loop over the golden checkpoints.
#![allow(dead_code)]

pub mod engine;
pub mod reference;

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use ponder_engine::{SampleSpec, SamplingParams, TokenHistory};
use ponder_kernels::AttentionMetadata;
use ponder_models::{Model, ModelInput};

/// A spec for output token `output_index` with `params`, without history.
pub fn spec(params: SamplingParams, output_index: usize) -> SampleSpec {
    SampleSpec { params: Arc::new(params), output_index, history: None, forced_token: None, constrained: false, allow_think_start: None }
}

/// A spec with a token history (for penalties).
pub fn spec_with_history(params: SamplingParams, prompt: &[u32], output: &[u32]) -> SampleSpec {
    let history = TokenHistory { prompt: prompt.into(), output: output.to_vec() };
    SampleSpec { params: Arc::new(params), output_index: output.len(), history: Some(history), forced_token: None, constrained: false, allow_think_start: None }
}

/// Greedy parameters.
pub fn greedy() -> SamplingParams {
    SamplingParams { temperature: 0.0, ..SamplingParams::default() }
}

/// Naive f64 softmax of a row.
pub fn softmax_f64(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().map(|&l| l as f64).fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// What the mock model saw in one forward pass, copied to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedInput {
    pub input_ids: Vec<u32>,
    pub positions: Vec<u32>,
    pub attn: AttentionMetadata,
    pub logits_indices: Vec<u32>,
    /// Dims of every layer's K and V cache tensor it was handed.
    pub kv_cache_dims: Vec<Vec<usize>>,
}

/// A model that records every input and "predicts" `(input id + 1) % vocab` at each
/// sampled row with a logit margin of `10` (so greedy is certain and temperature-1
/// sampling nearly so).
pub struct MockModel {
    pub vocab_size: usize,
    pub num_layers: usize,
    pub calls: Arc<Mutex<Vec<RecordedInput>>>,
    device: Device,
}

impl MockModel {
    /// A mock with `vocab_size` tokens and 2 layers of 2 KV heads of dim 4, and the
    /// shared log of its inputs.
    pub fn new(vocab_size: usize) -> (Self, Arc<Mutex<Vec<RecordedInput>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let model = Self { vocab_size, num_layers: 2, calls: calls.clone(), device: Device::Cpu };
        (model, calls)
    }
}

impl Model for MockModel {
    fn forward(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> candle_core::Result<Tensor> {
        let input_ids = input.input_ids.to_vec1::<u32>()?;
        let logits_indices = input.logits_indices.to_vec1::<u32>()?;
        let mut logits = vec![0f32; logits_indices.len() * self.vocab_size];
        for (row, &idx) in logits_indices.iter().enumerate() {
            let next = (input_ids[idx as usize] as usize + 1) % self.vocab_size;
            logits[row * self.vocab_size + next] = 10.0;
        }
        let kv_cache_dims =
            kv_caches.iter().flat_map(|(k, v)| [k.dims().to_vec(), v.dims().to_vec()]).collect();
        self.calls.lock().expect("mock log poisoned").push(RecordedInput {
            input_ids,
            positions: input.positions.to_vec1::<u32>()?,
            attn: input.attn.clone(),
            logits_indices: logits_indices.clone(),
            kv_cache_dims,
        });
        Tensor::from_vec(logits, (logits_indices.len(), self.vocab_size), &self.device)
    }

    fn num_layers(&self) -> usize {
        self.num_layers
    }
    fn num_kv_heads(&self) -> usize {
        2
    }
    fn head_dim(&self) -> usize {
        4
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn max_model_len(&self) -> usize {
        4096
    }
    fn device(&self) -> &Device {
        &self.device
    }
}
