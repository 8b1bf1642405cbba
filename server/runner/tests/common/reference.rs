//! An independent float64 reference of the golden checkpoints (Llama, Qwen2, Qwen3):
//! a naive full-sequence forward pass written from the HF modeling code (RMSNorm,
//! rotate-half RoPE, causal GQA attention, SiLU-gated MLP; Qwen2's q/k/v biases,
//! Qwen3's per-head q/k norms and tied embeddings), with no KV cache, no batching and
//! every product in f64. Teacher-forcing a token sequence through it gives the
//! reference log-softmax at every position.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};

/// A row-major f64 matrix `[rows, cols]`.
struct Mat {
    data: Vec<f64>,
    cols: usize,
}

impl Mat {
    fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// `self · x` for a weight stored `[out, in]` (HF's Linear layout).
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        (0..self.data.len() / self.cols).map(|r| dot(self.row(r), x)).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The golden model in f64.
pub struct Reference {
    w: HashMap<String, Mat>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    layers: usize,
    eps: f64,
    theta: f64,
    tied: bool,
}

impl Reference {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    pub fn load(dir: &Path) -> Self {
        let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
        let w = tensors
            .into_iter()
            .map(|(name, t)| {
                let cols = *t.dims().last().unwrap();
                let data = t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
                (name, Mat { data, cols })
            })
            .collect();
        let get = |k: &str| cfg[k].as_f64().unwrap_or_else(|| panic!("config.json: {k}"));
        let heads = get("num_attention_heads") as usize;
        let hidden = get("hidden_size") as usize;
        Self {
            w,
            heads,
            kv_heads: get("num_key_value_heads") as usize,
            head_dim: cfg["head_dim"].as_u64().map_or(hidden / heads, |d| d as usize),
            layers: get("num_hidden_layers") as usize,
            eps: get("rms_norm_eps"),
            theta: get("rope_theta"),
            tied: cfg["tie_word_embeddings"].as_bool().unwrap_or(false),
        }
    }

    fn m(&self, name: &str) -> &Mat {
        self.w.get(name).unwrap_or_else(|| panic!("missing tensor {name}"))
    }

    /// The log-softmax of the logits at every position of `tokens`: row `p` is the
    /// distribution of the token after `tokens[..=p]`.
    pub fn log_softmax(&self, tokens: &[u32]) -> Vec<Vec<f64>> {
        self.logits(tokens).iter().map(|row| log_softmax(row)).collect()
    }

    /// The logits at every position of `tokens` (`[tokens.len()][vocab]`).
    pub fn logits(&self, tokens: &[u32]) -> Vec<Vec<f64>> {
        let mut xs: Vec<Vec<f64>> = tokens.iter().map(|&t| self.m("model.embed_tokens.weight").row(t as usize).to_vec()).collect();
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            let normed: Vec<Vec<f64>> = xs.iter().map(|x| self.rms_norm(x, &format!("{p}.input_layernorm.weight"))).collect();
            let attn = self.attention(&p, &normed);
            xs.iter_mut().zip(attn).for_each(|(x, a)| x.iter_mut().zip(a).for_each(|(x, a)| *x += a));
            for x in xs.iter_mut() {
                let h = self.rms_norm(x, &format!("{p}.post_attention_layernorm.weight"));
                let gate = self.m(&format!("{p}.mlp.gate_proj.weight")).apply(&h);
                let up = self.m(&format!("{p}.mlp.up_proj.weight")).apply(&h);
                let act: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
                let down = self.m(&format!("{p}.mlp.down_proj.weight")).apply(&act);
                x.iter_mut().zip(down).for_each(|(x, d)| *x += d);
            }
        }
        let head = if self.tied { "model.embed_tokens.weight" } else { "lm_head.weight" };
        xs.iter().map(|x| self.m(head).apply(&self.rms_norm(x, "model.norm.weight"))).collect()
    }

    fn rms_norm(&self, x: &[f64], weight: &str) -> Vec<f64> {
        let w = &self.m(weight).data;
        let inv = 1.0 / (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + self.eps).sqrt();
        x.iter().zip(w).map(|(v, w)| v * inv * w).collect()
    }

