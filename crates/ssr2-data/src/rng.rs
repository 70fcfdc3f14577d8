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
}
