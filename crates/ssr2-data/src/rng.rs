//! Seeded randomness shared by the split and the generator.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The crate's RNG: ChaCha8 is portable (same stream on every platform, wasm32 included).
pub(crate) type DataRng = ChaCha8Rng;

/// A fresh RNG for `seed`.
pub(crate) fn seeded(seed: u64) -> DataRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// One standard normal draw (Box-Muller; rand_distr is not a dependency).
pub(crate) fn normal(rng: &mut DataRng) -> f64 {
    // 1 - u lies in (0, 1], so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Shuffles `v` in place (Fisher-Yates), written out so the order is fixed by this crate.
pub(crate) fn shuffle<T>(rng: &mut DataRng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = seeded(7);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut seeded(3), &mut a);
        shuffle(&mut seeded(3), &mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
