//! Fixtures the fine-tune tests share: the random tiny CLIP and digit images as PNG files.

use ssr2_data::image::{Rgb, RgbImage};
use ssr2_data::{ImageList, OpenOptions, digits_raw, encode_png, open_image_dataset};
use std::path::{Path, PathBuf};

/// The random tiny CLIP (tests/reference/clip-tiny, 32 px).
pub fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/clip-tiny")
}

/// Every `step`-th digit as an 8x8 grey PNG in class folders under `dir`, as `ssr2
/// export-digits` writes them, opened as an imagefolder with old classes 0-4.
pub fn digit_folder(dir: &Path, step: usize) -> ImageList {
    let (x, labels) = digits_raw();
    for (i, &y) in labels.iter().enumerate().step_by(step) {
        let row = &x.data[i * x.cols..(i + 1) * x.cols];
        let img = RgbImage::from_fn(8, 8, |c, r| {
            let g = ((row[(r * 8 + c) as usize] as u32 * 255 + 8) / 16) as u8;
            Rgb([g, g, g])
        });
        let class = dir.join(y.to_string());
        std::fs::create_dir_all(&class).unwrap();
        std::fs::write(class.join(format!("{i:04}.png")), encode_png(&img).unwrap()).unwrap();
    }
    let opts = OpenOptions {
        num_old: Some(5),
        ..OpenOptions::default()
    };
    open_image_dataset("imagefolder", dir, &opts).unwrap()
}
