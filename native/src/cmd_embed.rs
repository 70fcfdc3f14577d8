//! `ssr2 embed-images` and `ssr2 embed-text`: CLIP embeddings as .npy, for other tools.

use crate::device::DeviceArgs;
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ssr2_data::ImageSource;

use crate::clip_io::{Model, list_images};
use crate::fail::{Fail, Result};
use crate::npy::write_f32;

/// Embed every image under a folder with a CLIP model: L2-normalised projected embeddings,
/// float32 [n, projection_dim], rows in path order (sorted, any depth).
///
/// Images get CLIP's test transform: bicubic resize of the short side, centre crop, CLIP
/// mean/std (as transformers' CLIPImageProcessor).
#[derive(Args)]
pub struct EmbedImagesArgs {
    /// A Hugging Face CLIP folder: config.json, model.safetensors (no tokenizer needed).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Folder of images (.png, .jpg, .jpeg, .bmp), searched at any depth.
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Output .npy file (written atomically).
    #[arg(long, value_name = "F.npy")]
    out: PathBuf,
    /// Images per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096), default_value_t = 32)]
    batch: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Embed texts (one per line, UTF-8) with a CLIP model: L2-normalised projected embeddings,
/// float32 [n, projection_dim], one row per line in file order.
#[derive(Args)]
pub struct EmbedTextArgs {
    /// A Hugging Face CLIP folder: config.json, model.safetensors, and tokenizer.json or
    /// vocab.json + merges.txt.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Text file, one text per line (a final empty line is ignored).
    #[arg(long, value_name = "FILE")]
    texts: PathBuf,
    /// Output .npy file (written atomically).
    #[arg(long, value_name = "F.npy")]
    out: PathBuf,
    /// Texts per forward pass.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536), default_value_t = 256)]
    batch: usize,
    #[command(flatten)]
    device: DeviceArgs,
    #[arg(long)]
    quiet: bool,
}

pub fn bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{pos}}/{{len}} {{bar:30}} {{per_sec}} eta {{eta}}"
        ))
        .expect("template"),
    );
    bar
}

pub fn run_images(args: &EmbedImagesArgs) -> Result<()> {
    let paths = list_images(&args.images)?;
    let model = Model::open(&args.model, args.device.open()?)?;
    let sources: Vec<ImageSource> = paths.into_iter().map(ImageSource::File).collect();
    let bar = bar(sources.len(), "images", args.quiet);
    let mut out = Vec::new();
    for chunk in sources.chunks(args.batch.max(1)) {
        let refs: Vec<&ImageSource> = chunk.iter().collect();
        let pixels = model.preprocess(&refs)?;
        out.extend(model.embed_pixels(pixels, chunk.len()).0);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let d = model.folder.config.projection_dim;
    write_f32(&args.out, &[sources.len(), d], &out)?;
    eprintln!(
        "wrote {}: {} images x {d}",
        args.out.display(),
        sources.len()
    );
    Ok(())
}

pub fn run_text(args: &EmbedTextArgs) -> Result<()> {
    let texts = read_lines(&args.texts)?;
    let model = Model::open_for_text(&args.model, args.device.open()?)?;
    let bar = bar(texts.len(), "texts", args.quiet);
    let out = model.embed_texts(&texts, args.batch, |k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    let d = model.folder.config.projection_dim;
    write_f32(&args.out, &[texts.len(), d], &out)?;
    eprintln!("wrote {}: {} texts x {d}", args.out.display(), texts.len());
    Ok(())
}

/// Lines of a UTF-8 file; a trailing empty line (final newline) is not a text.
pub fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::input(path, format!("cannot read: {e}")))?;
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        return Err(Fail::input(path, "no lines, expected one text per line"));
    }
    Ok(lines)
}
