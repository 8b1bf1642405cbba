//! Quantized matrix multiplication on the CPU for the GGML block formats llama.cpp's
//! small models ship in (`Q4_0`, `Q4_1`, `Q8_0`).
//!
//! candle's quantized CPU matmul runs `Q4_1` through a scalar dot product and splits
//! the work per activation row, so a prefill of `m` tokens streams the whole weight
//! from memory `m` times. [`QuantizedMatrix::matmul`] instead quantizes the activation
//! rows once (to `Q8_0`, or `Q8_1` for `Q4_1`, as llama.cpp does), splits the *weight
//! rows* across rayon's pool, and multiplies them with every activation row while they
//! are in cache:
//! - `Q4_1` and `Q8_0` matrices whose row count is a multiple of 8 (every projection of
//!   the Llama/Qwen shapes) are repacked at load time eight rows at a time, so one
//!   integer instruction advances eight rows' dot products (see [`repack`]);
//! - other matrices, and `Q4_0`, keep their row-major blocks and go through one-row
//!   block dot products, four activation rows at a time (see [`dot`]).
//!
//! Both use AVX2, or AVX-512 VNNI where the CPU has it (checked at run time).
//!
//! The weight keeps its GGUF blocks (scales widened from f16 to f32 at load time, so a
//! `Q4_1` block takes 24 bytes instead of 20); it is never expanded to f32.
//!
//! Batch invariance: an output element is computed by one fixed sequence of operations
//! on its weight row and its activation row (one SIMD lane of the repacked kernel, or
//! one block dot product summed in the same order by the four-row and the one-row
//! kernel), and each activation row is quantized on its own; so
//! [`QuantizedMatrix::forward`] gives a row the same bits for any number of rows. Only
//! [`QuantizedMatrix::forward_batch_dependent`] switches to an f32 GEMM for many rows
//! (unquantized activations, another summation order).

pub mod blocks;
pub mod dot;
pub mod repack;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::error::KernelError;
use blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use repack::{BlockQ4_1x8, BlockQ8_0x8, Interleaved};

/// From this many activation rows on, [`QuantizedMatrix::forward_batch_dependent`]
/// multiplies through a transient f32 copy of the weight with candle's GEMM.
pub const GEMM_MIN_ROWS: usize = 64;
/// ... but only for matrices up to this many weights (16 Mi: 64 MiB of f32), so the
/// tied LM head of a large vocabulary is never expanded.
pub const GEMM_MAX_WEIGHTS: usize = 16 << 20;

/// The block formats [`QuantizedMatrix`] handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantFormat {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl QuantFormat {
    /// Bytes of one block in a GGUF file.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::Q4_0 => BlockQ4_0::BYTES,
            Self::Q4_1 => BlockQ4_1::BYTES,
            Self::Q8_0 => BlockQ8_0::BYTES,
        }
    }
}

#[derive(Debug, Clone)]
enum Blocks {
    Q4_0(Vec<BlockQ4_0>),
    Q4_1(Vec<BlockQ4_1>),
    /// `Q4_1` with a row count divisible by 8, repacked (see [`repack`]).
    Q4_1x8(Vec<BlockQ4_1x8>),
    Q8_0(Vec<BlockQ8_0>),
    /// `Q8_0` with a row count divisible by 8, repacked.
    Q8_0x8(Vec<BlockQ8_0x8>),
}

/// A weight matrix `[rows, cols]` (`rows` = output features) kept in GGML blocks,
/// row-major, `cols / 32` blocks per row.
#[derive(Debug, Clone)]
pub struct QuantizedMatrix {
    rows: usize,
    cols: usize,
    blocks: Blocks,
}

