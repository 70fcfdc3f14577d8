//! The versioned feature bundle: a safetensors file with JSON metadata.
//!
//! Tensors: `image` f32 [n, d_img]; optional `image_views` f32 [n, V, d_img] (pre-extracted
//! augmented views); optional text, either `text` f32 [n, d_txt] (aggregated) or
//! `text_tags` f32 [n, T, d_txt] + `text_attributes` f32 [n, A, d_txt] + optional `text_base`
//! f32 [d_txt]; `label` i64 [n]; `labelled` u8 [n] (0/1). Metadata (`__metadata__`): `format` =
//! "ssr2-bundle", `version`, `dataset`, `num_old`, `class_names` and `sample_ids` (JSON arrays
//! encoded as strings).

mod read;
mod shard;
mod write;

use std::path::Path;

pub use read::{bundle_from_bytes, bundle_metadata};
pub use shard::{SHARD_KEY, ShardRecord, check_shards};
pub use write::{bundle_to_bytes, bundle_to_bytes_with};

use crate::{DataError, Dataset};

/// The bundle version this crate writes (and the only one it reads).
pub const BUNDLE_VERSION: u32 = 1;
/// Metadata key of the SHA-256 of the CLIP folder the features were extracted with
/// (`ssr2 extract` writes it; `predict --images --model` checks it).
pub const CLIP_KEY: &str = "clip_sha256";
/// Value of the `format` metadata key.
const FORMAT: &str = "ssr2-bundle";

/// Writes `ds` as a bundle, atomically: to `path` + ".partial", then renamed onto `path`.
pub fn write_bundle(path: &Path, ds: &Dataset) -> Result<(), DataError> {
    write_bundle_with(path, ds, &[])
}

/// [`write_bundle`] with extra `__metadata__` entries ([`bundle_to_bytes_with`]).
pub fn write_bundle_with(path: &Path, ds: &Dataset, extra: &[(&str, String)]) -> Result<(), DataError> {
    let bytes = bundle_to_bytes_with(ds, extra)?;
    crate::write_atomic(path, &bytes)
}

/// Every `__metadata__` entry of a bundle file, reading only its header (a bundle may be
/// gigabytes of features).
pub fn read_bundle_metadata(path: &Path) -> Result<std::collections::BTreeMap<String, String>, DataError> {
    use std::io::Read;
    let origin = path.display().to_string();
    let io = |source| DataError::Io { path: origin.clone(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let len = u64::from_le_bytes(len);
    let size = file.metadata().map_err(io)?.len();
    if len > size.saturating_sub(8) {
        return Err(DataError::format(
            &origin,
            format!("is not a safetensors file (a header of {len} bytes in a file of {size})"),
        ));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let value: serde_json::Value = serde_json::from_slice(&header).map_err(|e| {
        DataError::format(&origin, format!("is not a safetensors file (its header: {e})"))
    })?;
    Ok(value
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
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
