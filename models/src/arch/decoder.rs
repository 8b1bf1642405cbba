//! The pre-norm decoder-only transformer (Llama / Qwen2 / Qwen3) over a paged KV cache.
//!
//! ```text
//! input_ids [T] -> embed -> T x [layer: x += attn(norm(x)); x += mlp(norm(x))]
//!   -> gather logits_indices rows [S, hidden] -> final norm -> lm_head -> [S, vocab]
//! ```
//! Only the gathered rows go through the final norm and the LM head: in a prefill of
//! T tokens that is one row, not T.

use candle_core::{DType, Device, Result, Tensor};

use crate::config::ModelConfig;
use crate::layers::{Attention, Embedding, Linear, Mlp, RmsNorm, RotaryEmbedding};
use crate::model::{Model, ModelInput};

/// One decoder layer.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    /// RMSNorm before attention.
    pub attn_norm: RmsNorm,
    /// Self-attention.
    pub attn: Attention,
    /// RMSNorm before the MLP.
    pub mlp_norm: RmsNorm,
    /// SwiGLU MLP.
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// `x [T, hidden]` -> `[T, hidden]`, writing this layer's K/V into `kv_cache`.
    fn forward(
        &self,
        x: &Tensor,
        rope: (&Tensor, &Tensor),
        input: &ModelInput,
        kv_cache: &(Tensor, Tensor),
    ) -> Result<Tensor> {
        let inv = input.batch_invariant;
        let h = self.attn.forward(&self.attn_norm.forward(x)?, rope, &input.attn, kv_cache, inv)?;
        let x = (x + h)?;
        let h = self.mlp.forward(&self.mlp_norm.forward(&x)?, inv)?;
        x + h
    }
}

/// A Llama / Qwen2 / Qwen3 model.
#[derive(Debug, Clone)]
pub struct DecoderModel {
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// Token embedding `[vocab, hidden]`.
    pub embed: Embedding,
    /// Decoder layers.
    pub layers: Vec<DecoderLayer>,
    /// Final RMSNorm.
    pub norm: RmsNorm,
    /// LM head `[vocab, hidden]` (possibly the embedding matrix).
    pub lm_head: Linear,
    /// RoPE frequencies.
    pub rope: RotaryEmbedding,
    /// Device of the weights.
    pub device: Device,
}

impl DecoderModel {
    /// Checks that the input and caches fit this model before running it.
    fn check_input(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> Result<usize> {
        let t = input.input_ids.dims1()?;
        if input.positions.dims1()? != t || input.attn.num_tokens() != t {
            candle_core::bail!(
                "forward: {t} input ids, {} positions, {} slots",
                input.positions.dims1()?,
                input.attn.num_tokens()
            );
        }
        if kv_caches.len() != self.layers.len() {
            candle_core::bail!("forward: {} KV cache pairs for {} layers", kv_caches.len(), self.layers.len());
        }
        Ok(t)
    }
}

impl Model for DecoderModel {
    fn forward(&self, input: &ModelInput, kv_caches: &[(Tensor, Tensor)]) -> Result<Tensor> {
        self.check_input(input, kv_caches)?;
        let positions = input.positions.to_vec1::<u32>()?;
        let (cos, sin) = self.rope.cos_sin(&positions)?;
        let mut x = self.embed.forward(&input.input_ids)?;
        for (layer, cache) in self.layers.iter().zip(kv_caches) {
            x = layer.forward(&x, (&cos, &sin), input, cache)?;
        }
        let x = x.index_select(&input.logits_indices, 0)?;
        let logits = self.lm_head.forward(&self.norm.forward(&x)?, input.batch_invariant)?;
        logits.to_dtype(DType::F32)
    }

    fn num_layers(&self) -> usize {
        self.layers.len()
    }

    fn num_kv_heads(&self) -> usize {
        self.config.num_key_value_heads
    }

    fn head_dim(&self) -> usize {
        self.config.head_dim
    }

    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_model_len(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
