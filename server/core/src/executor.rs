//! `Executor`: what the engine core needs of a model runner.

use ponder_engine::{ScheduledBatch, StepOutput};
use ponder_models::Model;
use ponder_runner::ModelRunner;

/// New weights, loaded and checked off the engine thread ([`crate::load_checkpoint`]).
pub struct NewWeights(pub Box<dyn Model>);

impl std::fmt::Debug for NewWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewWeights(..)")
    }
}

/// Runs one forward pass plus sampling for a batch, and takes new weights between
/// steps: the `ModelRunner`, or a fake in tests.
pub trait Executor: Send {
    /// One step over `batch` (see `ModelRunner::execute`).
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput>;

    /// Replaces the weights. Errors (a model whose KV layout or vocabulary differs) leave
    /// the old weights serving.
    fn swap_weights(&mut self, weights: NewWeights) -> anyhow::Result<()>;
}

impl Executor for ModelRunner {
    fn execute(&mut self, batch: &ScheduledBatch) -> anyhow::Result<StepOutput> {
        ModelRunner::execute(self, batch)
    }

    fn swap_weights(&mut self, weights: NewWeights) -> anyhow::Result<()> {
        // The old model is dropped here, after the new one took its place.
        self.swap_model(weights.0).map(drop).map_err(Into::into)
    }
}