impl QuantizedMatrix {
    /// Parses the raw GGUF data of a `[rows, cols]` tensor.
    ///
    /// Errors: `cols` not a multiple of 32, or `bytes` not exactly
    /// `rows * cols / 32 * format.block_bytes()` long.
    pub fn from_gguf_bytes(format: QuantFormat, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, KernelError> {
        let want = rows * cols.div_ceil(QK) * format.block_bytes();
        if !cols.is_multiple_of(QK) || bytes.len() != want {
            return Err(KernelError::Quantized(format!(
                "a {format:?} matrix of {rows}x{cols} needs cols % {QK} == 0 and {want} bytes, got {} bytes",
                bytes.len()
            )));
        }
        let chunks = bytes.chunks_exact(format.block_bytes());
        let blocks = match format {
            QuantFormat::Q4_0 => Blocks::Q4_0(chunks.map(BlockQ4_0::from_bytes).collect()),
            QuantFormat::Q4_1 => {
                let blocks: Vec<BlockQ4_1> = chunks.map(BlockQ4_1::from_bytes).collect();
                if rows.is_multiple_of(repack::ROWS) {
                    Blocks::Q4_1x8(repack::repack(&blocks, rows, cols / QK, BlockQ4_1x8::pack))
                } else {
                    Blocks::Q4_1(blocks)
                }
            }
            QuantFormat::Q8_0 => {
                let blocks: Vec<BlockQ8_0> = chunks.map(BlockQ8_0::from_bytes).collect();
                if rows.is_multiple_of(repack::ROWS) {
                    Blocks::Q8_0x8(repack::repack(&blocks, rows, cols / QK, BlockQ8_0x8::pack))
                } else {
                    Blocks::Q8_0(blocks)
                }
            }
        };
        Ok(Self { rows, cols, blocks })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The block format.
    pub fn format(&self) -> QuantFormat {
        match self.blocks {
            Blocks::Q4_0(_) => QuantFormat::Q4_0,
            Blocks::Q4_1(_) | Blocks::Q4_1x8(_) => QuantFormat::Q4_1,
            Blocks::Q8_0(_) | Blocks::Q8_0x8(_) => QuantFormat::Q8_0,
        }
    }

    /// Row `r` dequantized to f32 (for embedding lookups and tests).
    pub fn dequantize_row(&self, r: usize) -> Vec<f32> {
        let mut row = vec![0f32; self.cols];
        self.dequantize_row_into(r, &mut row);
        row
    }

    /// Row `r` dequantized into `out` (`out.len() == cols`).
    fn dequantize_row_into(&self, r: usize, out: &mut [f32]) {
        let kb = self.cols / QK;
        let range = r * kb..(r + 1) * kb;
        let chunks = out.chunks_exact_mut(QK);
        match &self.blocks {
            Blocks::Q4_0(b) => chunks.zip(&b[range]).for_each(|(o, b)| o.copy_from_slice(&b.dequantize())),
            Blocks::Q4_1(b) => chunks.zip(&b[range]).for_each(|(o, b)| o.copy_from_slice(&b.dequantize())),
            Blocks::Q4_1x8(b) => chunks
                .zip(repack::group_of(b, r, kb))
                .for_each(|(o, b)| o.copy_from_slice(&b.unpack(r % repack::ROWS).dequantize())),
            Blocks::Q8_0x8(b) => chunks
                .zip(repack::group_of(b, r, kb))
                .for_each(|(o, b)| o.copy_from_slice(&b.unpack(r % repack::ROWS).dequantize())),
            Blocks::Q8_0(b) => chunks.zip(&b[range]).for_each(|(o, b)| o.copy_from_slice(&b.dequantize())),
        }
    }

    /// `y = x W^T` for `x` row-major `[m, cols]`: returns `[m, rows]`, row-major.
    ///
    /// Panics if `x.len() != m * cols` (callers check shapes; see [`Self::forward`]).
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        assert_eq!(x.len(), m * self.cols, "activation length");
        let kb = self.cols / QK;
        let out_t = match &self.blocks {
            Blocks::Q4_0(w) => {
                let xq = quantize_activations(x, BlockQ8_0::quantize);
                rows_times_activations(w, &xq, m, kb, dot::dot_q4_0_q8_0, dot::dot4_q4_0_q8_0)
            }
            Blocks::Q4_1(w) => {
                let xq = quantize_activations(x, BlockQ8_1::quantize);
                rows_times_activations(w, &xq, m, kb, dot::dot_q4_1_q8_1, dot::dot4_q4_1_q8_1)
            }
            Blocks::Q4_1x8(w) => {
                let xq = quantize_activations(x, BlockQ8_1::quantize);
                return groups_times_activations(w, &xq, m, kb);
            }
            Blocks::Q8_0(w) => {
                let xq = quantize_activations(x, BlockQ8_0::quantize);
                rows_times_activations(w, &xq, m, kb, dot::dot_q8_0_q8_0, dot::dot4_q8_0_q8_0)
            }
            Blocks::Q8_0x8(w) => {
                let xq = quantize_activations(x, BlockQ8_0::quantize);
                return groups_times_activations(w, &xq, m, kb);
            }
        };
        transpose(&out_t, self.rows, m)
    }

    /// `x [.., cols]` (any float dtype, CPU) -> `[.., rows]` f32, through the block
    /// dot products for any number of rows: batch-invariant (see the module docs).
    ///
    /// Errors: the last dimension is not `cols`, or `x` is not on the CPU.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_rows(x, false)
    }

