//! Tensor roles and their names in HF safetensors and in GGUF (llama.cpp) files.

/// A weight of one decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerWeight {
    /// RMSNorm before attention, `[hidden]`.
    AttnNorm,
    /// Query projection `[heads * head_dim, hidden]`.
    Q,
    /// Key projection `[kv_heads * head_dim, hidden]`.
    K,
    /// Value projection `[kv_heads * head_dim, hidden]`.
    V,
    /// Output projection `[hidden, heads * head_dim]`.
    O,
    /// Query bias `[heads * head_dim]` (Qwen2).
    QBias,
    /// Key bias `[kv_heads * head_dim]` (Qwen2).
    KBias,
    /// Value bias `[kv_heads * head_dim]` (Qwen2).
    VBias,
    /// Output projection bias `[hidden]` (Llama with `attention_bias`).
    OBias,
    /// Per-head RMSNorm on queries `[head_dim]` (Qwen3).
    QNorm,
    /// Per-head RMSNorm on keys `[head_dim]` (Qwen3).
    KNorm,
    /// RMSNorm before the MLP, `[hidden]`.
    MlpNorm,
    /// SwiGLU gate projection `[intermediate, hidden]`.
    Gate,
    /// SwiGLU up projection `[intermediate, hidden]`.
    Up,
    /// SwiGLU down projection `[hidden, intermediate]`.
    Down,
}

/// A weight of the model, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightName {
    /// Token embedding `[vocab, hidden]`.
    Embed,
    /// Final RMSNorm `[hidden]`.
    FinalNorm,
    /// Untied LM head `[vocab, hidden]`.
    LmHead,
    /// A weight of decoder layer `.0`.
    Layer(usize, LayerWeight),
}

impl WeightName {
    /// Name in an HF transformers checkpoint (`model.layers.3.self_attn.q_proj.weight`).
    pub fn hf(self) -> String {
        use LayerWeight::*;
        let (i, w) = match self {
            WeightName::Embed => return "model.embed_tokens.weight".into(),
            WeightName::FinalNorm => return "model.norm.weight".into(),
            WeightName::LmHead => return "lm_head.weight".into(),
            WeightName::Layer(i, w) => (i, w),
        };
        let suffix = match w {
            AttnNorm => "input_layernorm.weight",
            Q => "self_attn.q_proj.weight",
            K => "self_attn.k_proj.weight",
            V => "self_attn.v_proj.weight",
            O => "self_attn.o_proj.weight",
            QBias => "self_attn.q_proj.bias",
            KBias => "self_attn.k_proj.bias",
            VBias => "self_attn.v_proj.bias",
            OBias => "self_attn.o_proj.bias",
            QNorm => "self_attn.q_norm.weight",
            KNorm => "self_attn.k_norm.weight",
            MlpNorm => "post_attention_layernorm.weight",
            Gate => "mlp.gate_proj.weight",
            Up => "mlp.up_proj.weight",
            Down => "mlp.down_proj.weight",
        };
        format!("model.layers.{i}.{suffix}")
    }

    /// Name in a llama.cpp GGUF file (`blk.3.attn_q.weight`).
    pub fn gguf(self) -> String {
        use LayerWeight::*;
        let (i, w) = match self {
            WeightName::Embed => return "token_embd.weight".into(),
            WeightName::FinalNorm => return "output_norm.weight".into(),
            WeightName::LmHead => return "output.weight".into(),
            WeightName::Layer(i, w) => (i, w),
        };
        let suffix = match w {
            AttnNorm => "attn_norm.weight",
            Q => "attn_q.weight",
            K => "attn_k.weight",
            V => "attn_v.weight",
            O => "attn_output.weight",
            QBias => "attn_q.bias",
            KBias => "attn_k.bias",
            VBias => "attn_v.bias",
            OBias => "attn_output.bias",
            QNorm => "attn_q_norm.weight",
            KNorm => "attn_k_norm.weight",
            MlpNorm => "ffn_norm.weight",
            Gate => "ffn_gate.weight",
            Up => "ffn_up.weight",
            Down => "ffn_down.weight",
        };
        format!("blk.{i}.{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_weights_map_to_hf_and_gguf_names() {
        let q = WeightName::Layer(3, LayerWeight::Q);
        assert_eq!(q.hf(), "model.layers.3.self_attn.q_proj.weight");
        assert_eq!(q.gguf(), "blk.3.attn_q.weight");
        let norm = WeightName::Layer(0, LayerWeight::MlpNorm);
        assert_eq!(norm.hf(), "model.layers.0.post_attention_layernorm.weight");
        assert_eq!(norm.gguf(), "blk.0.ffn_norm.weight");
        assert_eq!(WeightName::Embed.gguf(), "token_embd.weight");
        assert_eq!(WeightName::LmHead.hf(), "lm_head.weight");
    }
}
