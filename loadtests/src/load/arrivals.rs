//! Arrival times of an open-loop load, as vLLM's `benchmark_serving.get_request`:
//! the first request at 0, then gaps drawn from Gamma(shape = burstiness,
//! scale = 1 / (rate · burstiness)), whose mean is 1/rate whatever the shape
//! (shape 1 is the exponential, i.e. Poisson arrivals). `fixed` spaces them exactly.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Gamma};

use super::args::Arrival;

/// Offsets in seconds from the start of the run at which each of `n` requests
/// arrives, non-decreasing. All 0 when `rate` is infinite. Errors when `rate` or
/// `burstiness` is not positive.
pub fn arrival_offsets(n: usize, rate: f64, arrival: Arrival, burstiness: f64, seed: u64) -> anyhow::Result<Vec<f64>> {
    anyhow::ensure!(rate > 0.0, "--request-rate must be positive, got {rate}");
    anyhow::ensure!(burstiness > 0.0, "--burstiness must be positive, got {burstiness}");
    if rate.is_infinite() {
        return Ok(vec![0.0; n]);
    }
    let gaps: Vec<f64> = match arrival {
        Arrival::Fixed => vec![1.0 / rate; n.saturating_sub(1)],
        Arrival::Poisson => {
            let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness))?;
            let mut rng = StdRng::seed_from_u64(seed);
            (1..n).map(|_| gamma.sample(&mut rng)).collect()
        }
    };
    let mut t = 0.0;
    let mut out = Vec::with_capacity(n);
    out.extend((0..n).map(|i| {
        if i > 0 {
            t += gaps[i - 1];
        }
        t
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(offsets: &[f64]) -> Vec<f64> {
        offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn poisson_gaps_average_one_over_the_rate() {
        let offsets = arrival_offsets(20_001, 4.0, Arrival::Poisson, 1.0, 7).unwrap();
        let g = gaps(&offsets);
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        assert!((mean - 0.25).abs() < 0.01, "mean gap {mean}");
        // Exponential gaps: standard deviation equals the mean.
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
        assert!((var.sqrt() - 0.25).abs() < 0.015, "sd {}", var.sqrt());
        assert_eq!(offsets[0], 0.0);
        assert!(g.iter().all(|x| *x >= 0.0));
    }

    #[test]
    fn burstiness_keeps_the_mean_and_changes_the_spread() {
        // Gamma(k, 1/(rate·k)): mean 1/rate, coefficient of variation 1/sqrt(k).
        for k in [0.25, 4.0] {
            let g = gaps(&arrival_offsets(40_001, 2.0, Arrival::Poisson, k, 3).unwrap());
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let sd = (g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64).sqrt();
            assert!((mean - 0.5).abs() < 0.02, "k {k}: mean {mean}");
            assert!((sd / mean - 1.0 / f64::sqrt(k)).abs() < 0.1, "k {k}: cv {}", sd / mean);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_arrivals() {
        let a = arrival_offsets(100, 3.0, Arrival::Poisson, 1.0, 42).unwrap();
        assert_eq!(a, arrival_offsets(100, 3.0, Arrival::Poisson, 1.0, 42).unwrap());
        assert_ne!(a, arrival_offsets(100, 3.0, Arrival::Poisson, 1.0, 43).unwrap());
    }

    #[test]
    fn fixed_rate_is_exact_and_infinite_rate_is_all_at_once() {
        let offsets = arrival_offsets(5, 2.0, Arrival::Fixed, 1.0, 0).unwrap();
        assert_eq!(offsets, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(arrival_offsets(3, f64::INFINITY, Arrival::Poisson, 1.0, 0).unwrap(), vec![0.0; 3]);
        assert!(arrival_offsets(3, 0.0, Arrival::Fixed, 1.0, 0).is_err());
        assert!(arrival_offsets(3, 1.0, Arrival::Poisson, 0.0, 0).is_err());
    }
}
