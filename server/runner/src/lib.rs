//! ponder-runner: ModelRunner and Sampler.
