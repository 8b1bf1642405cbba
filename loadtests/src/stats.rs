//! Summary statistics (mean, median, p90, p99) as `vllm bench serve` reports them.

use serde::Serialize;

/// Summary of a sample in milliseconds (or any unit the caller uses).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub count: usize,
}

impl Summary {
    /// Summary of `values`; all zeros when empty. Percentiles use linear
    /// interpolation between closest ranks (numpy's default, as vLLM uses).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self { mean: 0.0, median: 0.0, p90: 0.0, p99: 0.0, count: 0 };
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Self { mean, median: percentile(&v, 50.0), p90: percentile(&v, 90.0), p99: percentile(&v, 99.0), count: v.len() }
    }
}

/// Percentile `q` (0..=100) of sorted `v` with linear interpolation.
fn percentile(v: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.median, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-12);
        assert!((s.p99 - 3.97).abs() < 1e-12);
    }

    #[test]
    fn percentiles_of_evenly_spaced_values_are_the_quantile_itself() {
        // 0, 10, ..., 100 shuffled: the linear-interpolation percentile q is exactly q.
        let values: Vec<f64> = [7, 2, 9, 0, 10, 4, 1, 8, 3, 6, 5].iter().map(|i| *i as f64 * 10.0).collect();
        let s = Summary::of(&values);
        assert_eq!((s.mean, s.median, s.count), (50.0, 50.0, 11));
        assert!((s.p90 - 90.0).abs() < 1e-9 && (s.p99 - 99.0).abs() < 1e-9, "{s:?}");
        assert_eq!(Summary::of(&[5.0]), Summary { mean: 5.0, median: 5.0, p90: 5.0, p99: 5.0, count: 1 });
    }

    #[test]
    fn empty_sample_is_all_zero() {
        assert_eq!(Summary::of(&[]).count, 0);
    }
}
