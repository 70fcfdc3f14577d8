//! PIL's bicubic resize of 8-bit images, bit for bit (Pillow `libImaging/Resample.c`).
//!
//! Separable convolution with the Keys cubic (a = -0.5). When shrinking, the kernel is
//! stretched by the scale factor (antialiasing). Weights are normalised to sum 1 in f64, then
//! turned into 22-bit fixed point; each pass rounds and clamps to u8, and a pass whose size
//! does not change is skipped, as in PIL.

use image::RgbImage;

/// Fixed-point bits of the weights: 32 - 8 (pixel) - 2 (headroom for lobes), as in PIL.
const PRECISION_BITS: u32 = 22;

/// The resampling weights of one axis.
struct Weights {
    /// Per output pixel: first input pixel and number of input pixels used.
    bounds: Vec<(usize, usize)>,
    /// Fixed-point weights, `ksize` slots per output pixel.
    k: Vec<i32>,
    ksize: usize,
}

/// Keys' cubic convolution kernel with a = -0.5, PIL's operation order.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-image box.
fn weights(in_size: usize, out_size: usize) -> Weights {
    const SUPPORT: f64 = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut k = vec![0i32; out_size * ksize];
    let mut w = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // `as i64` truncates toward zero like C's (int) cast; negatives clamp to 0 anyway.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax - xmin;
        let mut ww = 0.0;
        for (x, wx) in w.iter_mut().enumerate().take(n) {
            *wx = bicubic(((x + xmin) as f64 - center + 0.5) * ss);
            ww += *wx;
        }
        let row = &mut k[xx * ksize..xx * ksize + n];
        for (kx, &wx) in row.iter_mut().zip(&w) {
            let v = if ww != 0.0 { wx / ww } else { wx };
            let fixed = v * f64::from(1u32 << PRECISION_BITS);
            *kx = if v < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Weights { bounds, k, ksize }
}

/// Rounds a fixed-point sum (which started at one half) down to u8, clamping like PIL's table.
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along an axis. `stride_out` / `stride_in` step between neighbouring pixels along
/// the axis (in pixels); `lines` are the pixel offsets at which each output / input line starts.
fn pass(
    src: &[u8],
    dst: &mut [u8],
    wt: &Weights,
    lines: impl Iterator<Item = (usize, usize)>,
    stride_in: usize,
    stride_out: usize,
) {
    const HALF: i32 = 1 << (PRECISION_BITS - 1);
    for (line_in, line_out) in lines {
        for (xx, &(xmin, n)) in wt.bounds.iter().enumerate() {
            let k = &wt.k[xx * wt.ksize..xx * wt.ksize + n];
            let mut ss = [HALF; 3];
            for (i, &kx) in k.iter().enumerate() {
                let p = (line_in + (xmin + i) * stride_in) * 3;
                for c in 0..3 {
                    ss[c] += i32::from(src[p + c]) * kx;
                }
            }
            let q = (line_out + xx * stride_out) * 3;
            for c in 0..3 {
                dst[q + c] = clip8(ss[c]);
            }
        }
    }
}

/// Resizes like PIL's `Image.resize((width, height), Image.BICUBIC)` on an RGB image (no
/// `reducing_gap`, full box): the same u8 values as Pillow 13.0. A zero-sized request gives an
/// empty image.
///
/// Pass order follows Pillow 13: vertical first when the height shrinks by more than twice
/// as many pixels as the width does, else horizontal first (Pillow 12 and older always went
/// horizontal first; the two orders can differ by a few levels on those extreme shapes).
pub fn resize_bicubic(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let (w1, h1) = (width as usize, height as usize);
    if w1 == 0 || h1 == 0 || w0 == 0 || h0 == 0 {
        return RgbImage::new(width, height);
    }
    if (w0, h0) == (w1, h1) {
        return img.clone();
    }
    let shrink_h = h0 as i64 - h1 as i64;
    let shrink_w = w0 as i64 - w1 as i64;
    let horizontal_first = !(shrink_h > 0 && shrink_h > shrink_w * 2);
    let data = if horizontal_first {
        horizontal_then_vertical(img, w1, h1)
    } else {
        vertical_then_horizontal(img, w1, h1)
    };
    RgbImage::from_raw(width, height, data).expect("buffer sized width * height * 3")
}

fn horizontal_then_vertical(img: &RgbImage, w1: usize, h1: usize) -> Vec<u8> {
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let mut vert = weights(h0, h1);
    // The horizontal pass only covers the rows the vertical pass reads, as in PIL.
    let first = vert.bounds[0].0;
    let (last_min, last_n) = vert.bounds[h1 - 1];
    let last = last_min + last_n;
    let tmp = if w1 != w0 {
        let horiz = weights(w0, w1);
        let mut out = vec![0u8; w1 * (last - first) * 3];
        let lines = (first..last).map(|y| (y * w0, (y - first) * w1));
        pass(img.as_raw(), &mut out, &horiz, lines, 1, 1);
        vert.bounds.iter_mut().for_each(|b| b.0 -= first);
        out
    } else {
        img.as_raw().clone()
    };
    if h1 == h0 {
        return tmp;
    }
    let mut out = vec![0u8; w1 * h1 * 3];
    pass(&tmp, &mut out, &vert, (0..w1).map(|x| (x, x)), w1, w1);
    out
}

fn vertical_then_horizontal(img: &RgbImage, w1: usize, h1: usize) -> Vec<u8> {
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    // Only called when the height shrinks, so the vertical pass always runs.
    let vert = weights(h0, h1);
    let mut tmp = vec![0u8; w0 * h1 * 3];
    pass(
        img.as_raw(),
        &mut tmp,
        &vert,
        (0..w0).map(|x| (x, x)),
        w0,
        w0,
    );
    if w1 == w0 {
        return tmp;
    }
    let horiz = weights(w0, w1);
    let mut out = vec![0u8; w1 * h1 * 3];
    pass(
        &tmp,
        &mut out,
        &horiz,
        (0..h1).map(|y| (y * w0, y * w1)),
        1,
        1,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values() {
        // Keys a = -0.5: k(0) = 1, k(1) = 0, k(0.5) = 0.5625, k(1.5) = -0.0625, k(2) = 0.
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(0.5), 0.5625);
        assert_eq!(bicubic(-1.5), -0.0625);
        assert_eq!(bicubic(2.0), 0.0);
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(10, 3), (3, 10), (224, 224), (500, 224), (7, 1)] {
            let w = weights(i, o);
            for (xx, &(_, n)) in w.bounds.iter().enumerate() {
                let s: i32 = w.k[xx * w.ksize..xx * w.ksize + n].iter().sum();
                // Rounding each weight moves the sum by at most n / 2 units.
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= n as i32,
                    "{i}->{o} at {xx}: {s}"
                );
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = RgbImage::from_pixel(13, 7, image::Rgb([9, 128, 255]));
        let out = resize_bicubic(&img, 30, 4);
        assert!(out.pixels().all(|p| p.0 == [9, 128, 255]));
    }
}
