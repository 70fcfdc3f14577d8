//! Readers of the GCD image benchmarks as downloaded (layouts in docs/DATASETS.md). Each gives
//! the train set as an [`ImageList`] with the GCD split of SPEC §1 applied: labels remapped old
//! classes first, a seeded fraction of the old-class samples labelled.

mod cars;
mod cifar;
mod cub;
mod flowers;
mod folder;
mod pets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use crate::DataError;
use crate::split::{gcd_split, known_split};

/// Where an image's pixels are.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageSource {
    /// An image file (decoded by [`load_rgb`]).
    File(PathBuf),
    /// Pixels in memory, HWC u8 RGB (CIFAR).
    Rgb {
        width: u32,
        height: u32,
        pixels: Arc<[u8]>,
    },
}

/// One sample of an image dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageItem {
    pub source: ImageSource,
    /// Remapped label: old classes are `0..num_old`, then the new classes.
    pub label: usize,
    /// A stable name: the path relative to the dataset root, or `train/<index>` for CIFAR.
    pub id: String,
}

/// The train set of an image dataset, split for GCD.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageList {
    pub name: String,
    /// Indexed by remapped label.
    pub class_names: Vec<String>,
    pub num_old: usize,
    pub items: Vec<ImageItem>,
    /// Per item: label visible to training.
    pub labelled: Vec<bool>,
}

/// How to open a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenOptions {
    /// `imagefolder` only: the first `num_old` classes (sorted names) are old; default half
    /// (rounded down).
    pub num_old: Option<usize>,
    /// Seed of the labelled draw.
    pub split_seed: u64,
    /// Fraction of old-class samples labelled (SPEC §1: 0.5).
    pub labelled_fraction: f64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            num_old: None,
            split_seed: 0,
            labelled_fraction: 0.5,
        }
    }
}

/// New images to predict: every image file below `dir` (recursively, in torchvision's
/// ImageFolder order), as an [`ImageList`] with the given classes, labels unknown (0) and none
/// labelled; ids are the paths relative to `dir`, as the `imagefolder` reader names them.
pub fn images_to_predict(
    dir: &Path,
    class_names: Vec<String>,
    num_old: usize,
) -> Result<ImageList, DataError> {
    let items: Vec<ImageItem> = folder::files_with_ids(dir)?
        .into_iter()
        .map(|(path, id)| ImageItem {
            source: ImageSource::File(path),
            label: 0,
            id,
        })
        .collect();
    Ok(ImageList {
        name: dir.display().to_string(),
        class_names,
        num_old,
        labelled: vec![false; items.len()],
        items,
    })
}

/// Names [`open_image_dataset`] accepts.
pub fn image_dataset_names() -> &'static [&'static str] {
    &[
        "imagefolder",
        "cifar10",
        "cifar100",
        "oxford_pets",
        "flowers102",
        "cub200",
        "stanford_cars",
        "imagenet100",
    ]
}

/// Opens the train set of dataset `name` stored under `root` and applies its GCD split.
pub fn open_image_dataset(
    name: &str,
    root: &Path,
    opts: &OpenOptions,
) -> Result<ImageList, DataError> {
    if !root.is_dir() {
        return Err(DataError::invalid(
            "root",
            format!("{}: not a directory", root.display()),
        ));
    }
    if name == "imagefolder" {
        let raw = folder::imagefolder(root)?;
        let k = raw.class_names.len();
        let num_old = opts.num_old.unwrap_or(k / 2);
        if num_old > k {
            return Err(DataError::invalid(
                "num_old",
                format!(
                    "is {num_old}, expected at most {k} (classes in {})",
                    root.display()
                ),
            ));
        }
        let old: Vec<usize> = (0..num_old).collect();
        return finish(name, raw, &old, opts);
    }
    let known = known_split(name).filter(|_| image_dataset_names().contains(&name));
    let Some(split) = known else {
        return Err(DataError::invalid(
            "dataset",
            format!(
                "unknown image dataset `{name}`, expected one of {}",
                image_dataset_names().join(", ")
            ),
        ));
    };
    let k = split.num_classes;
    let raw = match name {
        "cifar10" => cifar::cifar10(root, Part::Train)?,
        "cifar100" => cifar::cifar100(root, Part::Train)?,
        "oxford_pets" => pets::pets(root, k, Part::Train)?,
        "flowers102" => flowers::flowers(root, k, Part::Train)?,
        "cub200" => cub::cub(root, k, Part::Train)?,
        "stanford_cars" => cars::cars(root, k, Part::Train)?,
        "imagenet100" => folder::imagenet100(root, split.subset.as_deref().unwrap_or(&[]))?,
        _ => unreachable!("listed in image_dataset_names"),
    };
    if raw.class_names.len() != k {
        return Err(DataError::format(
            &root.display().to_string(),
            format!(
                "{} class names, expected {k} for {name}",
                raw.class_names.len()
            ),
        ));
    }
    finish(name, raw, &split.old, opts)
}