    /// Projection `name` of every row, plus its bias when the checkpoint has one.
    fn project(&self, name: &str, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let bias = self.w.get(&format!("{name}.bias"));
        xs.iter()
            .map(|x| {
                let mut y = self.m(&format!("{name}.weight")).apply(x);
                if let Some(b) = bias {
                    y.iter_mut().zip(&b.data).for_each(|(y, b)| *y += b);
                }
                y
            })
            .collect()
    }

    /// Per-head q/k norm (Qwen3) and RoPE of head `h` of `v` at position `pos`.
    fn head(&self, v: &[f64], h: usize, pos: usize, norm: Option<&str>) -> Vec<f64> {
        let d = self.head_dim;
        let mut x = v[h * d..(h + 1) * d].to_vec();
        if let Some(name) = norm.filter(|n| self.w.contains_key(*n)) {
            x = self.rms_norm(&x, name);
        }
        let half = d / 2;
        let mut out = x.clone();
        for i in 0..half {
            let angle = pos as f64 * self.theta.powf(-2.0 * i as f64 / d as f64);
            let (sin, cos) = angle.sin_cos();
            out[i] = x[i] * cos - x[i + half] * sin;
            out[i + half] = x[i + half] * cos + x[i] * sin;
        }
        out
    }

    /// Causal self-attention of layer prefix `p` over all rows.
    fn attention(&self, p: &str, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let (q, k, v) = (self.project(&format!("{p}.self_attn.q_proj"), xs), self.project(&format!("{p}.self_attn.k_proj"), xs), self.project(&format!("{p}.self_attn.v_proj"), xs));
        let d = self.head_dim;
        let group = self.heads / self.kv_heads;
        let (qn, kn) = (format!("{p}.self_attn.q_norm.weight"), format!("{p}.self_attn.k_norm.weight"));
        let keys: Vec<Vec<Vec<f64>>> = (0..xs.len()).map(|t| (0..self.kv_heads).map(|h| self.head(&k[t], h, t, Some(&kn))).collect()).collect();
        (0..xs.len())
            .map(|t| {
                let mut out = vec![0.0; self.heads * d];
                for h in 0..self.heads {
                    let qh = self.head(&q[t], h, t, Some(&qn));
                    let kvh = h / group;
                    let scores: Vec<f64> = (0..=t).map(|s| dot(&qh, &keys[s][kvh]) / (d as f64).sqrt()).collect();
                    let probs: Vec<f64> = log_softmax(&scores).into_iter().map(f64::exp).collect();
                    for (s, pr) in probs.iter().enumerate() {
                        let vs = &v[s][kvh * d..(kvh + 1) * d];
                        out[h * d..(h + 1) * d].iter_mut().zip(vs).for_each(|(o, v)| *o += pr * v);
                    }
                }
                self.m(&format!("{p}.self_attn.o_proj.weight")).apply(&out)
            })
            .collect()
    }
}

/// Numerically stable f64 log-softmax.
pub fn log_softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.iter().map(|v| v - lse).collect()
}

/// The naive processing of one row (f64 logits): repetition penalty over `history`,
/// temperature, then the smallest most-likely set with mass >= top_p (ties: lower id);
/// returns the log-softmax over that set, `-inf` elsewhere.
pub fn naive_processed(logits: &[f64], history: &[u32], penalty: f64, temperature: f64, top_p: f64) -> Vec<f64> {
    let mut l = logits.to_vec();
    let mut seen = history.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for &t in &seen {
        let x = &mut l[t as usize];
        *x = if *x > 0.0 { *x / penalty } else { *x * penalty };
    }
    l.iter_mut().for_each(|x| *x /= temperature);
    let probs: Vec<f64> = log_softmax(&l).into_iter().map(f64::exp).collect();
    let mut order: Vec<usize> = (0..l.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut keep = vec![false; l.len()];
    let mut mass = 0.0;
    for &i in &order {
        keep[i] = true;
        mass += probs[i];
        if mass >= top_p {
            break;
        }
    }
    let kept: Vec<f64> = (0..l.len()).map(|i| if keep[i] { l[i] } else { f64::NEG_INFINITY }).collect();
    log_softmax(&kept)
}