    /// [`Self::forward`], except that from [`GEMM_MIN_ROWS`] rows on (a prefill) a
    /// matrix of at most [`GEMM_MAX_WEIGHTS`] is expanded to f32 for the call and
    /// multiplied with candle's GEMM: faster for long prompts, but a row's result then
    /// depends on how many rows share the call.
    pub fn forward_batch_dependent(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_rows(x, true)
    }

    fn forward_rows(&self, x: &Tensor, allow_gemm: bool) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let Some((&cols, lead)) = dims.split_last() else {
            candle_core::bail!("quantized matmul: a scalar input");
        };
        if cols != self.cols {
            return Err(KernelError::Quantized(format!("input of {cols} features for a {}x{} matrix", self.rows, self.cols)).into());
        }
        if !matches!(x.device(), Device::Cpu) {
            candle_core::bail!("quantized matmul: only CPU tensors are supported");
        }
        let m: usize = lead.iter().product();
        let mut out_dims = lead.to_vec();
        out_dims.push(self.rows);
        if allow_gemm && m >= GEMM_MIN_ROWS && self.rows * self.cols <= GEMM_MAX_WEIGHTS {
            // Prefill-sized: expand this one matrix to f32 for the moment of the call
            // and use candle's blocked f32 GEMM, which beats per-block dot products
            // once the expansion is amortized over many rows.
            let w = Tensor::from_vec(self.dequantize(), (self.rows, self.cols), &Device::Cpu)?;
            let x2 = x.to_dtype(DType::F32)?.reshape((m, self.cols))?;
            return x2.matmul(&w.t()?)?.reshape(out_dims);
        }
        let xs = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Tensor::from_vec(self.matmul(&xs, m), out_dims, &Device::Cpu)
    }

    /// The whole matrix in f32, row-major `[rows, cols]` (rows in parallel).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        out.par_chunks_mut(self.cols).enumerate().for_each(|(r, row)| self.dequantize_row_into(r, row));
        out
    }
}

/// `out_t[r * m + j] = dot(w row r, x row j)`: weight rows split across threads, each
/// weight row multiplied with all `m` activation rows while it is hot in cache, four
/// activation rows at a time (`dot4`).
fn rows_times_activations<W: Sync, A: Sync>(
    w: &[W],
    x: &[A],
    m: usize,
    kb: usize,
    dot: fn(&[W], &[A]) -> f32,
    dot4: fn(&[W], [&[A]; 4]) -> [f32; 4],
) -> Vec<f32> {
    let rows = w.len() / kb.max(1);
    let mut out_t = vec![0f32; rows * m];
    if rows == 0 || m == 0 {
        return out_t;
    }
    let xrow = |j: usize| &x[j * kb..(j + 1) * kb];
    let one_row = |r: usize, out: &mut [f32]| {
        let wr = &w[r * kb..(r + 1) * kb];
        let mut quads = out.chunks_exact_mut(4);
        for (q, o) in (&mut quads).enumerate() {
            o.copy_from_slice(&dot4(wr, std::array::from_fn(|i| xrow(q * 4 + i))));
        }
        let done = m - quads.into_remainder().len();
        for j in done..m {
            out[j] = dot(wr, xrow(j));
        }
    };
    // About four chunks per thread balance the load; tiny products stay on one thread.
    let work = rows * m * kb;
    if work < 4096 {
        out_t.chunks_mut(m).enumerate().for_each(|(r, out)| one_row(r, out));
        return out_t;
    }
    let chunk_rows = rows.div_ceil(rayon::current_num_threads() * 4).max(4);
    out_t.par_chunks_mut(chunk_rows * m).enumerate().for_each(|(c, out)| {
        for (i, row_out) in out.chunks_mut(m).enumerate() {
            one_row(c * chunk_rows + i, row_out);
        }
    });
    out_t
}

