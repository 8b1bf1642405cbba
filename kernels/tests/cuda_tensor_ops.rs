//! On a CUDA device: the portable path (what `paged_attention` and `write_kv_cache` run
//! off the CPU) against the CPU kernels on the same inputs. Built with `--features
//! cuda`; without a device (`Device::new_cuda(0)` fails) each test says so and passes,
//! so CI compiles it on machines with no GPU and `scripts/device-check` can run it.
#![cfg(feature = "cuda")]

mod common;

use candle_core::{DType, Device, Tensor};
use common::{fixture, seq, Heads, Seq};
use ponder_kernels::{paged_attention, write_kv_cache};

fn cuda() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({})", e.to_string().lines().next().unwrap_or_default());
            None
        }
    }
}

const STEP: [Seq; 6] = [seq(37, 37), seq(48, 16), seq(17, 1), seq(1, 1), seq(300, 1), seq(1030, 2)];

#[test]
fn attention_on_the_gpu_matches_the_cpu_kernel() {
    let Some(gpu) = cuda() else { return };
    for (i, h) in [(4, 4, 64), (4, 2, 128), (7, 1, 64), (28, 4, 128)].into_iter().enumerate() {
        let heads = Heads { num_heads: h.0, num_kv_heads: h.1, head_dim: h.2 };
        for dtype in [DType::F32, DType::BF16] {
            let fx = fixture(heads, 16, &STEP, dtype, 70 + i as u64);
            let scale = 1.0 / (heads.head_dim as f32).sqrt();
            let want = paged_attention(&fx.q, &fx.k_cache, &fx.v_cache, &fx.meta, scale).unwrap();
            let on = |t: &Tensor| t.to_device(&gpu).unwrap();
            let got = paged_attention(&on(&fx.q), &on(&fx.k_cache), &on(&fx.v_cache), &fx.meta, scale).unwrap();
            let diff = (got.to_device(&Device::Cpu).unwrap().to_dtype(DType::F32).unwrap() - want).unwrap().abs().unwrap();
            let max = diff.flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(max < 1e-4, "{heads:?} {dtype:?}: max |gpu - cpu| = {max}");
        }
    }
}

#[test]
fn kv_writes_on_the_gpu_match_the_cpu_kernel() {
    let Some(gpu) = cuda() else { return };
    let shape = (8, 16, 2, 64);
    let cpu_k = Tensor::zeros(shape, DType::BF16, &Device::Cpu).unwrap();
    let cpu_v = cpu_k.clone().copy().unwrap();
    let (gpu_k, gpu_v) = (cpu_k.to_device(&gpu).unwrap(), cpu_v.to_device(&gpu).unwrap());
    let k = Tensor::randn(0f32, 1.0, (5, 2, 64), &Device::Cpu).unwrap();
    let v = Tensor::randn(0f32, 1.0, (5, 2, 64), &Device::Cpu).unwrap();
    let slots = [3u32, 17, 18, 100, 127];
    write_kv_cache(&k, &v, &cpu_k, &cpu_v, &slots).unwrap();
    write_kv_cache(&k.to_device(&gpu).unwrap(), &v.to_device(&gpu).unwrap(), &gpu_k, &gpu_v, &slots).unwrap();
    for (g, c) in [(gpu_k, cpu_k), (gpu_v, cpu_v)] {
        let g = g.to_device(&Device::Cpu).unwrap().to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let c = c.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(g, c);
    }
}
