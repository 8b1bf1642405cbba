//! Assembling a [`DecoderModel`] from a [`WeightSource`].

use candle_core::Result;

use super::{DecoderLayer, DecoderModel};
use crate::config::{Architecture, ModelConfig};
use crate::layers::{Attention, AttentionShape, Linear, Mlp, RmsNorm, RotaryEmbedding};
use crate::rope_scaling::{inv_freq, RopeScaling};
use crate::weights::{LayerWeight, WeightName, WeightSource};

impl DecoderModel {
    /// Builds the model described by `config` from `weights`.
    ///
    /// Errors when a required tensor is missing or has the wrong shape. A
    /// `rope_freqs` tensor in the weights (GGUF llama3 scaling) overrides the config's
    /// RoPE scaling.
    pub fn from_weights(config: &ModelConfig, weights: &dyn WeightSource) -> Result<Self> {
        let mut config = config.clone();
        if let Some(factors) = weights.rope_freq_factors()? {
            config.rope_scaling = RopeScaling::FreqFactors(factors);
        }
        let embed = weights.embedding(WeightName::Embed)?;
        if embed.vocab_size() != config.vocab_size {
            candle_core::bail!("embedding has {} rows, config vocab_size {}", embed.vocab_size(), config.vocab_size);
        }
        let layers = (0..config.num_hidden_layers)
            .map(|i| build_layer(&config, weights, i))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if !config.tie_word_embeddings && weights.contains(WeightName::LmHead) {
            weights.linear(WeightName::LmHead)?
        } else {
            embed.tied_lm_head()?
        };
        let inv = inv_freq(config.head_dim, config.rope_theta, &config.rope_scaling).map_err(candle_core::Error::wrap)?;
        Ok(Self {
            norm: RmsNorm::new(weights.vector(WeightName::FinalNorm)?, config.rms_norm_eps),
            rope: RotaryEmbedding::new(inv, weights.device()),
            device: weights.device().clone(),
            embed,
            layers,
            lm_head,
            config,
        })
    }
}

/// Loads decoder layer `i`.
fn build_layer(config: &ModelConfig, weights: &dyn WeightSource, i: usize) -> Result<DecoderLayer> {
    let w = |lw: LayerWeight| WeightName::Layer(i, lw);
    let norm = |lw: LayerWeight| -> Result<RmsNorm> { Ok(RmsNorm::new(weights.vector(w(lw))?, config.rms_norm_eps)) };
    let qk_norm = config.architecture == Architecture::Qwen3;
    let attn = Attention {
        q_proj: linear_with_bias(weights, w(LayerWeight::Q), w(LayerWeight::QBias), config.attention_bias)?,
        k_proj: linear_with_bias(weights, w(LayerWeight::K), w(LayerWeight::KBias), config.attention_bias)?,
        v_proj: linear_with_bias(weights, w(LayerWeight::V), w(LayerWeight::VBias), config.attention_bias)?,
        o_proj: linear_with_bias(weights, w(LayerWeight::O), w(LayerWeight::OBias), false)?,
        q_norm: if qk_norm { Some(norm(LayerWeight::QNorm)?) } else { None },
        k_norm: if qk_norm { Some(norm(LayerWeight::KNorm)?) } else { None },
        shape: AttentionShape {
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
        },
    };
    check_out(&attn.q_proj, config.num_attention_heads * config.head_dim, "q_proj", i)?;
    check_out(&attn.k_proj, config.num_key_value_heads * config.head_dim, "k_proj", i)?;
    check_out(&attn.v_proj, config.num_key_value_heads * config.head_dim, "v_proj", i)?;
    let mlp = Mlp::new(
        weights.linear(w(LayerWeight::Gate))?,
        weights.linear(w(LayerWeight::Up))?,
        weights.linear(w(LayerWeight::Down))?,
    );
    Ok(DecoderLayer {
        attn_norm: norm(LayerWeight::AttnNorm)?,
        attn,
        mlp_norm: norm(LayerWeight::MlpNorm)?,
        mlp,
    })
}

/// A linear layer with its bias: required when `required`, else loaded if present.
fn linear_with_bias(weights: &dyn WeightSource, name: WeightName, bias: WeightName, required: bool) -> Result<Linear> {
    let linear = weights.linear(name)?;
    if required || weights.contains(bias) {
        linear.with_bias(weights.vector(bias)?)
    } else {
        Ok(linear)
    }
}

fn check_out(linear: &Linear, want: usize, what: &str, layer: usize) -> Result<()> {
    if linear.out_features() != want {
        candle_core::bail!("layer {layer} {what}: {} outputs, expected {want}", linear.out_features());
    }
    Ok(())
}