/// Decodes an image file's bytes (png, jpeg, bmp) to 8-bit RGB like [`load_rgb`]; `name` names
/// it in errors. The browser app decodes dropped files with it.
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<RgbImage, DataError> {
    let bad = |e: &dyn std::fmt::Display| DataError::format(name, format!("cannot decode image: {e}"));
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| bad(&e))
    };
    // The size from the file's header, before any pixel is decoded or resized.
    let (w, h) = reader()?.into_dimensions().map_err(|e| bad(&e))?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_IMAGE_PIXELS {
        return Err(DataError::format(
            name,
            format!(
                "is {w} x {h} = {pixels} pixels, more than the {MAX_IMAGE_PIXELS} (8192 x 8192) \
                 an input image may have: not decoded"
            ),
        ));
    }
    let img = reader()?.decode().map_err(|e| bad(&e))?;
    Ok(img.to_rgb8())
}

/// The most pixels an input image may have (8192 x 8192; 201 MB as 8-bit RGB), checked from its
/// header before decoding: CLIP resizes to 224 px, and a crafted header could ask for gigabytes.
pub const MAX_IMAGE_PIXELS: u64 = 8192 * 8192;

/// Decodes an image to 8-bit RGB (grey is replicated, alpha dropped, as PIL's `convert("RGB")`).
pub fn load_rgb(source: &ImageSource) -> Result<RgbImage, DataError> {
    match source {
        ImageSource::File(path) => decode_rgb(&read_file(path)?, &path.display().to_string()),
        ImageSource::Rgb {
            width,
            height,
            pixels,
        } => {
            let expect = *width as usize * *height as usize * 3;
            if pixels.len() != expect {
                return Err(DataError::invalid(
                    "pixels",
                    format!(
                        "{} bytes, expected {expect} ({width} x {height} x 3)",
                        pixels.len()
                    ),
                ));
            }
            Ok(RgbImage::from_raw(*width, *height, pixels.to_vec()).expect("length checked"))
        }
    }
}

/// PNG bytes of an RGB image (for writing image folders, e.g. `ssr2 export-digits`).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, DataError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| DataError::invalid("image", format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// Which official split of a benchmark to read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Part {
    Train,
    Test,
}

/// The official test split of dataset `name` (the one [`open_image_dataset`] opened as `train`),
/// for inductive evaluation: labels remapped as in `train` (matched by class name), none
/// labelled. `imagefolder` and `imagenet100` read it from `test_root` (the same class
/// subfolders, e.g. ImageNet's val set sorted into wnid folders); without one, `Ok(None)`.
pub fn open_image_test_set(
    name: &str,
    root: &Path,
    test_root: Option<&Path>,
    train: &ImageList,
) -> Result<Option<ImageList>, DataError> {
    let k = train.class_names.len();
    let raw = match (name, test_root) {
        ("imagefolder", Some(dir)) => folder::imagefolder(dir)?,
        ("imagenet100", Some(dir)) => {
            let split = known_split(name).expect("imagenet100 has a known split");
            folder::imagenet100(dir, split.subset.as_deref().unwrap_or(&[]))?
        }
        ("imagefolder" | "imagenet100", None) => return Ok(None),
        ("cifar10", _) => cifar::cifar10(root, Part::Test)?,
        ("cifar100", _) => cifar::cifar100(root, Part::Test)?,
        ("oxford_pets", _) => pets::pets(root, k, Part::Test)?,
        ("flowers102", _) => flowers::flowers(root, k, Part::Test)?,
        ("cub200", _) => cub::cub(root, k, Part::Test)?,
        ("stanford_cars", _) => cars::cars(root, k, Part::Test)?,
        _ => {
            return Err(DataError::invalid(
                "dataset",
                format!("unknown image dataset `{name}`"),
            ));
        }
    };
    let origin = test_root.unwrap_or(root).display().to_string();
    let label_of: std::collections::HashMap<&str, usize> = train
        .class_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut items = Vec::with_capacity(raw.items.len());
    for (source, y, id) in raw.items {
        let class = &raw.class_names[y];
        let Some(&label) = label_of.get(class.as_str()) else {
            return Err(DataError::format(
                &origin,
                format!("test image `{id}` has class `{class}`, which the train set does not have"),
            ));
        };
        items.push(ImageItem { source, label, id });
    }
    Ok(Some(ImageList {
        name: train.name.clone(),
        class_names: train.class_names.clone(),
        num_old: train.num_old,
        labelled: vec![false; items.len()],
        items,
    }))
}

