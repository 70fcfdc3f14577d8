//! The versioned feature bundle: a safetensors file with JSON metadata.
//!
//! Tensors: `image` f32 [n, d_img]; optional `image_views` f32 [n, V, d_img] (pre-extracted
//! augmented views); optional text, either `text` f32 [n, d_txt] (aggregated) or
//! `text_tags` f32 [n, T, d_txt] + `text_attributes` f32 [n, A, d_txt] + optional `text_base`
//! f32 [d_txt]; `label` i64 [n]; `labelled` u8 [n] (0/1). Metadata (`__metadata__`): `format` =
//! "ssr2-bundle", `version`, `dataset`, `num_old`, `class_names` and `sample_ids` (JSON arrays
//! encoded as strings).

mod read;
mod write;

use std::path::Path;

pub use read::bundle_from_bytes;
pub use write::bundle_to_bytes;

use crate::{DataError, Dataset};

/// The bundle version this crate writes (and the only one it reads).
pub const BUNDLE_VERSION: u32 = 1;
/// Value of the `format` metadata key.
const FORMAT: &str = "ssr2-bundle";

/// Writes `ds` as a bundle, atomically: to `path` + ".partial", then renamed onto `path`.
pub fn write_bundle(path: &Path, ds: &Dataset) -> Result<(), DataError> {
    let bytes = bundle_to_bytes(ds)?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = Path::new(&partial);
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| DataError::Io { path, source }
    };
    if let Err(e) = std::fs::write(partial, &bytes).map_err(io_err(partial)) {
        // Best effort: a half-written partial file is useless.
        let _ = std::fs::remove_file(partial);
        return Err(e);
    }
    std::fs::rename(partial, path).map_err(io_err(path))
}

/// Reads and checks a bundle file.
pub fn read_bundle(path: &Path) -> Result<Dataset, DataError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: origin.clone(),
        source,
    })?;
    bundle_from_bytes(&bytes, &origin)
}

#[cfg(test)]
mod tests;
