//! Feature-space augmentation: the two views of a sample in features mode.
//!
//! Images cannot be re-cropped once they are features, so a view perturbs the input row instead:
//! Gaussian noise scaled by the row's RMS value (`noise`), then each coordinate zeroed with
//! probability `dropout`. Bundles that carry pre-extracted augmented views should use those.

use crate::config::AugmentConfig;
use crate::rng::Rng;

/// One augmented copy of the rows `idx` of a row-major `n x d` matrix.
pub fn augment_rows(
    data: &[f32],
    d: usize,
    idx: &[usize],
    cfg: &AugmentConfig,
    rng: &mut Rng,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        let row = &data[i * d..(i + 1) * d];
        let rms = (row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / d as f64).sqrt();
        for &v in row {
            let mut x = v as f64 + cfg.noise * rms * rng.normal();
            if cfg.dropout > 0.0 && rng.uniform() < cfg.dropout {
                x = 0.0;
            }
            out.push(x as f32);
        }
    }
    out
}

/// The rows `idx`, unchanged (the test transform).
pub fn gather_rows(data: &[f32], d: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect()
}