/// A dataset before its GCD split: original class ids and names.
struct Raw {
    /// Indexed by original class id.
    class_names: Vec<String>,
    /// (source, original class id, id).
    items: Vec<(ImageSource, usize, String)>,
}

/// Applies the GCD split with `old` (original ids) and reorders the class names.
fn finish(name: &str, raw: Raw, old: &[usize], opts: &OpenOptions) -> Result<ImageList, DataError> {
    let labels: Vec<usize> = raw.items.iter().map(|it| it.1).collect();
    let k = raw.class_names.len();
    let split = gcd_split(&labels, k, old, opts.labelled_fraction, opts.split_seed)?;
    let mut class_names = vec![String::new(); k];
    for (orig, name) in raw.class_names.into_iter().enumerate() {
        class_names[split.remap[orig]] = name;
    }
    let items = raw
        .items
        .into_iter()
        .map(|(source, y, id)| ImageItem {
            source,
            label: split.remap[y],
            id,
        })
        .collect();
    Ok(ImageList {
        name: name.to_string(),
        class_names,
        num_old: split.num_old,
        items,
        labelled: split.labelled,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes)
        .map_err(|_| DataError::format(&path.display().to_string(), "not UTF-8 text"))
}

/// `root/sub` if that is a directory (the archive's top folder), else `root` itself.
fn dataset_dir(root: &Path, sub: &str) -> PathBuf {
    let inner = root.join(sub);
    if inner.is_dir() {
        inner
    } else {
        root.to_path_buf()
    }
}

/// The whitespace-separated fields of each non-empty, non-`#` line; each must have at least
/// `min_fields`. Yields (1-based line number, fields).
fn table<'a>(
    path: &Path,
    text: &'a str,
    min_fields: usize,
) -> Result<Vec<(usize, Vec<&'a str>)>, DataError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < min_fields {
            return Err(line_error(
                path,
                i + 1,
                format!(
                    "{} fields, expected at least {min_fields}: `{line}`",
                    fields.len()
                ),
            ));
        }
        rows.push((i + 1, fields));
    }
    Ok(rows)
}

fn line_error(path: &Path, line: usize, message: impl std::fmt::Display) -> DataError {
    DataError::format(&format!("{}:{line}", path.display()), message.to_string())
}

/// Parses a 1-based class id in `1..=k` to 0-based.
fn class_id(path: &Path, line: usize, field: &str, k: usize) -> Result<usize, DataError> {
    match field.parse::<usize>() {
        Ok(c) if (1..=k).contains(&c) => Ok(c - 1),
        _ => Err(line_error(
            path,
            line,
            format!("class id `{field}`, expected an integer in 1..={k}"),
        )),
    }
}

/// Fails naming the first image file that does not exist (before any decoding starts).
fn check_files(items: &[(ImageSource, usize, String)], listed_in: &Path) -> Result<(), DataError> {
    for (source, _, _) in items {
        if let ImageSource::File(p) = source
            && !p.is_file()
        {
            return Err(DataError::format(
                &p.display().to_string(),
                format!("image listed in {} does not exist", listed_in.display()),
            ));
        }
    }
    Ok(())
}
