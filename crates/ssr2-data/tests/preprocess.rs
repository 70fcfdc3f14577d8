//! Image transforms against PIL / transformers / torch outputs written by
//! tests/reference/make_preprocess_reference.py into tests/reference/preprocess/.

use std::path::{Path, PathBuf};

use serde_json::Value;
use ssr2_data::image::RgbImage;
use ssr2_data::{
    CLIP_MEAN, CLIP_STD, CropRounding, IMAGENET_MEAN, IMAGENET_STD, ImageSource, center_crop,
    center_crop_with, load_rgb, resize_bicubic, resize_short_side, test_transform,
    test_transform_with, to_chw_normalized, train_transform,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/preprocess")
}
fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap()
}
fn png(name: &Value) -> RgbImage {
    load_rgb(&ImageSource::File(dir().join(name.as_str().unwrap()))).unwrap()
}
fn f32s(name: &Value) -> Vec<f32> {
    let bytes = std::fs::read(dir().join(name.as_str().unwrap())).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
fn max_u8_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}
fn max_f32_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn bicubic_resize_matches_pil_exactly() {
    let m = manifest();
    let cases = m["resize"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let (w, h) = (
            c["width"].as_u64().unwrap() as u32,
            c["height"].as_u64().unwrap() as u32,
        );
        let out = resize_bicubic(&png(&c["input"]), w, h);
        let want = png(&c["expected"]);
        assert_eq!(out.dimensions(), (w, h));
        assert_eq!(max_u8_diff(&out, &want), 0, "{}", c["expected"]);
    }
}

#[test]
fn short_side_resize_matches_pil_and_the_size_rule() {
    for c in manifest()["short_side"].as_array().unwrap() {
        let out = resize_short_side(&png(&c["input"]), c["size"].as_u64().unwrap() as u32);
        let want = (
            c["width"].as_u64().unwrap() as u32,
            c["height"].as_u64().unwrap() as u32,
        );
        assert_eq!(out.dimensions(), want, "{}", c["expected"]);
        assert_eq!(
            max_u8_diff(&out, &png(&c["expected"])),
            0,
            "{}",
            c["expected"]
        );
    }
}

#[test]
fn test_transform_matches_clip_image_processor() {
    for c in manifest()["clip_test_transform"].as_array().unwrap() {
        let size = c["size"].as_u64().unwrap() as u32;
        let img = png(&c["input"]);
        let floor = CropRounding::Floor;
        let out = test_transform_with(&img, size, CLIP_MEAN, CLIP_STD, floor);
        // The default (torchvision's rounding) is the same crop but for odd margins.
        let default = test_transform(&img, size, CLIP_MEAN, CLIP_STD);
        let resized = resize_short_side(&img, size);
        let (w, h) = resized.dimensions();
        let odd = [w, h].iter().any(|&l| (l - size) % 4 == 3);
        assert_eq!(default == out, !odd, "{}", c["expected"]);
        let want = f32s(&c["expected"]);
        assert_eq!(out.len(), 3 * (size * size) as usize);
        let d = max_f32_diff(&out, &want);
        assert!(d <= 1e-6, "{}: max abs diff {d}", c["expected"]);
    }
}

#[test]
fn chw_normalisation_matches_torch() {
    for c in manifest()["chw_imagenet"].as_array().unwrap() {
        let out = to_chw_normalized(&png(&c["input"]), IMAGENET_MEAN, IMAGENET_STD);
        let d = max_f32_diff(&out, &f32s(&c["expected"]));
        assert!(d <= 1e-6, "{}: max abs diff {d}", c["expected"]);
    }
}

#[test]
fn center_crop_offsets_follow_torchvision_and_transformers() {
    for c in manifest()["crop_offsets"].as_array().unwrap() {
        let (h, s) = (
            c["height"].as_u64().unwrap() as u32,
            c["size"].as_u64().unwrap() as u32,
        );
        // Row y of the image holds value y, so the crop's first row is the offset.
        let img = RgbImage::from_fn(h, h, |x, y| ssr2_data::image::Rgb([y as u8, x as u8, 0]));
        for (out, key) in [
            (center_crop(&img, s), "torchvision_top"),
            (
                center_crop_with(&img, s, CropRounding::Floor),
                "transformers_top",
            ),
        ] {
            let top = c[key].as_u64().unwrap() as u8;
            assert_eq!(out.get_pixel(0, 0).0, [top, top, 0], "{key} {c}");
        }
    }
}

#[test]
fn train_transform_is_a_seeded_crop_and_flip_of_the_resized_image() {
    let img = png(&Value::from("b.png"));
    let (resize, crop) = (40u32, 32u32);
    let r = resize_short_side(&img, resize);
    assert_eq!(r.dimensions(), (53, 40));
    // Every candidate window (and its mirror), normalised the same way.
    let mut candidates = Vec::new();
    for top in 0..=r.height() - crop {
        for left in 0..=r.width() - crop {
            let win = ssr2_data::image::imageops::crop_imm(&r, left, top, crop, crop).to_image();
            let flipped = ssr2_data::image::imageops::flip_horizontal(&win);
            candidates.push(((top, left, false), win));
            candidates.push(((top, left, true), flipped));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let out = train_transform(&img, seed, resize, crop, IMAGENET_MEAN, IMAGENET_STD);
        assert_eq!(
            out,
            train_transform(&img, seed, resize, crop, IMAGENET_MEAN, IMAGENET_STD)
        );
        let hit = candidates
            .iter()
            .find(|(_, win)| to_chw_normalized(win, IMAGENET_MEAN, IMAGENET_STD) == out)
            .unwrap_or_else(|| panic!("seed {seed}: output is no crop of the resized image"));
        seen.insert(hit.0);
    }
    // 40 seeds over 9 x 22 x 2 windows: many distinct ones, both flip states.
    assert!(seen.len() > 25, "{} distinct windows", seen.len());
    assert!(seen.iter().any(|k| k.2) && seen.iter().any(|k| !k.2));
}
