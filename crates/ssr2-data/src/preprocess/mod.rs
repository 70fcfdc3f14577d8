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

/// How the centre crop rounds an odd margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CropRounding {
    /// torchvision's `CenterCrop` (the reference's transforms): `int(round((h - size) / 2))`,
    /// Python's round half to even, so 10 -> 7 starts at row 2; a side shorter than `size` is
    /// first padded by `(size - h) // 2` before it.
    HalfEven,
    /// transformers' `center_crop` (CLIPImageProcessor): `(h - size) // 2`, floored.
    Floor,
}

/// Centre crop to `size` x `size` as torchvision's `CenterCrop` does (the reference's test
/// transform, SPEC §8); [`center_crop_with`] offers transformers' rounding.
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    center_crop_with(img, size, CropRounding::HalfEven)
}

/// Centre crop with the given rounding of odd margins. A side shorter than `size` is
/// zero-padded around the image.
pub fn center_crop_with(img: &RgbImage, size: u32, rounding: CropRounding) -> RgbImage {
    let offset = |len: u32| -> i64 {
        let margin = i64::from(len) - i64::from(size);
        match rounding {
            CropRounding::Floor => margin.div_euclid(2),
            // torchvision pads (size - len) // 2 on the leading side, then crops at 0.
            CropRounding::HalfEven if margin < 0 => -((-margin) / 2),
            // round(margin / 2) half to even: an odd margin 2k + 1 gives the even of k, k + 1.
            CropRounding::HalfEven => {
                let k = margin / 2;
                if margin % 2 == 1 && k % 2 == 1 {
                    k + 1
                } else {
                    k
                }
            }
        }
    };
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

/// The test transform: resize short side to `size` (bicubic), centre crop `size` (torchvision's
/// rounding, as the reference), normalise. 3 x size x size values, CHW.
pub fn test_transform(img: &RgbImage, size: u32, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    test_transform_with(img, size, mean, std, CropRounding::HalfEven)
}

/// [`test_transform`] with the given centre-crop rounding (`Floor` = CLIPImageProcessor).
pub fn test_transform_with(
    img: &RgbImage,
    size: u32,
    mean: [f32; 3],
    std: [f32; 3],
    rounding: CropRounding,
) -> Vec<f32> {
    let resized = resize_short_side(img, size);
    to_chw_normalized(&center_crop_with(&resized, size, rounding), mean, std)
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
    fn center_crop_rounds_half_to_even_and_pads_small_images() {
        let img = ramp(10, 11);
        let c = center_crop(&img, 7);
        // Python: round((10 - 7) / 2) = round(1.5) = 2 and round((11 - 7) / 2) = 2.
        assert_eq!(c.get_pixel(0, 0).0, [2, 2, 16]);
        assert_eq!(c.get_pixel(6, 6).0, [8, 8, 64]);
        // transformers floors: offsets 1 and 2.
        let f = center_crop_with(&img, 7, CropRounding::Floor);
        assert_eq!(f.get_pixel(0, 0).0, [1, 2, 9]);
        // 3 x 2 into 5: torchvision pads (5 - 3) // 2 = 1 left and (5 - 2) // 2 = 1 on top.
        let small = ramp(3, 2);
        let p = center_crop(&small, 5);
        assert_eq!(p.get_pixel(1, 1).0, small.get_pixel(0, 0).0);
        assert_eq!(p.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(p.get_pixel(3, 2).0, small.get_pixel(2, 1).0);
        assert_eq!(p.get_pixel(4, 4).0, [0, 0, 0]);
        // Floor puts the odd padding row on top instead: offset (2 - 5) // 2 = -2.
        let q = center_crop_with(&small, 5, CropRounding::Floor);
        assert_eq!(q.get_pixel(1, 2).0, small.get_pixel(0, 0).0);
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