/// `y[j * rows + r] = dot(w row r, x row j)` for a repacked matrix: groups of 8 weight
/// rows split across threads, each group multiplied with all `m` activation rows while
/// it is in cache (see [`repack`]).
fn groups_times_activations<W: Interleaved + Sync>(w: &[W], x: &[W::Act], m: usize, kb: usize) -> Vec<f32>
where
    W::Act: Sync,
{
    let groups = w.len() / kb.max(1);
    let rows = groups * repack::ROWS;
    let mut y = vec![0f32; m * rows];
    if groups == 0 || m == 0 {
        return y;
    }
    let xs: Vec<&[W::Act]> = x.chunks_exact(kb).collect();
    // out_g[g][j] holds the group's 8 outputs for activation row j.
    let mut out_g = vec![[0f32; repack::ROWS]; groups * m];
    let one_group = |g: usize, out: &mut [[f32; repack::ROWS]]| repack::group_times_rows(repack::group_of(w, g * repack::ROWS, kb), &xs, out);
    if groups * m * kb < 512 {
        out_g.chunks_mut(m).enumerate().for_each(|(g, out)| one_group(g, out));
    } else {
        // About four chunks per thread balance the load.
        let chunk = groups.div_ceil(rayon::current_num_threads() * 4);
        out_g.par_chunks_mut(chunk * m).enumerate().for_each(|(c, out)| {
            for (i, out) in out.chunks_mut(m).enumerate() {
                one_group(c * chunk + i, out);
            }
        });
    }
    for (g, out) in out_g.chunks(m).enumerate() {
        for (j, lanes) in out.iter().enumerate() {
            y[j * rows + g * repack::ROWS..][..repack::ROWS].copy_from_slice(lanes);
        }
    }
    y
}

/// The activation rows in 8-bit blocks; in parallel for a prefill-sized input (the
/// result does not depend on how the blocks were split: each is quantized on its own).
fn quantize_activations<B: Send>(x: &[f32], quantize: fn(&[f32]) -> B) -> Vec<B> {
    if x.len() < 1 << 16 {
        x.chunks_exact(QK).map(quantize).collect()
    } else {
        x.par_chunks_exact(QK).map(quantize).collect()
    }
}

