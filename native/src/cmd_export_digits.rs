//! `ssr2 export-digits`: the embedded digits as an ImageFolder of PNGs, so the image pipeline
//! (readers, transforms, feature extraction) can be tried without downloading anything.

use crate::fail::{Fail, Result, write_atomic};
use clap::Args;
use ssr2_data::image::{Rgb, RgbImage};
use ssr2_data::{digits_raw, encode_png};
use std::path::PathBuf;

/// Write the embedded handwritten digits (1797 images, 8x8) as an ImageFolder:
/// DIR/<class>/<index>.png, class folders "0".."9", index = position in the embedded set
/// (0000..1796). Pixels are grey, stored as RGB: value v in 0..16 becomes round(v * 255 / 16)
/// with halves rounded up, i.e. (v * 255 + 8) / 16 in integers (0 -> 0, 8 -> 128, 16 -> 255).
#[derive(Args)]
pub struct ExportDigitsArgs {
    /// Output folder (created if missing; must be empty unless --force).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write into a non-empty folder, replacing files of the same names (others are kept).
    #[arg(long)]
    force: bool,
}

/// The 8-bit grey level of a digits pixel value 0..16.
fn grey_level(v: f32) -> u8 {
    ((v as u32 * 255 + 8) / 16) as u8
}

pub fn run(args: &ExportDigitsArgs) -> Result<()> {
    let out = &args.out;
    if out.exists() && !out.is_dir() {
        return Err(Fail::output(out, "exists and is not a directory"));
    }
    if out.is_dir() && !args.force {
        let mut entries = std::fs::read_dir(out).map_err(|e| Fail::input(out, e))?;
        if entries.next().is_some() {
            return Err(Fail::arg(format!(
                "{}: directory is not empty (pass --force to write into it)",
                out.display()
            )));
        }
    }
    let (x, labels) = digits_raw();
    for class in 0..10 {
        let dir = out.join(class.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| Fail::output(&dir, e))?;
    }
    for (i, &y) in labels.iter().enumerate() {
        let row = &x.data[i * x.cols..(i + 1) * x.cols];
        let img = RgbImage::from_fn(8, 8, |c, r| {
            let g = grey_level(row[(r * 8 + c) as usize]);
            Rgb([g, g, g])
        });
        let bytes = encode_png(&img).map_err(|e| Fail::arg(e.to_string()))?;
        write_atomic(&out.join(y.to_string()).join(format!("{i:04}.png")), &bytes)?;
    }
    println!(
        "wrote {} digit images in 10 class folders to {} (8x8 grey PNG as RGB, level = round(v * 255 / 16))",
        labels.len(),
        out.display()
    );
    Ok(())
}

