//! A batch-invariant f32 matrix product `y = x W^T` for dense (safetensors) linear
//! layers on the CPU.
//!
//! candle's CPU matmul (the `gemm` crate) picks its algorithm and blocking from the
//! shape: a matrix-vector kernel for one row, a horizontal kernel for small products,
//! and `k` blocks whose size depends on `m` and `n`. A row's result then changes in the
//! last bits with the number of rows in the call. Here every output element is one dot
//! product of its activation row and weight row with the same summation order for any
//! `m`: 16 partial sums over `k` (one fused multiply-add each), the tail in order, the
//! partial sums added in a fixed tree (Thinking Machines, "Defeating Nondeterminism in
//! LLM Inference", 2025: batch-invariant matmul). Speed comes from blocking that does
//! not touch the order: weight rows are split across rayon's pool, and each weight
//! row meets four activation rows at a time (one load of the weight per four rows).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::KernelError;
use crate::simd::{hsum, LANES};

/// `x [.., k]` (any float dtype, CPU) times `w [n, k]` (f32, CPU) transposed:
/// `[.., n]` f32, `y[j][o] = Σ_i x[j][i] w[o][i]`, each element with the same bits
/// whatever the number of rows of `x`.
///
/// # Errors
/// `w` not 2-D or not f32, the last dimension of `x` not `k`, or a tensor not on the
/// CPU (candle's "no cuda implementation" error).
pub fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k) = w.dims2()?;
    let dims = x.dims();
    let Some((&cols, lead)) = dims.split_last() else {
        candle_core::bail!("matmul_t: a scalar input");
    };
    if cols != k || w.dtype() != DType::F32 {
        let msg = format!("matmul_t: input of {cols} features for a {:?} {n}x{k} weight (f32 expected)", w.dtype());
        return Err(KernelError::Shape { kernel: "matmul_t", tensor: "x", actual: dims.to_vec(), expected: msg }.into());
    }
    let m: usize = lead.iter().product();
    let mut out_dims = lead.to_vec();
    out_dims.push(n);
    let x = x.to_dtype(DType::F32)?.reshape((m, k))?.contiguous()?;
    x.apply_op2_no_bwd(&w.contiguous()?, &MatmulT)?.reshape(out_dims)
}

struct MatmulT;

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "matmul_t"
    }

    fn cpu_fwd(&self, x: &CpuStorage, x_l: &Layout, w: &CpuStorage, w_l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if !x_l.is_contiguous() || !w_l.is_contiguous() {
            return Err(KernelError::NotContiguous { kernel: "matmul_t", tensor: "x or w" }.into());
        }
        let (m, k) = x_l.shape().dims2()?;
        let (n, _) = w_l.shape().dims2()?;
        let x = &x.as_slice::<f32>()?[x_l.start_offset()..x_l.start_offset() + m * k];
        let w = &w.as_slice::<f32>()?[w_l.start_offset()..w_l.start_offset() + n * k];
        Ok((CpuStorage::F32(matmul_rows(x, m, w, n, k)), Shape::from((m, n))))
    }
}

/// `x [m, k]` times `w [n, k]` transposed, row-major `[m, n]`.
pub(crate) fn matmul_rows(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
    let mut out_t = vec![0f32; n * m];
    if n == 0 || m == 0 {
        return vec![0f32; m * n];
    }
    let xrow = |j: usize| &x[j * k..(j + 1) * k];
    let one_row = |o: usize, out: &mut [f32]| {
        let wr = &w[o * k..(o + 1) * k];
        let mut quads = out.chunks_exact_mut(4);
        for (q, out) in (&mut quads).enumerate() {
            out.copy_from_slice(&dot_rows(wr, std::array::from_fn::<_, 4, _>(|i| xrow(q * 4 + i))));
        }
        let done = m - quads.into_remainder().len();
        for (j, out) in out.iter_mut().enumerate().skip(done) {
            *out = dot_rows(wr, [xrow(j)])[0];
        }
    };
    if n * m * k < 1 << 15 {
        out_t.chunks_mut(m).enumerate().for_each(|(o, out)| one_row(o, out));
    } else {
        let chunk_rows = n.div_ceil(rayon::current_num_threads() * 4).max(4);
        out_t.par_chunks_mut(chunk_rows * m).enumerate().for_each(|(c, out)| {
            for (i, row_out) in out.chunks_mut(m).enumerate() {
                one_row(c * chunk_rows + i, row_out);
            }
        });
    }
    if m == 1 {
        return out_t;
    }
    let mut out = vec![0f32; m * n];
    for o in 0..n {
        for j in 0..m {
            out[j * n + o] = out_t[o * m + j];
        }
    }
    out
}

/// `R` dot products of the weight row `w` with the rows `x[r]`; every row's sum is
/// computed by the same operations in the same order whatever `R` is.
#[inline(always)]
fn dot_rows<const R: usize>(w: &[f32], x: [&[f32]; R]) -> [f32; R] {
    let mut acc = [[0f32; LANES]; R];
    let body = w.len() / LANES * LANES;
    for (c, wc) in w[..body].chunks_exact(LANES).enumerate() {
        for (acc, x) in acc.iter_mut().zip(&x) {
            let xc = &x[c * LANES..(c + 1) * LANES];
            for i in 0..LANES {
                acc[i] = xc[i].mul_add(wc[i], acc[i]);
            }
        }
    }
    std::array::from_fn(|r| {
        let tail = w[body..].iter().zip(&x[r][body..]).fold(0f32, |s, (a, b)| b.mul_add(*a, s));
        tail + hsum(acc[r])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.37).sin() + ((i as f32) * 0.013).cos() * 0.5).collect()
    }

    #[test]
    fn matmul_t_matches_an_f64_product_for_every_row_count_and_a_ragged_k() {
        for (n, k) in [(37, 70), (300, 256)] {
            let w = values(n * k, 1.0);
            let wt = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).unwrap();
            for m in [1, 3, 5, 64] {
                let x = values(m * k, 2.0);
                let y = matmul_t(&Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap(), &wt).unwrap();
                let y = y.to_vec2::<f32>().unwrap();
                for j in 0..m {
                    for o in 0..n {
                        let want: f64 = (0..k).map(|i| x[j * k + i] as f64 * w[o * k + i] as f64).sum();
                        assert!((y[j][o] as f64 - want).abs() < 1e-4 * want.abs().max(1.0), "m {m} [{j}][{o}]");
                    }
                }
            }
        }
    }

    #[test]
    fn each_row_has_the_same_bits_among_1_3_8_64_or_200_rows() {
        let (n, k) = (96, 200);
        let wt = Tensor::from_vec(values(n * k, 3.0), (n, k), &Device::Cpu).unwrap();
        let all_x = values(200 * k, 4.0);
        let run = |m: usize| {
            let x = Tensor::from_vec(all_x[..m * k].to_vec(), (m, k), &Device::Cpu).unwrap();
            matmul_t(&x, &wt).unwrap().to_vec2::<f32>().unwrap()
        };
        let all = run(200);
        for m in [1, 3, 8, 64, 200] {
            for (j, row) in run(m).iter().enumerate() {
                assert!(row.iter().zip(&all[j]).all(|(a, b)| a.to_bits() == b.to_bits()), "row {j} among {m}");
            }
        }
    }

    #[test]
    fn a_weight_of_another_width_is_an_error() {
        let w = Tensor::zeros((4, 8), DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::zeros((2, 7), DType::F32, &Device::Cpu).unwrap();
        assert!(matmul_t(&x, &w).is_err());
    }
}
