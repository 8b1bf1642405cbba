//! RMSNorm (Zhang & Sennrich 2019, arXiv:1910.07467): `x / sqrt(mean(x^2) + eps) * w`
//! over the last dimension, computed in f32 as HF's `LlamaRMSNorm`.

use candle_core::{Result, Tensor};

/// RMSNorm with a learned scale.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// Scale `[dim]`, f32.
    weight: Tensor,
    /// Added to the mean square before the square root.
    eps: f32,
}

impl RmsNorm {
    /// A norm with scale `weight [dim]` and epsilon `eps`.
    pub fn new(weight: Tensor, eps: f64) -> Self {
        Self { weight, eps: eps as f32 }
    }

    /// Normalizes `x [..., dim]` over its last dimension; same shape out.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn rms_norm_matches_the_naive_formula() {
        let dev = Device::Cpu;
        let x = [1f32, -2., 3., 0.5];
        let w = [0.5f32, 1., 2., -1.];
        let norm = RmsNorm::new(Tensor::new(&w, &dev).unwrap(), 1e-5);
        let y = norm.forward(&Tensor::new(&[x], &dev).unwrap()).unwrap().to_vec2::<f32>().unwrap();
        let ms = x.iter().map(|v| v * v).sum::<f32>() / 4.0;
        for i in 0..4 {
            let want = x[i] / (ms + 1e-5).sqrt() * w[i];
            assert!((y[0][i] - want).abs() < 1e-5, "{} vs {want}", y[0][i]);
        }
    }
}
