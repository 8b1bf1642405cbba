//! SwiGLU feed-forward (Shazeer 2020, "GLU Variants Improve Transformer",
//! arXiv:2002.05202): `down(silu(gate(x)) * up(x))`.

use candle_core::{Result, Tensor};

use super::Linear;

/// The MLP of a Llama/Qwen decoder layer.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// `[intermediate, hidden]`.
    gate: Linear,
    /// `[intermediate, hidden]`.
    up: Linear,
    /// `[hidden, intermediate]`.
    down: Linear,
}

impl Mlp {
    /// An MLP from its three projections.
    pub fn new(gate: Linear, up: Linear, down: Linear) -> Self {
        Self { gate, up, down }
    }

    /// `x [num_tokens, hidden]` -> `[num_tokens, hidden]` (`batch_invariant`: see
    /// [`Linear::forward`]; the rest is element-wise).
    pub fn forward(&self, x: &Tensor, batch_invariant: bool) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x, batch_invariant)?)?;
        let up = self.up.forward(x, batch_invariant)?;
        self.down.forward(&(gate * up)?, batch_invariant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn swiglu_matches_the_naive_formula() {
        let dev = Device::Cpu;
        let lin = |rows: [[f32; 2]; 2]| Linear::dense(Tensor::new(&rows, &dev).unwrap());
        let mlp = Mlp::new(lin([[1., 0.], [0., 1.]]), lin([[2., 0.], [0., -1.]]), lin([[1., 1.], [1., -1.]]));
        let x = [0.5f32, -1.5];
        let y = mlp.forward(&Tensor::new(&[x], &dev).unwrap(), true).unwrap().to_vec2::<f32>().unwrap();
        let silu = |v: f32| v / (1.0 + (-v).exp());
        let h = [silu(x[0]) * 2.0 * x[0], silu(x[1]) * -x[1]];
        let want = [h[0] + h[1], h[0] - h[1]];
        for i in 0..2 {
            assert!((y[0][i] - want[i]).abs() < 1e-5);
        }
    }
}
