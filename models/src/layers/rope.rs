//! Rotary position embedding in HF's half-rotation ("neox") layout: dimension `i` is
//! paired with `i + head_dim/2` (RoFormer, arXiv:2104.09864; HF `rotate_half`).

use candle_core::{Device, Result, Tensor};

/// RoPE frequencies; cos/sin are computed per forward for the positions present.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    /// Inverse frequencies `[head_dim / 2]`.
    inv_freq: Vec<f32>,
    /// Device the cos/sin tables are created on.
    device: Device,
}

impl RotaryEmbedding {
    /// RoPE with the given inverse frequencies (see [`crate::rope_scaling::inv_freq`]).
    pub fn new(inv_freq: Vec<f32>, device: &Device) -> Self {
        Self { inv_freq, device: device.clone() }
    }

    /// `(cos, sin)`, each `[num_tokens, head_dim / 2]` f32, for `positions`. The angle
    /// is `position * inv_freq` rounded to f32 first, as HF computes it.
    pub fn cos_sin(&self, positions: &[u32]) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = (p as f32 * f) as f64;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = (positions.len(), half);
        Ok((
            Tensor::from_vec(cos, shape, &self.device)?,
            Tensor::from_vec(sin, shape, &self.device)?,
        ))
    }

    /// Rotates `x [num_tokens, num_heads, head_dim]` by the per-token `cos`/`sin`
    /// (f32 tables, cast to x's dtype as HF does for bf16 models).
    pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?.unsqueeze(0)?;
        let (cos, sin) = (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?);
        candle_nn::rotary_emb::rope_thd(&x, &cos, &sin)?.squeeze(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive HF rotation: out[i] = x[i] cos - x[i+h] sin, out[i+h] = x[i+h] cos + x[i] sin.
    fn naive(x: &[f32], pos: u32, inv_freq: &[f32]) -> Vec<f32> {
        let h = inv_freq.len();
        let mut out = vec![0f32; 2 * h];
        for i in 0..h {
            let a = (pos as f32 * inv_freq[i]) as f64;
            let (c, s) = (a.cos() as f32, a.sin() as f32);
            out[i] = x[i] * c - x[i + h] * s;
            out[i + h] = x[i + h] * c + x[i] * s;
        }
        out
    }

    #[test]
    fn rope_matches_the_naive_half_rotation_per_token_and_head() {
        let dev = Device::Cpu;
        let inv_freq = crate::rope_scaling::inv_freq(8, 10_000.0, &crate::rope_scaling::RopeScaling::None).unwrap();
        let rope = RotaryEmbedding::new(inv_freq.clone(), &dev);
        let positions = [0u32, 5, 17];
        let x = Tensor::randn(0f32, 1.0, (3, 2, 8), &dev).unwrap();
        let (cos, sin) = rope.cos_sin(&positions).unwrap();
        let y = RotaryEmbedding::apply(&x, &cos, &sin).unwrap().to_vec3::<f32>().unwrap();
        let x = x.to_vec3::<f32>().unwrap();
        for t in 0..3 {
            for h in 0..2 {
                let want = naive(&x[t][h], positions[t], &inv_freq);
                for d in 0..8 {
                    assert!((y[t][h][d] - want[d]).abs() < 1e-5, "t{t} h{h} d{d}");
                }
            }
        }
    }
}
