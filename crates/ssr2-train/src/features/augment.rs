//! Feature-space augmentation: the two views of a sample in features mode.
//!
//! Images cannot be re-cropped once they are features, so a view perturbs the input row instead:
//! Gaussian noise scaled by the row's RMS value (`noise`), then each coordinate zeroed with
//! probability `dropout`. Bundles that carry pre-extracted augmented views should use those.

use crate::config::AugmentConfig;
use crate::rng::Rng;
use ssr2_head::image_side;

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

/// Random crops (zero padding `pad`, offsets uniform in `0..=2 pad`) and, with `flip`,
/// horizontal flips (p = 0.5) of the rows `idx`, each a `side x side` single-channel image.
pub fn crop_flip(
    data: &[f32],
    side: usize,
    idx: &[usize],
    pad: usize,
    flip: bool,
    rng: &mut Rng,
) -> Vec<f32> {
    let d = side * side;
    let mut out = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        let img = &data[i * d..(i + 1) * d];
        let (dy, dx) = (rng.below(2 * pad + 1), rng.below(2 * pad + 1));
        let mirror = flip && rng.uniform() < 0.5;
        for y in 0..side {
            for x in 0..side {
                let x = if mirror { side - 1 - x } else { x };
                // Position in the padded image, then back in the original.
                let (sy, sx) = ((y + dy).wrapping_sub(pad), (x + dx).wrapping_sub(pad));
                out.push(if sy < side && sx < side {
                    img[sy * side + sx]
                } else {
                    0.0
                });
            }
        }
    }
    out
}

/// Crop and flip read the image inputs (`d_img` values each) as square images: refuse others.
pub fn check_pixel_augment(cfg: &AugmentConfig, d_img: usize) -> Result<(), String> {
    if (cfg.crop_pad > 0 || cfg.flip) && image_side(d_img).is_none() {
        return Err(format!(
            "augment.crop_pad / augment.flip read square single-channel images, but the image \
             inputs have {d_img} values (not a square of 4 or more pixels per side)"
        ));
    }
    Ok(())
}

/// The rows `idx`, unchanged (the test transform).
pub fn gather_rows(data: &[f32], d: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| data[i * d..(i + 1) * d].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixel (y, x) of `img` (side 4) shifted by (dy, dx) - pad, mirrored first when `m`.
    fn expected(img: &[f32], pad: usize, (dy, dx, m): (usize, usize, bool)) -> Vec<f32> {
        let mut out = Vec::new();
        for y in 0..4i64 {
            for x in 0..4i64 {
                let x = if m { 3 - x } else { x };
                let (sy, sx) = (y + dy as i64 - pad as i64, x + dx as i64 - pad as i64);
                let inside = (0..4).contains(&sy) && (0..4).contains(&sx);
                out.push(if inside {
                    img[(sy * 4 + sx) as usize]
                } else {
                    0.0
                });
            }
        }
        out
    }

    #[test]
    fn crops_and_flips_are_shifted_mirrored_copies_covering_every_offset() {
        let img: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let mut rng = Rng::derive(3, 0, 0);
        assert_eq!(crop_flip(&img, 4, &[0], 0, false, &mut rng), img);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            let out = crop_flip(&img, 4, &[0], 1, true, &mut rng);
            let hit = (0..3)
                .flat_map(|dy| (0..3).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
                .find(|&c| expected(&img, 1, c) == out);
            seen.insert(hit.expect("a shifted, possibly mirrored copy"));
        }
        assert_eq!(seen.len(), 18, "every offset and both orientations occur");
    }
}