/// `[rows, m]` -> `[m, rows]`.
fn transpose(a: &[f32], rows: usize, m: usize) -> Vec<f32> {
    if m == 1 {
        return a.to_vec();
    }
    let mut t = vec![0f32; a.len()];
    for r in 0..rows {
        for j in 0..m {
            t[j * rows + r] = a[r * m + j];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Q4_1` matrix made by quantizing `w` per block (min/max, as ggml does).
    fn q4_1_bytes(w: &[f32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for block in w.chunks(QK) {
            let (lo, hi) = block.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let d = (hi - lo) / 15.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let q: Vec<u8> = block.iter().map(|&v| (((v - lo) * inv).round() as u8).min(15)).collect();
            bytes.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
            bytes.extend_from_slice(&half::f16::from_f32(lo).to_le_bytes());
            bytes.extend((0..QK / 2).map(|j| q[j] | (q[j + QK / 2] << 4)));
        }
        bytes
    }

    #[test]
    fn matmul_equals_the_naive_product_of_dequantized_rows_for_every_shape() {
        // 37 rows keep the row-major blocks, 40 are repacked in groups of 8.
        for rows in [37, 40] {
            matmul_matches_naive(rows, 96);
        }
    }

    fn matmul_matches_naive(rows: usize, cols: usize) {
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i as f32) * 0.131).sin()).collect();
        let q = QuantizedMatrix::from_gguf_bytes(QuantFormat::Q4_1, rows, cols, &q4_1_bytes(&w)).unwrap();
        for m in [1, 2, 5, 64] {
            let x: Vec<f32> = (0..m * cols).map(|i| ((i as f32) * 0.07).cos()).collect();
            let y = q.matmul(&x, m);
            for j in 0..m {
                // Reference: the dequantized weight against the Q8_1-rounded activations.
                let xr: Vec<f32> =
                    x[j * cols..(j + 1) * cols].chunks(QK).flat_map(|c| BlockQ8_1::quantize(c).qs.map(|v| v as f32 * BlockQ8_1::quantize(c).d)).collect();
                for r in 0..rows {
                    let want: f64 = q.dequantize_row(r).iter().zip(&xr).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let got = y[j * rows + r] as f64;
                    assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "m {m} row {j} col {r}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn the_gemm_path_for_many_rows_agrees_with_the_block_dot_path() {
        let (rows, cols, m) = (40, 64, GEMM_MIN_ROWS + 3);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i as f32) * 0.071).cos()).collect();
        let q = QuantizedMatrix::from_gguf_bytes(QuantFormat::Q4_1, rows, cols, &q4_1_bytes(&w)).unwrap();
        let x: Vec<f32> = (0..m * cols).map(|i| ((i as f32) * 0.013).sin()).collect();
        let xt = Tensor::from_vec(x.clone(), (m, cols), &Device::Cpu).unwrap();
        let gemm = q.forward_batch_dependent(&xt).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let dots = q.matmul(&x, m);
        // The block path rounds activations to 8 bits (error at most half a step,
        // max|x| / 254 per block); the GEMM path keeps them in f32.
        for (i, (a, b)) in gemm.iter().zip(&dots).enumerate() {
            let (j, r) = (i / rows, i % rows);
            let xr = &x[j * cols..(j + 1) * cols];
            let bound: f32 = q
                .dequantize_row(r)
                .chunks(QK)
                .zip(xr.chunks(QK))
                .map(|(w, xb)| w.iter().map(|v| v.abs()).sum::<f32>() * xb.iter().fold(0f32, |m, v| m.max(v.abs())) / 254.0)
                .sum();
            assert!((a - b).abs() <= bound * 1.01 + 1e-5, "element {i}: gemm {a} vs dots {b} (bound {bound})");
        }
        let exact: Vec<f32> = (0..m)
            .flat_map(|j| (0..rows).map(move |r| (j, r)))
            .map(|(j, r)| q.dequantize_row(r).iter().zip(&x[j * cols..(j + 1) * cols]).map(|(a, b)| a * b).sum())
            .collect();
        for (a, b) in gemm.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0));
        }
    }

    /// A Q4_1 matrix of `rows x cols` and activations of `m` rows, row `j` the same
    /// for every `m` (so the same row can be compared across calls).
    fn q4_1_case(rows: usize, cols: usize, format: QuantFormat) -> QuantizedMatrix {
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i as f32) * 0.173).sin() * 0.5).collect();
        match format {
            QuantFormat::Q4_1 => QuantizedMatrix::from_gguf_bytes(format, rows, cols, &q4_1_bytes(&w)).unwrap(),
            _ => {
                let bytes: Vec<u8> = w.chunks(QK).flat_map(q8_0_bytes).collect();
                QuantizedMatrix::from_gguf_bytes(format, rows, cols, &bytes).unwrap()
            }
        }
    }

    /// One `Q8_0` block's GGUF bytes (f16 scale, 32 signed bytes).
    fn q8_0_bytes(block: &[f32]) -> Vec<u8> {
        let b = BlockQ8_0::quantize(block);
        let mut bytes = half::f16::from_f32(b.d).to_le_bytes().to_vec();
        bytes.extend(b.qs.iter().map(|&q| q as u8));
        bytes
    }

    fn activation_rows(m: usize, cols: usize) -> Vec<f32> {
        (0..m * cols).map(|i| ((i / cols) as f32 * 0.7 + (i % cols) as f32 * 0.031).cos()).collect()
    }

    #[test]
    fn forward_gives_each_row_the_same_bits_among_1_3_8_64_or_200_rows() {
        let (rows, cols) = (72, 128);
        for format in [QuantFormat::Q4_1, QuantFormat::Q8_0] {
            let q = q4_1_case(rows, cols, format);
            let run = |m: usize| {
                let x = Tensor::from_vec(activation_rows(m, cols), (m, cols), &Device::Cpu).unwrap();
                q.forward(&x).unwrap().to_vec2::<f32>().unwrap()
            };
            let all = run(200);
            for m in [1, 3, 8, 64, 200] {
                let got = run(m);
                for (j, row) in got.iter().enumerate() {
                    let same = row.iter().zip(&all[j]).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{format:?}: row {j} of {m} differs from row {j} of 200");
                }
            }
        }
    }

    #[test]
    fn a_wrong_byte_length_or_column_count_is_an_error() {
        assert!(QuantizedMatrix::from_gguf_bytes(QuantFormat::Q8_0, 2, 64, &[0u8; 10]).is_err());
        assert!(QuantizedMatrix::from_gguf_bytes(QuantFormat::Q4_0, 1, 40, &[0u8; 36]).is_err());
    }
}
