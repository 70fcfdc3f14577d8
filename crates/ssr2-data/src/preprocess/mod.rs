//! Image transforms of SPEC §8, matching what the PyTorch reference computes: PIL's bicubic
//! resize (bit-exact), transformers' centre crop, torchvision's ToTensor + Normalize arithmetic.

mod resample;

pub use resample::resize_bicubic;

use image::RgbImage;
use rand::Rng;

use crate::rng::seeded;

/// OpenAI CLIP's normalisation (the test transform).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's normalisation (the test transform).
// The published digits, kept verbatim; the compiler rounds them to the nearest f32.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];
/// ImageNet's normalisation (the train transform of the reference).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's normalisation (the train transform of the reference).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The size that makes the short side `size`, keeping the aspect ratio; the long side is
/// `int(size * long / short)` (truncated), as in torchvision's `Resize(int)` and transformers'
/// `shortest_edge`. Returns (width, height).
pub fn short_side_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let long = |l: u32, s: u32| (f64::from(size) * f64::from(l) / f64::from(s)) as u32;
    if width <= height {
        (size, long(height, width))
    } else {
        (long(width, height), size)
    }
}

/// Bicubic resize (PIL-exact) so the short side is `size`; see [`short_side_size`].
pub fn resize_short_side(img: &RgbImage, size: u32) -> RgbImage {
    if img.width() == 0 || img.height() == 0 {
        return img.clone();
    }
    let (w, h) = short_side_size(img.width(), img.height(), size);
    resize_bicubic(img, w, h)
}

/// A `size` x `size` window whose top-left corner is at (`left`, `top`) of `img` (may be
/// negative or past the edge); pixels outside the image are 0.
fn crop_at(img: &RgbImage, left: i64, top: i64, size: u32) -> RgbImage {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    RgbImage::from_fn(size, size, |x, y| {
        let (sx, sy) = (left + i64::from(x), top + i64::from(y));
        if (0..w).contains(&sx) && (0..h).contains(&sy) {
            *img.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}

/// Centre crop to `size` x `size` as transformers' `center_crop` (CLIPImageProcessor) does: the
/// offset is `(h - size) // 2`, floored, so an odd margin leaves the extra row at the bottom.
/// (torchvision's `center_crop` rounds half to even instead, e.g. offset 2 not 1 for 10 -> 7.)
/// A side shorter than `size` is zero-padded, centred the same way.
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let offset = |len: u32| (i64::from(len) - i64::from(size)).div_euclid(2);
    crop_at(img, offset(img.width()), offset(img.height()), size)
}

/// HWC u8 -> CHW f32 `(x / 255 - mean) / std`, all in f32 as torchvision's ToTensor + Normalize.
/// (transformers rescales in f64 before the f32 cast; the two agree to 1 ulp at most.)
pub fn to_chw_normalized(img: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let plane = img.width() as usize * img.height() as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(p.0[c]) / 255.0 - mean[c]) / std[c];
        }
    }
    out
}

/// The test transform: resize short side to `size` (bicubic), centre crop `size`, normalise.
/// 3 x size x size values, CHW.
pub fn test_transform(img: &RgbImage, size: u32, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    to_chw_normalized(&center_crop(&resize_short_side(img, size), size), mean, std)
}

/// The train transform (SPEC §8): resize short side to `resize` (bicubic), a random `crop` x
/// `crop` window, horizontal flip with probability 1/2, normalise. Deterministic in `seed`
/// (ChaCha8: top, then left, then flip, like torchvision's draw order but not its numbers).
pub fn train_transform(
    img: &RgbImage,
    seed: u64,
    resize: u32,
    crop: u32,
    mean: [f32; 3],
    std: [f32; 3],
) -> Vec<f32> {
    let r = resize_short_side(img, resize);
    let mut rng = seeded(seed);
    let mut offset = |len: u32| {
        if len >= crop {
            i64::from(rng.random_range(0..=len - crop))
        } else {
            // Too small to crop: zero-pad, centred as in `center_crop`.
            (i64::from(len) - i64::from(crop)).div_euclid(2)
        }
    };
    let top = offset(r.height());
    let left = offset(r.width());
    let mut out = crop_at(&r, left, top, crop);
    if rng.random_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    to_chw_normalized(&out, mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8, y as u8, (x * 7 + y) as u8])
        })
    }

    #[test]
    fn short_side_truncates_the_long_side() {
        // 32 * 200 / 150 = 42.67 -> 42; portrait keeps width as the short side.
        assert_eq!(short_side_size(200, 150, 32), (42, 32));
        assert_eq!(short_side_size(150, 200, 32), (32, 42));
        assert_eq!(short_side_size(500, 375, 224), (298, 224));
        assert_eq!(short_side_size(64, 64, 224), (224, 224));
    }

    #[test]
    fn center_crop_floors_the_offset_and_pads_small_images() {
        let img = ramp(10, 11);
        let c = center_crop(&img, 7);
        // Offsets (10 - 7) // 2 = 1 and (11 - 7) // 2 = 2.
        assert_eq!(c.get_pixel(0, 0).0, [1, 2, 9]);
        assert_eq!(c.get_pixel(6, 6).0, [7, 8, 57]);
        // 3 x 2 into 5: offsets -1 (x) and -2 (y), zero elsewhere.
        let small = ramp(3, 2);
        let p = center_crop(&small, 5);
        assert_eq!(p.get_pixel(1, 2).0, small.get_pixel(0, 0).0);
        assert_eq!(p.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(p.get_pixel(3, 3).0, small.get_pixel(2, 1).0);
        assert_eq!(p.get_pixel(4, 4).0, [0, 0, 0]);
    }

    #[test]
    fn chw_layout_and_values() {
        let img = ramp(2, 1);
        let v = to_chw_normalized(&img, [0.0; 3], [1.0; 3]);
        // Channel planes: R of both pixels, then G, then B.
        assert_eq!(v, vec![0.0, 1.0 / 255.0, 0.0, 0.0, 0.0, 7.0 / 255.0]);
        let n = to_chw_normalized(&img, [0.5; 3], [0.25; 3]);
        assert_eq!(n[0], -2.0);
    }
}
