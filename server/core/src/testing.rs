//! Test doubles for the engine core: a fake executor and a fake model.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use candle_core::{Device, Tensor};
use ponder_engine::{SampledToken, ScheduledBatch, StepOutput};
use ponder_models::{Model, ModelInput};

use crate::executor::{Executor, NewWeights};

/// Samples `token` for every sequence that asks for a sample, where `token` is the
/// current fake model's id (7 at first; a swap installs the new `FakeModel`'s id).
/// Optionally slow or failing.
pub struct FakeRunner {
    pub delay: Duration,
    pub fail: bool,
    /// The token every row samples: the loaded fake model's.
    pub token: Arc<AtomicU32>,
}

impl FakeRunner {
    pub fn new(delay: Duration, fail: bool) -> Self {
        Self { delay, fail, token: Arc::new(AtomicU32::new(7)) }
    }
}

impl Executor for FakeRunner {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        std::thread::sleep(self.delay);
        if self.fail {
            anyhow::bail!("boom");
        }
        let token_id = self.token.load(Ordering::SeqCst);
        let sampled = batch
            .seqs
            .iter()
            .filter(|s| s.sample.is_some())
            .map(|s| SampledToken { seq_id: s.seq_id, token_id, logprob: -0.5, top_logprobs: Vec::new() })
            .collect();
        Ok(StepOutput { sampled, ..StepOutput::default() })
    }

    fn swap_weights(&mut self, weights: NewWeights) -> anyhow::Result<()> {
        let vocab = weights.0.vocab_size();
        anyhow::ensure!(vocab >= 100, "vocabulary of {vocab} tokens does not fit");
        // The fake model's "weights" are the token it makes every row sample.
        self.token.store(weights.0.num_layers() as u32, Ordering::SeqCst);
        Ok(())
    }
}

static CPU: Device = Device::Cpu;

/// A model that only answers shape questions; `num_layers` doubles as the token the
/// `FakeRunner` samples after swapping it in.
pub struct FakeModel {
    pub token: u32,
    pub vocab: usize,
}

impl Model for FakeModel {
    fn forward(&self, _: &ModelInput, _: &[(Tensor, Tensor)]) -> candle_core::Result<Tensor> {
        candle_core::bail!("the fake model is never run")
    }
    fn num_layers(&self) -> usize {
        self.token as usize
    }
    fn num_kv_heads(&self) -> usize {
        1
    }
    fn head_dim(&self) -> usize {
        1
    }
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_model_len(&self) -> usize {
        128
    }
    fn device(&self) -> &Device {
        &CPU
    }
}
