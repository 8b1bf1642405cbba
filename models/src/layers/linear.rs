//! Linear layers `y = x W^T + b`, with W dense f32 or quantized (GGUF blocks).

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Result, Tensor};
use ponder_kernels::{QuantFormat, QuantizedMatrix};

/// The weight of a linear layer, `[out_features, in_features]`.
#[derive(Debug, Clone)]
enum LinearWeight {
    /// Dense f32 matrix.
    Dense(Tensor),
    /// Quantized blocks, multiplied without dequantizing the matrix
    /// (candle's quantized matmul: the input row is quantized to the format's
    /// dot-product type, e.g. Q8_1 for Q4_1, then integer block dot products).
    Quantized(QMatMul),
    /// `Q4_0`/`Q4_1`/`Q8_0` blocks on the CPU: ponder's own kernel (AVX2 dot
    /// products, weight rows split across threads; see `ponder_kernels::quantized`).
    Blocks(Arc<QuantizedMatrix>),
}

/// A linear layer over the last dimension.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: LinearWeight,
    /// Optional bias `[out_features]`, f32.
    bias: Option<Tensor>,
    /// Rows of the weight.
    out_features: usize,
}

impl Linear {
    /// A dense layer from an f32 weight `[out_features, in_features]`.
    pub fn dense(weight: Tensor) -> Self {
        let out_features = weight.dims().first().copied().unwrap_or(0);
        Self { weight: LinearWeight::Dense(weight), bias: None, out_features }
    }

    /// A layer over a quantized weight `[out_features, in_features]` (F32/F16 GGUF
    /// tensors are dequantized by candle, the block formats stay quantized).
    ///
    /// On the CPU, `Q4_0`, `Q4_1` and `Q8_0` weights use ponder's kernel
    /// ([`QuantizedMatrix`]); other formats and devices use candle's [`QMatMul`].
    pub fn quantized(weight: Arc<QTensor>) -> Result<Self> {
        let (out_features, in_features) = weight.shape().dims2()?;
        let format = match weight.dtype() {
            GgmlDType::Q4_0 => Some(QuantFormat::Q4_0),
            GgmlDType::Q4_1 => Some(QuantFormat::Q4_1),
            GgmlDType::Q8_0 => Some(QuantFormat::Q8_0),
            _ => None,
        };
        let weight = match format {
            Some(format) if weight.device().is_cpu() => {
                let m = QuantizedMatrix::from_gguf_bytes(format, out_features, in_features, &weight.data()?)?;
                LinearWeight::Blocks(Arc::new(m))
            }
            _ => LinearWeight::Quantized(QMatMul::from_arc(weight)?),
        };
        Ok(Self { weight, bias: None, out_features })
    }

    /// Adds a bias `[out_features]`. Errors when its length differs.
    pub fn with_bias(mut self, bias: Tensor) -> Result<Self> {
        if bias.dims1()? != self.out_features {
            candle_core::bail!("bias of {} for a linear layer of {} outputs", bias.dims1()?, self.out_features);
        }
        self.bias = Some(bias);
        Ok(self)
    }

    /// Number of outputs.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The GGML block format the weight is kept in, or `None` when it is a dense matrix
    /// (safetensors weights, and GGUF F32/F16/BF16 tensors, which candle expands to f32).
    pub fn quantized_dtype(&self) -> Option<GgmlDType> {
        match &self.weight {
            LinearWeight::Quantized(QMatMul::QTensor(q)) => Some(q.dtype()),
            LinearWeight::Blocks(m) => Some(match m.format() {
                QuantFormat::Q4_0 => GgmlDType::Q4_0,
                QuantFormat::Q4_1 => GgmlDType::Q4_1,
                QuantFormat::Q8_0 => GgmlDType::Q8_0,
            }),
            _ => None,
        }
    }

    /// `x [num_tokens, in_features]` -> `[num_tokens, out_features]`, in the weight's
    /// dtype for dense weights (f32 on the CPU, bf16 on a GPU), f32 for quantized ones.
    ///
    /// With `batch_invariant`, a row's output has the same bits for any number of rows
    /// on the CPU: dense weights (and GGUF F32/F16 tensors, which candle keeps dense)
    /// go through [`ponder_kernels::matmul_t`] instead of candle's GEMM, `Q4_0`/`Q4_1`/
    /// `Q8_0` blocks never switch to the f32 GEMM, and candle's other quantized formats
    /// are one dot product per element already. Other devices use candle's kernels.
    pub fn forward(&self, x: &Tensor, batch_invariant: bool) -> Result<Tensor> {
        let cpu = x.device().is_cpu();
        let y = match &self.weight {
            LinearWeight::Dense(w) | LinearWeight::Quantized(QMatMul::Tensor(w)) if batch_invariant && cpu && w.dtype() == DType::F32 => {
                ponder_kernels::matmul_t(x, w)?
            }
            LinearWeight::Dense(w) => x.matmul(&w.t()?)?,
            LinearWeight::Quantized(q) => q.forward(&x.contiguous()?)?,
            LinearWeight::Blocks(m) if batch_invariant => m.forward(x)?,
            LinearWeight::Blocks(m) => m.forward_batch_dependent(x)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    #[test]
    fn dense_linear_with_bias_matches_a_naive_matrix_product() {
        let dev = Device::Cpu;
        let w = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &dev).unwrap();
        let b = Tensor::new(&[0.5f32, -1.0], &dev).unwrap();
        let x = Tensor::new(&[[1f32, 0., -1.], [2., 1., 0.]], &dev).unwrap();
        let want = [[1. - 3. + 0.5, 4. - 6. - 1.], [2. + 2. + 0.5, 8. + 5. - 1.]];
        let linear = Linear::dense(w).with_bias(b).unwrap();
        for batch_invariant in [true, false] {
            let y = linear.forward(&x, batch_invariant).unwrap();
            assert_eq!(y.to_vec2::<f32>().unwrap(), want.map(|r| r.to_vec()).to_vec());
            assert_eq!(y.dim(D::Minus1).unwrap(), 2);
        }
    }

    #[test]
    fn a_bias_of_the_wrong_length_is_an_error() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap();
        assert!(Linear::dense(w).with_bias(b).is_err());
    }
}
