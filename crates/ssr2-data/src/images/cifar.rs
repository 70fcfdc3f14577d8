//! CIFAR-10 / CIFAR-100, binary version: fixed-size records, label byte(s) + 32x32x3 CHW.

use std::path::Path;
use std::sync::Arc;

use super::{ImageSource, Part, Raw, dataset_dir, read_file, read_text};
use crate::DataError;

const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE * 3;

/// Class names, one per non-empty line.
fn names(path: &Path, k: usize) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = read_text(path)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if names.len() != k {
        return Err(DataError::format(
            &path.display().to_string(),
            format!("{} class names, expected {k}", names.len()),
        ));
    }
    Ok(names)
}

/// Appends the records of one batch file; the label is byte `label_at` of each record.
fn read_batch(
    path: &Path,
    label_at: usize,
    k: usize,
    prefix: &str,
    items: &mut Vec<(ImageSource, usize, String)>,
) -> Result<(), DataError> {
    let bytes = read_file(path)?;
    let rec = label_at + 1 + PIXELS;
    if bytes.is_empty() || bytes.len() % rec != 0 {
        return Err(DataError::format(
            &path.display().to_string(),
            format!(
                "{} bytes, expected a positive multiple of {rec} (record size)",
                bytes.len()
            ),
        ));
    }
    for r in bytes.chunks_exact(rec) {
        let y = r[label_at] as usize;
        if y >= k {
            let at = items.len();
            return Err(DataError::format(
                &path.display().to_string(),
                format!("record {at} has label {y}, expected < {k}"),
            ));
        }
        // CHW planes -> HWC pixels.
        let chw = &r[label_at + 1..];
        let mut hwc = vec![0u8; PIXELS];
        for (i, px) in hwc.chunks_exact_mut(3).enumerate() {
            for (c, v) in px.iter_mut().enumerate() {
                *v = chw[c * SIDE * SIDE + i];
            }
        }
        let id = format!("{prefix}/{:05}", items.len());
        let source = ImageSource::Rgb {
            width: SIDE as u32,
            height: SIDE as u32,
            pixels: Arc::from(hwc),
        };
        items.push((source, y, id));
    }
    Ok(())
}

/// CIFAR-10: train = `data_batch_1.bin`..`data_batch_5.bin` in this order (ids `train/N`),
/// test = `test_batch.bin` (ids `test/N`).
pub(super) fn cifar10(root: &Path, part: Part) -> Result<Raw, DataError> {
    let dir = dataset_dir(root, "cifar-10-batches-bin");
    let class_names = names(&dir.join("batches.meta.txt"), 10)?;
    let mut items = Vec::new();
    match part {
        Part::Train => {
            for b in 1..=5 {
                let file = dir.join(format!("data_batch_{b}.bin"));
                read_batch(&file, 0, 10, "train", &mut items)?;
            }
        }
        Part::Test => read_batch(&dir.join("test_batch.bin"), 0, 10, "test", &mut items)?,
    }
    Ok(Raw { class_names, items })
}

/// CIFAR-100: `train.bin` or `test.bin`, fine labels (the second byte).
pub(super) fn cifar100(root: &Path, part: Part) -> Result<Raw, DataError> {
    let dir = dataset_dir(root, "cifar-100-binary");
    let class_names = names(&dir.join("fine_label_names.txt"), 100)?;
    let mut items = Vec::new();
    let (file, prefix) = match part {
        Part::Train => ("train.bin", "train"),
        Part::Test => ("test.bin", "test"),
    };
    read_batch(&dir.join(file), 1, 100, prefix, &mut items)?;
    Ok(Raw { class_names, items })
}
