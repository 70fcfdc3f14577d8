//! Fashion-MNIST (Zalando, MIT) from its IDX files, as Debian's `dataset-fashion-mnist`
//! installs them: 60,000 train + 10,000 test greyscale 28x28 images, 10 classes.

use std::path::{Path, PathBuf};

use crate::split::gcd_split;
use crate::{DataError, Dataset, Matrix};

/// Where Debian's package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Image side in pixels.
pub const FASHION_SIDE: usize = 28;

/// The dataset's class names, by label (from its README).
const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The IDX file `name` under `root`, gzipped (`name.gz`, as shipped) or not.
fn find(root: &Path, name: &str) -> Result<PathBuf, DataError> {
    for candidate in [root.join(format!("{name}.gz")), root.join(name)] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(DataError::Io {
        path: root.join(format!("{name}.gz")).display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "missing: install Debian's dataset-fashion-mnist (apt-get install \
             dataset-fashion-mnist) or give the folder holding the four IDX files",
        ),
    })
}

/// The raw deflate body of a gzip member (RFC 1952), header fields skipped, and the length its
/// trailer records.
fn gzip_body<'a>(bytes: &'a [u8], origin: &str) -> Result<(&'a [u8], u32), DataError> {
    let bad = |m: &str| DataError::format(origin, format!("not a valid gzip file ({m})"));
    if bytes.len() < 18 || bytes[..3] != [0x1f, 0x8b, 8] {
        return Err(bad("no gzip header"));
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & 4 != 0 {
        let extra = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
        at += 2 + extra;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            let end = bytes.get(at..).and_then(|r| r.iter().position(|&b| b == 0));
            at += end.ok_or_else(|| bad("unterminated header field"))? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    let body = bytes
        .get(at..bytes.len() - 8)
        .ok_or_else(|| bad("truncated"))?;
    let tail = &bytes[bytes.len() - 4..];
    Ok((body, u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]])))
}

/// DEFLATE inflates one byte to at most 1032 (RFC 1951's longest match per shortest code).
const MAX_DEFLATE_RATIO: usize = 1032;

/// A gzipped IDX file inflated only up to the size its IDX header announces: the header is
/// inflated first, and a file announcing more than DEFLATE can produce from its compressed size
/// (or producing more than it announces) is refused before the allocation, so a decompression
/// bomb costs nothing.
fn gunzip_idx(bytes: &[u8], origin: &str) -> Result<Vec<u8>, DataError> {
    let bad = |m: String| DataError::format(origin, format!("not a valid gzip file ({m})"));
    let (body, trailer) = gzip_body(bytes, origin)?;
    let inflate = |limit: usize| miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit);
    // Magic and up to 255 dimensions.
    let prefix = match inflate(4 + 4 * 255) {
        Ok(all) => all,
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => e.output,
        Err(e) => return Err(bad(format!("{:?}", e.status))),
    };
    let announced = idx_len(&prefix).ok_or_else(|| {
        DataError::format(origin, "not an IDX file of unsigned bytes (magic 00 00 08 <rank>, then its dimensions)")
    })?;
    let most = body.len().saturating_mul(MAX_DEFLATE_RATIO);
    if announced.is_none_or(|n| n > most) {
        return Err(DataError::format(
            origin,
            format!(
                "its IDX header announces {} bytes, more than {} compressed bytes can inflate to: \
                 not read (a corrupt header or a decompression bomb)",
                announced.map_or("more than 2^64".into(), |n| n.to_string()),
                body.len()
            ),
        ));
    }
    let announced = announced.unwrap_or_default();
    let out = inflate(announced).map_err(|e| match e.status {
        miniz_oxide::inflate::TINFLStatus::HasMoreOutput => DataError::format(
            origin,
            format!("inflates to more than the {announced} bytes its IDX header announces"),
        ),
        _ => bad(format!("{:?}", e.status)),
    })?;
    if trailer != out.len() as u32 {
        return Err(bad("length does not match its trailer".into()));
    }
    Ok(out)
}

/// The byte length an IDX header announces (`None` inside: more than usize holds); `None`
/// outside when `prefix` does not start with a whole IDX header of unsigned bytes.
fn idx_len(prefix: &[u8]) -> Option<Option<usize>> {
    if prefix.len() < 4 || prefix[..3] != [0, 0, 8] || prefix[3] == 0 {
        return None;
    }
    let header = 4 + 4 * prefix[3] as usize;
    let dims = prefix.get(4..header)?;
    Some(
        dims.chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .try_fold(1usize, |a, b| a.checked_mul(b))
            .and_then(|c| c.checked_add(header)),
    )
}

