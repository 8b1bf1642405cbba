//! Counter-based random numbers for sampling.
//!
//! The uniform that draws output token `k` of a sequence is a pure function of the
//! sequence's `seed` and `k`: it is the `k`-th output of a SplitMix64 stream (Steele,
//! Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014)
//! whose state starts at `mix64(seed)`. SplitMix64's output `k` is
//! `mix64(state0 + (k + 1) * GAMMA)`, so it can be computed directly for any `k`
//! without stepping through `0..k`.
//!
//! This is how ponder satisfies "one RNG per request, advanced only by its tokens":
//! there is no RNG state to keep, advance, save or restore. A sample never depends on
//! which other sequences share the batch, on the order rows are sampled in (they are
//! sampled in parallel), or on a preemption (the recomputed sequence asks for the same
//! `output_index` again and gets the same uniform). vLLM reaches the same property with
//! one `torch.Generator` per seeded request; a counter-based generator needs no state.

/// SplitMix64's golden-ratio increment, `floor(2^64 / phi)`, odd.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (David Stafford's "Mix13" variant of MurmurHash3's
/// 64-bit finalizer): a bijection on `u64` with full avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `counter`-th 64-bit output of the SplitMix64 stream keyed by `seed`.
///
/// Seeds are hashed before use so that streams of neighbouring seeds (`0, 1, 2, ...`,
/// as the API derives one per sample of a request) are not shifted copies of each other.
pub fn counter_u64(seed: u64, counter: u64) -> u64 {
    let state0 = mix64(seed);
    mix64(state0.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

/// The uniform in `[0, 1)` that draws output token `output_index` of the sequence with
/// sampling seed `seed`. Uses the top 53 bits, so every value is an exact `f64`
/// multiple of `2^-53`.
pub fn sample_uniform(seed: u64, output_index: usize) -> f64 {
    let bits = counter_u64(seed, output_index as u64) >> 11;
    bits as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps a SplitMix64 generator the ordinary, stateful way.
    struct SplitMix64 {
        state: u64,
    }

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.state = self.state.wrapping_add(GOLDEN_GAMMA);
            mix64(self.state)
        }
    }

    #[test]
    fn splitmix64_of_seed_zero_matches_the_published_reference_outputs() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by Vigna,
        // https://prng.di.unimi.it/splitmix64.c).
        let mut g = SplitMix64 { state: 0 };
        assert_eq!(g.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(g.next(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn counter_output_equals_the_stateful_stream_at_the_same_step() {
        let seed = 12345;
        let mut g = SplitMix64 { state: mix64(seed) };
        for k in 0..1000 {
            assert_eq!(counter_u64(seed, k), g.next(), "step {k}");
        }
    }

    #[test]
    fn uniforms_lie_in_the_half_open_unit_interval_and_have_mean_one_half() {
        let n = 100_000;
        let mut sum = 0.0;
        for k in 0..n {
            let u = sample_uniform(7, k);
            assert!((0.0..1.0).contains(&u), "{u}");
            sum += u;
        }
        let mean = sum / n as f64;
        // Standard error of the mean is sqrt(1/12 / n) ~ 0.0009; allow 5 of them.
        assert!((mean - 0.5).abs() < 0.0046, "mean {mean}");
    }

    #[test]
    fn neighbouring_seeds_give_unrelated_uniforms_at_the_same_index() {
        let a: Vec<f64> = (0..64).map(|s| sample_uniform(s, 0)).collect();
        let distinct = a.iter().map(|u| u.to_bits()).collect::<std::collections::HashSet<_>>();
        assert_eq!(distinct.len(), a.len());
    }
}