/// An IDX file of unsigned bytes: its dimensions and values.
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let origin = path.display().to_string();
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: origin.clone(),
        source,
    })?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        gunzip_idx(&raw, &origin)?
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[..3] != [0, 0, 8] || bytes[3] == 0 {
        return Err(DataError::format(
            &origin,
            "not an IDX file of unsigned bytes (magic 00 00 08 <rank>)",
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    let dims: Vec<usize> = bytes
        .get(4..header)
        .ok_or_else(|| DataError::format(&origin, "truncated IDX header"))?
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    // Checked: a corrupt header may claim more values than any file (or usize) holds.
    let count = dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    if count.and_then(|c| c.checked_add(header)) != Some(bytes.len()) {
        return Err(DataError::format(
            &origin,
            format!(
                "dimensions {dims:?} need {} values, the file holds {}",
                count.map_or("more than 2^64".into(), |c| c.to_string()),
                bytes.len().saturating_sub(header)
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Images (pixels scaled to [0, 1], one row each) and labels of one IDX pair.
fn read_part(root: &Path, prefix: &str) -> Result<(Matrix, Vec<usize>), DataError> {
    let images_path = find(root, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(root, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (dims, pixels) = read_idx(&images_path)?;
    if dims.len() != 3 || dims[1] != FASHION_SIDE || dims[2] != FASHION_SIDE {
        return Err(DataError::format(
            &images_path.display().to_string(),
            format!("dimensions {dims:?}, expected [n, 28, 28]"),
        ));
    }
    let (ldims, labels) = read_idx(&labels_path)?;
    if ldims != [dims[0]] {
        return Err(DataError::format(
            &labels_path.display().to_string(),
            format!(
                "dimensions {ldims:?}, expected [{}] (one per image)",
                dims[0]
            ),
        ));
    }
    if let Some(i) = labels.iter().position(|&y| y >= 10) {
        return Err(DataError::format(
            &labels_path.display().to_string(),
            format!("label {} at index {i}, expected 0..9", labels[i]),
        ));
    }
    let data = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let d = FASHION_SIDE * FASHION_SIDE;
    Ok((
        Matrix::new(dims[0], d, data),
        labels.into_iter().map(usize::from).collect(),
    ))
}

/// Fashion-MNIST from `root` (default [`FASHION_MNIST_DIR`]) as a GCD dataset: old = classes
/// 0..4, half of their training images labelled (drawn with `split_seed`), the 10,000 test
/// images as the test part; 784 pixels in [0, 1] per row (row-major 28 x 28); ids `train/N`,
/// `test/N`.
pub fn fashion_mnist(root: Option<&Path>, split_seed: u64) -> Result<Dataset, DataError> {
    let root = root.unwrap_or(Path::new(FASHION_MNIST_DIR));
    let (image, labels) = read_part(root, "train")?;
    let (test_image, test_labels) = read_part(root, "t10k")?;
    let old: Vec<usize> = (0..5).collect();
    let split = gcd_split(&labels, 10, &old, 0.5, split_seed)?;
    let mut class_names = vec![String::new(); 10];
    for (orig, &new) in split.remap.iter().enumerate() {
        class_names[new] = CLASSES[orig].to_string();
    }
    let part = |image: Matrix, labels: &[usize], labelled: Vec<bool>, prefix: &str| Dataset {
        name: "fashion-mnist".into(),
        class_names: class_names.clone(),
        num_old: split.num_old,
        sample_ids: (0..image.rows)
            .map(|i| format!("{prefix}/{i:05}"))
            .collect(),
        image,
        image_views: None,
        image_pooled: None,
        text: None,
        labels: split.remap_labels(labels),
        labelled,
        test: None,
    };
    let n_test = test_image.rows;
    let mut ds = part(image, &labels, split.labelled.clone(), "train");
    ds.test = Some(Box::new(part(
        test_image,
        &test_labels,
        vec![false; n_test],
        "test",
    )));
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDX file of `dims` holding `values`.
    fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend(values);
        out
    }

    /// A gzip member holding `data` (stored via miniz_oxide's deflate).
    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3];
        out.extend(b"name\0");
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend([0u8; 4]); // CRC32, not checked
        out.extend((data.len() as u32).to_le_bytes());
        out
    }

    fn write_set(dir: &Path, n_train: usize, n_test: usize, zipped: bool) {
        std::fs::create_dir_all(dir).unwrap();
        for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
            let pixels: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            for (name, bytes) in [
                ("images-idx3-ubyte", idx(&[n as u32, 28, 28], &pixels)),
                ("labels-idx1-ubyte", idx(&[n as u32], &labels)),
            ] {
                let (file, bytes) = if zipped {
                    (format!("{prefix}-{name}.gz"), gzip(&bytes))
                } else {
                    (format!("{prefix}-{name}"), bytes)
                };
                std::fs::write(dir.join(file), bytes).unwrap();
            }
        }
    }

    #[test]
    fn gzip_bombs_are_refused_before_inflating() {
        let header = |dims: &[u32]| {
            let mut h = vec![0u8, 0, 8, dims.len() as u8];
            dims.iter().for_each(|d| h.extend(d.to_be_bytes()));
            h
        };
        // Announces 60e9 pixels in a few bytes: more than DEFLATE can produce from them.
        let huge = gzip(&header(&[60_000_000, 28, 28]));
        let e = gunzip_idx(&huge, "huge.gz").unwrap_err().to_string();
        assert!(e.contains("more than") && e.contains("decompression bomb"), "{e}");
        // Announces two images, then inflates to 20 MB of zeros: stopped at the announced size.
        let mut bomb = header(&[2, 28, 28]);
        bomb.resize(20 << 20, 0);
        let e = gunzip_idx(&gzip(&bomb), "bomb.gz").unwrap_err().to_string();
        assert!(e.contains("inflates to more than the 1584 bytes"), "{e}");
        // The honest file of the same header reads.
        let mut fine = header(&[2, 28, 28]);
        fine.resize(1584, 7);
        assert_eq!(gunzip_idx(&gzip(&fine), "fine.gz").unwrap(), fine);
    }

    #[test]
    fn reads_gzipped_and_plain_idx_files_into_a_gcd_split() {
        let base = std::env::temp_dir().join(format!("ssr2-fashion-{}", std::process::id()));
        for zipped in [true, false] {
            let dir = base.join(if zipped { "gz" } else { "plain" });
            write_set(&dir, 40, 20, zipped);
            let ds = fashion_mnist(Some(&dir), 0).unwrap();
            ds.validate().unwrap();
            assert_eq!((ds.len(), ds.image.cols), (40, 784));
            let test = ds.test.as_ref().unwrap();
            assert_eq!(test.len(), 20);
            // Old classes 0..4 keep their ids; sample 13 is class 3, pixel k = (13*784+k) % 251.
            assert_eq!(ds.labels[13], 3);
            assert_eq!(ds.image.row(13)[5], ((13 * 784 + 5) % 251) as f32 / 255.0);
            assert_eq!(ds.class_names[0], "T-shirt/top");
            assert_eq!(ds.class_names[9], "Ankle boot");
            // 20 old-class training images, half labelled; no new class, no test image labelled.
            assert_eq!(ds.labelled.iter().filter(|&&l| l).count(), 10);
            assert_eq!(test.sample_ids[19], "test/00019");
        }
        let e = fashion_mnist(Some(&base.join("none")), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains("dataset-fashion-mnist"),
            "{e}"
        );
        // A truncated file and a bad label are named.
        let dir = base.join("plain");
        let f = dir.join("t10k-images-idx3-ubyte");
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
        let e = fashion_mnist(Some(&dir), 0).unwrap_err().to_string();
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("15680"),
            "{e}"
        );
        std::fs::write(&f, &bytes).unwrap();
        let f = dir.join("train-labels-idx1-ubyte");
        std::fs::write(&f, idx(&[40], &[11; 40])).unwrap();
        let e = fashion_mnist(Some(&dir), 0).unwrap_err().to_string();
        assert!(e.contains("label 11 at index 0"), "{e}");
        // A header claiming 2^32-1 x 2^32-1 x 2^32-1 values: refused, nothing allocated.
        std::fs::write(&f, idx(&[u32::MAX; 3], &[])).unwrap();
        let e = fashion_mnist(Some(&dir), 0).unwrap_err().to_string();
        assert!(e.contains("more than 2^64"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }

    /// The installed package, when present: 60,000 + 10,000 images, 6,000 per class.
    #[test]
    fn the_debian_package_reads_when_installed() {
        if !Path::new(FASHION_MNIST_DIR).exists() {
            eprintln!("{FASHION_MNIST_DIR} absent: skipped");
            return;
        }
        let ds = fashion_mnist(None, 0).unwrap();
        assert_eq!(ds.len(), 60_000);
        assert_eq!(ds.test.as_ref().unwrap().len(), 10_000);
        for c in 0..10 {
            assert_eq!(ds.labels.iter().filter(|&&y| y == c).count(), 6000);
        }
        assert_eq!(ds.labelled.iter().filter(|&&l| l).count(), 15_000);
    }
}
